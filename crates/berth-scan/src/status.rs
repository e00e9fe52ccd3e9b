//! The scan status of a manifest, as registries show it: queued, scanned, failed (with the
//! reason) or unsupported; an index's status is its images', per platform.

use berth_domain::{Digest, RepoName};
use berth_report::state;

use crate::{ScanError, Scanner, UNSUPPORTED};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanStatus {
    /// Waiting for (or being indexed by) a worker.
    Queued,
    Scanned,
    Failed(String),
    /// Not something berth indexes (an artifact), with the reason.
    Unsupported(String),
}

impl ScanStatus {
    /// Quay's words for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScanStatus::Queued => "queued",
            ScanStatus::Scanned => "scanned",
            ScanStatus::Failed(_) => "failed",
            ScanStatus::Unsupported(_) => "unsupported",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            ScanStatus::Failed(r) | ScanStatus::Unsupported(r) => Some(r),
            _ => None,
        }
    }
}

/// One image of a multi-platform index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStatus {
    /// `os/arch[/variant]`.
    pub platform: String,
    pub digest: Digest,
    pub status: ScanStatus,
}

impl Scanner {
    /// The status of a manifest of `repo`; `None` when the repository has no such manifest.
    /// For an index: the combined status (scanned when every image is) and each image's.
    pub async fn status(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<(ScanStatus, Vec<PlatformStatus>)>, ScanError> {
        let Some(stored) = self.store.manifest_by_digest(repo, digest).await? else {
            return Ok(None);
        };
        let parsed = match berth_oci::parse(&stored.content, Some(&stored.media_type)) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Some((
                    ScanStatus::Unsupported(format!("manifest cannot be read: {e}")),
                    Vec::new(),
                )));
            }
        };
        if !parsed.is_index() {
            return Ok(Some((self.image_status(digest).await?, Vec::new())));
        }
        let mut platforms = Vec::new();
        for child in &parsed.manifests {
            let platform = child
                .platform
                .as_ref()
                .map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = p.variant.as_deref().filter(|v| !v.is_empty()) {
                        s.push('/');
                        s.push_str(v);
                    }
                    s
                })
                .unwrap_or_else(|| "unknown".into());
            let status = if self
                .store
                .manifest_by_digest(repo, &child.digest)
                .await?
                .is_some()
            {
                self.image_status(&child.digest).await?
            } else {
                ScanStatus::Unsupported("the image is not in the repository".into())
            };
            platforms.push(PlatformStatus {
                platform,
                digest: child.digest.clone(),
                status,
            });
        }
        let images: Vec<&PlatformStatus> = platforms
            .iter()
            .filter(|p| !matches!(p.status, ScanStatus::Unsupported(_)))
            .collect();
        let combined = if images.is_empty() {
            ScanStatus::Unsupported("the index holds no images berth can scan".into())
        } else if let Some(f) = images
            .iter()
            .find(|p| matches!(p.status, ScanStatus::Failed(_)))
        {
            ScanStatus::Failed(format!(
                "{}: {}",
                f.platform,
                f.status.reason().unwrap_or("")
            ))
        } else if images.iter().any(|p| p.status == ScanStatus::Queued) {
            ScanStatus::Queued
        } else {
            ScanStatus::Scanned
        };
        Ok(Some((combined, platforms)))
    }

    async fn image_status(&self, digest: &Digest) -> Result<ScanStatus, ScanError> {
        if let Some(r) = self.stored_report(digest).await? {
            return Ok(if r.state == state::INDEX_FINISHED {
                ScanStatus::Scanned
            } else if let Some(why) = r.err.strip_prefix(UNSUPPORTED) {
                ScanStatus::Unsupported(why.to_owned())
            } else {
                ScanStatus::Failed(r.err)
            });
        }
        Ok(match self.store.scan_job(digest).await? {
            Some(j) if j.state == "failed" => {
                ScanStatus::Failed(j.last_error.unwrap_or_else(|| "indexing failed".into()))
            }
            _ => ScanStatus::Queued,
        })
    }
}
