//! `docker-archive:` against tarballs written by real tools: skopeo's `docker save` format
//! (decompressed layers named by diff_id, `layer.tar` symlinks, a synthesized manifest whose
//! digest must equal what `skopeo inspect` reports), tagged archives picked by name or
//! position, an arm64 archive and the platform check, a gzip-compressed archive (refused
//! with a hint), and the Docker ≥ 25 form (an OCI layout inside the tar, built with GNU tar
//! from the recorded multi-arch layout's real blobs, holding only the amd64 image as docker
//! does) where the real manifest is used.

mod common;

use std::path::Path;
use std::process::Command;

use berth_source::{Options, Platform, SourceError};
use common::*;

fn skopeo_ready() -> bool {
    berth_testkit::require_tool("skopeo")
}

fn skopeo_digest(reference: &str) -> String {
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--insecure-policy",
        "--format",
        "{{.Digest}}",
        reference,
    ]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The layout config's `rootfs.diff_ids` for a manifest: what a docker archive's plain-tar
/// layers must hash to.
fn diff_ids(layout: &Path, manifest: &str) -> Vec<String> {
    let m = layout_manifest(layout, manifest);
    let config = layout_manifest(layout, m["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn skopeo_archive_of_minbase() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let layout = images.join("bookworm");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("x.tar");
    skopeo_copy(
        &[],
        &format!("oci:{}:minbase", layout.display()),
        &format!("docker-archive:{}", archive.display()),
    );
    let reference = format!("docker-archive:{}", archive.display());
    let src = open_ok(&reference, &Options::default());
    let img = src.image();

    assert!(img.synthesized);
    assert_eq!(img.media_type, DOCKER_MANIFEST);
    // The same manifest digest skopeo reports for the archive.
    assert_eq!(img.manifest_digest.to_string(), skopeo_digest(&reference));
    // The config is carried byte for byte from the layout.
    let (_, minbase, _) = BOOKWORM[0];
    let oci = layout_manifest(&layout, minbase);
    assert_eq!(
        img.config.digest.to_string(),
        oci["config"]["digest"].as_str().unwrap()
    );
    assert_eq!(img.platform, Some(Platform::new("linux", "amd64", None)));
    // One plain-tar layer, named by its diff_id, whose bytes hash to it.
    assert_eq!(img.layers.len(), 1);
    let layer = &img.layers[0];
    assert_eq!(
        layer.media_type,
        "application/vnd.docker.image.rootfs.diff.tar"
    );
    assert_eq!(vec![layer.digest.to_string()], diff_ids(&layout, minbase));
    let (sha, len) = sha256_stream(src.open_blob(&layer.digest).unwrap());
    assert_eq!(sha, layer.digest.to_string());
    assert_eq!(len, layer.size);
    // The size is the tar member's, as `tar tv` lists it.
    let listing = run(Command::new("tar").arg("tvf").arg(&archive)).stdout;
    let listing = String::from_utf8(listing).unwrap();
    let member = format!("{}.tar", layer.digest.hex());
    let line = listing
        .lines()
        .find(|l| l.ends_with(&member))
        .unwrap_or_else(|| panic!("{member} in {listing}"));
    let size: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(size, layer.size);
    verify_all_blobs_in_parallel(src.as_ref());
}

#[test]
fn skopeo_tagged_archive_is_picked_by_name_or_position() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let layout = images.join("bookworm");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("y.tar");
    skopeo_copy(
        &[],
        &format!("oci:{}:python-vuln", layout.display()),
        &format!("docker-archive:{}:example.com/app:v1", archive.display()),
    );
    let a = archive.display();
    let by_name = open_ok(
        &format!("docker-archive:{a}:example.com/app:v1"),
        &Options::default(),
    );
    let by_position = open_ok(&format!("docker-archive:{a}:@0"), &Options::default());
    let only = open_ok(&format!("docker-archive:{a}"), &Options::default());
    for src in [&by_name, &by_position, &only] {
        assert_eq!(src.image().manifest_digest, by_name.image().manifest_digest);
    }
    assert_eq!(
        by_name.image().manifest_digest.to_string(),
        skopeo_digest(&format!("docker-archive:{a}"))
    );
    let (_, python_vuln, _) = BOOKWORM[1];
    let got: Vec<String> = by_name
        .image()
        .layers
        .iter()
        .map(|l| l.digest.to_string())
        .collect();
    assert_eq!(got, diff_ids(&layout, python_vuln));
    verify_all_blobs_in_parallel(by_name.as_ref());

    let e = open_err(
        &format!("docker-archive:{a}:example.com/app:v2"),
        &Options::default(),
    );
    assert!(
        matches!(e, SourceError::NotFound(ref m) if m.contains("example.com/app:v1")),
        "{e:?}"
    );
    let e = open_err(&format!("docker-archive:{a}:@1"), &Options::default());
    assert!(matches!(e, SourceError::NotFound(_)), "{e:?}");
}

#[test]
fn skopeo_arm64_archive_and_the_platform_check() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() {
        return;
    }
    let layout = images.join("multiarch-hello");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("arm64.tar");
    skopeo_copy(
        &["--override-arch", "arm64", "--override-variant", "v8"],
        &format!("oci:{}", layout.display()),
        &format!("docker-archive:{}", archive.display()),
    );
    let reference = format!("docker-archive:{}", archive.display());
    let src = open_ok(&reference, &Options::default());
    let arch = src.image().platform.clone().unwrap();
    assert_eq!(
        (arch.os.as_str(), arch.architecture.as_str()),
        ("linux", "arm64")
    );
    // The config is the arm64 image's, as the layout's index says.
    let arm64 = multiarch_entries(&layout)
        .into_iter()
        .find(|(p, _)| p.starts_with("linux/arm64"))
        .unwrap()
        .1;
    let m = layout_manifest(&layout, &arm64);
    assert_eq!(
        src.image().config.digest.to_string(),
        m["config"]["digest"].as_str().unwrap()
    );
    verify_all_blobs_in_parallel(src.as_ref());

    let opts = Options {
        platform: Some("linux/arm64".parse().unwrap()),
        ..Options::default()
    };
    open_ok(&reference, &opts);
    let opts = Options {
        platform: Some("linux/amd64".parse().unwrap()),
        ..Options::default()
    };
    let e = open_err(&reference, &opts);
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
}

#[test]
fn gzip_compressed_archive_is_refused_with_a_hint() {
    let Some(images) = images_dir() else { return };
    if !skopeo_ready() || !berth_testkit::require_tool("gzip") {
        return;
    }
    let layout = images.join("multiarch-hello");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("hello.tar");
    skopeo_copy(
        &[],
        &format!("oci:{}", layout.display()),
        &format!("docker-archive:{}", archive.display()),
    );
    run(Command::new("gzip").arg("-k").arg(&archive));
    let e = open_err(
        &format!("docker-archive:{}.gz", archive.display()),
        &Options::default(),
    );
    assert!(
        matches!(
            e,
            SourceError::CompressedArchive {
                compression: "gzip",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("gunzip"), "{e}");
}

/// The Docker ≥ 25 `docker save` layout: an OCI layout (`oci-layout`, `index.json`,
/// `blobs/sha256/...`) plus the legacy `manifest.json` whose paths point into `blobs/`.
/// Only the amd64 image's blobs are included, as docker saves only what it has locally,
/// while `index.json` (the recorded one) still lists the arm64 manifest.
#[test]
fn docker25_oci_archive_uses_the_real_manifest() {
    let Some(images) = images_dir() else { return };
    if !berth_testkit::require_tool("tar") {
        return;
    }
    let layout = images.join("multiarch-hello");
    let amd64 = multiarch_entries(&layout)
        .into_iter()
        .find(|(p, _)| p == "linux/amd64")
        .unwrap()
        .1;
    let manifest = layout_manifest(&layout, &amd64);
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("save");
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    for d in [MULTIARCH_INDEX, &amd64, &config]
        .into_iter()
        .chain(layers.iter().map(String::as_str))
    {
        std::fs::copy(blob_path(&layout, d), blob_path(&root, d)).unwrap();
    }
    std::fs::copy(layout.join("index.json"), root.join("index.json")).unwrap();
    std::fs::copy(layout.join("oci-layout"), root.join("oci-layout")).unwrap();
    let path = |d: &str| format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap());
    let entry = serde_json::json!([{
        "Config": path(&config),
        "RepoTags": ["hello:latest"],
        "Layers": layers.iter().map(|l| path(l)).collect::<Vec<_>>(),
    }]);
    std::fs::write(root.join("manifest.json"), entry.to_string()).unwrap();
    let archive = tmp.path().join("docker25.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&root)
        .arg("."));

    let src = open_ok(
        &format!("docker-archive:{}:hello", archive.display()),
        &Options::default(),
    );
    let img = src.image();
    assert!(!img.synthesized);
    assert_eq!(img.manifest_digest.to_string(), amd64);
    assert_eq!(
        img.manifest,
        std::fs::read(blob_path(&layout, &amd64)).unwrap()
    );
    assert_eq!(img.index_digest, Some(digest(MULTIARCH_INDEX)));
    assert_eq!(img.config.digest.to_string(), config);
    assert_eq!(
        img.layers[0].media_type,
        manifest["layers"][0]["mediaType"].as_str().unwrap()
    );
    verify_all_blobs_in_parallel(src.as_ref());
}
