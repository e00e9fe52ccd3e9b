//! From a top-level manifest to one platform's image, the same way for every transport.
//!
//! Each transport only knows how to fetch a manifest or config by digest; choosing the
//! platform, refusing schema 1 and non-image artifacts, and checking every digest and size
//! happen here once, so a layout, an archive and a registry cannot disagree about what an
//! image reference means or forget a check.

use std::io::Read;

use berth_domain::{Digest, Hasher};
use serde::Deserialize;

use crate::error::SourceError;
use crate::platform::{Platform, best_match};
use crate::{BlobRef, Options, ResolvedImage};

/// Deepest chain of indexes followed (index → index → manifest occurs in OCI layouts that
/// wrap a multi-arch image); bounds a hostile index that points at itself.
const MAX_INDEX_DEPTH: usize = 4;

/// Config media types of container images; anything else (Helm charts, signatures, SBOM
/// artifacts) has no filesystem to scan.
const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// Manifest bytes as fetched, with the digest they were verified against.
pub(crate) struct Fetched {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    /// The type the transport declared (HTTP `Content-Type`, descriptor `mediaType`).
    pub content_type: Option<String>,
}

/// What a transport provides to resolution: metadata by digest, bounded and verified.
pub(crate) trait ManifestStore {
    /// The manifest or index `digest` names; `media_type` and `size` come from the
    /// descriptor that referenced it, when there was one.
    fn fetch_manifest(
        &self,
        digest: &Digest,
        media_type: Option<&str>,
        size: Option<u64>,
    ) -> Result<Fetched, SourceError>;

    /// The config blob, its digest and size checked against `config`.
    fn fetch_config(&self, config: &BlobRef) -> Result<Vec<u8>, SourceError>;
}

/// Reads at most `limit` bytes; more is an error, not a truncation, so a hostile server or
/// file cannot make berth allocate without bound or parse half a document.
pub(crate) fn read_bounded(r: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, SourceError> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| SourceError::io(format!("reading {what}"), e))?;
    if buf.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(buf)
}

/// The read limit for a blob whose descriptor says `size`: refuses up front when the
/// descriptor itself announces something over the limit.
pub(crate) fn limit_for(size: Option<u64>, max: u64, what: &str) -> Result<u64, SourceError> {
    match size {
        Some(s) if s > max => Err(SourceError::TooLarge {
            what: what.to_owned(),
            limit: max,
        }),
        Some(s) => Ok(s),
        None => Ok(max),
    }
}

/// Reads a blob that a descriptor (or a pull by digest) named, and verifies it: the read
/// stops one byte past the expected size, so a longer blob is reported as tampered with
/// (size mismatch) without reading all of it.
pub(crate) fn read_verified(
    r: impl Read,
    digest: &Digest,
    size: Option<u64>,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    let limit = limit_for(size, max, what)?;
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| SourceError::io(format!("reading {what}"), e))?;
    if size.is_none() && buf.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    verify(what, digest, size, &buf)?;
    Ok(buf)
}

/// Checks `bytes` against the size and digest something referenced them by.
pub(crate) fn verify(
    what: &str,
    expected: &Digest,
    size: Option<u64>,
    bytes: &[u8],
) -> Result<(), SourceError> {
    if let Some(size) = size
        && size != bytes.len() as u64
    {
        return Err(SourceError::SizeMismatch {
            what: what.to_owned(),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    let actual = digest_of(expected, bytes);
    if &actual != expected {
        return Err(SourceError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// `bytes` hashed with the algorithm of `like`.
pub(crate) fn digest_of(like: &Digest, bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(like.algorithm());
    h.update(bytes);
    h.finish()
}

/// Parses a manifest, turning berth-oci's refusal of schema 1 into its own clear error.
pub(crate) fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
    what: &str,
) -> Result<berth_oci::Manifest, SourceError> {
    berth_oci::parse(bytes, content_type).map_err(|e| match e {
        berth_oci::ManifestError::Schema1 => SourceError::Schema1 {
            what: what.to_owned(),
        },
        source => SourceError::Manifest {
            what: what.to_owned(),
            source,
        },
    })
}

pub(crate) fn descriptor_size(d: &berth_oci::Descriptor) -> u64 {
    // berth-oci refuses negative sizes, so this never clamps real input.
    u64::try_from(d.size).unwrap_or(0)
}

/// Follows `top` (already verified) down to one image manifest and fetches its config.
pub(crate) fn resolve(
    store: &dyn ManifestStore,
    name: &str,
    top: Fetched,
    opts: &Options,
) -> Result<ResolvedImage, SourceError> {
    let mut current = top;
    let mut index_digest = None;
    for _ in 0..MAX_INDEX_DEPTH {
        let what = format!("manifest {} of {name}", current.digest);
        let m = parse_manifest(&current.bytes, current.content_type.as_deref(), &what)?;
        if !m.is_index() {
            return image_from(store, name, current, m, index_digest, opts);
        }
        let child = choose_platform(&m.manifests, opts, &format!("index {}", current.digest))?;
        index_digest = Some(current.digest.clone());
        current = store.fetch_manifest(
            &child.digest,
            Some(&child.media_type),
            Some(descriptor_size(child)),
        )?;
    }
    Err(SourceError::Unsupported(format!(
        "{name}: indexes nested more than {MAX_INDEX_DEPTH} deep"
    )))
}

/// The descriptor of `manifests` that serves the requested platform (the default target
/// when none was requested).
pub(crate) fn choose_platform<'a>(
    manifests: &'a [berth_oci::Descriptor],
    opts: &Options,
    what: &str,
) -> Result<&'a berth_oci::Descriptor, SourceError> {
    let want = opts
        .platform
        .clone()
        .unwrap_or_else(Platform::default_target);
    let platforms: Vec<Option<Platform>> = manifests
        .iter()
        .map(|d| d.platform.as_ref().map(Platform::from))
        .collect();
    match best_match(&want, &platforms) {
        Some(i) => Ok(&manifests[i]),
        None => Err(SourceError::NoMatchingPlatform {
            what: what.to_owned(),
            wanted: want,
            // Attestation manifests (`unknown/unknown`) are not images anyone could ask for.
            available: platforms
                .into_iter()
                .flatten()
                .filter(|p| p.os != "unknown")
                .collect(),
        }),
    }
}

/// The platform fields of an image config; everything else in it is the caller's business.
#[derive(Deserialize)]
struct ConfigPlatform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

/// The platform an image config declares, if it declares one.
pub(crate) fn config_platform(config: &[u8], what: &str) -> Result<Option<Platform>, SourceError> {
    let c: ConfigPlatform =
        serde_json::from_slice(config).map_err(|e| SourceError::json(what, e))?;
    Ok(match (c.os, c.architecture) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => {
            Some(Platform::new(&os, &arch, c.variant.as_deref()))
        }
        _ => None,
    })
}

/// A single-platform image is scanned whatever its platform unless the user asked for a
/// specific one; then a mismatch is an error rather than a silently different scan.
pub(crate) fn check_single_platform(
    opts: &Options,
    have: Option<&Platform>,
    name: &str,
) -> Result<(), SourceError> {
    if let Some(want) = &opts.platform
        && let Some(have) = have
        && best_match(want, std::slice::from_ref(&Some(have.clone()))).is_none()
    {
        return Err(SourceError::NoMatchingPlatform {
            what: format!("{name} (a single-platform image)"),
            wanted: want.clone(),
            available: vec![have.clone()],
        });
    }
    Ok(())
}

/// The image `m` (already fetched and verified as `fetched`) describes, with its config.
pub(crate) fn image_from(
    store: &dyn ManifestStore,
    name: &str,
    fetched: Fetched,
    m: berth_oci::Manifest,
    index_digest: Option<Digest>,
    opts: &Options,
) -> Result<ResolvedImage, SourceError> {
    let what = format!("manifest {} of {name}", fetched.digest);
    let mut blobs = m.blobs.iter().map(|d| BlobRef {
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: descriptor_size(d),
    });
    let Some(config) = blobs.next() else {
        return Err(SourceError::NotAnImage {
            what,
            reason: "it has no config".to_owned(),
        });
    };
    if !IMAGE_CONFIG_TYPES.contains(&config.media_type.as_str()) {
        return Err(SourceError::NotAnImage {
            what,
            reason: format!(
                "its config has media type {:?} (an artifact, not a filesystem image)",
                config.media_type.chars().take(200).collect::<String>()
            ),
        });
    }
    let layers: Vec<BlobRef> = blobs.collect();
    let config_json = store.fetch_config(&config)?;
    let platform = config_platform(&config_json, &format!("config {} of {name}", config.digest))?;

    if index_digest.is_none() {
        check_single_platform(opts, platform.as_ref(), name)?;
    }
    Ok(ResolvedImage {
        name: name.to_owned(),
        manifest_digest: fetched.digest,
        media_type: m.media_type,
        manifest: fetched.bytes,
        index_digest,
        platform,
        config,
        config_json,
        layers,
        synthesized: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_read_refuses_one_byte_over() {
        assert_eq!(read_bounded(&b"abcd"[..], 4, "x").unwrap(), b"abcd");
        assert!(matches!(
            read_bounded(&b"abcde"[..], 4, "x"),
            Err(SourceError::TooLarge { limit: 4, .. })
        ));
        assert!(matches!(
            limit_for(Some(10), 4, "x"),
            Err(SourceError::TooLarge { .. })
        ));
    }

    #[test]
    fn verify_checks_size_then_digest() {
        let d = Digest::sha256_of(b"abc");
        verify("x", &d, Some(3), b"abc").unwrap();
        verify("x", &d, None, b"abc").unwrap();
        assert!(matches!(
            verify("x", &d, Some(4), b"abc"),
            Err(SourceError::SizeMismatch { .. })
        ));
        assert!(matches!(
            verify("x", &d, Some(3), b"abd"),
            Err(SourceError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn config_platform_is_lenient_about_missing_fields() {
        let p = config_platform(
            br#"{"os":"linux","architecture":"arm64","variant":"v8"}"#,
            "c",
        )
        .unwrap();
        assert_eq!(p.unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(config_platform(b"{}", "c").unwrap(), None);
        assert!(config_platform(b"[1]", "c").is_err());
        assert!(config_platform(b"{", "c").is_err());
    }
}
