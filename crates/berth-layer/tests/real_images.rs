//! Reads the real images in `shared/images` end to end: digests, symlinks, whiteouts, and
//! layers without tar end-of-archive blocks.

mod common;

use berth_layer::{EntryKind, FileSelector, FsError, Pattern, merge};
use common::*;

#[test]
fn minbase_os_release_symlink_and_dpkg_status() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let manifest = manifest_for_tag(&layout, "minbase");
    let layers = index_image(&layout, &manifest, &FileSelector::detectors());
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0].digest.as_ref().unwrap().to_string(),
        layers_digest(&layout, &manifest, 0)
    );
    let fs = merge(&layers);
    assert_eq!(
        fs.lstat("etc/os-release").unwrap().kind,
        EntryKind::Symlink("../usr/lib/os-release".into())
    );
    let os_release = String::from_utf8(fs.read("/etc/os-release").unwrap().to_vec()).unwrap();
    assert!(os_release.contains("ID=debian"), "{os_release}");
    assert!(os_release.contains("VERSION_CODENAME=bookworm"));
    // Through the usrmerge symlink `lib -> usr/lib` as well.
    assert_eq!(fs.read("lib/os-release").unwrap(), os_release.as_bytes());
    let status = String::from_utf8_lossy(fs.read("var/lib/dpkg/status").unwrap()).into_owned();
    let packages = status
        .lines()
        .filter(|l| l.starts_with("Package: "))
        .count();
    assert_eq!(packages, 88);
    // Not selected: indexed (with size), not kept.
    assert!(matches!(fs.read("usr/bin/dpkg"), Err(FsError::NotKept(_))));
    assert!(fs.lstat("usr/bin/dpkg").unwrap().size > 0);
}

fn layers_digest(layout: &std::path::Path, manifest: &str, i: usize) -> String {
    layers(layout, manifest)[i].1.clone()
}

const PYYAML_METADATA: &str =
    "usr/local/lib/python3.11/site-packages/pyyaml-5.3.dist-info/METADATA";
const MINIMIST_PACKAGE: &str = "app/node_modules/minimist/package.json";

#[test]
fn app_vuln_has_python_and_node_packages() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let manifest = manifest_for_tag(&layout, "app-vuln");
    let fs = merge(&index_image(&layout, &manifest, &FileSelector::detectors()));
    let metadata = Pattern::new("**/*.dist-info/METADATA").unwrap();
    let dists: Vec<&str> = fs.glob(&metadata).map(|(p, _)| p).collect();
    assert!(dists.iter().any(|p| p.contains("Django-3.2")), "{dists:?}");
    assert!(dists.contains(&PYYAML_METADATA));
    let django = dists.iter().find(|p| p.contains("Django-3.2")).unwrap();
    assert_eq!(fs.lstat(django).unwrap().layer, 1);
    let pkg = Pattern::new("**/node_modules/**/package.json").unwrap();
    assert_eq!(fs.glob(&pkg).count(), 56);
    let minimist = String::from_utf8_lossy(fs.read(MINIMIST_PACKAGE).unwrap()).into_owned();
    assert!(minimist.contains("\"version\": \"0.0.8\""), "{minimist}");
    assert_eq!(fs.lstat(MINIMIST_PACKAGE).unwrap().layer, 2);
}

#[test]
fn app_whiteout_deletes_pyyaml_and_minimist() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("bookworm");
    let manifest = manifest_for_tag(&layout, "app-whiteout");
    let layers = index_image(&layout, &manifest, &FileSelector::detectors());
    assert_eq!(layers.len(), 4);
    assert!(
        layers[3]
            .whiteouts()
            .contains("usr/local/lib/python3.11/site-packages/pyyaml-5.3.dist-info")
    );
    let fs = merge(&layers);
    for gone in [
        PYYAML_METADATA,
        "usr/local/lib/python3.11/site-packages/pyyaml-5.3.dist-info",
        "usr/local/lib/python3.11/site-packages/yaml",
        "usr/local/lib/python3.11/site-packages/yaml/__init__.py",
        MINIMIST_PACKAGE,
        "app/node_modules/minimist",
    ] {
        assert!(fs.lstat(gone).is_none(), "{gone} survived the whiteout");
        assert!(!fs.exists(gone), "{gone}");
    }
    assert!(matches!(
        fs.read(PYYAML_METADATA),
        Err(FsError::NotFound(_))
    ));
    let metadata = Pattern::new("**/*.dist-info/METADATA").unwrap();
    assert!(fs.glob(&metadata).all(|(p, _)| !p.contains("yaml")));
    assert!(fs.glob(&metadata).any(|(p, _)| p.contains("Django-3.2")));
    // The files naming them survive: a scanner must not trust them over the filesystem.
    let reqs = String::from_utf8_lossy(fs.read("app/requirements.txt").unwrap()).into_owned();
    assert!(reqs.to_lowercase().contains("pyyaml"));
    assert!(fs.read("app/package-lock.json").is_ok());
    // Everything else from the lower layers is still there.
    assert_eq!(
        fs.read("etc/os-release").unwrap(),
        fs.read("usr/lib/os-release").unwrap()
    );
}

#[test]
fn multiarch_hello_layers_without_end_blocks() {
    let Some(images) = images_dir() else { return };
    let layout = images.join("multiarch-hello");
    let index = read_json(&layout, &manifest_for_tag(&layout, "latest"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    for m in manifests {
        let digest = m["digest"].as_str().unwrap();
        let layers = index_image(&layout, digest, &FileSelector::new(&["**"]).unwrap());
        assert_eq!(layers.len(), 1);
        let fs = merge(&layers);
        let files: Vec<(&str, u64)> = fs
            .walk()
            .filter(|(_, n)| n.kind == EntryKind::File)
            .map(|(p, n)| (p, n.size))
            .collect();
        assert!(!files.is_empty(), "{digest}: no files");
        let (path, size) = files.iter().max_by_key(|(_, s)| *s).unwrap();
        let binary = fs.read(path).unwrap();
        assert_eq!(binary.len() as u64, *size);
        assert_eq!(&binary[..4], b"\x7fELF", "{path}");
    }
}
