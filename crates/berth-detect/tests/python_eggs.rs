//! The Python detector against eggs and egg-info files made by the real tools, checked against
//! Python's own reader of installed distributions (`importlib.metadata`):
//!
//! - a zipped egg from setuptools' `bdist_egg` (`<name>-<version>-py3.x.egg`, metadata in
//!   `EGG-INFO/PKG-INFO`), and the same egg unpacked into a directory of that name, as
//!   `easy_install` leaves a package that is not zip-safe;
//! - a single-file `<name>-<version>-py3.x.egg-info`, as the standard library's distutils
//!   `install_egg_info` writes it (and as older Debian `python3-*` packages ship it).
//!
//! Needs `python3` with setuptools and, for the single file, the standard library's distutils
//! (Python ≤ 3.11; CI's Python is 3.11). A missing prerequisite is a loud SKIP, and a failure
//! under CI.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use berth_detect::python::PythonDetector;
use berth_detect::{Candidate, Detector, MemFiles, OwnedFiles};

fn python(dir: &Path, args: &[&str], stdlib_distutils: bool) -> std::process::Output {
    let mut cmd = Command::new("python3");
    cmd.current_dir(dir).arg("-W").arg("ignore").args(args);
    if stdlib_distutils {
        cmd.env("SETUPTOOLS_USE_DISTUTILS", "stdlib");
    }
    cmd.output().expect("run python3")
}

fn python_ok(dir: &Path, args: &[&str], stdlib_distutils: bool) -> String {
    let out = python(dir, args, stdlib_distutils);
    assert!(
        out.status.success(),
        "python3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `(name, version)` of every distribution `importlib.metadata` finds on `entry` (a
/// directory or an egg).
fn importlib(dir: &Path, entry: &Path) -> BTreeSet<(String, String)> {
    let script = format!(
        "import importlib.metadata as m\nfor d in m.distributions(path=[{:?}]):\n    print(d.metadata['Name'], d.version)",
        entry.display().to_string()
    );
    python_ok(dir, &["-c", &script], false)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// The files under `root`, keyed by their path relative to `/` with `root` mapped to `prefix`,
/// that the Python detector wants.
fn collect(root: &Path, prefix: &str, files: &mut MemFiles) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = format!("{prefix}/{}", p.strip_prefix(root).unwrap().display());
            let size = p.metadata().unwrap().len();
            if PythonDetector.wants(&Candidate::file(&rel, size)) {
                files.insert(&rel, std::fs::read(&p).unwrap());
            }
        }
    }
}

#[test]
fn eggs_and_egg_info_files_match_importlib() {
    if !berth_testkit::require_tool("python3") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("berth-detect-eggs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if !python(&dir, &["-c", "import setuptools"], false)
        .status
        .success()
    {
        berth_testkit::skip_or_fail(
            "python3 has no setuptools (apt-get install python3-setuptools)",
        );
        return;
    }
    std::fs::write(dir.join("demo.py"), "X = 1\n").unwrap();
    std::fs::write(
        dir.join("setup.py"),
        "from setuptools import setup\nsetup(name='berth-egg-demo', version='0.3.1', py_modules=['demo'])\n",
    )
    .unwrap();
    python_ok(
        &dir,
        &["setup.py", "-q", "bdist_egg", "--dist-dir", "eggs"],
        false,
    );
    let egg = std::fs::read_dir(dir.join("eggs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "egg"))
        .expect("bdist_egg made an egg");
    let egg_name = egg.file_name().unwrap().to_str().unwrap().to_owned();

    // The same egg unpacked, as easy_install installs one that is not zip-safe.
    let unpacked = dir.join("unpacked").join(&egg_name);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&egg).unwrap()).unwrap();
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).unwrap();
        let Some(rel) = e.enclosed_name() else {
            continue;
        };
        let out = unpacked.join(rel);
        if e.is_dir() {
            continue;
        }
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        std::fs::write(out, b).unwrap();
    }

    let mut files = MemFiles::new();
    collect(
        &dir.join("eggs"),
        "usr/lib/python3/site-packages",
        &mut files,
    );
    collect(&dir.join("unpacked"), "opt/app/lib", &mut files);
    let mut want = importlib(&dir, &egg);
    assert_eq!(want, importlib(&dir, &unpacked));
    assert_eq!(want.len(), 1);

    // A single-file egg-info from the standard library's distutils, if this Python has it.
    let plain = python(
        &dir,
        &["-c", "import distutils.command.install_egg_info"],
        true,
    );
    if plain.status.success() {
        std::fs::write(
            dir.join("setup_plain.py"),
            "from distutils.core import setup\nsetup(name='berth-plain-demo', version='2.0.post1', py_modules=['demo'])\n",
        )
        .unwrap();
        python_ok(
            &dir,
            &[
                "setup_plain.py",
                "-q",
                "install_egg_info",
                "--install-dir",
                "plain",
            ],
            true,
        );
        let written: Vec<_> = std::fs::read_dir(dir.join("plain"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(written.len(), 1);
        assert!(written[0].is_file(), "a single file, not a directory");
        want.extend(importlib(&dir, &dir.join("plain")));
        collect(
            &dir.join("plain"),
            "usr/lib/python3/dist-packages",
            &mut files,
        );
    } else {
        berth_testkit::skip_or_fail(
            "python3 has no standard-library distutils (Python >= 3.12): single-file egg-info not checked",
        );
    }

    let det = PythonDetector.detect(&files).unwrap();
    assert!(det.skipped.is_empty(), "{:?}", det.skipped);
    let found: BTreeSet<(String, String)> = det
        .packages()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert_eq!(found, want);
    // The unpacked egg is a second installation of the same distribution.
    let all: Vec<_> = det.packages().map(|p| p.path.clone()).collect();
    assert_eq!(all.len(), want.len() + 1, "{all:?}");
    assert!(all.contains(&format!("usr/lib/python3/site-packages/{egg_name}")));
    assert!(all.contains(&format!("opt/app/lib/{egg_name}/EGG-INFO/PKG-INFO")));

    // An OS package that installed the zipped egg owns it.
    files.insert(
        "var/lib/dpkg/info/python3-berth-egg-demo.list",
        format!("/.\n/usr/lib/python3/site-packages/{egg_name}\n").into_bytes(),
    );
    let (owned, skipped) = OwnedFiles::from_files(&files);
    assert!(skipped.is_empty());
    let mut findings = det.findings;
    assert_eq!(owned.retain_unowned(&mut findings), 1);

    let _ = std::fs::remove_dir_all(&dir);
}
