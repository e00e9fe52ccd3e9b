//! `docker://` against real registries on 127.0.0.1, filled by real skopeo pushes:
//!
//! - CNCF Distribution 2.8 (`shared/peers/distribution.sh`, anonymous): OCI images by tag
//!   and by digest with the manifest digests the images README records, Docker schema 2
//!   (`skopeo --format v2s2`), the multi-arch index and a Docker manifest list with platform
//!   selection, unknown names, TLS verification against a plain-http registry, and a
//!   registry whose stored manifest was tampered with (digest mismatch, oversized manifest);
//! - berth itself (`berth_testkit::BerthServer`, Docker token auth with Bearer challenges):
//!   the right credentials pull a private repository, wrong ones and none are unauthorized.

mod common;

use std::time::Duration;

use berth_source::{Options, SourceError};
use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER, BerthServer};
use common::*;

fn plain_http() -> Options {
    Options {
        tls_verify: false,
        timeout: Duration::from_secs(30),
        ..Options::default()
    }
}

fn with_platform(p: &str) -> Options {
    Options {
        platform: Some(p.parse().unwrap()),
        ..plain_http()
    }
}

fn skopeo_ready() -> bool {
    berth_testkit::require_tool("skopeo")
}

#[test]
fn distribution_serves_oci_images_by_tag_and_digest() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let Some(reg) = Distribution::start() else {
        return;
    };
    let layout = images.join("bookworm");
    for (tag, digest, layers) in &BOOKWORM[..2] {
        skopeo_copy(
            &[],
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/library/bookworm:{tag}", reg.addr()),
        );
        let src = open_ok(
            &format!("docker://{}/library/bookworm:{tag}", reg.addr()),
            &plain_http(),
        );
        let img = src.image();
        assert_eq!(img.manifest_digest.to_string(), *digest, "{tag}");
        assert_eq!(img.media_type, OCI_MANIFEST);
        assert_eq!(img.layers.len(), *layers);
        assert_eq!(
            img.manifest,
            std::fs::read(blob_path(&layout, digest)).unwrap()
        );
        verify_all_blobs_in_parallel(src.as_ref());

        let by_digest = open_ok(
            &format!("docker://{}/library/bookworm@{digest}", reg.addr()),
            &plain_http(),
        );
        assert_eq!(by_digest.image().manifest_digest.to_string(), *digest);
    }

    let e = open_err(
        &format!("docker://{}/library/bookworm:nope", reg.addr()),
        &plain_http(),
    );
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
    assert!(e.to_string().starts_with("image not found: "), "{e}");
    let e = open_err(
        &format!("docker://{}/no/such/repo:v1", reg.addr()),
        &plain_http(),
    );
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
    let missing = digest(&format!("sha256:{}", "0".repeat(64)));
    let src = open_ok(
        &format!("docker://{}/library/bookworm:minbase", reg.addr()),
        &plain_http(),
    );
    assert!(matches!(
        src.open_blob(&missing).err(),
        Some(SourceError::BlobNotFound { .. })
    ));

    // Verified TLS against a plain-http registry fails, and says what to do.
    let e = open_err(
        &format!("docker://{}/library/bookworm:minbase", reg.addr()),
        &Options {
            timeout: Duration::from_secs(10),
            ..Options::default()
        },
    );
    assert!(matches!(e, SourceError::Http { .. }), "{e:?}");
    assert!(e.to_string().contains("TLS verification off"), "{e}");
}

#[test]
fn distribution_serves_docker_schema2_and_manifest_lists() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let Some(reg) = Distribution::start() else {
        return;
    };
    let bookworm = images.join("bookworm");
    skopeo_copy(
        &["--format", "v2s2"],
        &format!("oci:{}:minbase", bookworm.display()),
        &format!("docker://{}/docker/minbase:v2s2", reg.addr()),
    );
    let src = open_ok(
        &format!("docker://{}/docker/minbase:v2s2", reg.addr()),
        &plain_http(),
    );
    let img = src.image();
    assert_eq!(img.media_type, DOCKER_MANIFEST);
    assert_eq!(
        img.config.media_type,
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        img.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    // The layer bytes are the OCI layout's (same gzip stream, new media type).
    let (_, minbase, _) = BOOKWORM[0];
    let oci = layout_manifest(&bookworm, minbase);
    assert_eq!(
        img.layers[0].digest.to_string(),
        oci["layers"][0]["digest"].as_str().unwrap()
    );
    verify_all_blobs_in_parallel(src.as_ref());

    // The multi-arch index, as OCI and converted to a Docker manifest list.
    let hello = images.join("multiarch-hello");
    let entries = multiarch_entries(&hello);
    skopeo_copy(
        &["--all"],
        &format!("oci:{}", hello.display()),
        &format!("docker://{}/multi/hello:oci", reg.addr()),
    );
    skopeo_copy(
        &["--all", "--format", "v2s2"],
        &format!("oci:{}", hello.display()),
        &format!("docker://{}/multi/hello:list", reg.addr()),
    );
    for tag in ["oci", "list"] {
        let reference = format!("docker://{}/multi/hello:{tag}", reg.addr());
        let amd64 = open_ok(&reference, &plain_http());
        let arm64 = open_ok(&reference, &with_platform("linux/arm64"));
        assert_ne!(amd64.image().manifest_digest, arm64.image().manifest_digest);
        assert!(amd64.image().index_digest.is_some());
        assert_eq!(
            amd64.image().platform.as_ref().unwrap().architecture,
            "amd64"
        );
        assert_eq!(
            arm64.image().platform.as_ref().unwrap().architecture,
            "arm64"
        );
        if tag == "oci" {
            // Unconverted: the very manifests of the layout.
            assert_eq!(amd64.image().index_digest, Some(digest(MULTIARCH_INDEX)));
            let want = |p: &str| {
                entries
                    .iter()
                    .find(|(e, _)| e.starts_with(p))
                    .unwrap()
                    .1
                    .clone()
            };
            assert_eq!(
                amd64.image().manifest_digest.to_string(),
                want("linux/amd64")
            );
            assert_eq!(
                arm64.image().manifest_digest.to_string(),
                want("linux/arm64")
            );
        } else {
            assert_eq!(amd64.image().media_type, DOCKER_MANIFEST);
        }
        verify_all_blobs_in_parallel(arm64.as_ref());
        let e = open_err(&reference, &with_platform("windows/amd64"));
        let SourceError::NoMatchingPlatform { ref available, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(available.len(), 2, "{e}");
    }
}

#[test]
fn tampered_registry_content_is_refused() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let Some(reg) = Distribution::start() else {
        return;
    };
    let layout = images.join("bookworm");
    let (_, minbase, _) = BOOKWORM[0];
    skopeo_copy(
        &[],
        &format!("oci:{}:minbase", layout.display()),
        &format!("docker://{}/t/minbase:v1", reg.addr()),
    );
    let stored = reg.stored_blob(minbase);
    let original = std::fs::read(&stored).expect("Distribution's stored manifest");

    // Same JSON, one extra byte: still a valid manifest, but not the one the digest names.
    let mut tampered = original.clone();
    tampered.push(b'\n');
    std::fs::write(&stored, &tampered).unwrap();
    for reference in [
        format!("docker://{}/t/minbase:v1", reg.addr()),
        format!("docker://{}/t/minbase@{minbase}", reg.addr()),
    ] {
        let e = open_err(&reference, &plain_http());
        assert!(
            matches!(e, SourceError::DigestMismatch { ref expected, .. } if expected.to_string() == minbase),
            "{reference}: {e:?}"
        );
    }

    // A manifest padded past the bound is refused before it is parsed. (Distribution itself
    // will not serve manifests over 4 MiB, so the bound is lowered to 64 KiB for this.)
    let mut huge = original.trim_ascii_end().to_vec();
    assert_eq!(huge.pop(), Some(b'}'));
    huge.extend(std::iter::repeat_n(b' ', 1 << 20));
    huge.push(b'}');
    std::fs::write(&stored, &huge).unwrap();
    let small_bound = Options {
        max_manifest_bytes: 64 * 1024,
        ..plain_http()
    };
    let e = open_err(
        &format!("docker://{}/t/minbase:v1", reg.addr()),
        &small_bound,
    );
    assert!(
        matches!(e, SourceError::TooLarge { limit: 65536, .. }),
        "{e:?}"
    );
    // The untouched manifest is served again once restored.
    std::fs::write(&stored, &original).unwrap();
    open_ok(
        &format!("docker://{}/t/minbase:v1", reg.addr()),
        &small_bound,
    );
}

/// berth's token auth: Bearer challenge → `/v2/auth` with Basic credentials → token.
#[test]
fn berth_token_auth_with_right_wrong_and_no_credentials() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let Some(bin) = berth_bin() else { return };
    let server = BerthServer::start(bin);
    let layout = images.join("bookworm");
    let creds = format!("{ADMIN_USER}:{ADMIN_PASSWORD}");
    let reference = format!("docker://{}/source/private:v1", server.addr());
    let (_, digest_str, _) = BOOKWORM[1];
    skopeo_copy(
        &[&format!("--dest-creds={creds}")],
        &format!("oci:{}:python-vuln", layout.display()),
        &reference,
    );

    let right = Options {
        creds: Some((ADMIN_USER.to_owned(), ADMIN_PASSWORD.to_owned())),
        ..plain_http()
    };
    let src = open_ok(&reference, &right);
    assert_eq!(src.image().manifest_digest.to_string(), digest_str);
    verify_all_blobs_in_parallel(src.as_ref());

    let wrong = Options {
        creds: Some((ADMIN_USER.to_owned(), "not-the-password".to_owned())),
        ..plain_http()
    };
    let e = open_err(&reference, &wrong);
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e:?}");
    assert!(e.to_string().starts_with("unauthorized: "), "{e}");
    assert!(!format!("{e:?}").contains("not-the-password"), "{e:?}");

    let e = open_err(&reference, &plain_http());
    assert!(matches!(e, SourceError::Unauthorized(_)), "{e:?}");
    assert!(!e.to_string().contains(digest_str), "{e}");
}
