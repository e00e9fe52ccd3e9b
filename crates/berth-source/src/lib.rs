//! Where `berth scan IMAGE` gets image bytes: an OCI layout (`oci:`), a `docker save`
//! tarball (`docker-archive:`) or a registry (`docker://`), in skopeo's transport syntax.
//!
//! The scanner must not care where an image lives, so every transport is reduced to the same
//! thing: a [`ResolvedImage`] (one platform's manifest, its config, its layer list) plus
//! [`ImageSource::open_blob`] to stream any of its blobs. Everything small is read eagerly,
//! bounded and digest-verified here (manifests, indexes, configs); everything large (layers)
//! is streamed, never buffered, and verified by the caller as it reads, which it has to do
//! anyway to index the layer. The API is blocking because the indexer reads layers on plain
//! threads; do not call it from inside an async runtime (the HTTP client runs its own).

mod archive;
mod error;
mod layout;
mod platform;
mod registry;
mod resolve;
mod tar_index;
mod transport;

use std::fmt;
use std::io::Read;
use std::time::Duration;

pub use berth_domain::Digest;

pub use error::SourceError;
pub use platform::Platform;
pub use transport::{ArchiveRef, ImageRef, Transport, parse};

/// Default bound on any manifest, index, config, `index.json` or `manifest.json`: real ones
/// are a few KiB, and the bound keeps a hostile source from making berth allocate gigabytes.
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Default network timeout (see [`Options::timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How to open an image.
#[derive(Clone)]
pub struct Options {
    /// The platform to pick from a multi-arch index; `None` means linux/amd64 for indexes
    /// and "whatever it is" for single-platform images. When set, a single-platform image
    /// for another platform is refused rather than scanned in its place.
    pub platform: Option<Platform>,
    /// `(user, password)` for registries; sent only to the registry (Basic) or its token
    /// service (when the registry points there), never over plain http unless
    /// `tls_verify` is off.
    pub creds: Option<(String, String)>,
    /// Off: accept any certificate and fall back to plain http when https fails (skopeo's
    /// `--tls-verify=false`), for local test registries. Redirects may then also go to http.
    pub tls_verify: bool,
    /// Bound on every metadata document read (see [`DEFAULT_MAX_MANIFEST_BYTES`]).
    pub max_manifest_bytes: u64,
    /// Bounds connecting, waiting for response headers, each read of a blob body (so a
    /// stalled transfer fails instead of hanging the scan, while a large layer may take as
    /// long as it keeps moving), and every metadata request as a whole.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            platform: None,
            creds: None,
            tls_verify: true,
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Never prints the password: options end up in logs and panic messages.
impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("platform", &self.platform)
            .field(
                "creds",
                &self.creds.as_ref().map(|(u, _)| (u, "<redacted>")),
            )
            .field("tls_verify", &self.tls_verify)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A blob as a manifest references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// The digest of the bytes [`ImageSource::open_blob`] returns for it.
    pub digest: Digest,
    /// What the bytes are. For docker archives this is what the bytes really are (plain tar,
    /// gzip or zstd, by their magic), even where the synthesized manifest says otherwise.
    pub media_type: String,
    pub size: u64,
}

/// Layers are blobs like any other; the alias names what the list holds.
pub type LayerRef = BlobRef;

/// The one image a reference resolved to, after platform selection.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference as given (without credentials), for messages and reports.
    pub name: String,
    /// Digest of the platform manifest: computed over [`manifest`](Self::manifest) and
    /// checked against every digest that named it (a pull by digest, the index entry,
    /// `Docker-Content-Digest`).
    pub manifest_digest: Digest,
    pub media_type: String,
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// The index the platform manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    /// The platform the image config declares.
    pub platform: Option<Platform>,
    pub config: BlobRef,
    /// The image config's exact bytes (digest-verified, bounded).
    pub config_json: Vec<u8>,
    /// Base layer first.
    pub layers: Vec<LayerRef>,
    /// True for legacy `docker save` archives, which hold no manifest: berth builds the one
    /// containers/image builds, byte for byte, so `manifest_digest` equals the digest
    /// `skopeo inspect docker-archive:...` reports. (Like containers/image's, it labels
    /// plain-tar layers `...diff.tar.gzip`; [`layers`](Self::layers) says what they are.)
    pub synthesized: bool,
}

/// An opened image. Blobs may be read from several threads at once, each read streaming
/// from its own file handle or HTTP response.
pub trait ImageSource: Send + Sync {
    fn image(&self) -> &ResolvedImage;

    /// Streams a blob (a layer or the config). The bytes are not verified here: the caller
    /// hashes them as it reads (it reads them anyway) and must check the result against
    /// `digest` before trusting what it read.
    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError>;
}

/// Opens the image `t` names, resolving it to one platform manifest.
pub fn open(t: &Transport, opts: &Options) -> Result<Box<dyn ImageSource>, SourceError> {
    let name = t.to_string();
    Ok(match t {
        Transport::Oci { dir, reference } => Box::new(layout::LayoutSource::open(
            dir,
            reference.as_deref(),
            opts,
            &name,
        )?),
        Transport::DockerArchive { path, reference } => Box::new(archive::ArchiveSource::open(
            path,
            reference.as_ref(),
            opts,
            &name,
        )?),
        Transport::Docker(r) => Box::new(registry::RegistrySource::open(r, opts, &name)?),
    })
}
