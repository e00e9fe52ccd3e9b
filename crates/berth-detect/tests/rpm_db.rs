//! The rpm detector against databases written by the real rpm, compared with `rpm -qa`.
//!
//! - SQLite: `rpmdb.sqlite` written by Debian's rpm 4.18 (`apt-get install rpm`). Three small
//!   packages are built with `rpmbuild` (one with an epoch and a file, one a subpackage whose
//!   source differs from its name, one whose header spans several 4 KiB pages) and registered
//!   with `rpm -i --justdb`. Without rpm the test is a loud SKIP, and a failure under CI, whose
//!   test command installs it.
//! - BerkeleyDB: the same headers loaded into a hash `Packages` file by Berkeley DB's own
//!   `db5.3_load`, and read back by rpm's `bdb_ro` backend as the reference.
//! - NDB: Debian's rpm is built without NDB, so `fixtures/rpm-ndb/Packages.db` was written by
//!   Debian's rpm 4.18 source built with `--enable-ndb` (`fixtures/rpm-ndb/make.sh`), with the
//!   `rpm -qa` and file listings that rpm printed for it beside it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use berth_detect::rpm::{RpmDetector, read_bdb, read_ndb, read_sqlite};
use berth_detect::{Detector, Ecosystem, FileSource, MemFiles, OwnedFiles, python::PythonDetector};

fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        berth_testkit::skip_or_fail(&format!("{tool} is not installed (apt-get install rpm)"));
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const HELLO_SPEC: &str = "Name: berth-hello\nVersion: 1.2.3\nRelease: 4.fc40\nEpoch: 2\nSummary: test\nLicense: MIT\nBuildArch: noarch\n%description\ntest\n%install\nmkdir -p %{buildroot}/usr/lib/python3.12/site-packages/hello-1.2.3.dist-info\nprintf 'Name: hello\\nVersion: 1.2.3\\n' > %{buildroot}/usr/lib/python3.12/site-packages/hello-1.2.3.dist-info/METADATA\n%files\n/usr/lib/python3.12/site-packages/hello-1.2.3.dist-info/METADATA\n";
/// A header over 4 KiB: overflow chains of several pages in BerkeleyDB, a large NDB blob.
fn big_spec() -> String {
    let mut s = String::from(
        "Name: berth-big\nVersion: 10.0\nRelease: 150500.1.1\nSummary: big\nLicense: MIT\nBuildArch: noarch\n%description\n",
    );
    for i in 0..200 {
        s +=
            &format!("Line {i:03} of a description long enough to spread the header over pages.\n");
    }
    s += "%install\nmkdir -p %{buildroot}/usr/share/berth-big\nfor i in $(seq 1 40); do touch %{buildroot}/usr/share/berth-big/file-$i; done\n%files\n/usr/share/berth-big\n";
    s
}
const FOO_SPEC: &str = "Name: foo\nVersion: 0.9\nRelease: 1.el9\nSummary: foo\nLicense: MIT\nBuildArch: noarch\n%description\nfoo\n%package -n libfoo\nSummary: lib\n%description -n libfoo\nlib\n%files -n libfoo\n";

#[test]
fn rpmdb_sqlite_matches_rpm_qa() {
    if !have("rpm") || !have("rpmbuild") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("berth-detect-rpm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let big = big_spec();
    for (name, spec) in [
        ("hello.spec", HELLO_SPEC),
        ("foo.spec", FOO_SPEC),
        ("big.spec", big.as_str()),
    ] {
        std::fs::write(dir.join(name), spec).unwrap();
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", dir.join("top").display()))
            .arg("--quiet")
            .arg("-bb")
            .arg(dir.join(name)));
    }
    let db = dir.join("db");
    let dbpath = format!("{}", db.display());
    run(Command::new("rpm").args(["--initdb", "--dbpath", &dbpath]));
    let rpms: Vec<_> = std::fs::read_dir(dir.join("top/RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rpms.len(), 3);
    run(Command::new("rpm")
        .args([
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--dbpath",
            &dbpath,
        ])
        .args(&rpms));
    let want: BTreeSet<(String, String, String, String)> = run(Command::new("rpm").args([
        "-qa",
        "--dbpath",
        &dbpath,
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n",
    ]))
    .lines()
    .map(|l| {
        let w: Vec<&str> = l.split(' ').collect();
        (
            w[0].to_owned(),
            w[1].to_owned(),
            w[2].to_owned(),
            w[3].to_owned(),
        )
    })
    .collect();
    let files = run(Command::new("rpm").args(["-ql", "--dbpath", &dbpath, "berth-hello"]));

    let bytes = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let bdb = berkeley_copy(&dir, &db, &want);
    let _ = std::fs::remove_dir_all(&dir);

    let headers = read_sqlite("var/lib/rpm/rpmdb.sqlite", &bytes).unwrap();
    if let Some(bdb) = bdb {
        let mut from_bdb = read_bdb("var/lib/rpm/Packages", &bdb).unwrap();
        from_bdb.sort_by(|a, b| a.name.cmp(&b.name));
        let mut sorted = headers.clone();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            from_bdb, sorted,
            "the BerkeleyDB copy holds the same headers"
        );
        // The big header really is spread over a chain of overflow pages.
        let overflow_pages = bdb.chunks(4096).filter(|p| p.get(25) == Some(&7)).count();
        assert!(overflow_pages >= 3, "{overflow_pages} overflow pages");
        let mut m = MemFiles::new();
        m.insert("var/lib/rpm/Packages", bdb);
        assert_eq!(RpmDetector.detect(&m).unwrap().packages().count(), 3);
        let (owned, skipped) = OwnedFiles::from_files(&m);
        assert!(skipped.is_empty());
        let hello = sorted.iter().find(|h| h.name == "berth-hello").unwrap();
        assert_eq!(owned.owner(&hello.files[0]), Some("berth-hello"));
        assert_eq!(
            owned.owner("usr/share/berth-big/file-40"),
            Some("berth-big")
        );
        // Damaged copies: errors, never panics.
        let bytes = m.read("var/lib/rpm/Packages").unwrap();
        for cut in [0, 15, 4096, 4097, bytes.len() / 2, bytes.len() - 1] {
            let _ = read_bdb("p", &bytes[..cut]);
        }
        for stride in [7, 97, 1009] {
            let mut flipped = bytes.to_vec();
            for b in flipped.iter_mut().skip(30).step_by(stride) {
                *b ^= 0xa5;
            }
            let _ = read_bdb("p", &flipped);
        }
    }
    // Damaged copies: errors, never panics.
    let n = bytes.len();
    for cut in [0, 17, 19, 100, 4096, n / 3, n / 2, n - 1] {
        let _ = read_sqlite("p", &bytes[..cut]);
    }
    for stride in [97, 1009, 4099] {
        let mut flipped = bytes.clone();
        for b in flipped.iter_mut().skip(100).step_by(stride) {
            *b ^= 0xa5;
        }
        let _ = read_sqlite("p", &flipped);
    }
    let got: BTreeSet<_> = headers
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                h.evr(),
                h.arch.clone(),
                h.source_rpm.clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let hello = headers.iter().find(|h| h.name == "berth-hello").unwrap();
    let listed: Vec<String> = files
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .collect();
    assert_eq!(hello.files, listed);

    // Through the detector and the ownership helper, as an image would hold it.
    let mut m = MemFiles::new();
    m.insert("var/lib/rpm/rpmdb.sqlite", bytes);
    m.insert(
        &listed[0],
        b"Metadata-Version: 2.1\nName: hello\nVersion: 1.2.3\n".to_vec(),
    );
    let det = RpmDetector.detect(&m).unwrap();
    let pkgs: Vec<_> = det
        .packages()
        .map(|p| {
            let s = p.source.as_ref().unwrap();
            (
                p.name.as_str(),
                p.version.as_str(),
                s.name.as_str(),
                s.version.as_str(),
            )
        })
        .collect();
    assert!(pkgs.contains(&(
        "berth-hello",
        "2:1.2.3-4.fc40",
        "berth-hello",
        "2:1.2.3-4.fc40"
    )));
    assert!(pkgs.contains(&("libfoo", "0.9-1.el9", "foo", "0.9-1.el9")));
    assert!(det.packages().all(|p| p.ecosystem == Ecosystem::Rpm));
    let (owned, skipped) = OwnedFiles::from_files(&m);
    assert!(skipped.is_empty());
    let mut py = PythonDetector.detect(&m).unwrap().findings;
    assert_eq!(py.len(), 1);
    assert_eq!(
        owned.retain_unowned(&mut py),
        1,
        "the rpm owns the dist-info"
    );
    assert!(Path::new(&listed[0]).ends_with("METADATA"));
}

/// The same packages in a BerkeleyDB hash `Packages` file, as RHEL 8 and CentOS 7 keep them:
/// written by Berkeley DB's own `db5.3_load` (`apt-get install db5.3-util`) from the header
/// blobs of the SQLite database, and checked by reading it back with rpm's `bdb_ro` backend.
/// `None` (loudly) without db5.3_load.
fn berkeley_copy(
    dir: &Path,
    sqlite_dir: &Path,
    want: &BTreeSet<(String, String, String, String)>,
) -> Option<Vec<u8>> {
    if !have("db5.3_load") {
        return None;
    }
    let conn = rusqlite::Connection::open(sqlite_dir.join("rpmdb.sqlite")).unwrap();
    let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages").unwrap();
    let rows: Vec<(u32, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut dump =
        String::from("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n");
    // rpm's record 0: the next instance number.
    dump += &format!(
        " {}\n {}\n",
        hex(&0u32.to_le_bytes()),
        hex(&(rows.len() as u32 + 1).to_le_bytes())
    );
    for (hnum, blob) in &rows {
        dump += &format!(" {}\n {}\n", hex(&hnum.to_le_bytes()), hex(blob));
    }
    dump += "DATA=END\n";
    let bdb_dir = dir.join("bdb");
    std::fs::create_dir_all(&bdb_dir).unwrap();
    std::fs::write(dir.join("dump.txt"), dump).unwrap();
    run(Command::new("db5.3_load")
        .arg("-f")
        .arg(dir.join("dump.txt"))
        .arg(bdb_dir.join("Packages")));
    let dbpath = format!("{}", bdb_dir.display());
    let out = Command::new("rpm")
        .args([
            "--define",
            "_db_backend bdb_ro",
            "-qa",
            "--dbpath",
            &dbpath,
            "--qf",
        ])
        .arg("%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM}\\n")
        .output()
        .unwrap();
    let listed: BTreeSet<(String, String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (
                w[0].to_owned(),
                w[1].to_owned(),
                w[2].to_owned(),
                w[3].to_owned(),
            )
        })
        .collect();
    assert_eq!(&listed, want, "rpm reads the BerkeleyDB copy");
    Some(std::fs::read(bdb_dir.join("Packages")).unwrap())
}

fn ndb_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/rpm-ndb")
            .join(name),
    )
    .expect("fixture")
}

/// SUSE's format: an NDB `Packages.db` written by rpm itself (see the module docs), against
/// what that rpm listed for it.
#[test]
fn rpm_ndb_matches_rpm_qa() {
    let bytes = ndb_fixture("Packages.db");
    let qa = String::from_utf8(ndb_fixture("rpm-qa.txt")).unwrap();
    let want: BTreeSet<(String, String, String, String)> = qa
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (
                w[0].to_owned(),
                w[1].to_owned(),
                w[2].to_owned(),
                w[3].to_owned(),
            )
        })
        .collect();
    assert_eq!(want.len(), 3);
    let headers = read_ndb("usr/lib/sysimage/rpm/Packages.db", &bytes).unwrap();
    let got: BTreeSet<_> = headers
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                h.evr(),
                h.arch.clone(),
                h.source_rpm.clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Every file rpm lists, owned by the package rpm names.
    let ql = String::from_utf8(ndb_fixture("rpm-ql.txt")).unwrap();
    let want_files: BTreeSet<(String, String)> = ql
        .lines()
        .map(|l| {
            let (n, f) = l.split_once(' ').unwrap();
            (n.to_owned(), f.trim_start_matches('/').to_owned())
        })
        .collect();
    let got_files: BTreeSet<(String, String)> = headers
        .iter()
        .flat_map(|h| h.files.iter().map(|f| (h.name.clone(), f.clone())))
        .collect();
    assert_eq!(got_files, want_files);
    assert_eq!(want_files.len(), 42);

    // Through the detector and the ownership helper, as a SUSE image holds it.
    let mut m = MemFiles::new();
    m.insert("usr/lib/sysimage/rpm/Packages.db", bytes.clone());
    m.insert(
        "usr/lib/python3.12/site-packages/hello-1.2.3.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: hello\nVersion: 1.2.3\n".to_vec(),
    );
    let det = RpmDetector.detect(&m).unwrap();
    assert!(det.skipped.is_empty());
    let pkgs: Vec<_> = det
        .packages()
        .map(|p| {
            let s = p.source.as_ref().unwrap();
            (
                p.name.as_str(),
                p.version.as_str(),
                s.name.as_str(),
                s.version.as_str(),
            )
        })
        .collect();
    assert!(pkgs.contains(&("libfoo", "0.9-1.el9", "foo", "0.9-1.el9")));
    assert!(pkgs.contains(&(
        "berth-hello",
        "2:1.2.3-4.fc40",
        "berth-hello",
        "2:1.2.3-4.fc40"
    )));
    assert_eq!(pkgs.len(), 3, "the erased package is gone");
    let (owned, skipped) = OwnedFiles::from_files(&m);
    assert!(skipped.is_empty());
    let mut py = PythonDetector.detect(&m).unwrap().findings;
    assert_eq!(
        owned.retain_unowned(&mut py),
        1,
        "the rpm owns the dist-info"
    );

    // Damaged copies: errors, never panics.
    let n = bytes.len();
    for cut in [0, 3, 31, 32, 4095, 4096, 4097, n / 2, n - 1] {
        let _ = read_ndb("p", &bytes[..cut]);
    }
    for stride in [7, 97, 1009] {
        let mut flipped = bytes.clone();
        for b in flipped.iter_mut().skip(12).step_by(stride) {
            *b ^= 0xa5;
        }
        let _ = read_ndb("p", &flipped);
    }
}
