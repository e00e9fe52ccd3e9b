//! `oci:DIR[:REF]`: an OCI image layout on disk (`index.json` + `blobs/<alg>/<hex>`).
//!
//! Blob paths are built only from validated digests (lowercase hex), so no name from
//! `index.json` or a manifest can point outside `blobs/`. Every manifest read is checked
//! against the digest and size its descriptor gives, because a layout directory is as
//! easy to tamper with as any other folder.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use berth_domain::Digest;

use crate::error::SourceError;
use crate::resolve::{
    Fetched, ManifestStore, choose_platform, descriptor_size, limit_for, parse_manifest,
    read_bounded, read_verified, resolve,
};
use crate::{BlobRef, ImageSource, Options, ResolvedImage};

/// The annotation skopeo, buildah and umoci tag layout entries with.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's (and `docker save` since Docker 25's) full image name annotation.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";

pub(crate) struct LayoutSource {
    dir: PathBuf,
    image: ResolvedImage,
}

struct Store<'a> {
    dir: &'a Path,
    max: u64,
}

pub(crate) fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

impl ManifestStore for Store<'_> {
    fn fetch_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
        size: Option<u64>,
    ) -> Result<Fetched, SourceError> {
        let what = format!("manifest {digest} in {}", self.dir.display());
        let bytes = self.read_blob(digest, size, &what)?;
        Ok(Fetched {
            digest: digest.clone(),
            bytes,
            content_type: media_type.map(str::to_owned),
        })
    }

    fn fetch_config(&self, config: &BlobRef) -> Result<Vec<u8>, SourceError> {
        let what = format!("config {} in {}", config.digest, self.dir.display());
        self.read_blob(&config.digest, Some(config.size), &what)
    }
}

impl Store<'_> {
    fn read_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
        what: &str,
    ) -> Result<Vec<u8>, SourceError> {
        limit_for(size, self.max, what)?;
        let file = File::open(blob_path(self.dir, digest)).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                SourceError::BlobNotFound {
                    image: format!("OCI layout {}", self.dir.display()),
                    digest: digest.clone(),
                }
            } else {
                SourceError::io(format!("opening {what}"), e)
            }
        })?;
        read_verified(file, digest, size, self.max, what)
    }
}

impl LayoutSource {
    pub(crate) fn open(
        dir: &Path,
        reference: Option<&str>,
        opts: &Options,
        name: &str,
    ) -> Result<LayoutSource, SourceError> {
        let index_path = dir.join("index.json");
        let what = format!("{}", index_path.display());
        let file = File::open(&index_path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                SourceError::NotFound(format!(
                    "{name} ({} has no index.json, so it is not an OCI image layout)",
                    dir.display()
                ))
            } else {
                SourceError::io(format!("opening {what}"), e)
            }
        })?;
        let bytes = read_bounded(file, opts.max_manifest_bytes, &what)?;
        let index = parse_manifest(&bytes, None, &what)?;
        if !index.is_index() {
            return Err(SourceError::Unsupported(format!(
                "{what} is not an image index (media type {})",
                index.media_type
            )));
        }
        let desc = select(&index.manifests, reference, opts, name, &what)?;
        let store = Store {
            dir,
            max: opts.max_manifest_bytes,
        };
        let top = store.fetch_manifest(
            &desc.digest,
            Some(&desc.media_type),
            Some(descriptor_size(desc)),
        )?;
        let image = resolve(&store, name, top, opts)?;
        Ok(LayoutSource {
            dir: dir.to_owned(),
            image,
        })
    }
}

/// Picks the `index.json` entry `reference` names (see [`crate::Transport::Oci`]); with no
/// reference the only entry, or, when every entry is a platform image, the platform's.
pub(crate) fn select<'a>(
    manifests: &'a [berth_oci::Descriptor],
    reference: Option<&str>,
    opts: &Options,
    name: &str,
    what: &str,
) -> Result<&'a berth_oci::Descriptor, SourceError> {
    let label = |d: &berth_oci::Descriptor| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME).or_else(|| a.get(CONTAINERD_NAME)))
            .cloned()
            .unwrap_or_else(|| d.digest.to_string())
    };
    let candidates: Vec<&berth_oci::Descriptor> = match reference {
        None => manifests.iter().collect(),
        Some(r) => {
            if let Some(n) = r.strip_prefix('@') {
                let i: usize = n.parse().map_err(|_| SourceError::BadReference {
                    input: name.to_owned(),
                    reason: "@N must be a number (the entry's position in index.json)".into(),
                })?;
                return manifests.get(i).ok_or_else(|| {
                    SourceError::NotFound(format!(
                        "{name}: index.json has {} entries",
                        manifests.len()
                    ))
                });
            }
            let by_digest = Digest::parse(r).ok();
            manifests
                .iter()
                .filter(|d| {
                    if let Some(want) = &by_digest {
                        return &d.digest == want;
                    }
                    d.annotations.as_ref().is_some_and(|a| {
                        a.get(REF_NAME).is_some_and(|n| n == r)
                            || a.get(CONTAINERD_NAME).is_some_and(|n| {
                                n == r
                                    || crate::transport::canonical_name(n)
                                        == crate::transport::canonical_name(r)
                            })
                    })
                })
                .collect()
        }
    };
    match candidates.as_slice() {
        [] if reference.is_some() => {
            let mut available: Vec<String> = manifests.iter().map(label).collect();
            available.truncate(50);
            Err(SourceError::NotFound(format!(
                "{name} (the layout holds: {})",
                available.join(", ")
            )))
        }
        [] => Err(SourceError::NotFound(format!(
            "{name}: index.json lists no manifests"
        ))),
        [one] => Ok(one),
        many if many.iter().all(|d| d.platform.is_some()) => {
            // Several platform images under one name: a multi-arch image written flat.
            let flat: Vec<berth_oci::Descriptor> = many.iter().map(|d| (*d).clone()).collect();
            let chosen = choose_platform(&flat, opts, what)?;
            Ok(many
                .iter()
                .find(|d| d.digest == chosen.digest)
                .copied()
                .unwrap_or(many[0]))
        }
        many => Err(SourceError::Ambiguous {
            what: name.to_owned(),
            hint: "append :REF, a manifest digest, or :@N",
            choices: many.iter().take(50).map(|d| label(d)).collect(),
        }),
    }
}

impl ImageSource for LayoutSource {
    fn image(&self) -> &ResolvedImage {
        &self.image
    }

    fn open_blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        match File::open(blob_path(&self.dir, digest)) {
            Ok(f) => Ok(Box::new(BufReader::with_capacity(256 * 1024, f))),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(SourceError::BlobNotFound {
                image: self.image.name.clone(),
                digest: digest.clone(),
            }),
            Err(e) => Err(SourceError::io(format!("opening blob {digest}"), e)),
        }
    }
}
