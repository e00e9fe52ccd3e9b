//! Hostile layers, generated here: each must fail cleanly with the error for the bound it
//! attacks, quickly and without large allocations. None of these touch `shared/`.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use berth_domain::Digest;
use berth_layer::{
    Compression, FileSelector, FsError, LayerError, Limits, index_tar, merge, read_layer,
    read_layer_sniffed,
};

const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn header(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; 512] {
    let mut b = [0u8; 512];
    let name = name.as_bytes();
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(b"0000644\0");
    if size < 8u64.pow(11) {
        b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        b[124] = 0x80;
        b[128..136].copy_from_slice(&size.to_be_bytes());
    }
    b[156] = typeflag;
    b[157..157 + link.len()].copy_from_slice(link.as_bytes());
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

fn push(tar: &mut Vec<u8>, name: &str, typeflag: u8, data: &[u8], link: &str) {
    tar.extend_from_slice(&header(name, typeflag, data.len() as u64, link));
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn end(tar: &mut Vec<u8>) {
    tar.extend_from_slice(&[0u8; 1024]);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn all() -> FileSelector {
    FileSelector::new(&["**"]).unwrap()
}

fn read(
    blob: &[u8],
    media_type: &str,
    limits: &Limits,
) -> Result<berth_layer::LayerIndex, LayerError> {
    read_layer(blob, media_type, None, &all(), limits)
}

/// Writes a tar with one entry of `size` zero bytes to `w`, streaming the zeros.
fn zero_file_tar(mut w: impl Write, size: u64) {
    w.write_all(&header("zeros", b'0', size, "")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    w.write_all(&[0u8; 1024]).unwrap();
}

#[test]
fn zstd_bomb_trips_the_ratio_with_default_limits() {
    // 4 GiB of zeros is ~130 KiB of zstd (zstd's ratio is unbounded, unlike deflate's).
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    zero_file_tar(&mut enc, 4 << 30);
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    let start = Instant::now();
    let err = read_layer(
        &bomb[..],
        TAR_ZSTD,
        None,
        &FileSelector::none(),
        &Limits::default(),
    )
    .unwrap_err();
    eprintln!(
        "zstd bomb of {} bytes: {err} after {:?}",
        bomb.len(),
        start.elapsed()
    );
    match err {
        LayerError::RatioExceeded {
            limit: 1000,
            uncompressed,
            ..
        } => assert!(uncompressed < 1 << 30, "stopped only at {uncompressed}"),
        other => panic!("expected RatioExceeded, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn gzip_bomb_trips_the_ratio() {
    // Deflate tops out near 1032:1, so a gzip bomb against the default 1000:1 only shows
    // after ~1 GiB (the decompressor's 32 KiB read-ahead blurs the ratio until then). A
    // 100:1 limit shows the same mechanism on 64 MiB of zeros (~64 KiB gzip'd).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    zero_file_tar(&mut enc, 64 << 20);
    let bomb = enc.finish().unwrap();
    let limits = Limits {
        max_ratio: 100,
        ..Limits::default()
    };
    match read_layer(&bomb[..], TAR_GZ, None, &FileSelector::none(), &limits).unwrap_err() {
        LayerError::RatioExceeded { uncompressed, .. } => assert!(uncompressed < 32 << 20),
        other => panic!("expected RatioExceeded, got {other:?}"),
    }
}

#[test]
fn escaping_and_absolute_paths() {
    for name in [
        "../../etc/passwd",
        "./a/../../x",
        "/../root/.ssh/authorized_keys",
    ] {
        let mut tar = Vec::new();
        push(&mut tar, name, b'0', b"owned", "");
        end(&mut tar);
        match read(&gzip(&tar), TAR_GZ, &Limits::default()) {
            Err(LayerError::PathEscapesRoot { path }) => assert!(path.contains("..")),
            other => panic!("{name}: expected PathEscapesRoot, got {other:?}"),
        }
    }
    let mut tar = Vec::new();
    push(&mut tar, "/etc/absolute", b'0', b"fine", "");
    push(&mut tar, "evil-hardlink", b'1', b"", "../../etc/shadow");
    end(&mut tar);
    assert!(matches!(
        read(&gzip(&tar), TAR_GZ, &Limits::default()),
        Err(LayerError::PathEscapesRoot { .. })
    ));
    let mut tar = Vec::new();
    push(&mut tar, "/etc/absolute", b'0', b"fine", "");
    end(&mut tar);
    let idx = read(&gzip(&tar), TAR_GZ, &Limits::default()).unwrap();
    assert!(idx.get("etc/absolute").is_some());
}

#[test]
fn symlinks_cannot_loop_or_escape() {
    let mut tar = Vec::new();
    push(&mut tar, "etc/shadow", b'0', b"image's own shadow", "");
    push(&mut tar, "a", b'2', b"", "b");
    push(&mut tar, "b", b'2', b"", "/a");
    push(
        &mut tar,
        "out-rel",
        b'2',
        b"",
        "../../../../../../etc/shadow",
    );
    push(&mut tar, "out-abs", b'2', b"", "/../../etc/shadow");
    push(
        &mut tar,
        "out-host",
        b'2',
        b"",
        "/proc/self/root/etc/hostname",
    );
    push(&mut tar, "deep", b'2', b"", "deep/deep/deep");
    end(&mut tar);
    let fs = merge(&[read(&gzip(&tar), TAR_GZ, &Limits::default()).unwrap()]);
    for p in ["a", "b", "deep", "deep/x"] {
        assert!(
            matches!(fs.read(p), Err(FsError::TooManyLinks { .. })),
            "{p}: {:?}",
            fs.read(p)
        );
    }
    // Escapes resolve to the image's own files, never the host's.
    assert_eq!(fs.read("out-rel").unwrap(), b"image's own shadow");
    assert_eq!(fs.read("out-abs").unwrap(), b"image's own shadow");
    assert!(matches!(fs.read("out-host"), Err(FsError::NotFound(_))));
}

#[test]
fn huge_entries() {
    // Declared 1 TiB: refused from the header alone, before reading anything.
    let mut tar = header("huge", b'0', 1 << 40, "").to_vec();
    tar.extend_from_slice(&[0u8; 4096]);
    assert!(matches!(
        read(&gzip(&tar), TAR_GZ, &Limits::default()),
        Err(LayerError::TotalTooLarge { .. })
    ));
    // Declared 1 GiB and selected: over the in-memory limit, refused before buffering.
    let mut tar = header("var/lib/dpkg/status", b'0', 1 << 30, "").to_vec();
    tar.extend_from_slice(&[0u8; 4096]);
    match read(&gzip(&tar), TAR_GZ, &Limits::default()) {
        Err(LayerError::FileTooLarge { path, size, limit }) => {
            assert_eq!(
                (path.as_str(), size, limit),
                ("var/lib/dpkg/status", 1 << 30, 64 << 20)
            );
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
    // Really 32 MiB, not selected, over an 8 MiB layer budget: streamed until the budget.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    zero_file_tar(&mut enc, 32 << 20);
    let blob = enc.finish().unwrap();
    let limits = Limits {
        max_total_bytes: 8 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        read_layer(&blob[..], TAR_GZ, None, &FileSelector::none(), &limits),
        Err(LayerError::TotalTooLarge { limit }) if limit == 8 << 20
    ));
}

fn small_layer() -> Vec<u8> {
    let mut tar = Vec::new();
    push(&mut tar, "etc/", b'5', b"", "");
    push(&mut tar, "etc/os-release", b'0', b"ID=test\n", "");
    push(&mut tar, "usr/lib/libx.so", b'0', &[0x5a; 20_000], "");
    end(&mut tar);
    tar
}

#[test]
fn truncated_gzip_and_zstd() {
    let gz = gzip(&small_layer());
    for cut in [gz.len() / 2, gz.len() - 4, 11] {
        match read(&gz[..cut], TAR_GZ, &Limits::default()) {
            Err(LayerError::Truncated {
                compression: Compression::Gzip,
                ..
            }) => {}
            other => panic!(
                "cut at {cut}/{}: expected Truncated, got {other:?}",
                gz.len()
            ),
        }
    }
    let zst = zstd::encode_all(&small_layer()[..], 3).unwrap();
    match read(&zst[..zst.len() - 5], TAR_ZSTD, &Limits::default()) {
        Err(LayerError::Truncated { .. } | LayerError::Corrupt { .. }) => {}
        other => panic!("expected a truncated zstd error, got {other:?}"),
    }
    // Uncompressed and cut inside an entry.
    let tar = small_layer();
    assert!(matches!(
        read(
            &tar[..2000],
            "application/vnd.oci.image.layer.v1.tar",
            &Limits::default()
        ),
        Err(LayerError::TruncatedArchive { .. })
    ));
}

#[test]
fn corrupt_gzip_crc() {
    let mut gz = gzip(&small_layer());
    let n = gz.len();
    gz[n - 6] ^= 0xff; // inside the CRC32 trailer
    assert!(matches!(
        read(&gz, TAR_GZ, &Limits::default()),
        Err(LayerError::Corrupt {
            compression: Compression::Gzip,
            ..
        })
    ));
}

/// Produces `count` empty-file headers on demand: a million-entry tar without building it.
struct ManyEntries {
    next: u64,
    count: u64,
    block: [u8; 512],
    pos: usize,
}

impl Read for ManyEntries {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == 512 {
            if self.next == self.count {
                return Ok(0);
            }
            self.block = header(&format!("f/{}", self.next), b'0', 0, "");
            self.next += 1;
            self.pos = 0;
        }
        let n = buf.len().min(512 - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_million_tiny_entries() {
    let lazy = |count| ManyEntries {
        next: 0,
        count,
        block: [0; 512],
        pos: 512,
    };
    let limits = Limits {
        max_entries: 10_000,
        ..Limits::default()
    };
    // Ten million entries offered; stopped at the limit without reading further.
    let start = Instant::now();
    let mut source = lazy(10_000_000);
    assert!(matches!(
        index_tar(&mut source, &FileSelector::none(), &limits),
        Err(LayerError::TooManyEntries { limit: 10_000 })
    ));
    assert!(source.next < 20_000, "read {} entries", source.next);
    assert!(start.elapsed() < Duration::from_secs(10));
    // Exactly at the limit is fine.
    let idx = index_tar(lazy(10_000), &FileSelector::none(), &limits).unwrap();
    assert_eq!(idx.entries().len(), 10_000);
}

#[test]
fn digest_mismatch_and_match() {
    let gz = gzip(&small_layer());
    let right = Digest::sha256_of(&gz);
    let idx = read_layer(&gz[..], TAR_GZ, Some(&right), &all(), &Limits::default()).unwrap();
    assert_eq!(idx.digest.as_ref(), Some(&right));
    let wrong = Digest::sha256_of(b"something else");
    match read_layer(&gz[..], TAR_GZ, Some(&wrong), &all(), &Limits::default()) {
        Err(LayerError::DigestMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (wrong, right));
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    // Bytes after the tar's end are still hashed: appending data changes the digest.
    let tar = small_layer();
    let mut padded = tar.clone();
    padded.extend_from_slice(&[0u8; 10_240]);
    let plain = "application/vnd.oci.image.layer.v1.tar";
    assert!(matches!(
        read_layer(
            &padded[..],
            plain,
            Some(&Digest::sha256_of(&tar)),
            &all(),
            &Limits::default()
        ),
        Err(LayerError::DigestMismatch { .. })
    ));
}

#[test]
fn media_types_and_sniffing() {
    let tar = small_layer();
    let gz = gzip(&tar);
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (blob, mt, want) in [
        (
            &tar,
            "application/vnd.oci.image.layer.v1.tar",
            Compression::None,
        ),
        (
            &gz,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Gzip,
        ),
        (&zst, TAR_ZSTD, Compression::Zstd),
        // Mislabelled: the magic wins.
        (
            &gz,
            "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip,
        ),
        (&zst, TAR_GZ, Compression::Zstd),
    ] {
        let idx = read(blob, mt, &Limits::default()).unwrap();
        assert_eq!(idx.compression, Some(want), "{mt}");
        assert_eq!(
            idx.get("etc/os-release").unwrap().contents.as_deref(),
            Some(&b"ID=test\n"[..])
        );
        assert_eq!(idx.uncompressed_bytes, tar.len() as u64);
    }
    assert!(matches!(
        read(
            &gz,
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            &Limits::default()
        ),
        Err(LayerError::UnsupportedMediaType(_))
    ));
}

#[test]
fn zstd_multiple_and_skippable_frames() {
    // zstd:chunked layers are many frames with skippable frames between them.
    let tar = small_layer();
    let (a, b) = tar.split_at(3000);
    let mut blob = zstd::encode_all(a, 3).unwrap();
    blob.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
    blob.extend_from_slice(&5u32.to_le_bytes());
    blob.extend_from_slice(b"skip!");
    blob.extend_from_slice(&zstd::encode_all(b, 3).unwrap());
    let idx = read(&blob, TAR_ZSTD, &Limits::default()).unwrap();
    assert_eq!(idx.uncompressed_bytes, tar.len() as u64);
    assert_eq!(
        idx.get("usr/lib/libx.so")
            .unwrap()
            .contents
            .as_ref()
            .unwrap()
            .len(),
        20_000
    );
}

#[test]
fn zstd_window_is_capped() {
    // A frame that declares a 2 GiB window (so a decoder would allocate it).
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(31))
        .unwrap();
    enc.set_parameter(zstd::zstd_safe::CParameter::EnableLongDistanceMatching(
        true,
    ))
    .unwrap();
    enc.include_contentsize(false).unwrap();
    enc.write_all(&small_layer()).unwrap();
    let blob = enc.finish().unwrap();
    match read(&blob, TAR_ZSTD, &Limits::default()) {
        Err(
            e @ LayerError::Corrupt {
                compression: Compression::Zstd,
                ..
            },
        ) => {
            let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
            assert!(chain.contains("memory"), "{chain}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn gzip_multiple_members() {
    // pigz and some builders write several gzip members; all of them are the layer.
    let tar = small_layer();
    let (a, b) = tar.split_at(5000);
    let mut blob = gzip(a);
    blob.extend_from_slice(&gzip(b));
    let idx = read(&blob, TAR_GZ, &Limits::default()).unwrap();
    assert_eq!(idx.uncompressed_bytes, tar.len() as u64);
    assert!(idx.get("usr/lib/libx.so").unwrap().contents.is_some());
}

#[test]
fn mutated_layers_never_panic() {
    // A cheap stand-in for the fuzzer: flip bytes of small valid layers and require an
    // orderly Ok or Err.
    let tar = small_layer();
    let inputs = [
        tar.clone(),
        gzip(&tar),
        zstd::encode_all(&tar[..], 3).unwrap(),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    for input in &inputs {
        for _ in 0..400 {
            let mut m = input.clone();
            for _ in 0..1 + rand() % 4 {
                let i = (rand() % m.len() as u64) as usize;
                m[i] = rand() as u8;
            }
            if rand() % 4 == 0 {
                m.truncate((rand() % m.len() as u64) as usize);
            }
            let _ = read_layer_sniffed(&m[..], None, &all(), &limits);
            let _ = index_tar(&m[..], &all(), &limits);
        }
    }
}
