//! Indexing manifests that are not in berth's repositories: Clair's `POST index_report`
//! names each layer by digest and a URI to fetch it from (with request headers, usually a
//! registry token). Layers berth already stores are read locally; the rest are streamed
//! from their URIs. The digest check of the layer reader guarantees the bytes are the ones
//! the manifest names, wherever they came from.
//!
//! The URIs come from an authenticated Clair client (a PSK holder, trusted as Clair trusts
//! Quay); only http and https are fetched.

use std::io::{self, Read};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berth_blob::{BlobContent, BlobError, BlobStore};
use berth_domain::Digest;
use berth_index::{Blobs, LayerRef};
use berth_report::IndexReport;
use tokio::runtime::Handle;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::{ScanError, Scanner};

/// The media type given to Clair's layers, which carry none: the layer reader sniffs the
/// compression from the bytes.
const CLAIR_LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// One layer of a Clair manifest.
#[derive(Clone)]
pub struct RemoteLayer {
    pub digest: Digest,
    pub uri: String,
    /// Usually a registry token: never printed.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for RemoteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteLayer")
            .field("digest", &self.digest)
            .field("uri", &berth_updater::redact_url(&self.uri))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Scanner {
    /// Indexes (or returns the stored report of) a manifest given as Clair gives it.
    pub async fn index_remote(
        &self,
        digest: &Digest,
        layers: Vec<RemoteLayer>,
    ) -> Result<IndexReport, ScanError> {
        let refs = layers
            .iter()
            .map(|l| LayerRef {
                digest: l.digest.clone(),
                media_type: CLAIR_LAYER_TYPE.into(),
                size: 0,
            })
            .collect();
        let blobs = RemoteBlobs {
            local: self.blobs.clone(),
            handle: Handle::current(),
            layers: Arc::new(layers),
            client: OnceLock::new(),
        };
        self.index_foreign(digest, refs, Box::new(blobs)).await
    }
}

struct RemoteBlobs {
    local: Arc<dyn BlobStore>,
    handle: Handle,
    layers: Arc<Vec<RemoteLayer>>,
    client: OnceLock<reqwest::blocking::Client>,
}

impl Blobs for RemoteBlobs {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        match self.handle.block_on(self.local.get(&layer.digest, None)) {
            Ok(BlobContent::Whole(bytes)) => return Ok(Box::new(io::Cursor::new(bytes))),
            Ok(BlobContent::Stream { stream, .. }) => {
                return Ok(Box::new(SyncIoBridge::new_with_handle(
                    StreamReader::new(stream),
                    self.handle.clone(),
                )));
            }
            Err(BlobError::NotFound) => {}
            Err(e) => return Err(io::Error::other(e)),
        }
        let remote = self
            .layers
            .iter()
            .find(|l| l.digest == layer.digest)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "layer has no URI"))?;
        if !(remote.uri.starts_with("http://") || remote.uri.starts_with("https://")) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "layer URI must be http or https",
            ));
        }
        let client = match self.client.get() {
            Some(c) => c,
            None => {
                let c = reqwest::blocking::Client::builder()
                    .connect_timeout(Duration::from_secs(15))
                    .timeout(None)
                    .build()
                    .map_err(io::Error::other)?;
                self.client.get_or_init(|| c)
            }
        };
        let mut req = client.get(&remote.uri);
        for (k, v) in &remote.headers {
            req = req.header(k, v);
        }
        let resp = req.send().map_err(io::Error::other)?;
        if !resp.status().is_success() {
            return Err(io::Error::other(format!(
                "fetching layer {}: HTTP {}",
                layer.digest,
                resp.status()
            )));
        }
        Ok(Box::new(resp))
    }
}
