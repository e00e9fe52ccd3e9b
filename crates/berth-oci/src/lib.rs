//! Parsing and validation of manifests and indexes (OCI image spec 1.1, Docker schema 2).
//!
//! The registry stores manifests byte-for-byte (their digest is over the exact bytes), so this
//! crate never re-serializes a manifest: it reads one to learn what it references, which media
//! type it is, and what the referrers API needs (`subject`, `artifactType`, annotations).

use std::collections::BTreeMap;

use berth_domain::media_type as mt;
use berth_domain::{Digest, DigestError};
use serde::{Deserialize, Serialize};

/// Most descriptors one manifest may list. Far above any real image (a few hundred layers at
/// most) but bounds the metadata a single hostile PUT can create.
pub const MAX_DESCRIPTORS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema version 1 manifests are not supported; push schema 2 or OCI")]
    Schema1,
    #[error("manifest schemaVersion must be 2, found {0}")]
    SchemaVersion(i64),
    #[error("manifest mediaType {body:?} does not match the Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error(
        "cannot tell the manifest's media type: no mediaType field, Content-Type, config or manifests"
    )]
    UnknownMediaType,
    #[error("manifest media type {0:?} is not one this registry stores")]
    UnsupportedMediaType(String),
    #[error("{0} is required for {1}")]
    MissingField(&'static str, &'static str),
    #[error("{field} must not be present in {kind}")]
    UnexpectedField {
        field: &'static str,
        kind: &'static str,
    },
    #[error("descriptor digest is invalid: {0}")]
    Digest(#[from] DigestError),
    #[error("descriptor size {0} is negative")]
    NegativeSize(i64),
    #[error("manifest lists more than {MAX_DESCRIPTORS} descriptors")]
    TooManyDescriptors,
}

/// A content descriptor, as it appears in manifests and in the referrers response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    #[serde(
        rename = "artifactType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub urls: Option<Vec<String>>,
    /// Embedded content (base64), kept opaque.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_version: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<serde_json::Value>,
}

/// What the registry needs to know about a manifest it is asked to store.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The media type it is stored and served as.
    pub media_type: String,
    /// `artifactType`, or for an image manifest without one, its config's media type (the
    /// referrers API reports that as the artifact type).
    pub artifact_type: Option<String>,
    pub subject: Option<Descriptor>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// Config and layers. Foreign layers are included; see [`Manifest::required_blobs`].
    pub blobs: Vec<Descriptor>,
    /// Child manifests of an index.
    pub manifests: Vec<Descriptor>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        mt::is_index(&self.media_type)
    }

    /// Blobs that must be present in the repository before the manifest is accepted.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.blobs
            .iter()
            .filter(|d| !mt::is_foreign_layer(&d.media_type))
    }
}

/// Parses `content` as a manifest, with `content_type` being the request's `Content-Type`.
pub fn parse(content: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: Raw = serde_json::from_slice(content)?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty());

    if raw.fs_layers.is_some()
        || matches!(raw.schema_version, Some(1))
        || matches!(header, Some(mt::DOCKER_SCHEMA1 | mt::DOCKER_SCHEMA1_SIGNED))
    {
        return Err(ManifestError::Schema1);
    }
    match raw.schema_version {
        Some(2) => {}
        Some(v) => return Err(ManifestError::SchemaVersion(v)),
        None => return Err(ManifestError::MissingField("schemaVersion", "a manifest")),
    }

    let media_type = match (&raw.media_type, header) {
        (Some(body), Some(h)) if mt::is_manifest_type(h) && body != h => {
            return Err(ManifestError::MediaTypeMismatch {
                body: body.clone(),
                header: h.to_owned(),
            });
        }
        (Some(body), _) => body.clone(),
        (None, Some(h)) if mt::is_manifest_type(h) => h.to_owned(),
        // No usable type: infer from the structure, as the OCI spec allows.
        (None, _) if raw.manifests.is_some() => mt::OCI_INDEX.to_owned(),
        (None, _) if raw.config.is_some() => mt::OCI_MANIFEST.to_owned(),
        (None, _) => return Err(ManifestError::UnknownMediaType),
    };
    if !mt::is_manifest_type(&media_type) {
        return Err(ManifestError::UnsupportedMediaType(media_type));
    }

    let (blobs, manifests) = if mt::is_index(&media_type) {
        if raw.config.is_some() {
            return Err(ManifestError::UnexpectedField {
                field: "config",
                kind: "an index",
            });
        }
        if raw.layers.is_some() {
            return Err(ManifestError::UnexpectedField {
                field: "layers",
                kind: "an index",
            });
        }
        let manifests = raw
            .manifests
            .ok_or(ManifestError::MissingField("manifests", "an index"))?;
        (Vec::new(), manifests)
    } else {
        if raw.manifests.is_some() {
            return Err(ManifestError::UnexpectedField {
                field: "manifests",
                kind: "an image manifest",
            });
        }
        let config = raw
            .config
            .ok_or(ManifestError::MissingField("config", "an image manifest"))?;
        let layers = match (raw.layers, media_type.as_str()) {
            (Some(l), _) => l,
            (None, mt::DOCKER_MANIFEST) => {
                return Err(ManifestError::MissingField(
                    "layers",
                    "a Docker image manifest",
                ));
            }
            (None, _) => Vec::new(),
        };
        let mut blobs = Vec::with_capacity(layers.len() + 1);
        blobs.push(config);
        blobs.extend(layers);
        (blobs, Vec::new())
    };
    if blobs.len() + manifests.len() > MAX_DESCRIPTORS {
        return Err(ManifestError::TooManyDescriptors);
    }
    for d in blobs.iter().chain(&manifests).chain(&raw.subject) {
        if d.size < 0 {
            return Err(ManifestError::NegativeSize(d.size));
        }
    }

    let artifact_type = raw.artifact_type.clone().or_else(|| {
        if mt::is_index(&media_type) {
            None
        } else {
            blobs.first().map(|c| c.media_type.clone())
        }
    });

    Ok(Manifest {
        media_type,
        artifact_type,
        subject: raw.subject,
        annotations: raw.annotations,
        blobs,
        manifests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":0}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D}","size":0}}]{extra}}}"#,
            mt::OCI_MANIFEST
        )
    }

    #[test]
    fn parses_image_manifest() {
        let m = parse(image("").as_bytes(), Some(mt::OCI_MANIFEST)).unwrap();
        assert_eq!(m.media_type, mt::OCI_MANIFEST);
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(m.subject.is_none());
    }

    #[test]
    fn subject_and_artifact_type() {
        let extra = format!(
            r#","artifactType":"application/x-sbom","subject":{{"mediaType":"{}","digest":"{D}","size":10}}"#,
            mt::OCI_MANIFEST
        );
        let m = parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sbom"));
        assert_eq!(m.subject.unwrap().digest.to_string(), D);
    }

    #[test]
    fn media_type_from_header_or_structure() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{D}","size":1}}]}}"#,
            mt::OCI_MANIFEST
        );
        assert_eq!(
            parse(body.as_bytes(), None).unwrap().media_type,
            mt::OCI_INDEX
        );
        assert_eq!(
            parse(body.as_bytes(), Some(mt::DOCKER_MANIFEST_LIST))
                .unwrap()
                .media_type,
            mt::DOCKER_MANIFEST_LIST
        );
    }

    #[test]
    fn rejects_invalid() {
        assert!(matches!(parse(b"{", None), Err(ManifestError::Json(_))));
        assert!(matches!(parse(b"[]", None), Err(ManifestError::Json(_))));
        assert!(matches!(
            parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None),
            Err(ManifestError::Schema1)
        ));
        assert!(matches!(
            parse(br#"{"schemaVersion":3}"#, None),
            Err(ManifestError::SchemaVersion(3))
        ));
        assert!(matches!(
            parse(image("").as_bytes(), Some(mt::DOCKER_MANIFEST)),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        let bad = image("").replace(D, "sha256:abc");
        assert!(parse(bad.as_bytes(), None).is_err());
        let neg = image("").replacen("\"size\":0", "\"size\":-1", 1);
        assert!(matches!(
            parse(neg.as_bytes(), None),
            Err(ManifestError::NegativeSize(-1))
        ));
        assert!(matches!(
            parse(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
                None
            ),
            Err(ManifestError::MissingField("config", _))
        ));
        let odd = br#"{"schemaVersion":2,"mediaType":"text/plain","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}"#;
        assert!(matches!(
            parse(odd, None),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }
}
