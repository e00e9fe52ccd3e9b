//! Where each member of a `docker save` tarball lives: one pass over the headers, seeking
//! over the data, so a layer can later be streamed with a `File` positioned at its offset.
//!
//! Written here rather than taken from the `tar` crate because that crate reads GNU long
//! names and PAX headers into memory without a bound; an archive is user-supplied input, so
//! every metadata size is capped and every member name is checked to stay inside the
//! archive before anything is looked up by it.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Seek, SeekFrom};

const BLOCK: u64 = 512;
/// Most members indexed. `docker save` writes a handful per layer.
const MAX_MEMBERS: usize = 100_000;
/// Longest member name or link target (GNU long name, PAX path); Linux's PATH_MAX.
const MAX_NAME: u64 = 4096;
/// Largest PAX extended header read.
const MAX_PAX: u64 = 64 * 1024;
/// Most link hops followed when resolving a member (docker's `layer.tar` symlinks need 1).
const MAX_LINK_HOPS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Symlink(String),
    Hardlink(String),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Offset of the member's data in the archive.
    pub offset: u64,
    pub size: u64,
    pub kind: Kind,
}

#[derive(Debug, Default)]
pub(crate) struct TarIndex {
    members: HashMap<String, Member>,
}

impl TarIndex {
    /// The regular file `name` is, following symlinks and hard links inside the archive.
    pub(crate) fn resolve(&self, name: &str) -> Result<Option<&Member>, String> {
        let Some(mut current) = clean(name) else {
            return Err(format!(
                "{name:?} is not a relative path inside the archive"
            ));
        };
        for _ in 0..MAX_LINK_HOPS {
            let Some(m) = self.members.get(&current) else {
                return Ok(None);
            };
            current = match &m.kind {
                Kind::File => return Ok(Some(m)),
                Kind::Other => return Err(format!("member {current:?} is not a regular file")),
                Kind::Hardlink(target) => clean(target).ok_or_else(|| {
                    format!("hard link {current:?} points outside the archive ({target:?})")
                })?,
                Kind::Symlink(target) => {
                    let base = current.rsplit_once('/').map_or("", |(dir, _)| dir);
                    let joined = if target.starts_with('/') {
                        return Err(format!("symlink {current:?} is absolute ({target:?})"));
                    } else if base.is_empty() {
                        target.clone()
                    } else {
                        format!("{base}/{target}")
                    };
                    resolve_dots(&joined).ok_or_else(|| {
                        format!("symlink {current:?} points outside the archive ({target:?})")
                    })?
                }
            };
        }
        Err(format!(
            "{name:?}: more than {MAX_LINK_HOPS} links (a loop?)"
        ))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }
}

/// A member name as an archive-relative path: `./` and empty components dropped, `..` and
/// absolute names refused (`None`) — a docker archive never needs them, and a name that
/// could escape is the signature of a path-traversal archive.
pub(crate) fn clean(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(out.join("/"))
}

/// Like [`clean`] but lets `..` step back within the archive (for symlink targets such as
/// `../<hex>.tar`); `None` when it would climb above the root.
fn resolve_dots(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return None;
    }
    Some(out.join("/"))
}

/// Indexes the archive `r` (of `len` bytes). Errors are human-readable reasons; I/O errors
/// are returned separately so their kind is kept.
pub(crate) fn index<R: Read + Seek>(r: &mut R, len: u64) -> Result<TarIndex, IndexError> {
    let mut idx = TarIndex::default();
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    let mut pax: Pax = Pax::default();
    // A clean end at a header boundary ends the archive (umoci writes layers that way).
    while let Some(block) = read_block(r)? {
        if block.iter().all(|&b| b == 0) {
            break;
        }
        check_checksum(&block, pos)?;
        let header_size = parse_number(&block[124..136])
            .ok_or_else(|| bad(format!("bad size field in the header at offset {pos}")))?;
        let size = pax.size.take().unwrap_or(header_size);
        let data = pos + BLOCK;
        let next = size
            .checked_add(BLOCK - 1)
            .map(|s| s / BLOCK * BLOCK)
            .and_then(|s| data.checked_add(s))
            .ok_or_else(|| bad(format!("member size overflows at offset {pos}")))?;
        if data.saturating_add(size) > len {
            return Err(bad(format!(
                "archive is truncated: the member at offset {pos} needs {size} bytes"
            )));
        }
        let typeflag = block[156];
        match typeflag {
            b'L' | b'K' => {
                if size > MAX_NAME {
                    return Err(bad(format!(
                        "long name of {size} bytes at offset {pos} is over {MAX_NAME}"
                    )));
                }
                let name = read_data(r, size)?;
                let name = String::from_utf8_lossy(trim_nul(&name)).into_owned();
                if typeflag == b'L' {
                    long_name = Some(name);
                } else {
                    long_link = Some(name);
                }
            }
            b'x' => {
                if size > MAX_PAX {
                    return Err(bad(format!(
                        "PAX header of {size} bytes at offset {pos} is over {MAX_PAX}"
                    )));
                }
                let data = read_data(r, size)?;
                pax = parse_pax(&data)
                    .ok_or_else(|| bad(format!("malformed PAX header at offset {pos}")))?;
            }
            b'g' => {} // Global PAX defaults: nothing docker archives rely on.
            _ => {
                let name = pax
                    .path
                    .take()
                    .or(long_name.take())
                    .unwrap_or_else(|| header_name(&block));
                let link = pax
                    .linkpath
                    .take()
                    .or(long_link.take())
                    .unwrap_or_else(|| field_str(&block[157..257]));
                pax = Pax::default();
                let kind = match typeflag {
                    b'0' | b'\0' | b'7' => Kind::File,
                    b'1' => Kind::Hardlink(link),
                    b'2' => Kind::Symlink(link),
                    _ => Kind::Other,
                };
                let is_dir = typeflag == b'5';
                match clean(&name) {
                    Some(n) if !is_dir => {
                        if idx.members.len() >= MAX_MEMBERS {
                            return Err(bad(format!("more than {MAX_MEMBERS} members")));
                        }
                        idx.members.insert(
                            n,
                            Member {
                                offset: data,
                                size,
                                kind,
                            },
                        );
                    }
                    // The archive's own root (`./`).
                    None if is_dir && name.split('/').all(|c| c.is_empty() || c == ".") => {}
                    Some(_) => {}
                    None => {
                        return Err(bad(format!(
                            "member {:?} is not a relative path inside the archive (a path-traversal archive?)",
                            name.chars().take(200).collect::<String>()
                        )));
                    }
                }
            }
        }
        pos = next;
        r.seek(SeekFrom::Start(pos)).map_err(IndexError::Io)?;
    }
    Ok(idx)
}

#[derive(Debug)]
pub(crate) enum IndexError {
    Io(std::io::Error),
    Bad(String),
}

fn bad(reason: String) -> IndexError {
    IndexError::Bad(reason)
}

#[derive(Default)]
struct Pax {
    path: Option<String>,
    linkpath: Option<String>,
    size: Option<u64>,
}

/// `"<len> <key>=<value>\n"` records; `None` when malformed.
fn parse_pax(data: &[u8]) -> Option<Pax> {
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return None;
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=')?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => pax.path = Some(String::from_utf8_lossy(value).into_owned()),
            b"linkpath" => pax.linkpath = Some(String::from_utf8_lossy(value).into_owned()),
            b"size" => pax.size = Some(std::str::from_utf8(value).ok()?.parse().ok()?),
            _ => {}
        }
        rest = &rest[len..];
    }
    Some(pax)
}

/// One 512-byte block; `None` at a clean end of file.
fn read_block<R: Read>(r: &mut R) -> Result<Option<[u8; 512]>, IndexError> {
    let mut block = [0u8; 512];
    let mut filled = 0;
    while filled < block.len() {
        match r.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(bad("archive ends inside a header".to_owned())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(IndexError::Io(e)),
        }
    }
    Ok(Some(block))
}

fn read_data<R: Read>(r: &mut R, size: u64) -> Result<Vec<u8>, IndexError> {
    let mut buf = Vec::new();
    r.take(size).read_to_end(&mut buf).map_err(IndexError::Io)?;
    if buf.len() as u64 != size {
        return Err(bad("archive ends inside a member".to_owned()));
    }
    Ok(buf)
}

fn check_checksum(block: &[u8; 512], pos: u64) -> Result<(), IndexError> {
    let stored = parse_number(&block[148..156])
        .ok_or_else(|| bad(format!("bad checksum field in the header at offset {pos}")))?;
    let unsigned: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    // Some old tars summed signed bytes; accept either, as GNU tar does.
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(bad(format!(
            "header checksum mismatch at offset {pos} (not a tar archive, or corrupt)"
        )))
    }
}

/// Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None; // Negative.
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ');
    // An all-blank field is zero (some writers leave the size of links empty).
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    &b[..end]
}

fn field_str(b: &[u8]) -> String {
    String::from_utf8_lossy(trim_nul(b)).into_owned()
}

/// The name of a plain header: POSIX ustar joins `prefix/name`; GNU's format uses the
/// prefix area for other fields, so it is only read when the magic says ustar.
fn header_name(block: &[u8; 512]) -> String {
    let name = field_str(&block[0..100]);
    if &block[257..263] == b"ustar\0" {
        let prefix = field_str(&block[345..500]);
        if !prefix.is_empty() {
            return format!("{prefix}/{name}");
        }
    }
    name
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// A ustar header for `name` (`typeflag`, `size`, `link`), with a valid checksum.
    pub(crate) fn header(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let size = format!("{size:011o}");
        h[124..135].copy_from_slice(size.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let sum = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(sum.as_bytes());
        h
    }

    /// A tar archive of `(name, typeflag, data, link)` members, with its end blocks.
    pub(crate) fn tar(members: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, t, data, link) in members {
            out.extend_from_slice(&header(name, *t, data.len() as u64, link));
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn index_of(bytes: &[u8]) -> Result<TarIndex, IndexError> {
        index(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn indexes_files_and_follows_links() {
        let t = tar(&[
            ("./", b'5', b"", ""),
            ("abc.tar", b'0', b"hello", ""),
            ("id/", b'5', b"", ""),
            ("id/layer.tar", b'2', b"", "../abc.tar"),
            ("hard", b'1', b"", "abc.tar"),
            ("loop", b'2', b"", "loop"),
            ("up", b'2', b"", "../../etc/passwd"),
        ]);
        let idx = index_of(&t).unwrap();
        assert_eq!(idx.len(), 5);
        let m = idx.resolve("abc.tar").unwrap().unwrap();
        assert_eq!((m.offset, m.size), (1024, 5));
        assert_eq!(&t[1024..1029], b"hello");
        assert_eq!(idx.resolve("./id/layer.tar").unwrap(), Some(m));
        assert_eq!(idx.resolve("hard").unwrap(), Some(m));
        assert_eq!(idx.resolve("missing").unwrap(), None);
        assert!(idx.resolve("loop").is_err());
        assert!(idx.resolve("up").is_err());
        assert!(idx.resolve("../abc.tar").is_err());
        assert!(idx.resolve("/abc.tar").is_err());
    }

    #[test]
    fn refuses_traversal_names() {
        for name in ["../evil", "a/../../evil", "/etc/passwd", "a/.."] {
            let t = tar(&[(name, b'0', b"x", "")]);
            assert!(
                matches!(index_of(&t), Err(IndexError::Bad(ref r)) if r.contains("relative path")),
                "{name:?}"
            );
        }
    }

    #[test]
    fn long_names_and_pax() {
        let long = "d/".repeat(60) + "file";
        let mut t = Vec::new();
        let name_data = format!("{long}\0");
        t.extend_from_slice(&header("././@LongLink", b'L', name_data.len() as u64, ""));
        t.extend_from_slice(name_data.as_bytes());
        t.resize(t.len().div_ceil(512) * 512, 0);
        t.extend_from_slice(&header("short", b'0', 2, ""));
        t.extend_from_slice(b"ok");
        t.resize(t.len().div_ceil(512) * 512, 0);
        let rec = "path=pax/name\n";
        let rec = format!("{} {rec}", rec.len() + 3);
        t.extend_from_slice(&header("PaxHeader", b'x', rec.len() as u64, ""));
        t.extend_from_slice(rec.as_bytes());
        t.resize(t.len().div_ceil(512) * 512, 0);
        t.extend_from_slice(&header("ignored", b'0', 3, ""));
        t.extend_from_slice(b"pax");
        t.resize(t.len().div_ceil(512) * 512, 0);
        // No end-of-archive blocks: a clean end at a header boundary is accepted.
        let idx = index_of(&t).unwrap();
        assert_eq!(idx.resolve(&long).unwrap().unwrap().size, 2);
        assert_eq!(idx.resolve("pax/name").unwrap().unwrap().size, 3);
        assert_eq!(idx.resolve("short").unwrap(), None);
    }

    #[test]
    fn refuses_corrupt_and_oversized_metadata() {
        let mut t = tar(&[("a", b'0', b"x", "")]);
        t[0] ^= 1;
        assert!(matches!(index_of(&t), Err(IndexError::Bad(r)) if r.contains("checksum")));
        // A member claiming more data than the file holds.
        let mut t = header("big", b'0', 1 << 32, "").to_vec();
        t.extend_from_slice(&[0u8; 1024]);
        assert!(matches!(index_of(&t), Err(IndexError::Bad(r)) if r.contains("truncated")));
        // A GNU long name far over the bound is refused before being read.
        let mut t = header("././@LongLink", b'L', 1 << 20, "").to_vec();
        t.resize(512 + (1 << 20) + 1024, b'a');
        assert!(matches!(index_of(&t), Err(IndexError::Bad(r)) if r.contains("long name")));
        // A header cut short.
        let t = tar(&[("a", b'0', b"x", "")]);
        assert!(matches!(index_of(&t[..100]), Err(IndexError::Bad(_))));
        // Malformed PAX.
        let t = tar(&[("p", b'x', b"99 path=x\n", ""), ("a", b'0', b"", "")]);
        assert!(matches!(index_of(&t), Err(IndexError::Bad(r)) if r.contains("PAX")));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"0000012\0"), Some(10));
        assert_eq!(parse_number(b"   12 \0"), Some(10));
        assert_eq!(parse_number(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_number(b"0009"), None);
        let mut b = [0u8; 12];
        b[0] = 0x80;
        b[11] = 5;
        b[10] = 1;
        assert_eq!(parse_number(&b), Some(261));
        let mut b = [0xffu8; 12];
        b[0] = 0x80;
        assert_eq!(parse_number(&b), None);
    }
}
