//! `docker-archive:FILE[:REF]`: a `docker save` (or `skopeo copy ... docker-archive:`)
//! tarball, read in place.
//!
//! The tar's member offsets are indexed once; a blob is then a fresh `File` seeked to its
//! member and limited to its size, so layers stream in parallel without unpacking the
//! archive or holding it in memory. That needs a seekable file, which is why compressed
//! archives (`.tar.gz`) are refused with a hint instead of being inflated to a temp file.
//!
//! Two layouts exist. Docker ≥ 25 writes an OCI layout inside the tar (`index.json`,
//! `blobs/sha256/...`) next to the legacy `manifest.json`; then the real manifest is used.
//! Older archives hold no manifest at all, so one is synthesized exactly as containers/image
//! does, giving the same digest `skopeo inspect` shows for the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use berth_domain::media_type as mt;
use berth_domain::{Digest, Hasher};
use serde::{Deserialize, Serialize};

use crate::error::SourceError;
use crate::resolve::{
    self, Fetched, ManifestStore, config_platform, descriptor_size, parse_manifest, read_bounded,
    read_verified,
};
use crate::tar_index::{self, IndexError, Member, TarIndex};
use crate::transport::canonical_name;
use crate::{ArchiveRef, BlobRef, ImageSource, Options, ResolvedImage};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Most manifests read while looking for the one that matches `manifest.json`'s config.
const MAX_OCI_CANDIDATES: usize = 64;

pub(crate) struct ArchiveSource {
    path: PathBuf,
    /// Where each blob of the image lives: `(offset, size)` within the archive.
    blobs: HashMap<Digest, (u64, u64)>,
    image: ResolvedImage,
}

/// One entry of `manifest.json`.
#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct LegacyConfig {
    rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Option<Vec<Digest>>,
}

/// containers/image's synthesized schema 2 manifest; field order matters (it is hashed).
#[derive(Serialize)]
struct SynthManifest<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: SynthDescriptor<'a>,
    layers: Vec<SynthDescriptor<'a>>,
}

#[derive(Serialize)]
struct SynthDescriptor<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: &'a Digest,
}

/// The archive while it is being opened.
struct Ctx<'a> {
    path: &'a Path,
    file: &'a File,
    idx: TarIndex,
    max: u64,
}

impl Ctx<'_> {
    fn bad(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Archive {
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The regular file `name` is, after links; `None` when absent.
    fn member(&self, name: &str) -> Result<Option<Member>, SourceError> {
        self.idx
            .resolve(name)
            .map(|m| m.cloned())
            .map_err(|r| self.bad(r))
    }

    fn required(&self, name: &str, role: &str) -> Result<Member, SourceError> {
        self.member(name)?
            .ok_or_else(|| self.bad(format!("{role} {name:?} is not in the archive")))
    }

    fn reader(&self, m: &Member) -> Result<impl Read + '_, SourceError> {
        let mut f = self.file;
        f.seek(SeekFrom::Start(m.offset))
            .map_err(|e| SourceError::io(format!("seeking in {}", self.path.display()), e))?;
        Ok(f.take(m.size))
    }

    fn read(&self, m: &Member, what: &str) -> Result<Vec<u8>, SourceError> {
        read_bounded(self.reader(m)?, self.max, what)
    }

    /// The blob named `digest` in the archive's OCI layout (`blobs/<alg>/<hex>`).
    fn blob(&self, digest: &Digest) -> Result<Option<Member>, SourceError> {
        self.member(&format!(
            "blobs/{}/{}",
            digest.algorithm().as_str(),
            digest.hex()
        ))
    }

    fn hash(&self, m: &Member, what: &str) -> Result<Digest, SourceError> {
        let mut r = self.reader(m)?;
        let mut h = Hasher::new(berth_domain::Algorithm::Sha256);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(SourceError::io(format!("reading {what}"), e)),
            };
            h.update(&buf[..n]);
        }
        Ok(h.finish())
    }

    fn magic(&self, m: &Member) -> Result<[u8; 10], SourceError> {
        let mut b = [0u8; 10];
        let mut r = self.reader(m)?;
        let mut filled = 0;
        while filled < b.len() {
            match r.read(&mut b[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(SourceError::io(
                        format!("reading {}", self.path.display()),
                        e,
                    ));
                }
            }
        }
        Ok(b)
    }
}

impl ManifestStore for Ctx<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
        size: Option<u64>,
    ) -> Result<Fetched, SourceError> {
        let what = format!("manifest {digest} in {}", self.path.display());
        let m = self
            .blob(digest)?
            .ok_or_else(|| self.bad(format!("{what} is missing")))?;
        let bytes = read_verified(self.reader(&m)?, digest, size, self.max, &what)?;
        Ok(Fetched {
            digest: digest.clone(),
            bytes,
            content_type: media_type.map(str::to_owned),
        })
    }

    fn fetch_config(&self, config: &BlobRef) -> Result<Vec<u8>, SourceError> {
        let what = format!("config {} in {}", config.digest, self.path.display());
        let m = self
            .blob(&config.digest)?
            .ok_or_else(|| self.bad(format!("{what} is missing")))?;
        read_verified(
            self.reader(&m)?,
            &config.digest,
            Some(config.size),
            self.max,
            &what,
        )
    }
}

/// The compression a stream's first bytes show, if any.
pub(crate) fn compression_of(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if b.len() >= 10
        && b.starts_with(b"BZh")
        && b[3].is_ascii_digit()
        && &b[4..10] == b"1AY&SY"
    {
        Some("bzip2")
    } else {
        None
    }
}

impl ArchiveSource {
    pub(crate) fn open(
        path: &Path,
        reference: Option<&ArchiveRef>,
        opts: &Options,
        name: &str,
    ) -> Result<ArchiveSource, SourceError> {
        let bad = |reason: &str| SourceError::Archive {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let file = File::open(path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                SourceError::NotFound(format!("{name}: no such file"))
            } else {
                SourceError::io(format!("opening {}", path.display()), e)
            }
        })?;
        let meta = file
            .metadata()
            .map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?;
        if !meta.is_file() {
            return Err(bad(
                "not a regular file (the archive is read in place, so it must be seekable)",
            ));
        }
        let mut head = [0u8; 10];
        let n = (&file)
            .read(&mut head)
            .map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?;
        if let Some(compression) = compression_of(&head[..n]) {
            return Err(SourceError::CompressedArchive {
                path: path.to_owned(),
                compression,
            });
        }
        (&file)
            .seek(SeekFrom::Start(0))
            .map_err(|e| SourceError::io(format!("reading {}", path.display()), e))?;
        let idx =
            tar_index::index(&mut BufReader::new(&file), meta.len()).map_err(|e| match e {
                IndexError::Io(e) => SourceError::io(format!("reading {}", path.display()), e),
                IndexError::Bad(reason) => bad(&reason),
            })?;
        let ctx = Ctx {
            path,
            file: &file,
            idx,
            max: opts.max_manifest_bytes,
        };

        let manifest_json = ctx
            .member("manifest.json")?
            .ok_or_else(|| bad("no manifest.json (not a docker save archive)"))?;
        let what = format!("manifest.json of {}", path.display());
        let bytes = ctx.read(&manifest_json, &what)?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&bytes).map_err(|e| SourceError::json(&what, e))?;
        let entry = select_entry(&entries, reference, name, path)?;

        let (image, blobs) = match oci_form(&ctx, entry, opts, name)? {
            Some(found) => found,
            None => legacy(&ctx, entry, opts, name)?,
        };
        Ok(ArchiveSource {
            path: path.to_owned(),
            blobs,
            image,
        })
    }
}

fn select_entry<'a>(
    entries: &'a [Entry],
    reference: Option<&ArchiveRef>,
    name: &str,
    path: &Path,
) -> Result<&'a Entry, SourceError> {
    let tags = |e: &Entry| e.repo_tags.clone().unwrap_or_default();
    match reference {
        None => match entries {
            [] => Err(SourceError::Archive {
                path: path.to_owned(),
                reason: "manifest.json lists no images".to_owned(),
            }),
            [one] => Ok(one),
            many => Err(SourceError::Ambiguous {
                what: name.to_owned(),
                hint: "append :NAME:TAG or :@N",
                choices: many
                    .iter()
                    .enumerate()
                    .take(50)
                    .map(|(i, e)| match tags(e).first() {
                        Some(t) => format!("{t} (@{i})"),
                        None => format!("@{i}"),
                    })
                    .collect(),
            }),
        },
        Some(ArchiveRef::Index(i)) => entries.get(*i).ok_or_else(|| {
            SourceError::NotFound(format!(
                "{name}: the archive holds {} image(s)",
                entries.len()
            ))
        }),
        Some(ArchiveRef::Name(n)) => {
            let want = canonical_name(n);
            entries
                .iter()
                .find(|e| tags(e).iter().any(|t| canonical_name(t) == want))
                .ok_or_else(|| {
                    let mut all: Vec<String> = entries.iter().flat_map(tags).collect();
                    all.truncate(50);
                    SourceError::NotFound(format!(
                        "{name} (the archive holds: {})",
                        if all.is_empty() {
                            "untagged images only; use :@N".to_owned()
                        } else {
                            all.join(", ")
                        }
                    ))
                })
        }
    }
}

/// `blobs/sha256/<hex>` → the digest it names.
fn digest_of_blob_path(p: &str) -> Option<Digest> {
    let clean = tar_index::clean(p)?;
    let rest = clean.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

type Found = (ResolvedImage, HashMap<Digest, (u64, u64)>);

/// Docker ≥ 25 archives: find the real manifest whose config is `entry`'s, through
/// `index.json` (and one level of nested index). `None` when the archive has no such
/// manifest, so the legacy path applies.
fn oci_form(
    ctx: &Ctx<'_>,
    entry: &Entry,
    opts: &Options,
    name: &str,
) -> Result<Option<Found>, SourceError> {
    let Some(config_digest) = digest_of_blob_path(&entry.config) else {
        return Ok(None);
    };
    let Some(index_member) = ctx.member("index.json")? else {
        return Ok(None);
    };
    let what = format!("index.json of {}", ctx.path.display());
    let index = parse_manifest(&ctx.read(&index_member, &what)?, None, &what)?;
    if !index.is_index() {
        return Ok(None);
    }
    let mut queue: Vec<(berth_oci::Descriptor, Option<Digest>, usize)> = index
        .manifests
        .into_iter()
        .rev()
        .map(|d| (d, None, 0))
        .collect();
    let mut fetched = 0;
    while let Some((d, parent, depth)) = queue.pop() {
        if fetched >= MAX_OCI_CANDIDATES || !mt::is_manifest_type(&d.media_type) {
            continue;
        }
        // Docker saves only the platforms it has locally; index.json still lists the rest.
        if ctx.blob(&d.digest)?.is_none() {
            continue;
        }
        fetched += 1;
        let got = ctx.fetch_manifest(&d.digest, Some(&d.media_type), Some(descriptor_size(&d)))?;
        let what = format!("manifest {} of {name}", d.digest);
        let m = parse_manifest(&got.bytes, got.content_type.as_deref(), &what)?;
        if m.is_index() {
            if depth == 0 {
                for child in m.manifests.into_iter().rev() {
                    queue.push((child, Some(d.digest.clone()), 1));
                }
            }
            continue;
        }
        if m.blobs.first().map(|c| &c.digest) != Some(&config_digest) {
            continue;
        }
        let image = resolve::image_from(ctx, name, got, m, parent, opts)?;
        let mut blobs = HashMap::new();
        let member = ctx.required(&entry.config, "config")?;
        blobs.insert(image.config.digest.clone(), (member.offset, member.size));
        for l in &image.layers {
            let Some(member) = ctx.blob(&l.digest)? else {
                if mt::is_foreign_layer(&l.media_type) {
                    continue; // Lives at an external URL by design.
                }
                return Err(ctx.bad(format!("layer {} is not in the archive", l.digest)));
            };
            if member.size != l.size {
                return Err(SourceError::SizeMismatch {
                    what: format!("layer {} in {}", l.digest, ctx.path.display()),
                    expected: l.size,
                    actual: member.size,
                });
            }
            blobs.insert(l.digest.clone(), (member.offset, member.size));
        }
        return Ok(Some((image, blobs)));
    }
    Ok(None)
}

/// Archives without a manifest: layers are described from the tar members (digest = the
/// config's `diff_id` for plain tar, which the caller verifies while reading; computed for
/// compressed members) and the manifest containers/image would report is synthesized.
fn legacy(ctx: &Ctx<'_>, entry: &Entry, opts: &Options, name: &str) -> Result<Found, SourceError> {
    let config_member = ctx.required(&entry.config, "config")?;
    let what = format!("config {:?} in {}", entry.config, ctx.path.display());
    let config_json = ctx.read(&config_member, &what)?;
    let config_digest = Digest::sha256_of(&config_json);
    let parsed: LegacyConfig =
        serde_json::from_slice(&config_json).map_err(|e| SourceError::json(&what, e))?;
    let diff_ids = parsed.rootfs.and_then(|r| r.diff_ids);
    if let Some(ids) = &diff_ids
        && ids.len() != entry.layers.len()
    {
        return Err(ctx.bad(format!(
            "the config lists {} layers (rootfs.diff_ids) but manifest.json lists {}",
            ids.len(),
            entry.layers.len()
        )));
    }
    let platform = config_platform(&config_json, &what)?;
    resolve::check_single_platform(opts, platform.as_ref(), name)?;

    let mut blobs = HashMap::new();
    blobs.insert(
        config_digest.clone(),
        (config_member.offset, config_member.size),
    );
    let mut layers = Vec::with_capacity(entry.layers.len());
    let mut synth_types = Vec::with_capacity(entry.layers.len());
    for (i, layer_path) in entry.layers.iter().enumerate() {
        let m = ctx.required(layer_path, "layer")?;
        let lwhat = format!("layer {layer_path:?} in {}", ctx.path.display());
        let (media_type, synth_type) = match compression_of(&ctx.magic(&m)?) {
            None => (DOCKER_LAYER_TAR, DOCKER_LAYER_GZIP),
            Some("gzip") => (DOCKER_LAYER_GZIP, DOCKER_LAYER_GZIP),
            Some("zstd") => (OCI_LAYER_ZSTD, OCI_LAYER_ZSTD),
            Some(other) => {
                return Err(SourceError::Unsupported(format!(
                    "{lwhat} is {other}-compressed, which image layers never are"
                )));
            }
        };
        let digest = match (&diff_ids, media_type) {
            (Some(ids), DOCKER_LAYER_TAR) => ids[i].clone(),
            _ => ctx.hash(&m, &lwhat)?,
        };
        blobs.insert(digest.clone(), (m.offset, m.size));
        synth_types.push(synth_type);
        layers.push(BlobRef {
            digest,
            media_type: media_type.to_owned(),
            size: m.size,
        });
    }
    let config = BlobRef {
        digest: config_digest,
        media_type: DOCKER_CONFIG.to_owned(),
        size: config_member.size,
    };
    let manifest = serde_json::to_vec(&SynthManifest {
        schema_version: 2,
        media_type: mt::DOCKER_MANIFEST,
        config: SynthDescriptor {
            media_type: DOCKER_CONFIG,
            size: config.size,
            digest: &config.digest,
        },
        layers: layers
            .iter()
            .zip(&synth_types)
            .map(|(l, t)| SynthDescriptor {
                media_type: t,
                size: l.size,
                digest: &l.digest,
            })
            .collect(),
    })
    .map_err(|e| SourceError::json("the synthesized manifest", e))?;
    let image = ResolvedImage {
        name: name.to_owned(),
        manifest_digest: Digest::sha256_of(&manifest),
        media_type: mt::DOCKER_MANIFEST.to_owned(),
        manifest,
        index_digest: None,
        platform,
        config,
        config_json,
        layers,
        synthesized: true,
    };
    Ok((image, blobs))
}

impl ImageSource for ArchiveSource {
    fn image(&self) -> &ResolvedImage {
        &self.image
    }

    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let Some(&(offset, size)) = self.blobs.get(digest) else {
            return Err(SourceError::BlobNotFound {
                image: self.image.name.clone(),
                digest: digest.clone(),
            });
        };
        // A handle per read: a shared one would share its file position between threads.
        let mut f = File::open(&self.path)
            .map_err(|e| SourceError::io(format!("opening {}", self.path.display()), e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| SourceError::io(format!("seeking in {}", self.path.display()), e))?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, f.take(size))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_magic() {
        assert_eq!(compression_of(&[0x1f, 0x8b, 8]), Some("gzip"));
        assert_eq!(compression_of(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Some("zstd"));
        assert_eq!(compression_of(b"\xfd7zXZ\0"), Some("xz"));
        assert_eq!(compression_of(b"BZh91AY&SY"), Some("bzip2"));
        assert_eq!(compression_of(b"BZh9-a-file-name"), None);
        assert_eq!(compression_of(b"manifest.json"), None);
    }

    #[test]
    fn blob_paths() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_of_blob_path(&format!("blobs/sha256/{hex}"))
                .unwrap()
                .hex(),
            hex
        );
        assert!(digest_of_blob_path(&format!("{hex}.json")).is_none());
        assert!(digest_of_blob_path(&format!("blobs/../sha256/{hex}")).is_none());
        assert!(digest_of_blob_path("blobs/md5/abc").is_none());
    }
}
