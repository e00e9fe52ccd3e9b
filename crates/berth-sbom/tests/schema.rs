//! The SBOMs of a report covering every ecosystem berth detects, plus hostile package names,
//! checked against the official CycloneDX 1.5 and SPDX 2.3 schemas and SPDX's own validator by
//! `dev/validate-sbom.py` (installed by `dev/install-test-deps.sh`), and for their content.
//!
//! Without python3 or the schema packages the schema tests print `SKIP:` and return, except
//! under `CI=true`, where they fail: CI must really check.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_report::{Distribution, Ecosystem, Environment, IndexReport, Package, Repository, state};
use berth_sbom::{SbomInfo, cyclonedx, spdx};
use serde_json::{Value, json};

const MANIFEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const LAYER_OS: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const LAYER_APP: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn info() -> SbomInfo<'static> {
    SbomInfo {
        name: "localhost:5000/team/app:1.2",
        created: "2024-05-06T07:08:09.123+02:00",
        tool_version: "0.1.0",
    }
}

struct Builder {
    report: IndexReport,
}

impl Builder {
    fn new() -> Builder {
        let mut report = IndexReport::new(MANIFEST, state::INDEX_FINISHED);
        for (i, eco) in Ecosystem::ALL.iter().enumerate() {
            if let Some((name, uri)) = eco.repository() {
                let id = format!("r{i}");
                report.repository.insert(
                    id.clone(),
                    Repository {
                        id,
                        name: name.into(),
                        key: String::new(),
                        uri: uri.into(),
                        cpe: String::new(),
                    },
                );
            }
        }
        let distro =
            |id: &str, did: &str, name: &str, version_id: &str, pretty: &str, cpe: &str| {
                Distribution {
                    id: id.into(),
                    did: did.into(),
                    name: name.into(),
                    version: version_id.into(),
                    version_code_name: String::new(),
                    version_id: version_id.into(),
                    arch: String::new(),
                    cpe: cpe.into(),
                    pretty_name: pretty.into(),
                }
            };
        for d in [
            distro(
                "1",
                "debian",
                "Debian GNU/Linux",
                "12",
                "Debian GNU/Linux 12 (bookworm)",
                "",
            ),
            distro(
                "2",
                "alpine",
                "Alpine Linux",
                "3.19.1",
                "Alpine Linux v3.19",
                "",
            ),
            distro(
                "3",
                "rhel",
                "Red Hat Enterprise Linux",
                "9.3",
                "Red Hat Enterprise Linux 9.3 (Plow)",
                "cpe:/o:redhat:enterprise_linux:9::baseos",
            ),
        ] {
            report.distributions.insert(d.id.clone(), d);
        }
        Builder { report }
    }

    /// Adds a package found in `db`; `eco` `None` leaves its ecosystem unknowable.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        id: &str,
        eco: Option<Ecosystem>,
        name: &str,
        version: &str,
        arch: &str,
        source: Option<(&str, &str)>,
        db: &str,
        distribution: &str,
    ) {
        self.report.packages.insert(
            id.into(),
            Package {
                id: id.into(),
                name: name.into(),
                version: version.into(),
                kind: "binary".into(),
                source: source.map(|(n, v)| {
                    Box::new(Package {
                        id: String::new(),
                        name: n.into(),
                        version: v.into(),
                        kind: "source".into(),
                        source: None,
                        normalized_version: String::new(),
                        module: String::new(),
                        arch: String::new(),
                        cpe: String::new(),
                    })
                }),
                normalized_version: String::new(),
                module: String::new(),
                arch: arch.into(),
                cpe: String::new(),
            },
        );
        let Some(eco) = eco else { return };
        let repository_ids = match eco.repository() {
            Some((repo, _)) => self
                .report
                .repository
                .iter()
                .filter(|(_, r)| r.name == repo)
                .map(|(id, _)| id.clone())
                .collect(),
            None => vec![],
        };
        self.report.environments.insert(
            id.into(),
            vec![Environment {
                package_db: db.into(),
                introduced_in: if eco.is_os() { LAYER_OS } else { LAYER_APP }.into(),
                distribution_id: distribution.into(),
                repository_ids,
            }],
        );
    }
}

fn report() -> IndexReport {
    use Ecosystem::*;
    let mut b = Builder::new();
    let dpkg = "var/lib/dpkg/status";
    let apk = "lib/apk/db/installed";
    let rpm = "var/lib/rpm/rpmdb.sqlite";
    b.add(
        "1",
        Some(Debian),
        "libc6",
        "2.36-9+deb12u4",
        "amd64",
        Some(("glibc", "2.36-9+deb12u4")),
        dpkg,
        "1",
    );
    b.add(
        "2",
        Some(Debian),
        "bash",
        "5.2.15-2+b2",
        "amd64",
        Some(("bash", "5.2.15-2")),
        dpkg,
        "1",
    );
    b.add(
        "3",
        Some(Alpine),
        "busybox-binsh",
        "1.36.1-r15",
        "x86_64",
        Some(("busybox", "1.36.1-r15")),
        apk,
        "2",
    );
    b.add(
        "4",
        Some(Alpine),
        "musl",
        "1.2.4_git20230717-r4",
        "x86_64",
        None,
        apk,
        "2",
    );
    b.add(
        "5",
        Some(Rpm),
        "bash",
        "1:5.1.8-6.el9",
        "x86_64",
        Some(("bash", "5.1.8-6.el9")),
        rpm,
        "3",
    );
    b.add(
        "6",
        Some(PyPI),
        "PyYAML",
        "6.0.1",
        "",
        None,
        "usr/lib/python3/site-packages/PyYAML-6.0.1.dist-info/METADATA",
        "1",
    );
    b.add(
        "7",
        Some(PyPI),
        "requests",
        "2.31.0",
        "",
        None,
        "opt/venv-a/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        "1",
    );
    // The same package again in another virtualenv: its own component, its own SPDXID.
    b.add(
        "8",
        Some(PyPI),
        "requests",
        "2.31.0",
        "",
        None,
        "opt/venv-b/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
        "1",
    );
    b.add(
        "9",
        Some(Npm),
        "@babel/core",
        "7.23.0",
        "",
        None,
        "app/node_modules/@babel/core/package.json",
        "1",
    );
    b.add(
        "10",
        Some(Npm),
        "lodash",
        "4.17.21",
        "",
        None,
        "app/node_modules/lodash/package.json",
        "1",
    );
    b.add(
        "11",
        Some(Go),
        "stdlib",
        "1.21.5",
        "",
        None,
        "usr/local/bin/server",
        "1",
    );
    b.add(
        "12",
        Some(Go),
        "github.com/gorilla/mux",
        "v1.8.0",
        "",
        None,
        "usr/local/bin/server",
        "1",
    );
    b.add(
        "13",
        Some(Cargo),
        "serde",
        "1.0.193",
        "",
        None,
        "usr/local/bin/tool",
        "1",
    );
    b.add(
        "14",
        Some(Maven),
        "org.apache.commons:commons-lang3",
        "3.12.0",
        "",
        None,
        "usr/share/java/commons-lang3.jar",
        "1",
    );
    b.add(
        "15",
        Some(RubyGems),
        "rack",
        "2.2.8",
        "",
        None,
        "var/lib/gems/3.1.0/specifications/rack-2.2.8.gemspec",
        "1",
    );
    b.add(
        "16",
        Some(NuGet),
        "Newtonsoft.Json",
        "13.0.3",
        "",
        None,
        "app/app.deps.json",
        "1",
    );
    b.add(
        "17",
        Some(Packagist),
        "monolog/monolog",
        "3.5.0",
        "",
        None,
        "var/www/vendor/composer/installed.json",
        "1",
    );
    // Hostile names: anything a package's own metadata can say.
    b.add(
        "18",
        Some(PyPI),
        "we ird \"pkg\"/é@1",
        "1.0 beta\"/@#?",
        "",
        None,
        "srv/x y/\"weird\".dist-info/METADATA",
        "1",
    );
    b.add(
        "19",
        Some(Npm),
        "@sc ope/na\"me",
        "1.0.0",
        "",
        None,
        "app/node_modules/@sc ope/na\"me/package.json",
        "1",
    );
    b.add(
        "20",
        Some(Debian),
        "päckage/with@slash \"q\"\ttab",
        "1:2.0~rc1",
        "amd64",
        Some(("src pkg", "2.0")),
        dpkg,
        "1",
    );
    // Names that sanitise to the same SPDXID.
    b.add(
        "21",
        Some(Cargo),
        "a b",
        "1.0",
        "",
        None,
        "usr/local/bin/tool",
        "1",
    );
    b.add(
        "22",
        Some(Cargo),
        "a_b",
        "1.0",
        "",
        None,
        "usr/local/bin/tool",
        "1",
    );
    b.add(
        "23",
        Some(Cargo),
        "日本語",
        "",
        "",
        None,
        "usr/local/bin/tool",
        "1",
    );
    // Found nowhere the report can tell an ecosystem from.
    b.add("24", None, "mystery thing", "?", "", None, "", "");
    b.report
}

/// The package-URL each ecosystem's package must get.
fn expected_purls() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "1",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
        ),
        (
            "3",
            "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox",
        ),
        (
            "5",
            "pkg:rpm/rhel/bash@1:5.1.8-6.el9?arch=x86_64&distro=rhel-9.3",
        ),
        ("6", "pkg:pypi/pyyaml@6.0.1"),
        ("9", "pkg:npm/%40babel/core@7.23.0"),
        ("11", "pkg:golang/stdlib@1.21.5"),
        ("12", "pkg:golang/github.com/gorilla/mux@v1.8.0"),
        ("13", "pkg:cargo/serde@1.0.193"),
        ("14", "pkg:maven/org.apache.commons/commons-lang3@3.12.0"),
        ("15", "pkg:gem/rack@2.2.8"),
        ("16", "pkg:nuget/Newtonsoft.Json@13.0.3"),
        ("17", "pkg:composer/monolog/monolog@3.5.0"),
        ("24", "pkg:generic/mystery%20thing@%3F"),
    ])
}

fn validator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dev/validate-sbom.py")
}

/// `Some((success, stdout + stderr))`, or `None` when the validator cannot run here (after
/// saying so loudly; under CI that is a failure instead).
fn validate(args: &[(&str, &Path)]) -> Option<(bool, String)> {
    let mut cmd = Command::new("python3");
    cmd.arg(validator());
    for (flag, path) in args {
        cmd.arg(flag).arg(path);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => return unavailable(&format!("cannot run python3: {e}")),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(3) {
        return unavailable(&text);
    }
    Some((out.status.success(), text))
}

fn unavailable<T>(why: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("SBOM schema validation unavailable under CI=true: {why}");
    }
    // Straight to stderr, past the test harness's capture, so a skip is never silent.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP: SBOM schema validation (run dev/install-test-deps.sh): {}",
        why.trim()
    );
    None
}

fn write(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    path
}

#[test]
fn the_documents_are_valid_against_the_official_schemas() {
    let r = report();
    let empty = IndexReport::new(MANIFEST, state::INDEX_FINISHED);
    let bare = SbomInfo {
        name: "alpine",
        created: "2024-05-06T07:08:09Z",
        tool_version: "",
    };
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "--cyclonedx",
            write(dir.path(), "bom.cdx.json", &cyclonedx(&r, &info())),
        ),
        (
            "--spdx",
            write(dir.path(), "bom.spdx.json", &spdx(&r, &info())),
        ),
        (
            "--cyclonedx",
            write(dir.path(), "empty.cdx.json", &cyclonedx(&empty, &bare)),
        ),
        (
            "--spdx",
            write(dir.path(), "empty.spdx.json", &spdx(&empty, &bare)),
        ),
    ];
    let args: Vec<(&str, &Path)> = files.iter().map(|(f, p)| (*f, p.as_path())).collect();
    let Some((ok, text)) = validate(&args) else {
        return;
    };
    assert!(ok, "validator rejected berth's SBOMs:\n{text}");
    for (flag, path) in &args {
        let line = format!("valid {} {}", &flag[2..], path.display());
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}

/// Each broken document must be rejected for its own fault, next to a valid one that must
/// not be: proof that the validator really checks (one run, as starting it takes seconds).
#[test]
fn the_validator_rejects_broken_documents() {
    let r = report();
    let dir = tempfile::tempdir().unwrap();
    let broken = |doc: Value, edit: &dyn Fn(&mut Value)| {
        let mut doc = doc;
        edit(&mut doc);
        doc
    };
    let cdx = || cyclonedx(&r, &info());
    let sp = || spdx(&r, &info());
    let remove = |v: &mut Value, key: &str| {
        v.as_object_mut().unwrap().remove(key);
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("--cyclonedx", "valid.cdx.json", cdx(), ""),
        ("--spdx", "valid.spdx.json", sp(), ""),
        // Caught by the CycloneDX schema.
        (
            "--cyclonedx",
            "type.json",
            broken(cdx(), &|d| d["components"][0]["type"] = json!("banana")),
            "'banana' is not one of",
        ),
        (
            "--cyclonedx",
            "name.json",
            broken(cdx(), &|d| remove(&mut d["components"][1], "name")),
            "'name' is a required property",
        ),
        (
            "--cyclonedx",
            "time.json",
            broken(cdx(), &|d| d["metadata"]["timestamp"] = json!("yesterday")),
            "'yesterday' is not a 'date-time'",
        ),
        // Caught by the checks the schema cannot express.
        (
            "--cyclonedx",
            "dup.json",
            broken(cdx(), &|d| {
                d["components"][2]["bom-ref"] = d["components"][3]["bom-ref"].clone()
            }),
            "is not unique",
        ),
        (
            "--cyclonedx",
            "purl.json",
            broken(cdx(), &|d| d["components"][4]["purl"] = json!("not a purl")),
            "purl: ",
        ),
        // Caught by the SPDX schema.
        (
            "--spdx",
            "download.json",
            broken(sp(), &|d| remove(&mut d["packages"][2], "downloadLocation")),
            "'downloadLocation' is a required property",
        ),
        (
            "--spdx",
            "extra.json",
            broken(sp(), &|d| d["packages"][3]["bogus"] = json!(1)),
            "Additional properties are not allowed ('bogus'",
        ),
        // Caught by spdx-tools only: valid JSON-schema-wise.
        (
            "--spdx",
            "id.json",
            broken(sp(), &|d| {
                d["packages"][1]["SPDXID"] = json!("SPDXRef-has space")
            }),
            "SPDXRef-has space",
        ),
        (
            "--spdx",
            "dangling.json",
            broken(sp(), &|d| {
                d["relationships"][1]["relatedSpdxElement"] = json!("SPDXRef-nowhere")
            }),
            "SPDXRef-nowhere",
        ),
        (
            "--spdx",
            "created.json",
            broken(sp(), &|d| {
                d["creationInfo"]["created"] = json!("2024-05-06T07:08:09+02:00")
            }),
            "spdx-tools: ",
        ),
    ];
    let paths: Vec<PathBuf> = cases
        .iter()
        .map(|(_, name, doc, _)| write(dir.path(), name, doc))
        .collect();
    let args: Vec<(&str, &Path)> = cases
        .iter()
        .zip(&paths)
        .map(|(c, p)| (c.0, p.as_path()))
        .collect();
    let Some((ok, text)) = validate(&args) else {
        return;
    };
    assert!(!ok, "broken documents passed:\n{text}");
    for ((flag, name, _, why), path) in cases.iter().zip(&paths) {
        let kind = &flag[2..];
        if why.is_empty() {
            let line = format!("valid {kind} {}", path.display());
            assert!(
                text.lines().any(|l| l == line),
                "{name}: no {line:?} in:\n{text}"
            );
            continue;
        }
        let head = format!("INVALID {kind} {}:", path.display());
        let errors: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with(&head))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert!(
            errors.iter().any(|e| e.contains(why)),
            "{name}: expected an error with {why:?} under {head:?} in:\n{text}"
        );
    }
}

#[test]
fn cyclonedx_content() {
    let r = report();
    let bom = cyclonedx(&r, &info());
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    let serial = bom["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert_eq!(bom["metadata"]["timestamp"], "2024-05-06T05:08:09Z");
    assert_eq!(bom["metadata"]["tools"]["components"][0]["name"], "berth");
    assert_eq!(
        bom["metadata"]["tools"]["components"][0]["version"],
        "0.1.0"
    );

    let image = &bom["metadata"]["component"];
    assert_eq!(image["type"], "container");
    assert_eq!(image["name"], "localhost:5000/team/app:1.2");
    assert_eq!(image["version"], MANIFEST);
    assert_eq!(
        image["hashes"],
        json!([{ "alg": "SHA-256", "content": &MANIFEST[7..] }])
    );
    assert_eq!(
        image["purl"],
        format!(
            "pkg:oci/app@sha256%3A{}?repository_url=localhost:5000/team/app&tag=1.2",
            &MANIFEST[7..]
        )
    );

    let components = bom["components"].as_array().unwrap();
    let libraries: Vec<&Value> = components
        .iter()
        .filter(|c| c["type"] == "library")
        .collect();
    let systems: Vec<&Value> = components
        .iter()
        .filter(|c| c["type"] == "operating-system")
        .collect();
    assert_eq!(libraries.len(), r.packages.len());
    assert_eq!(systems.len(), r.distributions.len());
    assert_eq!(components.len(), libraries.len() + systems.len());
    let rhel = systems.iter().find(|s| s["name"] == "rhel").unwrap();
    assert_eq!(rhel["version"], "9.3");
    assert_eq!(rhel["cpe"], "cpe:/o:redhat:enterprise_linux:9::baseos");

    // Every package: a purl (the report's own), its name and version unchanged, where it was
    // found, and components in purl order.
    let by_id: BTreeMap<String, &Value> = libraries
        .iter()
        .map(|c| (prop(c, "berth:package_id")[0].clone(), *c))
        .collect();
    assert_eq!(by_id.len(), r.packages.len());
    for (id, p) in &r.packages {
        let c = by_id[id];
        let purl = c["purl"].as_str().unwrap();
        assert!(purl.starts_with("pkg:"), "{purl}");
        if let Some(expected) = r.purl(id) {
            assert_eq!(purl, expected);
        }
        assert_eq!(c["name"], p.name.as_str());
        assert_eq!(c["bom-ref"], format!("berth:package:{id}"));
        if p.version.is_empty() {
            assert!(c.get("version").is_none());
        } else {
            assert_eq!(c["version"], p.version.as_str());
        }
        if let Some(env) = r.environments.get(id) {
            assert_eq!(prop(c, "berth:package_db"), [env[0].package_db.clone()]);
            assert_eq!(prop(c, "berth:layer"), [env[0].introduced_in.clone()]);
        }
    }
    for (id, purl) in expected_purls() {
        assert_eq!(by_id[id]["purl"], purl, "package {id}");
    }
    assert_eq!(prop(by_id["1"], "berth:source_package"), ["glibc"]);
    assert_eq!(prop(by_id["1"], "berth:source_version"), ["2.36-9+deb12u4"]);
    let purls: Vec<&str> = libraries
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert!(purls.is_sorted(), "{purls:#?}");

    // The image depends on everything, and everything is in the graph.
    let deps = bom["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), components.len() + 1);
    assert_eq!(deps[0]["ref"], image["bom-ref"]);
    let all: BTreeSet<&str> = components
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap())
        .collect();
    let of_image: BTreeSet<&str> = deps[0]["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(of_image, all);
    assert_eq!(all.len(), components.len(), "bom-refs are unique");
}

fn prop(c: &Value, name: &str) -> Vec<String> {
    c["properties"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["value"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn spdx_content() {
    let r = report();
    let doc = spdx(&r, &info());
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["dataLicense"], "CC0-1.0");
    assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(doc["name"], "localhost:5000/team/app:1.2");
    let ns = doc["documentNamespace"].as_str().unwrap();
    assert!(
        ns.starts_with("https://spdx.org/spdxdocs/berth-localhost-5000-team-app-1.2-"),
        "{ns}"
    );
    assert!(!ns.contains('#'));
    assert_eq!(doc["creationInfo"]["created"], "2024-05-06T05:08:09Z");
    assert_eq!(
        doc["creationInfo"]["creators"],
        json!(["Tool: berth-0.1.0"])
    );
    assert_eq!(doc["documentDescribes"], json!(["SPDXRef-Image"]));

    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1 + r.distributions.len() + r.packages.len());
    let image = &packages[0];
    assert_eq!(image["SPDXID"], "SPDXRef-Image");
    assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(image["versionInfo"], MANIFEST);
    assert_eq!(
        image["checksums"],
        json!([{ "algorithm": "SHA256", "checksumValue": &MANIFEST[7..] }])
    );
    let systems = packages
        .iter()
        .filter(|p| p["primaryPackagePurpose"] == "OPERATING_SYSTEM")
        .count();
    assert_eq!(systems, r.distributions.len());

    let ids: Vec<&str> = packages
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "SPDXIDs are unique: {ids:#?}");
    for id in &ids {
        let rest = id.strip_prefix("SPDXRef-").unwrap();
        assert!(
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
            "{id}"
        );
    }

    // One purl per package, the report's, and all its packages are there.
    let libraries: Vec<&Value> = packages
        .iter()
        .filter(|p| p["primaryPackagePurpose"] == "LIBRARY")
        .collect();
    assert_eq!(libraries.len(), r.packages.len());
    let mut purls: Vec<String> = Vec::new();
    for p in &libraries {
        for key in ["SPDXID", "name", "downloadLocation", "filesAnalyzed"] {
            assert!(p.get(key).is_some(), "{key} in {p}");
        }
        assert_eq!(p["downloadLocation"], "NOASSERTION");
        assert_eq!(p["filesAnalyzed"], false);
        let refs: Vec<&Value> = p["externalRefs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["referenceType"] == "purl")
            .collect();
        assert_eq!(refs.len(), 1, "{p}");
        assert_eq!(refs[0]["referenceCategory"], "PACKAGE-MANAGER");
        purls.push(refs[0]["referenceLocator"].as_str().unwrap().to_owned());
    }
    let mut expected: Vec<String> = r
        .packages
        .keys()
        .map(|id| {
            r.purl(id)
                .unwrap_or_else(|| expected_purls()[id.as_str()].to_owned())
        })
        .collect();
    expected.sort();
    assert_eq!(purls, expected);
    let hostile = libraries
        .iter()
        .find(|p| p["name"] == "päckage/with@slash \"q\"\ttab")
        .unwrap();
    assert_eq!(hostile["versionInfo"], "1:2.0~rc1");
    assert!(
        hostile["sourceInfo"]
            .as_str()
            .unwrap()
            .contains("built from source package src pkg 2.0")
    );

    // DESCRIBES the image, which CONTAINS every other package.
    let rels = doc["relationships"].as_array().unwrap();
    assert_eq!(
        rels[0],
        json!({ "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image" })
    );
    let contained: BTreeSet<&str> = rels[1..]
        .iter()
        .inspect(|r| {
            assert_eq!(r["spdxElementId"], "SPDXRef-Image");
            assert_eq!(r["relationshipType"], "CONTAINS");
        })
        .map(|r| r["relatedSpdxElement"].as_str().unwrap())
        .collect();
    assert_eq!(
        contained,
        unique
            .iter()
            .copied()
            .filter(|i| *i != "SPDXRef-Image")
            .collect()
    );
}

#[test]
fn output_is_deterministic() {
    let (a, b) = (report(), report());
    assert_eq!(cyclonedx(&a, &info()), cyclonedx(&b, &info()));
    assert_eq!(spdx(&a, &info()), spdx(&b, &info()));
    assert_eq!(
        serde_json::to_string(&spdx(&a, &info())).unwrap(),
        serde_json::to_string(&spdx(&b, &info())).unwrap()
    );

    // A different time or image is a different document.
    let later = SbomInfo {
        created: "2024-05-06T07:08:10Z",
        ..info()
    };
    assert_ne!(
        cyclonedx(&a, &info())["serialNumber"],
        cyclonedx(&a, &later)["serialNumber"]
    );
    assert_ne!(
        spdx(&a, &info())["documentNamespace"],
        spdx(&a, &later)["documentNamespace"]
    );
    // The same instant written another way is the same document.
    let same = SbomInfo {
        created: "2024-05-06T05:08:09Z",
        ..info()
    };
    assert_eq!(cyclonedx(&a, &info()), cyclonedx(&a, &same));
}
