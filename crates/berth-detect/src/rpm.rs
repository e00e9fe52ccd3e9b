//! RPM packages (RHEL/UBI, CentOS, Rocky, Alma, Fedora, Oracle, Amazon Linux, SUSE, Photon)
//! from the rpm database in its SQLite form.
//!
//! rpm 4.16+ keeps its database in `rpmdb.sqlite` (`var/lib/rpm/`, or
//! `usr/lib/sysimage/rpm/` on Fedora 36+ and openSUSE): a `Packages` table of header blobs,
//! the same binary header format as in an `.rpm` file. The file is opened *in memory* (SQLite's
//! deserialize), read-only, with defensive mode on and untrusted schema code off, so nothing
//! touches the file system and a hostile database cannot run triggers or views.
//!
//! A header blob is `il` (entry count) and `dl` (data length), both big-endian `u32`, then `il`
//! 16-byte entries (tag, type, offset, count) and `dl` bytes of data. Read: `NAME` (1000),
//! `VERSION` (1001), `RELEASE` (1002), `EPOCH` (1003), `ARCH` (1022), `SOURCERPM` (1044,
//! `bash-5.1.8-6.el9.src.rpm`, giving the source package), and the file list (`BASENAMES`
//! 1117, `DIRNAMES` 1118, `DIRINDEXES` 1116) for [`crate::OwnedFiles`]. Versions are reported
//! as rpm prints them: `[epoch:]version-release`. `gpg-pubkey` entries are keys, not packages.
//!
//! Older systems (RHEL/CentOS ≤ 8, Amazon Linux 2) keep a BerkeleyDB hash database,
//! `var/lib/rpm/Packages`, holding the same header blobs; it is read directly (no libdb): every
//! hash page's values, following overflow page chains, as rpm's own read-only `bdb_ro` backend
//! does.
//!
//! SUSE (SLES 15 SP3+, openSUSE Leap 15.3+ and Tumbleweed before its move to SQLite) keeps
//! rpm's own NDB format, `Packages.db` (again in `var/lib/rpm/` or `usr/lib/sysimage/rpm/`;
//! the `Index.db` beside it is only an index and is not read). NDB is little-endian: a 32-byte
//! file header (`RpmP`, version 0, generation, the number of 4 KiB slot pages, the next
//! package number), then the slot pages, each a run of 16-byte slots (`Slot`, package number,
//! block offset, block count; offset 0 means free), then the blobs, in 16-byte blocks: a
//! 16-byte head (`BlbS`, package number, timestamp, length), the header blob, zero padding,
//! and a 12-byte tail (Adler-32, length, `BlbE`). Every slot is checked against the file and
//! its blob's head and tail before the header is parsed; the checksum is not verified, as rpm
//! itself only verifies it when it checks the database, not when it reads packages.

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use crate::{
    Candidate, DetectError, Detection, Detector, DetectorId, Ecosystem, FileSource, Finding,
    Package, PackageKind,
};

pub const ID: DetectorId = DetectorId {
    name: "rpm",
    version: 2,
};

/// Where rpm keeps its SQLite database.
pub const SQLITE_PATHS: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];
/// Where rpm keeps a BerkeleyDB database.
pub const BDB_PATHS: [&str; 2] = ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages"];
/// Where rpm keeps an NDB database.
pub const NDB_PATHS: [&str; 2] = [
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages.db",
];

/// A full RHEL server's database is ~100 MiB.
const MAX_DB: usize = 512 * 1024 * 1024;
const MAX_PACKAGES: usize = 100_000;
/// rpm's own limits: 64 Ki index entries, 256 MiB of data per header.
const MAX_INDEX: usize = 0xffff;
const MAX_DATA: usize = 256 * 1024 * 1024;
/// Files listed across the database (also bounded by [`crate::OwnedFiles`]).
const MAX_FILES_PER_PACKAGE: usize = 1_000_000;
const MAX_FIELD: usize = 1024;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;
const TAG_DIRINDEXES: i32 = 1116;
const TAG_BASENAMES: i32 = 1117;
const TAG_DIRNAMES: i32 = 1118;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Reads the rpm database.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpmDetector;

impl Detector for RpmDetector {
    fn id(&self) -> DetectorId {
        ID
    }

    fn wants(&self, file: &Candidate<'_>) -> bool {
        SQLITE_PATHS.contains(&file.path)
            || BDB_PATHS.contains(&file.path)
            || NDB_PATHS.contains(&file.path)
    }

    fn detect(&self, files: &dyn FileSource) -> Result<Detection, DetectError> {
        let mut det = Detection::default();
        for path in SQLITE_PATHS {
            if let Some(bytes) = files.read(path) {
                for h in read_sqlite(path, bytes)? {
                    if let Some(p) = h.package(path) {
                        det.findings.push(Finding::Package(p));
                    }
                }
                return Ok(det);
            }
        }
        for path in BDB_PATHS {
            if let Some(bytes) = files.read(path) {
                for h in read_bdb(path, bytes)? {
                    if let Some(p) = h.package(path) {
                        det.findings.push(Finding::Package(p));
                    }
                }
                return Ok(det);
            }
        }
        for path in NDB_PATHS {
            if let Some(bytes) = files.read(path) {
                for h in read_ndb(path, bytes)? {
                    if let Some(p) = h.package(path) {
                        det.findings.push(Finding::Package(p));
                    }
                }
                return Ok(det);
            }
        }
        Ok(det)
    }
}

/// What berth reads from one rpm header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub source_rpm: String,
    /// The package's files, relative to the image root.
    pub files: Vec<String>,
}

impl RpmHeader {
    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The binary package with its source package; `None` for `gpg-pubkey` and incomplete
    /// headers.
    pub fn package(&self, path: &str) -> Option<Package> {
        if self.name.is_empty() || self.version.is_empty() || self.name == "gpg-pubkey" {
            return None;
        }
        let evr = self.evr();
        let source = parse_source_rpm(&self.source_rpm).map(|(n, v, r)| {
            let v = match self.epoch {
                Some(e) => format!("{e}:{v}-{r}"),
                None => format!("{v}-{r}"),
            };
            Box::new(Package {
                kind: PackageKind::Source,
                ..Package::new(n, v, Ecosystem::Rpm, path, ID)
            })
        });
        Some(Package {
            arch: Some(self.arch.clone()).filter(|a| !a.is_empty()),
            source,
            ..Package::new(&self.name, evr, Ecosystem::Rpm, path, ID)
        })
    }
}

/// `bash-5.1.8-6.el9.src.rpm` → (`bash`, `5.1.8`, `6.el9`).
fn parse_source_rpm(s: &str) -> Option<(&str, &str, &str)> {
    let stem = s
        .strip_suffix(".src.rpm")
        .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
    let (nv, release) = stem.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

fn sqlite_err(path: &str) -> impl Fn(rusqlite::Error) -> DetectError + '_ {
    move |source| DetectError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

/// Every header in an `rpmdb.sqlite` image.
pub fn read_sqlite(path: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>, DetectError> {
    DetectError::check_size(path, bytes, MAX_DB)?;
    let e = sqlite_err(path);
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(&e)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )
    .map_err(&e)?;
    // rpm puts its database in WAL mode (header bytes 18 and 19 are 2), which an in-memory
    // database cannot open; the copy is marked rollback-journal (1) instead. The image's WAL
    // file is not read: rpm checkpoints it when it closes the database.
    // The reader must yield exactly `bytes.len()` bytes: rusqlite leaks its buffer when
    // `read_exact` fails (a 19-byte file once lost its last byte here; found by fuzzing).
    let (head, tail) = bytes.split_at(bytes.len().min(18));
    let (mode, rest) = tail.split_at(tail.len().min(2));
    let mode: &[u8] = if mode == [2, 2] { &[1, 1] } else { mode };
    let reader = std::io::Read::chain(std::io::Read::chain(head, mode), rest);
    conn.deserialize_read_exact(MAIN_DB, reader, bytes.len(), true)
        .map_err(&e)?;
    conn.pragma_update(None, "query_only", true).map_err(&e)?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages ORDER BY hnum")
        .map_err(&e)?;
    let mut rows = stmt.query([]).map_err(&e)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(&e)? {
        if out.len() >= MAX_PACKAGES {
            return Err(DetectError::TooMany {
                path: path.to_owned(),
                what: "packages",
                limit: MAX_PACKAGES,
            });
        }
        let blob = row.get_ref(0).map_err(&e)?;
        let Ok(blob) = blob.as_blob() else {
            continue;
        };
        out.push(parse_header(path, blob)?);
    }
    Ok(out)
}

const BDB_HASH_MAGIC: u32 = 0x0006_1561;
const BDB_PAGE_HASH_UNSORTED: u8 = 2;
const BDB_PAGE_OVERFLOW: u8 = 7;
const BDB_PAGE_HASH: u8 = 13;
const BDB_ITEM_KEYDATA: u8 = 1;
const BDB_ITEM_OFFPAGE: u8 = 3;
const BDB_PAGE_HEADER: usize = 26;

/// A BerkeleyDB file's pages, in the byte order of the machine that wrote it.
struct Bdb<'a> {
    bytes: &'a [u8],
    page_size: usize,
    big_endian: bool,
}

impl<'a> Bdb<'a> {
    fn u32_at(&self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    }

    fn u16_at(&self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    }

    fn page(&self, n: u32) -> Option<&'a [u8]> {
        let start = (n as usize).checked_mul(self.page_size)?;
        self.bytes.get(start..start.checked_add(self.page_size)?)
    }

    fn page_count(&self) -> usize {
        self.bytes.len() / self.page_size
    }

    /// The bytes of an overflow chain starting at `pgno`, `total` long.
    fn overflow(&self, path: &str, mut pgno: u32, total: usize) -> Result<Vec<u8>, DetectError> {
        let bad = |what: &str| DetectError::malformed(path, format!("rpm BerkeleyDB: {what}"));
        if total > MAX_DATA {
            return Err(bad("record too large"));
        }
        let mut out = Vec::with_capacity(total.min(1024 * 1024));
        // A chain visits each page at most once.
        for _ in 0..self.page_count() {
            if pgno == 0 || out.len() >= total {
                break;
            }
            let page = self
                .page(pgno)
                .ok_or_else(|| bad("overflow page out of range"))?;
            if page.get(25) != Some(&BDB_PAGE_OVERFLOW) {
                return Err(bad("broken overflow chain"));
            }
            let len = self.u16_at(page, 22).unwrap_or(0) as usize;
            let data = page
                .get(BDB_PAGE_HEADER..BDB_PAGE_HEADER + len)
                .ok_or_else(|| bad("overflow page length"))?;
            out.extend_from_slice(data);
            pgno = self.u32_at(page, 16).unwrap_or(0);
        }
        if out.len() != total {
            return Err(bad("overflow chain shorter or longer than its record"));
        }
        Ok(out)
    }
}

/// Every header in a BerkeleyDB hash `Packages` file.
pub fn read_bdb(path: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>, DetectError> {
    DetectError::check_size(path, bytes, MAX_DB)?;
    let bad = |what: &str| DetectError::malformed(path, format!("rpm BerkeleyDB: {what}"));
    let magic = bytes.get(12..16).ok_or_else(|| bad("truncated"))?;
    let big_endian = match magic {
        [0x61, 0x15, 0x06, 0x00] => false,
        [0x00, 0x06, 0x15, 0x61] => true,
        _ => return Err(bad("not a hash database")),
    };
    let mut db = Bdb {
        bytes,
        page_size: 0,
        big_endian,
    };
    debug_assert_eq!(db.u32_at(bytes, 12), Some(BDB_HASH_MAGIC));
    let page_size = db.u32_at(bytes, 20).ok_or_else(|| bad("truncated"))? as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(bad("invalid page size"));
    }
    db.page_size = page_size;
    let mut out = Vec::new();
    for n in 1..db.page_count() {
        let Some(page) = db.page(n as u32) else { break };
        let ty = page.get(25).copied().unwrap_or(0);
        if ty != BDB_PAGE_HASH && ty != BDB_PAGE_HASH_UNSORTED {
            continue;
        }
        let entries = db.u16_at(page, 20).unwrap_or(0) as usize;
        let offset = |i: usize| {
            db.u16_at(page, BDB_PAGE_HEADER + i * 2)
                .map(usize::from)
                .filter(|&o| o >= BDB_PAGE_HEADER && o < page_size)
        };
        // Entries alternate key, value; items are packed from the end of the page.
        for i in (1..entries).step_by(2) {
            let Some(at) = offset(i) else {
                return Err(bad("item offset out of range"));
            };
            let value = match page.get(at) {
                Some(&BDB_ITEM_OFFPAGE) => {
                    let pgno = db
                        .u32_at(page, at + 4)
                        .ok_or_else(|| bad("truncated item"))?;
                    let len = db
                        .u32_at(page, at + 8)
                        .ok_or_else(|| bad("truncated item"))?;
                    db.overflow(path, pgno, len as usize)?
                }
                Some(&BDB_ITEM_KEYDATA) => {
                    let end = if i == 0 {
                        Some(page_size)
                    } else {
                        offset(i - 1)
                    };
                    let end = end.ok_or_else(|| bad("item offset out of range"))?;
                    page.get(at + 1..end).unwrap_or_default().to_vec()
                }
                _ => continue,
            };
            // rpm keeps a 4-byte record (the next instance number) under key 0.
            if value.len() < 8 {
                continue;
            }
            if out.len() >= MAX_PACKAGES {
                return Err(DetectError::TooMany {
                    path: path.to_owned(),
                    what: "packages",
                    limit: MAX_PACKAGES,
                });
            }
            out.push(parse_header(path, &value)?);
        }
    }
    Ok(out)
}

const NDB_MAGIC: &[u8; 4] = b"RpmP";
const NDB_SLOT_MAGIC: &[u8; 4] = b"Slot";
const NDB_BLOB_HEAD: &[u8; 4] = b"BlbS";
const NDB_BLOB_TAIL: &[u8; 4] = b"BlbE";
const NDB_HEADER: usize = 32;
const NDB_PAGE: usize = 4096;
const NDB_SLOT: usize = 16;
const NDB_BLOCK: usize = 16;
const NDB_BLOB_HEAD_LEN: usize = 16;
const NDB_BLOB_TAIL_LEN: usize = 12;

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

/// Every header in an NDB `Packages.db`, in package-number order.
pub fn read_ndb(path: &str, bytes: &[u8]) -> Result<Vec<RpmHeader>, DetectError> {
    DetectError::check_size(path, bytes, MAX_DB)?;
    let bad = |what: &str| DetectError::malformed(path, format!("rpm NDB: {what}"));
    if bytes.get(..4) != Some(NDB_MAGIC.as_slice()) {
        return Err(bad("not an NDB database"));
    }
    if le_u32(bytes, 4) != Some(0) {
        return Err(bad("unknown version"));
    }
    let pages = le_u32(bytes, 12).ok_or_else(|| bad("truncated"))? as usize;
    let slots_end = pages
        .checked_mul(NDB_PAGE)
        .filter(|&end| pages > 0 && end <= bytes.len())
        .ok_or_else(|| bad("slot pages beyond the end of the file"))?;
    // Blobs start after the slot pages; no two may overlap (checked once sorted).
    let first_block = slots_end / NDB_BLOCK;
    let mut slots = Vec::new();
    for at in (NDB_HEADER..slots_end).step_by(NDB_SLOT) {
        if bytes.get(at..at + 4) != Some(NDB_SLOT_MAGIC.as_slice()) {
            return Err(bad("bad slot"));
        }
        let (Some(pkg), Some(off), Some(count)) = (
            le_u32(bytes, at + 4),
            le_u32(bytes, at + 8),
            le_u32(bytes, at + 12),
        ) else {
            return Err(bad("truncated slot"));
        };
        if off == 0 {
            continue;
        }
        let (off, count) = (off as usize, count as usize);
        if pkg == 0 || count == 0 || off < first_block {
            return Err(bad("bad slot"));
        }
        if slots.len() >= MAX_PACKAGES {
            return Err(DetectError::TooMany {
                path: path.to_owned(),
                what: "packages",
                limit: MAX_PACKAGES,
            });
        }
        slots.push((pkg, off, count));
    }
    slots.sort_unstable_by_key(|&(_, off, _)| off);
    let mut end = first_block;
    for &(_, off, count) in &slots {
        if off < end {
            return Err(bad("overlapping blobs"));
        }
        end = off.saturating_add(count);
    }
    slots.sort_unstable_by_key(|&(pkg, _, _)| pkg);
    if slots.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(bad("a package number in two slots"));
    }
    let mut out = Vec::with_capacity(slots.len());
    for (pkg, off, count) in slots {
        let blob = off
            .checked_mul(NDB_BLOCK)
            .zip(count.checked_mul(NDB_BLOCK))
            .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| bad("blob beyond the end of the file"))?;
        if blob.len() < NDB_BLOB_HEAD_LEN + NDB_BLOB_TAIL_LEN
            || blob.get(..4) != Some(NDB_BLOB_HEAD.as_slice())
            || le_u32(blob, 4) != Some(pkg)
        {
            return Err(bad("bad blob head"));
        }
        let len = le_u32(blob, 12).ok_or_else(|| bad("truncated blob"))? as usize;
        if len
            .saturating_add(NDB_BLOB_HEAD_LEN + NDB_BLOB_TAIL_LEN)
            .div_ceil(NDB_BLOCK)
            != count
        {
            return Err(bad("blob length does not match its slot"));
        }
        let tail = blob.len() - NDB_BLOB_TAIL_LEN;
        if blob.get(tail + 8..) != Some(NDB_BLOB_TAIL.as_slice())
            || le_u32(blob, tail + 4) != Some(len as u32)
        {
            return Err(bad("bad blob tail"));
        }
        let header = blob
            .get(NDB_BLOB_HEAD_LEN..NDB_BLOB_HEAD_LEN + len)
            .ok_or_else(|| bad("truncated blob"))?;
        out.push(parse_header(path, header)?);
    }
    Ok(out)
}

/// One typed index entry.
struct Entry {
    tag: i32,
    ty: u32,
    offset: usize,
    count: usize,
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses a header blob (the database form, without the 8-byte magic of `.rpm` files).
pub fn parse_header(path: &str, blob: &[u8]) -> Result<RpmHeader, DetectError> {
    let bad = |what: &str| DetectError::malformed(path, format!("rpm header: {what}"));
    let il = be_u32(blob, 0).ok_or_else(|| bad("truncated"))? as usize;
    let dl = be_u32(blob, 4).ok_or_else(|| bad("truncated"))? as usize;
    if il > MAX_INDEX || dl > MAX_DATA {
        return Err(bad("index or data too large"));
    }
    let data_start = 8 + il * 16;
    let data = blob
        .get(data_start..data_start + dl)
        .ok_or_else(|| bad("shorter than its index says"))?;
    let mut entries = Vec::with_capacity(il);
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(offset), Some(count)) = (
            be_u32(blob, at),
            be_u32(blob, at + 4),
            be_u32(blob, at + 8),
            be_u32(blob, at + 12),
        ) else {
            return Err(bad("truncated index"));
        };
        entries.push(Entry {
            tag: tag as i32,
            ty,
            offset: offset as usize,
            count: count as usize,
        });
    }
    let find = |tag: i32| entries.iter().find(|e| e.tag == tag);
    let string = |tag: i32| -> String {
        find(tag)
            .filter(|e| matches!(e.ty, TYPE_STRING | TYPE_I18NSTRING | TYPE_STRING_ARRAY))
            .and_then(|e| strings(data, e.offset, 1).into_iter().next())
            .filter(|s| s.len() <= MAX_FIELD)
            .unwrap_or_default()
    };
    let epoch = find(TAG_EPOCH)
        .filter(|e| e.ty == TYPE_INT32 && e.count >= 1)
        .and_then(|e| be_u32(data, e.offset));
    let mut h = RpmHeader {
        name: string(TAG_NAME),
        epoch,
        version: string(TAG_VERSION),
        release: string(TAG_RELEASE),
        arch: string(TAG_ARCH),
        source_rpm: string(TAG_SOURCERPM),
        files: Vec::new(),
    };
    if let (Some(base), Some(dirs), Some(idx)) = (
        find(TAG_BASENAMES),
        find(TAG_DIRNAMES),
        find(TAG_DIRINDEXES),
    ) && base.ty == TYPE_STRING_ARRAY
        && dirs.ty == TYPE_STRING_ARRAY
        && idx.ty == TYPE_INT32
        && base.count == idx.count
        && base.count <= MAX_FILES_PER_PACKAGE
    {
        let basenames = strings(data, base.offset, base.count);
        let dirnames = strings(data, dirs.offset, dirs.count);
        for (i, b) in basenames.iter().enumerate() {
            let dir = be_u32(data, idx.offset + i * 4)
                .and_then(|d| dirnames.get(d as usize))
                .map(|d| d.trim_start_matches('/'));
            if let Some(dir) = dir {
                h.files.push(format!("{dir}{b}"));
            }
        }
    }
    Ok(h)
}

/// `count` NUL-terminated strings starting at `offset`; fewer if the data ends.
fn strings(data: &[u8], offset: usize, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = offset;
    for _ in 0..count {
        let Some(rest) = data.get(at..) else { break };
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        at += end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header blob the way rpm lays it out.
    fn header(entries: &[(i32, u32, Vec<u8>, u32)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, bytes, count) in entries {
            if *ty == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&index);
        b.extend_from_slice(&data);
        b
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    #[test]
    fn header_fields_and_files() {
        let blob = header(&[
            (TAG_NAME, TYPE_STRING, s("openssl-libs"), 1),
            (TAG_EPOCH, TYPE_INT32, 1u32.to_be_bytes().to_vec(), 1),
            (TAG_VERSION, TYPE_STRING, s("3.0.7"), 1),
            (TAG_RELEASE, TYPE_STRING, s("27.el9"), 1),
            (TAG_ARCH, TYPE_STRING, s("x86_64"), 1),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                s("openssl-3.0.7-27.el9.src.rpm"),
                1,
            ),
            (
                TAG_DIRINDEXES,
                TYPE_INT32,
                [0u32, 1].iter().flat_map(|v| v.to_be_bytes()).collect(),
                2,
            ),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                [s("libssl.so.3"), s("openssl.cnf")].concat(),
                2,
            ),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                [s("/usr/lib64/"), s("/etc/pki/tls/")].concat(),
                2,
            ),
        ]);
        let h = parse_header("p", &blob).unwrap();
        assert_eq!(h.evr(), "1:3.0.7-27.el9");
        assert_eq!(
            h.files,
            vec!["usr/lib64/libssl.so.3", "etc/pki/tls/openssl.cnf"]
        );
        let p = h.package("var/lib/rpm/rpmdb.sqlite").unwrap();
        let src = p.source.unwrap();
        assert_eq!(
            (src.name.as_str(), src.version.as_str()),
            ("openssl", "1:3.0.7-27.el9")
        );
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
    }

    #[test]
    fn malformed_headers() {
        assert!(parse_header("p", &[]).is_err());
        assert!(parse_header("p", &[0, 0, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_header("p", &[0xff; 64]).is_err());
        let blob = header(&[(TAG_NAME, TYPE_STRING, s("x"), 1)]);
        for cut in 0..blob.len() {
            let _ = parse_header("p", &blob[..cut]);
        }
        // Offsets pointing past the data, counts far beyond it.
        let mut evil = header(&[(TAG_BASENAMES, TYPE_STRING_ARRAY, s("a"), 1)]);
        evil[8 + 8..8 + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_header("p", &evil).unwrap().name.is_empty());
        assert_eq!(
            parse_source_rpm("bash-5.1.8-6.el9.src.rpm"),
            Some(("bash", "5.1.8", "6.el9"))
        );
        assert_eq!(parse_source_rpm("junk"), None);
        assert!(read_sqlite("p", b"SQLite format 3\0 but not really").is_err());
        assert!(read_sqlite("p", &[]).is_err());
        assert!(read_bdb("p", &[]).is_err());
        let mut meta = vec![0u8; 4096 * 3];
        meta[12..16].copy_from_slice(&BDB_HASH_MAGIC.to_le_bytes());
        meta[20..24].copy_from_slice(&4096u32.to_le_bytes());
        assert!(read_bdb("p", &meta).unwrap().is_empty());
        // A hash page whose item points to an overflow page that loops onto itself.
        let p1 = 4096;
        meta[p1 + 25] = BDB_PAGE_HASH;
        meta[p1 + 20..p1 + 22].copy_from_slice(&2u16.to_le_bytes());
        meta[p1 + 26..p1 + 28].copy_from_slice(&4000u16.to_le_bytes());
        meta[p1 + 28..p1 + 30].copy_from_slice(&4080u16.to_le_bytes());
        meta[p1 + 4080] = BDB_ITEM_OFFPAGE;
        meta[p1 + 4084..p1 + 4088].copy_from_slice(&2u32.to_le_bytes());
        meta[p1 + 4088..p1 + 4092].copy_from_slice(&100_000u32.to_le_bytes());
        let p2 = 8192;
        meta[p2 + 25] = BDB_PAGE_OVERFLOW;
        meta[p2 + 16..p2 + 20].copy_from_slice(&2u32.to_le_bytes());
        meta[p2 + 22..p2 + 24].copy_from_slice(&10u16.to_le_bytes());
        assert!(read_bdb("p", &meta).is_err());
        meta[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(read_bdb("p", &meta).is_err());
    }

    /// An NDB file laid out as rpm writes it: one slot page, then each blob in turn.
    fn ndb(blobs: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut db = vec![0u8; NDB_PAGE];
        db[..4].copy_from_slice(NDB_MAGIC);
        db[12..16].copy_from_slice(&1u32.to_le_bytes());
        for at in (NDB_HEADER..NDB_PAGE).step_by(NDB_SLOT) {
            db[at..at + 4].copy_from_slice(NDB_SLOT_MAGIC);
        }
        for (i, (pkg, blob)) in blobs.iter().enumerate() {
            let off = db.len() / NDB_BLOCK;
            let mut b = NDB_BLOB_HEAD.to_vec();
            b.extend_from_slice(&pkg.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            b.extend_from_slice(blob);
            while !(b.len() + NDB_BLOB_TAIL_LEN).is_multiple_of(NDB_BLOCK) {
                b.push(0);
            }
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&(blob.len() as u32).to_le_bytes());
            b.extend_from_slice(NDB_BLOB_TAIL);
            let slot = NDB_HEADER + i * NDB_SLOT;
            db[slot + 4..slot + 8].copy_from_slice(&pkg.to_le_bytes());
            db[slot + 8..slot + 12].copy_from_slice(&(off as u32).to_le_bytes());
            db[slot + 12..slot + 16].copy_from_slice(&((b.len() / NDB_BLOCK) as u32).to_le_bytes());
            db.extend_from_slice(&b);
        }
        db
    }

    #[test]
    fn ndb_layout_and_damage() {
        let a = header(&[
            (TAG_NAME, TYPE_STRING, s("a"), 1),
            (TAG_VERSION, TYPE_STRING, s("1"), 1),
            (TAG_RELEASE, TYPE_STRING, s("2"), 1),
        ]);
        let b = header(&[
            (TAG_NAME, TYPE_STRING, s("b"), 1),
            (TAG_VERSION, TYPE_STRING, s("3"), 1),
            (TAG_RELEASE, TYPE_STRING, s("4"), 1),
        ]);
        // Package numbers out of blob order: read back in package-number order.
        let good = ndb(&[(7, a.clone()), (2, b.clone())]);
        let got: Vec<_> = read_ndb("p", &good)
            .unwrap()
            .into_iter()
            .map(|h| (h.name.clone(), h.evr()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("b".to_owned(), "3-4".to_owned()),
                ("a".to_owned(), "1-2".to_owned())
            ]
        );
        assert!(read_ndb("p", &ndb(&[])).unwrap().is_empty());
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut d = good.clone();
            f(&mut d);
            read_ndb("p", &d)
        };
        let slot = NDB_HEADER;
        let blob = NDB_PAGE;
        assert!(bad(&|d| d[0] = b'X').is_err(), "magic");
        assert!(bad(&|d| d[4] = 1).is_err(), "version");
        assert!(
            bad(&|d| d[12..16].copy_from_slice(&0u32.to_le_bytes())).is_err(),
            "no pages"
        );
        assert!(bad(&|d| d[12..16].copy_from_slice(&u32::MAX.to_le_bytes())).is_err());
        assert!(bad(&|d| d[slot + 3 * NDB_SLOT] = 0).is_err(), "slot magic");
        assert!(bad(&|d| d[slot + 4..slot + 8].copy_from_slice(&0u32.to_le_bytes())).is_err());
        assert!(
            bad(&|d| d[slot + 20..slot + 24].copy_from_slice(&7u32.to_le_bytes())).is_err(),
            "duplicate package"
        );
        assert!(
            bad(&|d| d[slot + 8..slot + 12].copy_from_slice(&1u32.to_le_bytes())).is_err(),
            "inside the slot pages"
        );
        assert!(
            bad(&|d| d[slot + 8..slot + 12].copy_from_slice(&u32::MAX.to_le_bytes())).is_err(),
            "beyond the file"
        );
        assert!(
            bad(&|d| d[slot + 12..slot + 16].copy_from_slice(&u32::MAX.to_le_bytes())).is_err(),
            "count"
        );
        // The second blob starting inside the first.
        assert!(
            bad(&|d| {
                let first = u32::from_le_bytes(d[slot + 8..slot + 12].try_into().unwrap());
                d[slot + 24..slot + 28].copy_from_slice(&(first + 1).to_le_bytes());
            })
            .is_err(),
            "overlap"
        );
        assert!(bad(&|d| d[blob] = 0).is_err(), "blob head");
        assert!(bad(&|d| d[blob + 4] = 9).is_err(), "blob package");
        assert!(
            bad(&|d| d[blob + 12] = d[blob + 12].wrapping_add(16)).is_err(),
            "blob length"
        );
        let tail = blob + 16 + a.len();
        let tail = tail + (NDB_BLOCK - (tail + NDB_BLOB_TAIL_LEN) % NDB_BLOCK) % NDB_BLOCK;
        assert!(bad(&|d| d[tail + 8] = 0).is_err(), "blob tail");
        // A damaged checksum is not checked (rpm does not when it reads).
        assert!(bad(&|d| d[tail] ^= 0xff).is_ok());
        for cut in 0..good.len() {
            let _ = read_ndb("p", &good[..cut]);
        }
    }

    /// Fuzzer regression (rpm_sqlite, a leak): for every length around the 18-byte header
    /// split, the whole input reaches SQLite, so a failure is SQLite's verdict on the bytes,
    /// never a short read (on which rusqlite leaks its buffer).
    #[test]
    fn sqlite_inputs_of_every_short_length_are_read_whole() {
        let leak = b"SQL\0\0\0\0\x09\0\0\0\0\0\xa4\x09\0\0\xcd\xff";
        assert_eq!(leak.len(), 19);
        let mut wal = b"SQLite format 3\0\x10\0\x02\x02".to_vec();
        wal.resize(40, 0);
        for input in [&leak[..], &wal[..]] {
            for n in 0..=input.len() {
                match read_sqlite("p", &input[..n]) {
                    Err(DetectError::Sqlite { source, .. }) => {
                        let short_read = source
                            .sqlite_error()
                            .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_IOERR);
                        assert!(!short_read, "length {n}: {source}");
                    }
                    other => assert!(other.is_ok_and(|h| h.is_empty()) || n == 0, "{n}"),
                }
            }
        }
    }

    #[test]
    fn gpg_keys_are_not_packages() {
        let h = RpmHeader {
            name: "gpg-pubkey".into(),
            version: "fd431d51".into(),
            release: "4ae0493b".into(),
            ..RpmHeader::default()
        };
        assert!(h.package("p").is_none());
    }
}
