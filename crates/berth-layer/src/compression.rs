//! Layer compression: which decompressor a media type asks for, checked against the magic
//! bytes, and the readers that sit around the decompressor.
//!
//! The stream is built as
//! `blob → DigestingReader → decompressor → BoundedReader → tar walker`:
//! the digest is over the bytes as stored (what the manifest names), and the bounds are over
//! what the decompressor produces, where a bomb shows.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use berth_domain::{Digest, Hasher};

use crate::error::{LayerError, SourceError};
use crate::limits::Limits;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd window cap (2^27 = 128 MiB, what `zstd --long` uses). A frame may declare a window
/// of up to 3.75 TiB; libzstd would allocate it, so frames asking for more are refused.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

impl Compression {
    /// The compression a layer media type declares.
    ///
    /// Accepts the OCI layer types (`application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]`),
    /// their deprecated `nondistributable` twins, and Docker's `rootfs.diff.tar.gzip` and
    /// `rootfs.foreign.diff.tar.gzip`. Anything else (a Helm chart, a signature, an
    /// artifact) is not a filesystem layer and is refused.
    pub fn from_media_type(media_type: &str) -> Result<Compression, LayerError> {
        // Parameters (`; foo=bar`) are not used by any layer type, but tolerate them.
        let base = media_type.split(';').next().unwrap_or("").trim();
        let suffix = base
            .strip_prefix("application/vnd.oci.image.layer.v1.tar")
            .or_else(|| {
                base.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.tar")
            });
        match suffix {
            Some("") => return Ok(Compression::None),
            Some("+gzip") => return Ok(Compression::Gzip),
            Some("+zstd") => return Ok(Compression::Zstd),
            _ => {}
        }
        match base {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
            // Docker's uncompressed variant, used by `docker save` style tarballs.
            "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
            _ => Err(LayerError::UnsupportedMediaType(
                media_type.chars().take(200).collect(),
            )),
        }
    }

    /// The compression the first bytes of a stream show, if they show one. Anything without
    /// a gzip or zstd magic is taken to be a plain tar (tar has no magic at offset 0).
    pub fn sniff(prefix: &[u8]) -> Compression {
        if prefix.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else if prefix.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

/// Wraps the stored (compressed) bytes: hashes them as they stream past and counts them, so
/// the ratio check can see how much input the decompressor has consumed.
///
/// Errors from the inner reader are tagged so they are reported as I/O failures of the blob
/// store, not as a corrupt stream.
pub struct DigestingReader<R> {
    inner: R,
    hasher: Hasher,
    expected: Option<Digest>,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> DigestingReader<R> {
    /// Hashes with `expected`'s algorithm, or sha256 when there is nothing to check against.
    pub fn new(inner: R, expected: Option<Digest>) -> Self {
        let alg = expected
            .as_ref()
            .map(|d| d.algorithm())
            .unwrap_or(berth_domain::Algorithm::Sha256);
        DigestingReader {
            inner,
            hasher: Hasher::new(alg),
            expected,
            consumed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes read from the inner reader so far.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.consumed)
    }

    /// Reads whatever the decompressor left unread (at most `max_trailing` bytes, so trailing
    /// garbage cannot keep us busy), then checks the digest. Returns the digest computed.
    pub fn finish(mut self, max_trailing: u64) -> Result<Digest, LayerError> {
        let mut buf = [0u8; 8192];
        let mut trailing = 0u64;
        loop {
            let n = match self.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::from_stream(e, Compression::None)),
            };
            trailing += n as u64;
            if trailing > max_trailing {
                return Err(LayerError::TotalTooLarge {
                    limit: max_trailing,
                });
            }
        }
        let actual = self.hasher.finish();
        match self.expected {
            Some(expected) if expected != actual => {
                Err(LayerError::DigestMismatch { expected, actual })
            }
            _ => Ok(actual),
        }
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::other(SourceError(e))
            }
        })?;
        let data = buf.get(..n).unwrap_or_default();
        self.hasher.update(data);
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts what the decompressor produces and stops it at the total-size and ratio limits.
///
/// The ratio uses the compressed bytes the decompressor has *pulled*, which run ahead of
/// what it has used by up to one input buffer; that errs on the side of letting a real layer
/// through.
pub(crate) struct BoundedReader<R> {
    inner: R,
    produced: u64,
    compressed: Option<Arc<AtomicU64>>,
    max_total: u64,
    max_ratio: u64,
    grace: u64,
}

impl<R: Read> BoundedReader<R> {
    /// `compressed` is `None` for an uncompressed layer, where no ratio applies.
    pub(crate) fn new(inner: R, compressed: Option<Arc<AtomicU64>>, limits: &Limits) -> Self {
        BoundedReader {
            inner,
            produced: 0,
            compressed,
            max_total: limits.max_total_bytes,
            max_ratio: limits.max_ratio,
            grace: limits.ratio_grace_bytes,
        }
    }

    /// Uncompressed bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    fn check(&self) -> Result<(), LayerError> {
        if self.produced > self.max_total {
            return Err(LayerError::TotalTooLarge {
                limit: self.max_total,
            });
        }
        if let Some(counter) = &self.compressed
            && self.produced > self.grace
        {
            let compressed = counter.load(Ordering::Relaxed).max(1);
            if self.produced > compressed.saturating_mul(self.max_ratio) {
                return Err(LayerError::RatioExceeded {
                    limit: self.max_ratio,
                    uncompressed: self.produced,
                    compressed,
                });
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A single read is at most `buf.len()`, so the total can overshoot by one buffer.
        let n = self.inner.read(buf)?;
        self.produced = self.produced.saturating_add(n as u64);
        self.check().map_err(io::Error::other)?;
        Ok(n)
    }
}

/// Reads up to `N` bytes (fewer only at end of stream) so the magic can be sniffed even from
/// a reader that returns short reads.
fn read_prefix<R: Read, const N: usize>(r: &mut R) -> io::Result<([u8; N], usize)> {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok((buf, filled))
}

/// The decompressed tar stream of a layer, with the compression actually used.
pub(crate) struct Decompressed<'a> {
    pub(crate) reader: BoundedReader<Box<dyn Read + 'a>>,
    pub(crate) compression: Compression,
}

/// Builds the decompressor over `source`, choosing it by magic bytes.
///
/// The magic wins over the declared media type, as in containerd and Docker: registries in
/// the wild mislabel layers (gzip under the plain `tar` type and vice versa), and the digest
/// already pins the bytes, so sniffing cannot be used to smuggle anything in.
pub(crate) fn decompress<'a, R: Read + 'a>(
    mut source: R,
    counter: Arc<AtomicU64>,
    limits: &Limits,
) -> Result<Decompressed<'a>, LayerError> {
    let (magic, n) = read_prefix::<R, 4>(&mut source)
        .map_err(|e| LayerError::from_stream(e, Compression::None))?;
    let prefix = magic.get(..n).unwrap_or_default().to_vec();
    let compression = Compression::sniff(&prefix);
    let chained = io::Cursor::new(prefix).chain(source);
    let (inner, counter): (Box<dyn Read + 'a>, _) = match compression {
        Compression::None => (Box::new(chained), None),
        Compression::Gzip => (
            // Multi-member: pigz and some builders write a layer as several gzip members.
            Box::new(flate2::read::MultiGzDecoder::new(chained)),
            Some(counter),
        ),
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(chained)
                .map_err(|e| LayerError::from_stream(e, Compression::Zstd))?;
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| LayerError::from_stream(e, Compression::Zstd))?;
            (Box::new(dec), Some(counter))
        }
    };
    Ok(Decompressed {
        reader: BoundedReader::new(inner, counter, limits),
        compression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_to_compression() {
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Compression::Gzip,
            ),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt).unwrap(), want, "{mt}");
        }
        for bad in [
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "",
        ] {
            assert!(matches!(
                Compression::from_media_type(bad),
                Err(LayerError::UnsupportedMediaType(_))
            ));
        }
    }

    #[test]
    fn sniffs_magic() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(Compression::sniff(&ZSTD_MAGIC), Compression::Zstd);
        assert_eq!(Compression::sniff(b"etc/"), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }

    #[test]
    fn digesting_reader_reports_mismatch() {
        let data = b"hello layer";
        let mut r = DigestingReader::new(&data[..], Some(Digest::sha256_of(b"other")));
        let mut first = [0u8; 4];
        r.read_exact(&mut first).unwrap();
        assert_eq!(r.consumed(), 4);
        match r.finish(1024) {
            Err(LayerError::DigestMismatch { actual, .. }) => {
                assert_eq!(actual, Digest::sha256_of(data))
            }
            other => panic!("expected mismatch, got {other:?}"),
        }
        let r = DigestingReader::new(&data[..], Some(Digest::sha256_of(data)));
        assert_eq!(r.finish(1024).unwrap(), Digest::sha256_of(data));
    }

    #[test]
    fn bounded_reader_stops_at_total() {
        let limits = Limits {
            max_total_bytes: 10,
            ..Limits::default()
        };
        let mut r = BoundedReader::new(&[0u8; 100][..], None, &limits);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert!(matches!(
            LayerError::from_stream(err, Compression::None),
            LayerError::TotalTooLarge { limit: 10 }
        ));
    }
}
