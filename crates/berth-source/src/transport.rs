//! Image references in skopeo's transport syntax (`oci:`, `docker-archive:`, `docker://`).
//!
//! People already write these for skopeo, podman and buildah, so `berth scan` accepts the
//! same strings with the same splitting rules (the path ends at the first `:`; a docker
//! name without a registry means Docker Hub, `library/` for one-component names, tag
//! `latest`) instead of inventing a dialect that would differ in corner cases.

use std::fmt;
use std::path::PathBuf;

use berth_domain::{Digest, Reference, RepoName, Tag};

use crate::error::SourceError;

/// Longest reference accepted; bounds the work done on hostile command lines.
const MAX_REFERENCE_LEN: usize = 4096;

/// Docker Hub's name in references, and the host that actually serves its API.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `oci:DIR[:REF]`: an OCI image layout. `REF` is an `org.opencontainers.image.ref.name`
    /// (or containerd's `io.containerd.image.name`), a manifest digest, or `@N`, the N-th
    /// entry of `index.json`.
    Oci {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:REF]`: a `docker save` tarball.
    DockerArchive {
        path: PathBuf,
        reference: Option<ArchiveRef>,
    },
    /// `docker://[HOST[:PORT]/]REPO[:TAG][@DIGEST]`: a registry.
    Docker(ImageRef),
}

/// Which image of a multi-image `docker save` archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveRef {
    /// A `RepoTags` entry such as `debian:bookworm` (compared after Docker's normalisation,
    /// so `debian` matches `docker.io/library/debian:latest`).
    Name(String),
    /// `@N`: the N-th entry of `manifest.json`, counting from 0.
    Index(usize),
}

/// A registry image name with its registry made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` as written, or `docker.io`.
    pub registry: String,
    pub repository: RepoName,
    pub tag: Option<Tag>,
    /// When present it decides what is pulled (the tag is then only a label), as in docker.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a Docker-style name (`debian`, `host:5000/org/app:v1@sha256:...`).
    pub fn parse(s: &str) -> Result<ImageRef, SourceError> {
        let bad = |reason: &str| SourceError::BadReference {
            input: s.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        if s.len() > MAX_REFERENCE_LEN {
            return Err(bad("too long"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|e| bad(&e.to_string()))?)),
            None => (s, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i + 1..].contains('/') => (
                &name[..i],
                Some(Tag::parse(&name[i + 1..]).map_err(|e| bad(&e.to_string()))?),
            ),
            _ => (name, None),
        };
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first, rest.to_owned())
            }
            _ => (DOCKER_HUB, name.to_owned()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if !valid_host(registry) {
            return Err(bad("registry host must be HOST or HOST:PORT"));
        }
        let repo = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let repository = RepoName::parse(&repo).map_err(|e| bad(&e.to_string()))?;
        let tag = match (&tag, &digest) {
            (None, None) => Some(Tag::parse("latest").map_err(|e| bad(&e.to_string()))?),
            _ => tag,
        };
        Ok(ImageRef {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry's manifest endpoint for.
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            // `parse` always sets one of them; fall back to Docker's default for hand-built
            // values rather than panicking.
            (None, None) => Reference::Tag(Tag::parse("latest").expect("valid tag")),
        }
    }

    /// The `host[:port]` to send API requests to (Docker Hub's API is not on `docker.io`).
    pub fn endpoint(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `host`, `host:port`, or `[v6]:port`, with DNS-name characters only: the value ends up in
/// a URL, where anything else could change which server is contacted.
fn valid_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match h.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

/// Parses `TRANSPORT:DETAILS` as skopeo does.
pub fn parse(s: &str) -> Result<Transport, SourceError> {
    let bad = |reason: &str| SourceError::BadReference {
        input: s.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    if s.len() > MAX_REFERENCE_LEN {
        return Err(bad("too long"));
    }
    let Some((transport, rest)) = s.split_once(':') else {
        return Err(bad(
            "no transport: write oci:DIR[:REF], docker-archive:FILE[:REF] or docker://HOST/REPO[:TAG]",
        ));
    };
    match transport {
        "oci" => {
            let (dir, reference) = split_path(rest);
            if dir.is_empty() {
                return Err(bad("oci: needs a directory"));
            }
            Ok(Transport::Oci {
                dir: PathBuf::from(dir),
                reference: reference.map(str::to_owned),
            })
        }
        "docker-archive" => {
            let (path, reference) = split_path(rest);
            if path.is_empty() {
                return Err(bad("docker-archive: needs a file"));
            }
            let reference = match reference {
                None => None,
                Some(r) => Some(match r.strip_prefix('@') {
                    Some(n) => ArchiveRef::Index(
                        n.parse()
                            .map_err(|_| bad("@N must be a number (the image's position)"))?,
                    ),
                    None => {
                        // Validate now so a typo is reported as such, not as "not found".
                        ImageRef::parse(r)?;
                        ArchiveRef::Name(r.to_owned())
                    }
                }),
            };
            Ok(Transport::DockerArchive {
                path: PathBuf::from(path),
                reference,
            })
        }
        "docker" => {
            let Some(name) = rest.strip_prefix("//") else {
                return Err(bad("docker: references start with docker://"));
            };
            Ok(Transport::Docker(ImageRef::parse(name)?))
        }
        other => Err(bad(&format!(
            "unknown transport {:?} (supported: oci, docker-archive, docker)",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// skopeo's rule: the path ends at the first `:` (paths containing `:` cannot be named).
fn split_path(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((p, r)) if !r.is_empty() => (p, Some(r)),
        Some((p, _)) => (p, None),
        None => (s, None),
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Oci { dir, reference } => {
                write!(f, "oci:{}", dir.display())?;
                if let Some(r) = reference {
                    write!(f, ":{r}")?;
                }
                Ok(())
            }
            Transport::DockerArchive { path, reference } => {
                write!(f, "docker-archive:{}", path.display())?;
                match reference {
                    Some(ArchiveRef::Name(n)) => write!(f, ":{n}"),
                    Some(ArchiveRef::Index(i)) => write!(f, ":@{i}"),
                    None => Ok(()),
                }
            }
            Transport::Docker(r) => write!(f, "docker://{r}"),
        }
    }
}

/// Docker's canonical form of a name (`debian` → `docker.io/library/debian:latest`), for
/// comparing `RepoTags` with what the user typed; unparsable names compare as written.
pub(crate) fn canonical_name(s: &str) -> String {
    ImageRef::parse(s)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(s: &str) -> ImageRef {
        match parse(s).unwrap() {
            Transport::Docker(r) => r,
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn docker_references() {
        let r = docker("docker://127.0.0.1:5000/org/app:v1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository.as_str(), "org/app");
        assert_eq!(r.tag.as_ref().unwrap().as_str(), "v1");
        assert_eq!(r.endpoint(), "127.0.0.1:5000");

        let r = docker("docker://debian");
        assert_eq!(r.to_string(), "docker.io/library/debian:latest");
        assert_eq!(r.endpoint(), "registry-1.docker.io");

        let d = format!("sha256:{}", "a".repeat(64));
        let r = docker(&format!("docker://localhost/app@{d}"));
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.tag, None);
        assert_eq!(r.reference(), Reference::Digest(Digest::parse(&d).unwrap()));
        let r = docker(&format!("docker://quay.io/a/b:t@{d}"));
        assert!(matches!(r.reference(), Reference::Digest(_)));
        assert_eq!(r.to_string(), format!("quay.io/a/b:t@{d}"));
        let r = docker("docker://[::1]:5000/x");
        assert_eq!(r.registry, "[::1]:5000");
        // Round trip through Display.
        for s in [
            "docker://127.0.0.1:5000/org/app:v1",
            "docker://docker.io/library/debian:latest",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_docker_references() {
        for s in [
            "docker:debian",
            "docker://",
            "docker://Host:99999/x",
            "docker://host:0/x",
            "docker://host:5000/UPPER",
            "docker://host:5000/a/../b",
            "docker://host/a:bad/tag",
            "docker://host/a@sha256:abc",
            "docker://h%2f/x",
            "docker://host/a:",
            "nope:x",
            "plain",
        ] {
            assert!(parse(s).is_err(), "{s:?} should be refused");
        }
        assert!(parse(&format!("docker://h/{}", "a".repeat(5000))).is_err());
    }

    #[test]
    fn layout_and_archive_references() {
        assert_eq!(
            parse("oci:/x/y:minbase").unwrap(),
            Transport::Oci {
                dir: "/x/y".into(),
                reference: Some("minbase".into())
            }
        );
        assert_eq!(
            parse("oci:rel").unwrap(),
            Transport::Oci {
                dir: "rel".into(),
                reference: None
            }
        );
        assert_eq!(
            parse("docker-archive:/t.tar:busybox:latest").unwrap(),
            Transport::DockerArchive {
                path: "/t.tar".into(),
                reference: Some(ArchiveRef::Name("busybox:latest".into()))
            }
        );
        assert_eq!(
            parse("docker-archive:/t.tar:@2").unwrap(),
            Transport::DockerArchive {
                path: "/t.tar".into(),
                reference: Some(ArchiveRef::Index(2))
            }
        );
        for s in ["oci:", "oci::x", "docker-archive:", "docker-archive:/t:@x"] {
            assert!(parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            canonical_name("busybox"),
            "docker.io/library/busybox:latest"
        );
    }
}
