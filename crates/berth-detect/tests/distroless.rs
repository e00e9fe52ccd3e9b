//! A distroless image's package database: no `var/lib/dpkg/status`, one control file per
//! package in `var/lib/dpkg/status.d/` (the real control files of bookworm `.deb`s, see
//! `fixtures/README.md`), and distroless's `os-release`. Expected: what `dpkg-deb -W` printed
//! for the same `.deb`s, binary and source package alike.

use std::collections::BTreeSet;
use std::path::Path;

use berth_detect::dpkg::DpkgDetector;
use berth_detect::os_release::OsReleaseDetector;
use berth_detect::{Candidate, Detector, MemFiles, PackageKind, all_detectors, any_wants};

/// The `os-release` of `gcr.io/distroless/static-debian12`.
const DISTROLESS_OS_RELEASE: &str = "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\nSUPPORT_URL=\"https://github.com/GoogleContainerTools/distroless/blob/master/README.md\"\nBUG_REPORT_URL=\"https://github.com/GoogleContainerTools/distroless/issues/new\"\n";

#[test]
fn distroless_status_d_matches_dpkg_deb() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/distroless");
    let dir = root.join("var/lib/dpkg/status.d");
    let all = all_detectors();
    let mut files = MemFiles::new();
    let mut md5sums = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        let rel = format!("var/lib/dpkg/status.d/{name}");
        let bytes = std::fs::read(e.path()).unwrap();
        let cand = Candidate::file(&rel, bytes.len() as u64);
        // The layer reader keeps the control files and passes over the md5sums.
        if name.ends_with(".md5sums") {
            md5sums += 1;
            assert!(!any_wants(&all, &cand), "{rel}");
        } else {
            assert!(DpkgDetector.wants(&cand), "{rel}");
        }
        files.insert(&rel, bytes);
    }
    assert!(md5sums > 0);
    files.insert("etc/os-release", DISTROLESS_OS_RELEASE.as_bytes().to_vec());

    let det = DpkgDetector.detect(&files).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let got: BTreeSet<String> = det
        .packages()
        .map(|p| {
            let s = p.source.as_ref().expect("a source package");
            assert_eq!(s.kind, PackageKind::Source);
            format!(
                "{} {} {} {} {}",
                p.name,
                p.version,
                s.name,
                s.version,
                p.arch.as_deref().unwrap_or("")
            )
        })
        .collect();
    let want: BTreeSet<String> = std::fs::read_to_string(root.join("dpkg-deb-W.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 7);

    let os = OsReleaseDetector.detect(&files).unwrap();
    let d = os.distribution().expect("a distribution");
    assert_eq!(
        (
            d.did.as_str(),
            d.version_id.as_str(),
            d.version_codename.as_str(),
            d.pretty_name.as_str()
        ),
        ("debian", "12", "bookworm", "Distroless")
    );
}
