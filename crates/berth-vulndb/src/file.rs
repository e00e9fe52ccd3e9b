//! The database file (`*.bvdb`): zstd-compressed JSON lines, the header first, then one
//! record per line. It is also the air-gap bundle: `berth vulndb export` copies it and
//! `import` verifies it, so there is one format to trust, not two.
//!
//! JSON lines because every record stays independently readable (`zstdcat | jq` works when
//! something looks wrong) and the reader streams it in bounded memory per line; zstd because
//! advisory text compresses about 8:1 and decodes at hundreds of MB/s.
//!
//! The reader treats the file as untrusted (it may come from a USB stick): lines, records and
//! the decompressed total are bounded, the format version is checked, and the body digest
//! is recomputed over the bytes read and must equal the header's.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use berth_advisory::{Advisory, Enrichment};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::VulnDbError;
use crate::db::{Db, FORMAT, Header, Record, body_lines};

/// Bounds for reading a database file.
const MAX_LINE: u64 = 64 << 20;
const MAX_TOTAL: u64 = 16 << 30;
const MAX_RECORDS: u64 = 50_000_000;

/// The first line: the header under a key that identifies the format.
#[derive(Serialize, Deserialize)]
struct FirstLine {
    berth_vulndb: Header,
}

/// Writes `db` to `path` (through a temporary file, fsynced, renamed into place).
pub fn write(db: &Db, path: &Path) -> Result<u64, VulnDbError> {
    let io = |e| VulnDbError::Io(path.display().to_string(), e);
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
    ));
    {
        let file = File::create(&tmp).map_err(io)?;
        let mut z = zstd::Encoder::new(BufWriter::new(file), 9).map_err(io)?;
        let first = serde_json::to_vec(&FirstLine {
            berth_vulndb: db.header().clone(),
        })
        .map_err(|e| VulnDbError::Format(e.to_string()))?;
        z.write_all(&first).map_err(io)?;
        z.write_all(b"\n").map_err(io)?;
        for line in body_lines(db.advisories(), db.enrichments().iter()) {
            z.write_all(&line).map_err(io)?;
            z.write_all(b"\n").map_err(io)?;
        }
        let out = z.finish().map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(std::fs::metadata(path).map_err(io)?.len())
}

/// Reads only the header (for status and sniffing).
pub fn read_header(path: &Path) -> Result<Header, VulnDbError> {
    let mut r = open(path)?;
    first_line(&mut r, path)
}

/// Whether `path` looks like a database file (zstd magic).
pub fn is_db_file(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x28, 0xb5, 0x2f, 0xfd]
}

/// Reads and verifies a whole database file.
pub fn read(path: &Path) -> Result<Db, VulnDbError> {
    let mut r = open(path)?;
    let header = first_line(&mut r, path)?;
    let mut advisories: Vec<Advisory> = Vec::new();
    let mut enrichments: Vec<Enrichment> = Vec::new();
    let mut h = Sha256::new();
    let mut line = Vec::new();
    let mut records = 0u64;
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| VulnDbError::Io(path.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            return Err(VulnDbError::Format(format!(
                "{}: truncated or over-long record {}",
                path.display(),
                records + 1
            )));
        }
        h.update(&line);
        records += 1;
        if records > MAX_RECORDS {
            return Err(VulnDbError::Format("too many records".into()));
        }
        match serde_json::from_slice::<Record>(&line[..line.len() - 1]) {
            Ok(Record::Advisory(a)) => advisories.push(a),
            Ok(Record::Enrichment(e)) => enrichments.push(e),
            Err(e) => {
                return Err(VulnDbError::Format(format!(
                    "{}: record {records}: {e}",
                    path.display()
                )));
            }
        }
    }
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    if digest != header.digest {
        return Err(VulnDbError::Format(format!(
            "{}: content digest {digest} does not match the header's {}; the file is damaged",
            path.display(),
            header.digest
        )));
    }
    if advisories.len() as u64 != header.advisories
        || enrichments.len() as u64 != header.enrichments
    {
        return Err(VulnDbError::Format(format!(
            "{}: record counts do not match the header",
            path.display()
        )));
    }
    Ok(Db::from_parts(header, advisories, enrichments))
}

fn open(path: &Path) -> Result<impl BufRead, VulnDbError> {
    let io = |e| VulnDbError::Io(path.display().to_string(), e);
    let file = File::open(path).map_err(io)?;
    let mut d = zstd::Decoder::new(file).map_err(io)?;
    // 128 MiB windows at most: a hostile frame cannot demand gigabytes.
    d.window_log_max(27).map_err(io)?;
    Ok(BufReader::with_capacity(1 << 16, d.take(MAX_TOTAL)))
}

fn first_line(r: &mut impl BufRead, path: &Path) -> Result<Header, VulnDbError> {
    let mut line = Vec::new();
    r.take(MAX_LINE).read_until(b'\n', &mut line).map_err(|e| {
        VulnDbError::Format(format!(
            "{}: not a berth vulnerability database: {e}",
            path.display()
        ))
    })?;
    let first: FirstLine = serde_json::from_slice(line.trim_ascii_end()).map_err(|e| {
        VulnDbError::Format(format!(
            "{}: not a berth vulnerability database: {e}",
            path.display()
        ))
    })?;
    if first.berth_vulndb.format > FORMAT {
        return Err(VulnDbError::Format(format!(
            "{}: database format {} is newer than this berth understands ({FORMAT}); upgrade berth",
            path.display(),
            first.berth_vulndb.format
        )));
    }
    Ok(first.berth_vulndb)
}
