//! `oci:` against the recorded layouts in `../shared/images`: every bookworm tag resolves to
//! the manifest the images README records, refs by name, digest and position, ambiguity and
//! unknown refs are clear errors, layers stream in parallel with the right bytes, and the
//! multi-arch index picks the requested platform's manifest (checked against the index as
//! read straight from disk).

mod common;

use berth_source::{Options, Platform, SourceError};
use common::*;

fn platform(s: &str) -> Options {
    Options {
        platform: Some(s.parse().unwrap()),
        ..Options::default()
    }
}

#[test]
fn bookworm_tags_resolve_to_the_recorded_manifests() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    for (tag, digest, layer_count) in BOOKWORM {
        let src = open_ok(
            &format!("oci:{}:{tag}", layout.display()),
            &Options::default(),
        );
        let img = src.image();
        assert_eq!(img.manifest_digest.to_string(), digest, "{tag}");
        assert_eq!(img.media_type, OCI_MANIFEST);
        assert!(!img.synthesized);
        assert_eq!(img.index_digest, None);
        assert_eq!(img.platform, Some(Platform::new("linux", "amd64", None)));
        // The exact bytes on disk, and the layer list the manifest itself gives.
        assert_eq!(
            img.manifest,
            std::fs::read(blob_path(&layout, digest)).unwrap()
        );
        let json = layout_manifest(&layout, digest);
        let layers = json["layers"].as_array().unwrap();
        assert_eq!(img.layers.len(), layer_count, "{tag}");
        for (got, want) in img.layers.iter().zip(layers) {
            assert_eq!(got.digest.to_string(), want["digest"].as_str().unwrap());
            assert_eq!(got.media_type, want["mediaType"].as_str().unwrap());
            assert_eq!(got.size, want["size"].as_u64().unwrap());
        }
        assert_eq!(
            img.config.digest.to_string(),
            json["config"]["digest"].as_str().unwrap()
        );
        assert_eq!(
            img.config_json,
            std::fs::read(blob_path(&layout, &img.config.digest.to_string())).unwrap()
        );
    }
}

#[test]
fn bookworm_refs_by_digest_and_position() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let (_, digest, _) = BOOKWORM[2];
    let by_digest = open_ok(
        &format!("oci:{}:{digest}", layout.display()),
        &Options::default(),
    );
    assert_eq!(by_digest.image().manifest_digest.to_string(), digest);
    // index.json lists the tags in the README's order.
    let by_position = open_ok(&format!("oci:{}:@2", layout.display()), &Options::default());
    assert_eq!(by_position.image().manifest_digest.to_string(), digest);
    let e = open_err(&format!("oci:{}:@9", layout.display()), &Options::default());
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
}

#[test]
fn bookworm_without_a_ref_is_ambiguous_and_names_the_tags() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let e = open_err(&format!("oci:{}", layout.display()), &Options::default());
    let SourceError::Ambiguous { ref choices, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(
        choices,
        &["minbase", "python-vuln", "app-vuln", "app-whiteout"]
    );
    let msg = e.to_string();
    assert!(
        msg.contains("choose one") && msg.contains("app-whiteout"),
        "{msg}"
    );
}

#[test]
fn unknown_ref_is_not_found_and_lists_what_exists() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let e = open_err(
        &format!("oci:{}:bullseye", layout.display()),
        &Options::default(),
    );
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("image not found: "), "{msg}");
    assert!(msg.contains("minbase"), "{msg}");
    let e = open_err("oci:/nonexistent/layout:x", &Options::default());
    assert!(
        matches!(e, SourceError::NotFound(ref m) if m.contains("has no index.json")),
        "{e:?}"
    );
}

#[test]
fn bookworm_layers_stream_in_parallel_with_their_digests() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let src = open_ok(
        &format!("oci:{}:app-whiteout", layout.display()),
        &Options::default(),
    );
    assert_eq!(src.image().layers.len(), 4);
    verify_all_blobs_in_parallel(src.as_ref());
    // A blob the layout does not hold.
    let missing = digest(&format!("sha256:{}", "0".repeat(64)));
    assert!(matches!(
        src.open_blob(&missing).err(),
        Some(SourceError::BlobNotFound { .. })
    ));
}

#[test]
fn bookworm_explicit_platform_must_match_a_single_platform_image() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let reference = format!("oci:{}:minbase", layout.display());
    open_ok(&reference, &platform("linux/amd64"));
    let e = open_err(&reference, &platform("linux/arm64"));
    assert!(
        matches!(e, SourceError::NoMatchingPlatform { ref available, .. } if available == &[Platform::new("linux", "amd64", None)]),
        "{e:?}"
    );
}

#[test]
fn multiarch_picks_the_requested_platform() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("multiarch-hello");
    let entries = multiarch_entries(&layout);
    let want = |p: &str| {
        entries
            .iter()
            .find(|(plat, _)| plat.starts_with(p))
            .unwrap_or_else(|| panic!("{p} in {entries:?}"))
            .1
            .clone()
    };
    let reference = format!("oci:{}", layout.display());

    let amd64 = open_ok(&reference, &Options::default());
    let arm64 = open_ok(&reference, &platform("linux/arm64"));
    let arm64_v8 = open_ok(&format!("{reference}:latest"), &platform("linux/arm64/v8"));
    assert_eq!(
        amd64.image().manifest_digest.to_string(),
        want("linux/amd64")
    );
    assert_eq!(
        arm64.image().manifest_digest.to_string(),
        want("linux/arm64")
    );
    assert_eq!(
        arm64_v8.image().manifest_digest,
        arm64.image().manifest_digest
    );
    assert_ne!(amd64.image().manifest_digest, arm64.image().manifest_digest);
    assert_ne!(amd64.image().layers, arm64.image().layers);
    for src in [&amd64, &arm64] {
        assert_eq!(
            src.image().index_digest,
            Some(digest(MULTIARCH_INDEX)),
            "chosen from the nested index"
        );
        verify_all_blobs_in_parallel(src.as_ref());
    }
    // The configs agree with the index about what each image is.
    assert_eq!(
        amd64
            .image()
            .platform
            .as_ref()
            .map(|p| p.architecture.as_str()),
        Some("amd64")
    );
    assert_eq!(
        arm64
            .image()
            .platform
            .as_ref()
            .map(|p| p.architecture.as_str()),
        Some("arm64")
    );
}

#[test]
fn multiarch_without_the_platform_lists_what_is_available() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("multiarch-hello");
    let e = open_err(
        &format!("oci:{}", layout.display()),
        &platform("linux/s390x"),
    );
    let SourceError::NoMatchingPlatform {
        ref wanted,
        ref available,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(wanted.to_string(), "linux/s390x");
    let mut listed: Vec<String> = available.iter().map(|p| p.to_string()).collect();
    listed.sort();
    let mut expected: Vec<String> = multiarch_entries(&layout)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    let msg = e.to_string();
    assert!(
        msg.starts_with("no manifest for platform linux/s390x") && msg.contains("available: "),
        "{msg}"
    );
    // A variant that is not there is not silently replaced by another.
    let e = open_err(
        &format!("oci:{}", layout.display()),
        &platform("linux/arm64/v9"),
    );
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
}
