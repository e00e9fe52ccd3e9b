//! Test support: finding `../shared/images` and reading OCI image layouts from it.

#![allow(dead_code)]

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use berth_domain::Digest;
use berth_layer::{FileSelector, LayerIndex, Limits, read_layer};

/// `shared/images` (see `berth_testkit::shared_dir`): a loud SKIP locally when absent, a
/// failure under CI.
pub fn images_dir() -> Option<PathBuf> {
    berth_testkit::shared_dir().map(|s| s.join("images"))
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest");
    layout.join("blobs").join(alg).join(hex)
}

pub fn read_json(layout: &Path, digest: &str) -> serde_json::Value {
    let bytes = std::fs::read(blob_path(layout, digest)).expect("blob");
    serde_json::from_slice(&bytes).expect("json")
}

/// The manifest digest tagged `tag` in the layout's index.json.
pub fn manifest_for_tag(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("tag {tag}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// (media type, digest) of each layer of a manifest, base first.
pub fn layers(layout: &Path, manifest: &str) -> Vec<(String, String)> {
    read_json(layout, manifest)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_owned(),
                l["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Reads every layer of `manifest` from the layout, verifying digests.
pub fn index_image(layout: &Path, manifest: &str, selector: &FileSelector) -> Vec<LayerIndex> {
    layers(layout, manifest)
        .iter()
        .map(|(mt, digest)| {
            let file = File::open(blob_path(layout, digest)).unwrap();
            let expected = Digest::parse(digest).unwrap();
            read_layer(
                BufReader::new(file),
                mt,
                Some(&expected),
                selector,
                &Limits::default(),
            )
            .unwrap_or_else(|e| panic!("layer {digest}: {e} ({e:?})"))
        })
        .collect()
}
