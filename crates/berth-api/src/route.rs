//! Turns a raw `/v2/...` path into the endpoint it names.
//!
//! The repository name is everything before the endpoint's fixed suffix, matched from the
//! right, so names may contain any number of components (even ones spelled like endpoint
//! keywords, e.g. `org/blobs/app`).

/// An endpoint and the raw (unvalidated) pieces of its path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Base,
    Catalog,
    Tags { name: &'a str },
    Manifest { name: &'a str, reference: &'a str },
    Blob { name: &'a str, digest: &'a str },
    UploadStart { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Referrers { name: &'a str, digest: &'a str },
}

pub fn parse(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    // Peel the fixed suffix off the right; the remainder is the name.
    let (head, last) = rest.rsplit_once('/')?;
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return Some(if last.is_empty() {
            Route::UploadStart { name }
        } else {
            Route::Upload { name, id: last }
        });
    }
    let (name, kind) = head.rsplit_once('/')?;
    match (kind, last) {
        ("tags", "list") => Some(Route::Tags { name }),
        ("manifests", r) => Some(Route::Manifest { name, reference: r }),
        ("blobs", "uploads") => Some(Route::UploadStart { name }),
        ("blobs", d) => Some(Route::Blob { name, digest: d }),
        ("referrers", d) => Some(Route::Referrers { name, digest: d }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2"), Some(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse("/v2/a/b/c/tags/list"),
            Some(Route::Tags { name: "a/b/c" })
        );
        assert_eq!(
            parse("/v2/a/manifests/latest"),
            Some(Route::Manifest {
                name: "a",
                reference: "latest"
            })
        );
        assert_eq!(
            parse("/v2/a/b/blobs/sha256:x"),
            Some(Route::Blob {
                name: "a/b",
                digest: "sha256:x"
            })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/"),
            Some(Route::UploadStart { name: "a" })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads"),
            Some(Route::UploadStart { name: "a" })
        );
        assert_eq!(
            parse("/v2/a/blobs/uploads/u-1"),
            Some(Route::Upload {
                name: "a",
                id: "u-1"
            })
        );
        assert_eq!(
            parse("/v2/a/referrers/sha256:x"),
            Some(Route::Referrers {
                name: "a",
                digest: "sha256:x"
            })
        );
        assert_eq!(
            parse("/v2/org/manifests/app/manifests/v1"),
            Some(Route::Manifest {
                name: "org/manifests/app",
                reference: "v1"
            })
        );
        assert_eq!(parse("/v2/a"), None);
        assert_eq!(parse("/v2/a/unknown/x"), None);
        assert_eq!(parse("/v3/a/tags/list"), None);
    }
}
