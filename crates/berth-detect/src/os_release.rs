//! The distribution: `os-release` first, then the older files distributions still ship.
//!
//! `etc/os-release` (usually a symlink to `../usr/lib/os-release`, resolved by the layer
//! reader) is the standard since systemd made it one, and every current distribution has it,
//! including distroless (Debian's file with `PRETTY_NAME="Distroless"`), Wolfi and Chainguard.
//! The fallbacks matter for old or stripped images: `lsb-release` (Ubuntu),
//! `redhat-release` and friends (RHEL 6, CentOS 6/7, Amazon Linux), `alpine-release`,
//! `SuSE-release`, `photon-release`, `debian_version`, and last `issue`, whose first line names
//! the distribution on most systems.
//!
//! The parser is the shell subset os-release(5) allows: `KEY=value`, values unquoted or in
//! single or double quotes, backslash escapes, `#` comments.

use crate::text::lines;
use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Distribution, FileSource, Finding,
};

pub const ID: DetectorId = DetectorId {
    name: "os-release",
    version: 1,
};

/// No release file is anywhere near this; a bigger one is not a release file.
const MAX_FILE: usize = 64 * 1024;
/// Keys kept from one file.
const MAX_KEYS: usize = 256;

/// Files consulted, best first.
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
const FALLBACKS: [&str; 14] = [
    "etc/lsb-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/oracle-release",
    "etc/fedora-release",
    "etc/system-release",
    "etc/alpine-release",
    "etc/SuSE-release",
    "etc/photon-release",
    "etc/debian_version",
    "etc/issue",
    "etc/system-release-cpe",
];

/// Finds the distribution.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsReleaseDetector;

impl Detector for OsReleaseDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        OS_RELEASE.contains(&file.path) || FALLBACKS.contains(&file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        match detect_distribution(files) {
            Ok(Some(d)) => det.findings.push(Finding::Distribution(d)),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
        Ok(det)
    }
}

/// The distribution described by the release files in `files`, if any.
pub fn detect_distribution(files: &dyn FileSource) -> Result<Option<Distribution>, DetectError> {
    for path in OS_RELEASE {
        if let Some(bytes) = files.read(path) {
            let mut d = parse_os_release(path, bytes)?;
            if d.did.is_empty() {
                continue;
            }
            fill_debian_gaps(&mut d, files);
            return Ok(Some(d));
        }
    }
    if let Some(d) = from_fallbacks(files)? {
        return Ok(Some(d));
    }
    Ok(None)
}

/// Parses an os-release file into a [`Distribution`] (`did` empty when it has no `ID`).
pub fn parse_os_release(path: &str, bytes: &[u8]) -> Result<Distribution, DetectError> {
    let kv = parse_shell_vars(path, bytes)?;
    let get = |k: &str| {
        kv.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut d = Distribution {
        did: get("ID").to_ascii_lowercase(),
        name: get("NAME"),
        version_id: get("VERSION_ID"),
        version: get("VERSION"),
        version_codename: get("VERSION_CODENAME"),
        pretty_name: get("PRETTY_NAME"),
        cpe: Some(get("CPE_NAME")).filter(|c| !c.is_empty()),
        path: path.to_owned(),
        detector: ID,
    };
    if d.version_codename.is_empty() {
        // Ubuntu before 17.10 has only UBUNTU_CODENAME; distroless only `VERSION="12 (bookworm)"`.
        d.version_codename = get("UBUNTU_CODENAME");
        if d.version_codename.is_empty() && matches!(d.did.as_str(), "debian" | "ubuntu") {
            d.version_codename = codename_in_parens(&d.version);
        }
    }
    Ok(d)
}

/// A distribution with every field empty, for struct update syntax.
fn blank() -> Distribution {
    Distribution {
        did: String::new(),
        name: String::new(),
        version_id: String::new(),
        version: String::new(),
        version_codename: String::new(),
        pretty_name: String::new(),
        cpe: None,
        path: String::new(),
        detector: ID,
    }
}

/// Debian testing/sid and some derived images leave `VERSION_ID` out; `debian_version`
/// has it, and the codename follows from the major version.
fn fill_debian_gaps(d: &mut Distribution, files: &dyn FileSource) {
    if d.did != "debian" {
        return;
    }
    if d.version_id.is_empty()
        && let Some(v) = files.read("etc/debian_version")
        && v.len() <= MAX_FILE
    {
        let v = String::from_utf8_lossy(v);
        let v = v.lines().next().unwrap_or("").trim();
        if let Some(major) = v
            .split('.')
            .next()
            .filter(|m| m.bytes().all(|b| b.is_ascii_digit()) && !m.is_empty())
        {
            d.version_id = major.to_owned();
        }
    }
    if d.version_codename.is_empty() {
        d.version_codename = debian_codename(&d.version_id)
            .unwrap_or_default()
            .to_owned();
    }
}

/// Debian major version to codename, for files that give only the number.
pub fn debian_codename(version_id: &str) -> Option<&'static str> {
    let major = version_id.split('.').next()?;
    Some(match major {
        "7" => "wheezy",
        "8" => "jessie",
        "9" => "stretch",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        _ => return None,
    })
}

/// `bookworm` from `12 (bookworm)`; Ubuntu's `22.04.3 LTS (Jammy Jellyfish)` gives `jammy`.
fn codename_in_parens(version: &str) -> String {
    let Some((_, rest)) = version.split_once('(') else {
        return String::new();
    };
    let inner = rest.split(')').next().unwrap_or("");
    inner
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(',')
        .to_ascii_lowercase()
}

/// `KEY=value` assignments of the os-release shell subset, in order.
pub fn parse_shell_vars(path: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    let mut out = Vec::new();
    for line in lines(path, bytes) {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        if out.len() >= MAX_KEYS {
            return Err(DetectError::TooMany {
                path: path.to_owned(),
                what: "keys",
                limit: MAX_KEYS,
            });
        }
        out.push((k.to_owned(), unquote(v)));
    }
    Ok(out)
}

/// Shell unquoting: `"..."` with `\"`, `\\`, `` \` ``, `\$` escapes; `'...'` literal;
/// bare words with backslash escapes. Text after a closing quote is kept (`"a"b` is `ab`),
/// an unclosed quote runs to the end of the line.
fn unquote(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '`' | '$')) => out.push(e),
                            Some(e) => {
                                out.push('\\');
                                out.push(e);
                            }
                            None => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            '#' if out.is_empty() => break,
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// The first fallback file that yields a distribution.
fn from_fallbacks(files: &dyn FileSource) -> Result<Option<Distribution>, DetectError> {
    if let Some(b) = files.read("etc/lsb-release") {
        let kv = parse_shell_vars("etc/lsb-release", b)?;
        let get = |k: &str| {
            kv.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let id = get("DISTRIB_ID");
        if !id.is_empty() {
            return Ok(Some(Distribution {
                did: id.to_ascii_lowercase(),
                name: id,
                version_id: get("DISTRIB_RELEASE"),
                version_codename: get("DISTRIB_CODENAME"),
                pretty_name: get("DISTRIB_DESCRIPTION"),
                path: "etc/lsb-release".to_owned(),
                detector: ID,
                ..blank()
            }));
        }
    }
    for path in [
        "etc/redhat-release",
        "etc/centos-release",
        "etc/rocky-release",
        "etc/almalinux-release",
        "etc/oracle-release",
        "etc/fedora-release",
        "etc/system-release",
        "etc/SuSE-release",
        "etc/photon-release",
        "etc/issue",
    ] {
        if let Some(b) = files.read(path) {
            let line = first_line(path, b)?;
            if let Some(mut d) = parse_release_line(&line) {
                d.path = path.to_owned();
                if path == "etc/SuSE-release" {
                    suse_version(path, b, &mut d)?;
                }
                if (d.did.starts_with("amzn") || d.did == "rhel" || d.did == "centos")
                    && let Some(cpe) = files.read("etc/system-release-cpe")
                {
                    let c = first_line("etc/system-release-cpe", cpe)?;
                    d.cpe = Some(c).filter(|c| c.starts_with("cpe:"));
                }
                if d.did == "debian" {
                    fill_debian_gaps(&mut d, files);
                }
                return Ok(Some(d));
            }
        }
    }
    if let Some(b) = files.read("etc/alpine-release") {
        let v = first_line("etc/alpine-release", b)?;
        if !v.is_empty() {
            return Ok(Some(Distribution {
                did: "alpine".into(),
                name: "Alpine Linux".into(),
                pretty_name: format!("Alpine Linux v{v}"),
                version_id: v,
                path: "etc/alpine-release".into(),
                detector: ID,
                ..blank()
            }));
        }
    }
    if let Some(b) = files.read("etc/debian_version") {
        let v = first_line("etc/debian_version", b)?;
        let major = v.split('.').next().unwrap_or("");
        // `bookworm/sid` on testing: the codename is the name before the slash.
        let (version_id, codename) =
            if !major.is_empty() && major.bytes().all(|c| c.is_ascii_digit()) {
                (
                    major.to_owned(),
                    debian_codename(major).unwrap_or("").to_owned(),
                )
            } else {
                (String::new(), v.split('/').next().unwrap_or("").to_owned())
            };
        if !v.is_empty() {
            return Ok(Some(Distribution {
                did: "debian".into(),
                name: "Debian GNU/Linux".into(),
                version_id,
                version: v,
                version_codename: codename,
                path: "etc/debian_version".into(),
                detector: ID,
                ..blank()
            }));
        }
    }
    Ok(None)
}

fn first_line(path: &str, bytes: &[u8]) -> Result<String, DetectError> {
    DetectError::check_size(path, bytes, MAX_FILE)?;
    match lines(path, bytes).next() {
        Some(l) => Ok(l?.trim().to_owned()),
        None => Ok(String::new()),
    }
}

/// Reads `VERSION = 12` and `PATCHLEVEL = 4` of the old `SuSE-release` into `12.4`.
fn suse_version(path: &str, bytes: &[u8], d: &mut Distribution) -> Result<(), DetectError> {
    let (mut v, mut p) = (String::new(), String::new());
    for line in lines(path, bytes).skip(1) {
        let line = line?;
        if let Some((k, val)) = line.split_once('=') {
            match k.trim() {
                "VERSION" => v = val.trim().to_owned(),
                "PATCHLEVEL" => p = val.trim().to_owned(),
                _ => {}
            }
        }
    }
    if !v.is_empty() {
        d.version_id = if p.is_empty() || p == "0" {
            v
        } else {
            format!("{v}.{p}")
        };
    }
    Ok(())
}

/// Known distribution names at the start of a `*-release` or `issue` first line, with their
/// os-release `ID`s. Longer prefixes first where one is a prefix of another.
const NAMES: [(&str, &str, &str); 16] = [
    (
        "Red Hat Enterprise Linux",
        "rhel",
        "Red Hat Enterprise Linux",
    ),
    ("CentOS Stream", "centos", "CentOS Stream"),
    ("CentOS", "centos", "CentOS Linux"),
    ("Rocky Linux", "rocky", "Rocky Linux"),
    ("AlmaLinux", "almalinux", "AlmaLinux"),
    ("Oracle Linux", "ol", "Oracle Linux Server"),
    ("Fedora", "fedora", "Fedora Linux"),
    ("Amazon Linux AMI", "amzn", "Amazon Linux AMI"),
    ("Amazon Linux", "amzn", "Amazon Linux"),
    ("SUSE Linux Enterprise Server", "sles", "SLES"),
    ("openSUSE", "opensuse", "openSUSE"),
    ("VMware Photon OS", "photon", "VMware Photon OS"),
    ("Photon OS", "photon", "VMware Photon OS"),
    ("Debian GNU/Linux", "debian", "Debian GNU/Linux"),
    ("Ubuntu", "ubuntu", "Ubuntu"),
    ("Welcome to Alpine Linux", "alpine", "Alpine Linux"),
];

/// `CentOS Linux release 7.9.2009 (Core)`, `Debian GNU/Linux 12 \n \l`, ... into a
/// distribution (without `path`).
pub fn parse_release_line(line: &str) -> Option<Distribution> {
    let line = line.trim();
    let (prefix, did, name) = NAMES.iter().find(|(p, _, _)| line.starts_with(p))?;
    let rest = &line[prefix.len()..];
    // The version is the first word that starts with a digit; a codename may follow in parens.
    let version_id = rest
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("")
        .trim_end_matches(',')
        .to_owned();
    let version_id = if *did == "ubuntu" {
        // `Ubuntu 22.04.3 LTS`: advisories key on the release, 22.04.
        version_id.split('.').take(2).collect::<Vec<_>>().join(".")
    } else {
        version_id
    };
    let pretty = line.split(" \\").next().unwrap_or(line).trim().to_owned();
    let mut codename = if matches!(*did, "debian" | "ubuntu") {
        codename_in_parens(rest)
    } else {
        String::new()
    };
    if *did == "debian" && codename.is_empty() {
        codename = debian_codename(&version_id).unwrap_or("").to_owned();
    }
    Some(Distribution {
        did: (*did).to_owned(),
        name: (*name).to_owned(),
        version: version_id.clone(),
        version_id,
        version_codename: codename,
        pretty_name: pretty,
        detector: ID,
        ..blank()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemFiles;

    fn detect(files: &[(&str, &str)]) -> Option<Distribution> {
        let mut m = MemFiles::new();
        for (p, c) in files {
            m.insert(p, c.as_bytes().to_vec());
        }
        detect_distribution(&m).unwrap()
    }

    // The os-release files below are copied from the distributions' images.

    #[test]
    fn debian_bookworm() {
        let d = detect(&[(
            "usr/lib/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n",
        )])
        .unwrap();
        assert_eq!(
            (
                d.did.as_str(),
                d.version_id.as_str(),
                d.version_codename.as_str()
            ),
            ("debian", "12", "bookworm")
        );
        assert_eq!(d.path, "usr/lib/os-release");
    }

    #[test]
    fn distroless() {
        let d = detect(&[(
            "etc/os-release",
            "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\n",
        )])
        .unwrap();
        assert_eq!(d.did, "debian");
        assert_eq!(d.version_codename, "bookworm");
        assert_eq!(d.pretty_name, "Distroless");
    }

    #[test]
    fn ubuntu_alpine_ubi_wolfi_amazon() {
        let u = detect(&[("etc/os-release", "NAME=\"Ubuntu\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\nUBUNTU_CODENAME=jammy\n")]).unwrap();
        assert_eq!(
            (
                u.did.as_str(),
                u.version_id.as_str(),
                u.version_codename.as_str()
            ),
            ("ubuntu", "22.04", "jammy")
        );
        let a = detect(&[("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n")]).unwrap();
        assert_eq!(
            (a.did.as_str(), a.version_id.as_str()),
            ("alpine", "3.19.1")
        );
        let r = detect(&[("etc/os-release", "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.3 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n")]).unwrap();
        assert_eq!(r.did, "rhel");
        assert_eq!(
            r.cpe.as_deref(),
            Some("cpe:/o:redhat:enterprise_linux:9::baseos")
        );
        let w = detect(&[("etc/os-release", "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=\"20230201\"\nHOME_URL=\"https://wolfi.dev\"\n")]).unwrap();
        assert_eq!(
            (w.did.as_str(), w.version_id.as_str()),
            ("wolfi", "20230201")
        );
        let z = detect(&[("etc/os-release", "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\nCPE_NAME=\"cpe:2.3:o:amazon:amazon_linux:2023\"\n")]).unwrap();
        assert_eq!((z.did.as_str(), z.version_id.as_str()), ("amzn", "2023"));
    }

    #[test]
    fn shell_quoting() {
        let kv = parse_shell_vars(
            "p",
            b"# c\nA=\"x \\\"y\\\" \\$z\"\nB='a b\\'\nC=plain # comment\nD=\"unclosed\nexport E=e\n1 garbage\n",
        )
        .unwrap();
        let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("x \"y\" $z"));
        assert_eq!(get("B"), Some("a b\\"));
        assert_eq!(get("C"), Some("plain"));
        assert_eq!(get("D"), Some("unclosed"));
        assert_eq!(get("E"), Some("e"));
    }

    #[test]
    fn fallbacks() {
        let c = detect(&[
            (
                "etc/redhat-release",
                "CentOS Linux release 7.9.2009 (Core)\n",
            ),
            ("etc/centos-release", "x"),
        ])
        .unwrap();
        assert_eq!(
            (c.did.as_str(), c.version_id.as_str()),
            ("centos", "7.9.2009")
        );
        let r = detect(&[(
            "etc/redhat-release",
            "Rocky Linux release 9.3 (Blue Onyx)\n",
        )])
        .unwrap();
        assert_eq!(
            (
                r.did.as_str(),
                r.version_id.as_str(),
                r.version_codename.as_str()
            ),
            ("rocky", "9.3", "")
        );
        let a = detect(&[
            ("etc/system-release", "Amazon Linux release 2 (Karoo)\n"),
            (
                "etc/system-release-cpe",
                "cpe:2.3:o:amazon:amazon_linux:2\n",
            ),
        ])
        .unwrap();
        assert_eq!((a.did.as_str(), a.version_id.as_str()), ("amzn", "2"));
        assert_eq!(a.cpe.as_deref(), Some("cpe:2.3:o:amazon:amazon_linux:2"));
        let al = detect(&[("etc/alpine-release", "3.18.4\n")]).unwrap();
        assert_eq!(
            (al.did.as_str(), al.version_id.as_str()),
            ("alpine", "3.18.4")
        );
        let d = detect(&[("etc/debian_version", "12.11\n")]).unwrap();
        assert_eq!(
            (
                d.did.as_str(),
                d.version_id.as_str(),
                d.version_codename.as_str()
            ),
            ("debian", "12", "bookworm")
        );
        let sid = detect(&[("etc/debian_version", "trixie/sid\n")]).unwrap();
        assert_eq!(sid.version_codename, "trixie");
        let i = detect(&[("etc/issue", "Ubuntu 22.04.3 LTS \\n \\l\n\n")]).unwrap();
        assert_eq!(
            (
                i.did.as_str(),
                i.version_id.as_str(),
                i.pretty_name.as_str()
            ),
            ("ubuntu", "22.04", "Ubuntu 22.04.3 LTS")
        );
        let s = detect(&[(
            "etc/SuSE-release",
            "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
        )])
        .unwrap();
        assert_eq!((s.did.as_str(), s.version_id.as_str()), ("sles", "11.4"));
        let p = detect(&[(
            "etc/photon-release",
            "VMware Photon OS 4.0\nPHOTON_BUILD_NUMBER=1526e30ba0\n",
        )])
        .unwrap();
        assert_eq!((p.did.as_str(), p.version_id.as_str()), ("photon", "4.0"));
        // lsb-release beats the rest; os-release beats lsb-release.
        let l = detect(&[("etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\nDISTRIB_CODENAME=xenial\nDISTRIB_DESCRIPTION=\"Ubuntu 16.04.7 LTS\"\n"), ("etc/debian_version", "stretch/sid")]).unwrap();
        assert_eq!(
            (
                l.did.as_str(),
                l.version_id.as_str(),
                l.version_codename.as_str()
            ),
            ("ubuntu", "16.04", "xenial")
        );
        assert!(detect(&[("etc/issue", "Welcome!\n")]).is_none());
    }

    #[test]
    fn malformed_input() {
        let mut m = MemFiles::new();
        m.insert("etc/os-release", vec![b'A'; MAX_FILE + 1]);
        assert!(matches!(
            detect_distribution(&m),
            Err(DetectError::TooLarge { .. })
        ));
        let junk: Vec<u8> = (0..4000u32).map(|i| (i * 31 % 256) as u8).collect();
        let mut m = MemFiles::new();
        m.insert("etc/os-release", junk.clone());
        m.insert("etc/issue", junk);
        let _ = detect_distribution(&m);
        let many = "K=v\n".repeat(MAX_KEYS + 1);
        assert!(parse_shell_vars("p", many.as_bytes()).is_err());
        // os-release without ID falls through to the next source.
        let d = detect(&[
            ("etc/os-release", "NAME=x\n"),
            ("etc/alpine-release", "3.20.0"),
        ])
        .unwrap();
        assert_eq!(d.did, "alpine");
    }
}
