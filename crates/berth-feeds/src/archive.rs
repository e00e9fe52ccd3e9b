//! Walking a stored feed: folders, gzip/zstd streams, tar and zip archives, one entry at a
//! time, so a multi-GB export is never unpacked to disk or held whole in memory.
//!
//! Everything read is metered against [`Limits`]: each entry's size before it is read, the
//! total of decompressed bytes (including entries that are passed over, which still cost
//! decompression), the number of entries, and the ratio of decompressed to compressed bytes
//! (a zip bomb is stopped by the ratio before the total). Entries that cannot hold records
//! (by name) are not read at all; nested archives are not opened.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use crate::{FeedError, Limits, Parsed, dispatch};

/// The ratio check starts past this many decompressed bytes: tiny, repetitive files are
/// legitimately very compressible.
const RATIO_GRACE: u64 = 1 << 20;

pub(crate) struct Walker<'a> {
    feed: &'a str,
    limits: &'a Limits,
    out: &'a mut Parsed,
    /// Decompressed bytes read so far, shared with the readers that meter them.
    total: Rc<Cell<u64>>,
    entries: u64,
}

/// How a file on disk is opened.
enum Container {
    Zip,
    Tar(Codec),
    /// A single compressed file (`.json.gz`): parsed under its name without the suffix.
    Single(Codec),
    Plain,
}

#[derive(Clone, Copy)]
enum Codec {
    None,
    Gzip,
    Zstd,
}

fn container_of(name: &str) -> Container {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".zip") {
        Container::Zip
    } else if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
        Container::Tar(Codec::Gzip)
    } else if n.ends_with(".tar.zst") || n.ends_with(".tzst") || n.ends_with(".tar.zstd") {
        Container::Tar(Codec::Zstd)
    } else if n.ends_with(".tar") {
        Container::Tar(Codec::None)
    } else if n.ends_with(".gz") {
        Container::Single(Codec::Gzip)
    } else if n.ends_with(".zst") {
        Container::Single(Codec::Zstd)
    } else {
        Container::Plain
    }
}

/// The container of a file without a telling name, from its first bytes (and, for a
/// compressed file, the first bytes inside): zip, tar (plain, gzip or zstd) or a single
/// compressed document.
fn sniff_container(path: &Path) -> std::io::Result<Container> {
    const USTAR_AT: usize = 257;
    let is_tar = |head: &[u8]| head.get(USTAR_AT..USTAR_AT + 5) == Some(b"ustar");
    let mut head = Vec::with_capacity(512);
    File::open(path)?.take(512).read_to_end(&mut head)?;
    let inner = |codec: Codec| -> std::io::Result<Container> {
        let file = BufReader::new(File::open(path)?);
        let mut reader: Box<dyn Read> = match codec {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(file)?),
            Codec::None => Box::new(file),
        };
        let mut inner = Vec::with_capacity(512);
        // A broken stream is reported by the real walk, with its limits; here it only
        // decides the container.
        let _ = (&mut reader).take(512).read_to_end(&mut inner);
        Ok(if is_tar(&inner) {
            Container::Tar(codec)
        } else {
            Container::Single(codec)
        })
    };
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok(Container::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        inner(Codec::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        inner(Codec::Zstd)
    } else if is_tar(&head) {
        Ok(Container::Tar(Codec::None))
    } else {
        Ok(Container::Plain)
    }
}

/// Whether an entry may hold records, by name alone, so the rest is skipped unread.
fn may_hold_records(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    [".json", ".yaml", ".yml", ".md", ".csv"]
        .iter()
        .any(|e| n.ends_with(e))
}

impl<'a> Walker<'a> {
    pub(crate) fn new(feed: &'a str, limits: &'a Limits, out: &'a mut Parsed) -> Walker<'a> {
        Walker {
            feed,
            limits,
            out,
            total: Rc::new(Cell::new(0)),
            entries: 0,
        }
    }

    fn io_err(path: &Path, source: io::Error) -> FeedError {
        FeedError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn limit(&self, path: &str, what: &'static str) -> FeedError {
        let limit = match what {
            "file size" => self.limits.max_file,
            "total size" => self.limits.max_total,
            "entries" => self.limits.max_entries,
            _ => self.limits.max_ratio,
        };
        FeedError::Limit {
            path: path.to_owned(),
            what,
            limit,
        }
    }

    fn count_entry(&mut self, label: &str) -> Result<(), FeedError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.limit(label, "entries"));
        }
        Ok(())
    }

    fn add_total(&mut self, n: u64, label: &str) -> Result<(), FeedError> {
        let t = self.total.get().saturating_add(n);
        self.total.set(t);
        if t > self.limits.max_total {
            return Err(self.limit(label, "total size"));
        }
        Ok(())
    }

    /// The path given to [`crate::parse_path`]: a folder, an archive or a single file. A
    /// single file is always parsed, whatever its name: the caller pointed at it.
    pub(crate) fn walk_root(&mut self, path: &Path) -> Result<(), FeedError> {
        let meta = std::fs::metadata(path).map_err(|e| Self::io_err(path, e))?;
        if meta.is_dir() {
            self.walk_dir(path, path)
        } else {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.walk_file(path, &name, true)
        }
    }

    fn walk_dir(&mut self, root: &Path, dir: &Path) -> Result<(), FeedError> {
        let mut items: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Self::io_err(dir, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| Self::io_err(dir, e))?;
        items.sort_by_key(|e| e.file_name());
        for item in items {
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            self.count_entry(&path.display().to_string())?;
            if name.starts_with('.') {
                continue; // .git, .github
            }
            // Symlinks are not followed: a feed folder must not lead the walk elsewhere.
            let ft = item.file_type().map_err(|e| Self::io_err(&path, e))?;
            if ft.is_dir() {
                self.walk_dir(root, &path)?;
            } else if ft.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                self.walk_file(&path, &rel, false)?;
            }
        }
        Ok(())
    }

    /// One file on disk; `rel` is its path inside the feed folder (its name for a root).
    fn walk_file(&mut self, path: &Path, rel: &str, root: bool) -> Result<(), FeedError> {
        let label = path.display().to_string();
        let mut container = container_of(rel);
        if root && matches!(container, Container::Plain) {
            // A downloaded feed is stored under a fixed name (`data`, or a temporary name
            // while it is validated): the bytes say what it is.
            container = sniff_container(path).map_err(|e| Self::io_err(path, e))?;
        }
        if !root
            && matches!(container, Container::Plain | Container::Single(_))
            && !may_hold_records(rel)
        {
            return Ok(());
        }
        let file = File::open(path).map_err(|e| Self::io_err(path, e))?;
        let size = file.metadata().map_err(|e| Self::io_err(path, e))?.len();
        match container {
            Container::Zip => self.walk_zip(file, &label),
            Container::Tar(codec) => {
                let (reader, meter) = self.decoder(BufReader::new(file), codec, &label)?;
                self.walk_tar(reader, meter, &label)
            }
            Container::Single(codec) => {
                let inner = strip_codec_suffix(rel);
                let (mut reader, meter) = self.decoder(BufReader::new(file), codec, &label)?;
                let bytes = self.read_bounded(&mut reader, &meter, &label, None)?;
                self.parse(inner, &label, &bytes)
            }
            Container::Plain => {
                if size > self.limits.max_file {
                    return Err(self.limit(&label, "file size"));
                }
                self.add_total(size, &label)?;
                let mut bytes = Vec::with_capacity(size as usize);
                file.take(self.limits.max_file + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Self::io_err(path, e))?;
                if bytes.len() as u64 > self.limits.max_file {
                    return Err(self.limit(&label, "file size"));
                }
                self.parse(rel, &label, &bytes)
            }
        }
    }

    fn parse(&mut self, path: &str, label: &str, bytes: &[u8]) -> Result<(), FeedError> {
        dispatch(self.feed, path, label, bytes, self.out)
    }

    /// A decompressing reader metered on both sides, so the ratio and the total are checked
    /// as the bytes flow rather than after the damage.
    fn decoder<R: Read + 'static>(
        &self,
        raw: R,
        codec: Codec,
        label: &str,
    ) -> Result<(Box<dyn Read>, Meter), FeedError> {
        let compressed = Rc::new(Cell::new(0u64));
        let counted = Counted {
            inner: raw,
            n: compressed.clone(),
        };
        let inner: Box<dyn Read> = match codec {
            Codec::None => Box::new(counted),
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(counted).map_err(|e| {
                FeedError::Archive {
                    path: label.to_owned(),
                    source: e,
                }
            })?),
        };
        let meter = Meter {
            compressed,
            ratio_checked: !matches!(codec, Codec::None),
            hit: Rc::new(Cell::new(None)),
        };
        let reader = Metered {
            inner,
            meter: meter.clone(),
            total: self.total.clone(),
            out: 0,
            limits: *self.limits,
        };
        Ok((Box::new(reader), meter))
    }

    /// Reads a whole entry into memory, at most `max_file` bytes.
    fn read_bounded(
        &self,
        reader: &mut dyn Read,
        meter: &Meter,
        label: &str,
        size_hint: Option<u64>,
    ) -> Result<Vec<u8>, FeedError> {
        let cap = size_hint
            .unwrap_or(0)
            .min(self.limits.max_file)
            .min(64 << 20) as usize;
        let mut bytes = Vec::with_capacity(cap);
        reader
            .take(self.limits.max_file + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| meter.error(self, label, e))?;
        if bytes.len() as u64 > self.limits.max_file {
            return Err(self.limit(label, "file size"));
        }
        Ok(bytes)
    }

    fn walk_tar(
        &mut self,
        reader: Box<dyn Read>,
        meter: Meter,
        label: &str,
    ) -> Result<(), FeedError> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| meter.error(self, label, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| meter.error(self, label, e))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let entry_label = format!("{label}!{name}");
            self.count_entry(&entry_label)?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            let size = entry.size();
            if !may_hold_records(&name) {
                continue; // its bytes are skipped (and metered) by the next iteration
            }
            if size > self.limits.max_file {
                return Err(self.limit(&entry_label, "file size"));
            }
            let mut bytes = self.read_bounded(&mut entry, &meter, &entry_label, Some(size))?;
            if (bytes.len() as u64) < size {
                return Err(FeedError::Archive {
                    path: entry_label,
                    source: io::Error::new(io::ErrorKind::UnexpectedEof, "entry cut short"),
                });
            }
            let inner = if name.to_ascii_lowercase().ends_with(".gz") {
                bytes = self.gunzip(&bytes, &entry_label)?;
                strip_codec_suffix(&name).to_owned()
            } else {
                name
            };
            self.parse(&inner, &entry_label, &bytes)?;
        }
        // Read what follows the end-of-archive blocks, so a truncated or corrupt compressed
        // stream (and its checksum) is noticed even when the tar ended cleanly.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| meter.error(self, label, e))?;
        Ok(())
    }

    /// A gzip-compressed entry inside an archive (`all.json.gz` in a tarball).
    fn gunzip(&self, bytes: &[u8], label: &str) -> Result<Vec<u8>, FeedError> {
        let owned = bytes.to_vec();
        let (mut reader, meter) = self.decoder(io::Cursor::new(owned), Codec::Gzip, label)?;
        self.read_bounded(&mut reader, &meter, label, None)
    }

    fn walk_zip(&mut self, file: File, label: &str) -> Result<(), FeedError> {
        let zip_err = |source| FeedError::Zip {
            path: label.to_owned(),
            source,
        };
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(zip_err)?;
            let name = entry.name().map_err(zip_err)?.into_owned();
            let entry_label = format!("{label}!{name}");
            self.count_entry(&entry_label)?;
            if !entry.is_file() || !may_hold_records(&name) {
                continue;
            }
            let (size, compressed) = (entry.size(), entry.compressed_size());
            if size > self.limits.max_file {
                return Err(self.limit(&entry_label, "file size"));
            }
            if size > RATIO_GRACE && size / compressed.max(1) > self.limits.max_ratio {
                return Err(self.limit(&entry_label, "decompression ratio"));
            }
            // The declared sizes may lie: the read itself is bounded and metered too.
            let meter = Meter {
                compressed: Rc::new(Cell::new(compressed.max(1))),
                ratio_checked: true,
                hit: Rc::new(Cell::new(None)),
            };
            let mut reader = Metered {
                inner: entry,
                meter: meter.clone(),
                total: self.total.clone(),
                out: 0,
                limits: *self.limits,
            };
            let mut bytes = self.read_bounded(&mut reader, &meter, &entry_label, Some(size))?;
            drop(reader);
            let inner = if name.to_ascii_lowercase().ends_with(".gz") {
                bytes = self.gunzip(&bytes, &entry_label)?;
                strip_codec_suffix(&name).to_owned()
            } else {
                name
            };
            self.parse(&inner, &entry_label, &bytes)?;
        }
        Ok(())
    }
}

fn strip_codec_suffix(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    for s in [".gz", ".zst"] {
        if lower.ends_with(s) {
            return &name[..name.len() - s.len()];
        }
    }
    name
}

/// Counts the compressed bytes a decoder pulls.
struct Counted<R> {
    inner: R,
    n: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get() + k as u64);
        Ok(k)
    }
}

/// Which limit a metered reader stopped at, so its I/O error can be reported as that limit.
#[derive(Clone)]
struct Meter {
    compressed: Rc<Cell<u64>>,
    ratio_checked: bool,
    hit: Rc<Cell<Option<&'static str>>>,
}

impl Meter {
    fn error(&self, w: &Walker, label: &str, e: io::Error) -> FeedError {
        match self.hit.get() {
            Some(what) => w.limit(label, what),
            None => FeedError::Archive {
                path: label.to_owned(),
                source: e,
            },
        }
    }
}

/// Counts decompressed bytes against the total and the ratio.
struct Metered<R> {
    inner: R,
    meter: Meter,
    total: Rc<Cell<u64>>,
    out: u64,
    limits: Limits,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.out += k as u64;
        let total = self.total.get().saturating_add(k as u64);
        self.total.set(total);
        let what = if total > self.limits.max_total {
            Some("total size")
        } else if self.meter.ratio_checked
            && self.out > RATIO_GRACE
            && self.out / self.meter.compressed.get().max(1) > self.limits.max_ratio
        {
            Some("decompression ratio")
        } else {
            None
        };
        if let Some(what) = what {
            self.meter.hit.set(Some(what));
            return Err(io::Error::other(format!("over the {what} limit")));
        }
        Ok(k)
    }
}
