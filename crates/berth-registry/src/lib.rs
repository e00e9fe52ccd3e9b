//! Registry operations: what a push, pull, mount, delete or listing does, independent of HTTP.
//!
//! `berth-api` translates requests into calls here and [`RegistryError`]s back into the
//! spec's error bodies; nothing in this crate knows a status code. Each error names the OCI
//! error code it stands for, because that code is part of the distribution spec, not of HTTP.

mod cache;
mod error;

use std::sync::Arc;
use std::time::Duration;

use berth_blob::{AppendLimits, BlobContent, BlobError, BlobStore, ByteStream, UploadId};
use berth_domain::media_type as mt;
use berth_domain::{Digest, Reference, RepoName};
use berth_meta::{MetaStore, NewManifest, PutManifestError, StoredManifest};
use bytes::Bytes;

pub use error::RegistryError;

/// Limits on what clients may send. The defaults live in `berth-config`, the one place
/// operators read them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub manifest_max_bytes: u64,
    /// 0 means no limit.
    pub blob_max_bytes: u64,
    pub page_max: u32,
}

/// A requested byte range, as parsed from a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` or `bytes=start-end` (inclusive).
    From { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive range within a blob of `size` bytes, or `None` when unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => {
                if start >= size {
                    return None;
                }
                let end = end.unwrap_or(size - 1).min(size - 1);
                (start <= end).then_some((start, end))
            }
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(_) if size == 0 => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
        }
    }
}

/// A blob read for a response.
pub struct BlobRead {
    pub size: u64,
    /// The inclusive range served, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub content: BlobContent,
}

/// The outcome of a manifest PUT.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One page of names (tags or repositories).
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<String>,
    /// The `n` to repeat in the next-page link, when there is a next page.
    pub next: Option<u32>,
}

/// An entry of a referrers response.
#[derive(Debug, Clone)]
pub struct ReferrerEntry {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<serde_json::Value>,
}

/// Told about every manifest stored, once its transaction has committed: the scanner's
/// trigger. Called on the request's task, so it must only note the fact and return.
pub trait ManifestListener: Send + Sync {
    fn manifest_stored(&self, repo: &RepoName, digest: &Digest, media_type: &str);
}

pub struct Registry {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    limits: Limits,
    manifests: cache::ManifestCache,
    listener: std::sync::OnceLock<Arc<dyn ManifestListener>>,
}

impl Registry {
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, limits: Limits) -> Self {
        Registry {
            meta,
            blobs,
            limits,
            manifests: cache::ManifestCache::new(),
            listener: std::sync::OnceLock::new(),
        }
    }

    /// Sets the one [`ManifestListener`]; a second call is ignored.
    pub fn set_listener(&self, listener: Arc<dyn ManifestListener>) {
        let _ = self.listener.set(listener);
    }

    /// The blob store, for readers that stream blobs outside a request (the indexer).
    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn append_limits(&self, exact_len: Option<u64>) -> AppendLimits {
        AppendLimits {
            exact_len,
            max_total: (self.limits.blob_max_bytes > 0).then_some(self.limits.blob_max_bytes),
        }
    }

    // ---- blobs -------------------------------------------------------------------------

    /// The size of a blob readable through `repo`.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        self.meta
            .repo_blob(repo, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))
    }

    pub async fn blob_get(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobRead, RegistryError> {
        let size = self.blob_size(repo, digest).await?;
        let range = match range {
            None => None,
            Some(r) => Some(
                r.resolve(size)
                    .ok_or(RegistryError::RangeNotSatisfiable { size })?,
            ),
        };
        let content = self.blobs.get(digest, range).await.map_err(|e| match e {
            BlobError::NotFound => {
                RegistryError::Internal(format!("blob {digest} is linked but missing from storage"))
            }
            e => e.into(),
        })?;
        Ok(BlobRead {
            size,
            range,
            content,
        })
    }

    /// Unlinks a blob from a repository. The bytes stay for other repositories.
    pub async fn blob_delete(&self, repo: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown(digest.clone()))
        }
    }

    /// Cross-repository mount: links `digest` into `repo` when it is readable through `from`,
    /// or, without `from`, when it is stored at all. `None` means "not mountable": the caller
    /// falls back to a new upload, as the spec says.
    pub async fn blob_mount(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>, RegistryError> {
        let size = match from {
            Some(from) => self.meta.repo_blob(from, digest).await?,
            None => self.meta.any_blob(digest).await?,
        };
        let Some(size) = size else { return Ok(None) };
        if self.blobs.stat(digest).await? != Some(size) {
            tracing::warn!(%digest, "blob known to metadata but missing or wrong size in storage; not mounting");
            return Ok(None);
        }
        self.meta.link_blob(repo, digest, size).await?;
        Ok(Some(size))
    }

    // ---- uploads -----------------------------------------------------------------------

    pub async fn upload_start(&self, repo: &RepoName) -> Result<UploadId, RegistryError> {
        let id = UploadId::random();
        self.blobs.upload_start(id).await?;
        self.meta.create_upload(&id.to_string(), repo).await?;
        Ok(id)
    }

    /// Checks that the upload exists and belongs to `repo`.
    async fn upload_check(&self, repo: &RepoName, id: UploadId) -> Result<(), RegistryError> {
        match self.meta.upload_repo(&id.to_string()).await? {
            Some(r) if r == repo.as_str() => Ok(()),
            _ => Err(RegistryError::BlobUploadUnknown),
        }
    }

    pub async fn upload_offset(&self, repo: &RepoName, id: UploadId) -> Result<u64, RegistryError> {
        self.upload_check(repo, id).await?;
        self.blobs
            .upload_offset(id)
            .await?
            .ok_or(RegistryError::BlobUploadUnknown)
    }

    /// Appends a chunk. `start` comes from `Content-Range` (chunked) and is absent for a
    /// streamed PATCH; `exact_len` from `Content-Length`/`Content-Range`.
    pub async fn upload_patch(
        &self,
        repo: &RepoName,
        id: UploadId,
        start: Option<u64>,
        exact_len: Option<u64>,
        body: ByteStream,
    ) -> Result<u64, RegistryError> {
        self.upload_check(repo, id).await?;
        let offset = self
            .blobs
            .upload_append(id, start, body, self.append_limits(exact_len))
            .await?;
        Ok(offset)
    }

    /// Completes an upload, with an optional last chunk, and links the blob to `repo`.
    pub async fn upload_complete(
        &self,
        repo: &RepoName,
        id: UploadId,
        digest: &Digest,
        last_chunk: Option<(ByteStream, Option<u64>)>,
    ) -> Result<u64, RegistryError> {
        self.upload_check(repo, id).await?;
        if let Some((body, exact_len)) = last_chunk {
            self.blobs
                .upload_append(id, None, body, self.append_limits(exact_len))
                .await?;
        }
        let size = self.blobs.upload_finish(id, digest).await?;
        // The bytes are durable under their digest; only now does the blob become visible.
        self.meta.link_blob(repo, digest, size).await?;
        // Discard the session last: a crash before this point leaves it finishable again.
        match self.blobs.upload_abort(id).await {
            Ok(()) | Err(BlobError::UploadNotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.meta.delete_upload(&id.to_string()).await?;
        Ok(size)
    }

    /// A single-request upload (`POST ?digest=` with the body).
    pub async fn upload_monolithic(
        &self,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
        exact_len: Option<u64>,
    ) -> Result<u64, RegistryError> {
        let id = self.upload_start(repo).await?;
        let result = self
            .upload_complete(repo, id, digest, Some((body, exact_len)))
            .await;
        if result.is_err() {
            let _ = self.upload_cancel(repo, id).await;
        }
        result
    }

    pub async fn upload_cancel(&self, repo: &RepoName, id: UploadId) -> Result<(), RegistryError> {
        self.upload_check(repo, id).await?;
        match self.blobs.upload_abort(id).await {
            Ok(()) | Err(BlobError::UploadNotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.meta.delete_upload(&id.to_string()).await?;
        Ok(())
    }

    /// After a repository's metadata was deleted (by the access layer, which owns that
    /// decision): drops cached manifests and discards the bytes of its open uploads.
    pub async fn forget_repository(&self, upload_ids: &[String]) {
        self.manifests.clear();
        for id in upload_ids.iter().filter_map(|i| UploadId::parse(i)) {
            match self.blobs.upload_abort(id).await {
                Ok(()) | Err(BlobError::UploadNotFound) => {}
                Err(e) => tracing::warn!(upload = %id, error = %e, "could not discard an upload"),
            }
        }
    }

    /// Deletes uploads untouched for `max_age`. Returns how many.
    pub async fn expire_uploads(&self, max_age: Duration) -> Result<usize, RegistryError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let cutoff = std::time::SystemTime::now()
            .checked_sub(max_age)
            .unwrap_or(std::time::UNIX_EPOCH);
        let before = now.saturating_sub(max_age.as_secs()) as i64;
        let mut removed = 0;
        for id in self.meta.stale_uploads(before).await? {
            if let Some(uid) = UploadId::parse(&id) {
                // Started long ago but written to recently: still in use.
                if self
                    .blobs
                    .upload_modified(uid)
                    .await?
                    .is_some_and(|t| t > cutoff)
                {
                    continue;
                }
                match self.blobs.upload_abort(uid).await {
                    Ok(()) | Err(BlobError::UploadNotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.meta.delete_upload(&id).await?;
            removed += 1;
        }
        // Sessions with bytes but no row: berth stopped between creating and recording one.
        for (id, modified) in self.blobs.upload_list().await? {
            if modified < cutoff && self.meta.upload_repo(&id.to_string()).await?.is_none() {
                match self.blobs.upload_abort(id).await {
                    Ok(()) | Err(BlobError::UploadNotFound) => removed += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(removed)
    }

    // ---- manifests ---------------------------------------------------------------------

    /// Stores a manifest under `reference` (a tag, or the digest it must have).
    pub async fn manifest_put(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<PutManifest, RegistryError> {
        if content.len() as u64 > self.limits.manifest_max_bytes {
            return Err(RegistryError::ManifestTooLarge {
                limit: self.limits.manifest_max_bytes,
            });
        }
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if &actual != expected {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest content has digest {actual}, not {expected}"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&content),
        };
        let parsed = berth_oci::parse(&content, content_type).map_err(|e| match e {
            berth_oci::ManifestError::Schema1 => RegistryError::Unsupported(e.to_string()),
            e => RegistryError::ManifestInvalid(e.to_string()),
        })?;
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let new = NewManifest {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            artifact_type: parsed.artifact_type.clone(),
            subject: subject.clone(),
            annotations: parsed
                .annotations
                .as_ref()
                .map(|a| serde_json::to_string(a).unwrap_or_default()),
            content,
            blobs: dedup(parsed.required_blobs().map(|d| d.digest.clone())),
            optional_blobs: dedup(
                parsed
                    .blobs
                    .iter()
                    .filter(|d| mt::is_foreign_layer(&d.media_type))
                    .map(|d| d.digest.clone()),
            ),
            children: dedup(parsed.manifests.iter().map(|d| d.digest.clone())),
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        let stored = self.meta.put_manifest(repo, &new, tag).await;
        // Invalidate after the write commits: see the cache's note on ordering.
        if let Some(t) = tag {
            self.manifests.invalidate(repo, &Reference::Tag(t.clone()));
        }
        stored.map_err(|e| match e {
            PutManifestError::MissingBlob(d) => RegistryError::ManifestBlobUnknown(d),
            PutManifestError::MissingManifest(d) => RegistryError::ManifestBlobUnknown(d),
            PutManifestError::Meta(m) => m.into(),
        })?;
        if let Some(l) = self.listener.get() {
            l.manifest_stored(repo, &digest, &parsed.media_type);
        }
        Ok(PutManifest { digest, subject })
    }

    /// A manifest by tag or digest. `accept` lists the media types the client takes (empty:
    /// anything); an index a client does not accept is answered as the spec and Docker do.
    pub async fn manifest_get(
        &self,
        repo: &RepoName,
        reference: &Reference,
        accept: &[&str],
    ) -> Result<StoredManifest, RegistryError> {
        let m = match self.manifests.get(repo, reference) {
            Some(m) => m,
            None => {
                let generation = self.manifests.generation();
                let m = match reference {
                    Reference::Tag(t) => self.meta.manifest_by_tag(repo, t).await?,
                    Reference::Digest(d) => self.meta.manifest_by_digest(repo, d).await?,
                }
                .ok_or_else(|| RegistryError::ManifestUnknown(reference.to_string()))?;
                self.manifests.insert(generation, repo, reference, &m);
                m
            }
        };
        let accepted = |t: &str| accept.is_empty() || accept.iter().any(|a| *a == t || *a == "*/*");
        if accepted(&m.media_type)
            || !mt::is_index(&m.media_type)
            || matches!(reference, Reference::Digest(_))
        {
            return Ok(m);
        }
        // A client that cannot read indexes asked for one by tag. Docker's rule: serve the
        // linux/amd64 image of a manifest list when the client takes that image's type.
        if let Ok(parsed) = berth_oci::parse(&m.content, Some(&m.media_type)) {
            let child = parsed.manifests.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                    && accepted(&d.media_type)
            });
            if let Some(child) = child
                && let Some(cm) = self.meta.manifest_by_digest(repo, &child.digest).await?
            {
                return Ok(cm);
            }
        }
        Err(RegistryError::ManifestUnknown(format!(
            "{reference} is a {}, which the request's Accept header does not list",
            m.media_type
        )))
    }

    /// Deletes a tag (by tag) or a manifest and all its tags (by digest).
    pub async fn manifest_delete(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let found = match reference {
            Reference::Tag(t) => {
                let r = self.meta.delete_tag(repo, t).await;
                self.manifests.invalidate(repo, reference);
                r?
            }
            Reference::Digest(d) => {
                let r = self.meta.delete_manifest(repo, d).await;
                self.manifests.clear();
                r?
            }
        };
        if found {
            Ok(())
        } else {
            Err(RegistryError::ManifestUnknown(reference.to_string()))
        }
    }

    pub async fn tags(
        &self,
        repo: &RepoName,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page, RegistryError> {
        let n = n.unwrap_or(self.limits.page_max).min(self.limits.page_max);
        let mut items = self
            .meta
            .list_tags(repo, last, n.saturating_add(1))
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repo.clone()))?;
        Ok(page(&mut items, n))
    }

    pub async fn catalog(&self, n: Option<u32>, last: Option<&str>) -> Result<Page, RegistryError> {
        let n = n.unwrap_or(self.limits.page_max).min(self.limits.page_max);
        let mut items = self
            .meta
            .list_repositories(last, n.saturating_add(1))
            .await?;
        Ok(page(&mut items, n))
    }

    /// Manifests in `repo` whose subject is `digest`, optionally of one artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<ReferrerEntry>, RegistryError> {
        let rows = self.meta.referrers(repo, digest).await?;
        Ok(rows
            .into_iter()
            .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
            .map(|r| ReferrerEntry {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations.and_then(|a| serde_json::from_str(&a).ok()),
            })
            .collect())
    }
}

fn dedup(it: impl Iterator<Item = Digest>) -> Vec<Digest> {
    let mut v: Vec<Digest> = it.collect();
    v.sort();
    v.dedup();
    v
}

fn page(items: &mut Vec<String>, n: u32) -> Page {
    let more = items.len() > n as usize;
    items.truncate(n as usize);
    Page {
        items: std::mem::take(items),
        next: (more && n > 0).then_some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn registry(dir: &std::path::Path) -> Registry {
        let meta = berth_meta::SqliteStore::open(&dir.join("t.db"))
            .await
            .unwrap();
        let blobs = berth_blob::FsBlobStore::open(dir.join("storage")).unwrap();
        let limits = Limits {
            manifest_max_bytes: 1 << 20,
            blob_max_bytes: 0,
            page_max: 100,
        };
        Registry::new(Arc::new(meta), Arc::new(blobs), limits)
    }

    fn body(b: &'static [u8]) -> ByteStream {
        futures::stream::iter([Ok(Bytes::from_static(b))]).boxed()
    }

    #[tokio::test]
    async fn expiry_keeps_uploads_still_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path()).await;
        let repo = RepoName::parse("a/b").unwrap();
        let id = reg.upload_start(&repo).await.unwrap();
        let max_age = Duration::from_secs(1);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // Started more than max_age ago, but written to just now.
        reg.upload_patch(&repo, id, Some(0), Some(3), body(b"abc"))
            .await
            .unwrap();
        assert_eq!(reg.expire_uploads(max_age).await.unwrap(), 0);
        assert_eq!(reg.upload_offset(&repo, id).await.unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(reg.expire_uploads(max_age).await.unwrap(), 1);
        assert!(matches!(
            reg.upload_offset(&repo, id).await,
            Err(RegistryError::BlobUploadUnknown)
        ));
    }

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        let r = |start, end| ByteRange::From { start, end };
        assert_eq!(r(0, Some(9)).resolve(100), Some((0, 9)));
        assert_eq!(r(90, None).resolve(100), Some((90, 99)));
        assert_eq!(r(90, Some(500)).resolve(100), Some((90, 99)));
        assert_eq!(r(100, None).resolve(100), None);
        assert_eq!(r(5, Some(4)).resolve(100), None);
        assert_eq!(ByteRange::Suffix(10).resolve(100), Some((90, 99)));
        assert_eq!(ByteRange::Suffix(500).resolve(100), Some((0, 99)));
        assert_eq!(ByteRange::Suffix(0).resolve(100), None);
        assert_eq!(ByteRange::Suffix(5).resolve(0), None);
    }

    #[tokio::test]
    async fn expiry_removes_sessions_the_database_never_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path()).await;
        let repo = RepoName::parse("a/b").unwrap();
        // A session whose row was never written (berth died in between), and a recorded one.
        let orphan = UploadId::random();
        reg.blobs.upload_start(orphan).await.unwrap();
        let recorded = reg.upload_start(&repo).await.unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        for id in [orphan, recorded] {
            let path = dir.path().join("storage/uploads").join(id.to_string());
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // The recorded one is too recent by creation time; the orphan goes by its file's age.
        assert_eq!(
            reg.expire_uploads(Duration::from_secs(60)).await.unwrap(),
            1
        );
        assert_eq!(reg.blobs.upload_offset(orphan).await.unwrap(), None);
        assert_eq!(reg.upload_offset(&repo, recorded).await.unwrap(), 0);
    }
}
