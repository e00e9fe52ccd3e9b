//! Go modules compiled into Go binaries, from the build information the linker embeds.
//!
//! Since Go 1.18 every binary carries a 32-byte header starting `\xff Go buildinf:` at a
//! 16-byte aligned offset (in the `.go.buildinfo` section on ELF, but found by the same scan
//! `go version -m` falls back to, so stripped and non-ELF binaries work alike): byte 14 is the
//! pointer size, byte 15 flags, and with flag bit 2 set the toolchain version and the module
//! information follow inline as two uvarint-length-prefixed strings. The module information
//! is the text `go version -m` prints, between 16-byte sentinels:
//!
//! ```text
//! path    example.com/cmd/app
//! mod     example.com/app   v1.2.3  h1:...
//! dep     golang.org/x/net  v0.1.0  h1:...
//! =>      golang.org/x/net  v0.2.0  h1:...   (replaces the line before)
//! build   GOOS=linux
//! ```
//!
//! Reported: the main module (its version is `(devel)` for a plain `go build`), each
//! dependency (as its replacement when that is another module; a directory replacement,
//! `=> ../fork (devel)`, keeps the required path and version), and the toolchain as
//! the package `stdlib` with the version without its `go` prefix (`1.19.8`), the form Go's
//! vulnerability database uses. Binaries from before Go 1.18 keep their build information
//! behind pointers into the data segment; they are recorded as skipped.

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Package,
};

pub const ID: DetectorId = DetectorId {
    name: "go-binary",
    version: 1,
};

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Executables larger than this are not scanned (the biggest real Go binaries are ~300 MiB).
pub const MAX_BINARY: u64 = 512 * 1024 * 1024;
/// The smallest possible Go binary is over 1 MiB; tiny executables are scripts.
const MIN_BINARY: u64 = 64 * 1024;
/// The inline strings: a version and a module list (thousands of deps fit in 1 MiB).
const MAX_STRING: u64 = 4 * 1024 * 1024;
const MAX_MODULES: usize = 20_000;

/// Reads the build information of Go executables.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoBinaryDetector;

/// Whether `bytes` start like an executable format Go produces (ELF, Mach-O, PE).
pub(crate) fn is_object_file(bytes: &[u8]) -> bool {
    matches!(
        bytes.get(..4),
        Some(
            b"\x7fELF"
                | b"\xcf\xfa\xed\xfe"
                | b"\xce\xfa\xed\xfe"
                | b"\xfe\xed\xfa\xcf"
                | b"\xfe\xed\xfa\xce"
        )
    ) || bytes.starts_with(b"MZ")
}

impl Detector for GoBinaryDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        file.is_executable() && (MIN_BINARY..=MAX_BINARY).contains(&file.size)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        Ok(Detection::from_binaries(files, |path, bytes| {
            Ok(parse_binary(path, bytes)?
                .map(|info| info.packages(path))
                .unwrap_or_default())
        }))
    }
}

/// One module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    pub sum: String,
    /// The `=>` line that replaced it, if any.
    pub replace: Option<Box<Module>>,
}

impl Module {
    /// A replacement by a directory (`=> ../fork (devel)`): its code has no version of its
    /// own, so the module is reported under the path and version it replaced.
    pub fn is_local(&self) -> bool {
        self.path.starts_with("./")
            || self.path.starts_with("../")
            || self.path.starts_with('/')
            || self.version.is_empty()
            || self.version == "(devel)"
    }
}

/// What `go version -m` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.19.8`.
    pub go_version: String,
    /// The package path of `main`.
    pub path: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    /// `build` lines as `(key, value)`.
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// The findings for a binary at `path`.
    pub fn packages(&self, path: &str) -> Vec<Package> {
        let mut out = Vec::new();
        let mut push = |m: &Module| {
            let m = match &m.replace {
                Some(r) if !r.is_local() => r.as_ref(),
                _ => m,
            };
            if !m.path.is_empty() && !m.version.is_empty() {
                out.push(Package::new(&m.path, &m.version, Ecosystem::Go, path, ID));
            }
        };
        if let Some(m) = &self.main {
            push(m);
        }
        for d in &self.deps {
            push(d);
        }
        if let Some(v) = stdlib_version(&self.go_version) {
            out.push(Package::new("stdlib", v, Ecosystem::Go, path, ID));
        }
        out
    }
}

/// `go1.19.8` → `1.19.8`; `go1.21.0 X:boringcrypto` → `1.21.0`; `devel ...` → `None`.
pub fn stdlib_version(go_version: &str) -> Option<&str> {
    let v = go_version.split_whitespace().next()?.strip_prefix("go")?;
    (!v.is_empty()).then_some(v)
}

/// The build information in a Go binary, `None` when it is not a Go binary.
pub fn parse_binary(path: &str, bytes: &[u8]) -> Result<Option<BuildInfo>, DetectError> {
    DetectError::check_size(path, bytes, MAX_BINARY as usize)?;
    let Some(at) = find_header(bytes) else {
        return Ok(None);
    };
    let hdr = bytes
        .get(at..at + 32)
        .ok_or_else(|| DetectError::malformed(path, "truncated build info header"))?;
    let flags = hdr.get(15).copied().unwrap_or(0);
    if flags & 2 == 0 {
        return Err(DetectError::malformed(
            path,
            "Go build info from before Go 1.18 (pointer format) is not read",
        ));
    }
    let mut rest = bytes.get(at + 32..).unwrap_or_default();
    let version = read_string(path, &mut rest)?;
    let modinfo = read_string(path, &mut rest)?;
    let mut info = parse_modinfo(path, strip_sentinels(modinfo))?;
    info.go_version = String::from_utf8_lossy(version).into_owned();
    Ok(Some(info))
}

/// The first 16-byte aligned occurrence of the magic.
fn find_header(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find(bytes.get(from..)?, MAGIC) {
        let at = from + i;
        if at % 16 == 0 {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// A uvarint-length-prefixed string, advancing `rest`.
fn read_string<'a>(path: &str, rest: &mut &'a [u8]) -> Result<&'a [u8], DetectError> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    loop {
        let (&b, tail) = rest
            .split_first()
            .ok_or_else(|| DetectError::malformed(path, "truncated build info"))?;
        *rest = tail;
        if shift > 63 {
            return Err(DetectError::malformed(path, "build info length overflows"));
        }
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if len > MAX_STRING {
        return Err(DetectError::TooLarge {
            path: path.to_owned(),
            size: usize::try_from(len).unwrap_or(usize::MAX),
            limit: MAX_STRING as usize,
        });
    }
    let len = len as usize;
    let s = rest
        .get(..len)
        .ok_or_else(|| DetectError::malformed(path, "truncated build info string"))?;
    *rest = rest.get(len..).unwrap_or_default();
    Ok(s)
}

/// The module text between the 16-byte sentinels the linker puts around it.
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() >= 33 && m.get(m.len() - 17) == Some(&b'\n') {
        m.get(16..m.len() - 16).unwrap_or_default()
    } else {
        m
    }
}

/// Parses the text `go version -m` prints (and `debug.BuildInfo.String()` returns).
pub fn parse_modinfo(path: &str, text: &[u8]) -> Result<BuildInfo, DetectError> {
    let text = String::from_utf8_lossy(text);
    let mut info = BuildInfo::default();
    let mut last_is_main = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let module = || Module {
            path: f.get(1).copied().unwrap_or("").to_owned(),
            version: f.get(2).copied().unwrap_or("").to_owned(),
            sum: f.get(3).copied().unwrap_or("").to_owned(),
            replace: None,
        };
        match f.first().copied() {
            Some("path") => info.path = f.get(1).copied().unwrap_or("").to_owned(),
            Some("mod") => {
                info.main = Some(module());
                last_is_main = true;
            }
            Some("dep") => {
                if info.deps.len() >= MAX_MODULES {
                    return Err(DetectError::TooMany {
                        path: path.to_owned(),
                        what: "Go modules",
                        limit: MAX_MODULES,
                    });
                }
                info.deps.push(module());
                last_is_main = false;
            }
            Some("=>") => {
                let target = if last_is_main {
                    info.main.as_mut()
                } else {
                    info.deps.last_mut()
                };
                if let Some(t) = target {
                    t.replace = Some(Box::new(module()));
                }
            }
            Some("build") => {
                if let Some((k, v)) = f.get(1).and_then(|kv| kv.split_once('='))
                    && info.settings.len() < 256
                {
                    info.settings.push((k.to_owned(), v.to_owned()));
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build info blob as the Go 1.18+ linker lays it out.
    pub(crate) fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = vec![0u8; 48]; // something before, 16-aligned
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&[8, 2]);
        b.resize(48 + 32, 0);
        let mut push = |s: &[u8]| {
            let mut n = s.len();
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    b.push(byte);
                    break;
                }
                b.push(byte | 0x80);
            }
            b.extend_from_slice(s);
        };
        push(version.as_bytes());
        let mut m = vec![0x30u8; 16];
        m.extend_from_slice(modinfo.as_bytes());
        m.extend_from_slice(&[0x31; 16]);
        push(&m);
        b
    }

    #[test]
    fn modules_and_replacements() {
        // The shape of `go version -m` for a binary with dependencies.
        let text = "path\texample.com/cmd/app\nmod\texample.com/app\tv1.2.3\th1:abc=\ndep\tgolang.org/x/net\tv0.1.0\th1:x=\n=>\tgolang.org/x/net\tv0.17.0\th1:y=\ndep\tgithub.com/local/thing\tv1.0.0\t\n=>\t../thing\t(devel)\t\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:z=\nbuild\tGOOS=linux\n";
        let info = parse_binary("bin/app", &blob("go1.21.5 X:boringcrypto", text))
            .unwrap()
            .unwrap();
        assert_eq!(info.path, "example.com/cmd/app");
        let got: Vec<_> = info
            .packages("bin/app")
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect();
        let want: Vec<(String, String)> = [
            ("example.com/app", "v1.2.3"),
            ("golang.org/x/net", "v0.17.0"),
            ("github.com/local/thing", "v1.0.0"),
            ("github.com/pkg/errors", "v0.9.1"),
            ("stdlib", "1.21.5"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(info.settings, vec![("GOOS".to_owned(), "linux".to_owned())]);
    }

    #[test]
    fn not_go_and_malformed() {
        assert!(parse_binary("p", b"\x7fELF not go").unwrap().is_none());
        // Unaligned magic is not a header.
        let mut b = vec![0u8; 3];
        b.extend_from_slice(MAGIC);
        b.resize(200, 0);
        assert!(parse_binary("p", &b).unwrap().is_none());
        // Truncated after the header.
        let full = blob("go1.19.8", "path\tx\n");
        for cut in [60, 81, 90, full.len() - 1] {
            let _ = parse_binary("p", &full[..cut]);
        }
        // Pre-1.18 pointer format.
        let mut old = full.clone();
        old[48 + 15] = 0;
        assert!(parse_binary("p", &old).is_err());
        // Absurd length.
        let mut huge = full[..80].to_vec();
        huge.extend_from_slice(&[0xff; 12]);
        assert!(parse_binary("p", &huge).is_err());
        assert!(parse_modinfo("p", &[0xff, b'\t', 0, b'\n']).is_ok());
        assert_eq!(stdlib_version("devel go1.22-abc"), None);
    }
}
