//! The filesystem backend.
//!
//! Layout under the root: `blobs/<algorithm>/<first two hex>/<hex>` for blobs and
//! `uploads/<uuid>` for sessions. Finishing an upload is fsync the file, verify the digest,
//! hard-link it into place (atomic on POSIX), fsync the directory: after a crash a blob path
//! either holds the whole verified blob or does not exist.
//!
//! Writes go through a blocking thread fed by a small bounded channel while the request task
//! hashes, so hashing and disk writes overlap and memory per upload stays constant.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_domain::{Algorithm, Digest, Hasher};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::Mutex as AsyncMutex;

use crate::{AppendLimits, BlobContent, BlobError, BlobStore, ByteStream, UploadId};

/// Blobs up to this size are read in one call and served from memory.
const WHOLE_READ_MAX: u64 = 256 * 1024;
const READ_CHUNK: usize = 256 * 1024;
const WRITE_BUFFER: usize = 128 * 1024;
/// Kernel writeback is started after this many bytes, so the fsync that finishes an upload
/// waits only for the tail instead of the whole blob.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;
/// Chunks in flight between the request task and the writer thread.
const WRITE_QUEUE: usize = 2;

/// The running hash of an upload, valid for the first `offset` bytes.
#[derive(Clone)]
struct HashState {
    offset: u64,
    hasher: Hasher,
}

#[derive(Default)]
struct Session {
    hash: Option<HashState>,
}

pub struct FsBlobStore {
    root: PathBuf,
    sessions: Mutex<HashMap<UploadId, Arc<AsyncMutex<Session>>>>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Worker(e.to_string()))?
}

fn not_found_as(e: io::Error, as_: BlobError) -> BlobError {
    if e.kind() == io::ErrorKind::NotFound {
        as_
    } else {
        BlobError::Io(e)
    }
}

/// Asks the kernel to start writing the file's dirty pages without waiting for them.
#[cfg(target_os = "linux")]
fn start_writeback(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the call only schedules I/O. Failure is harmless: the
    // fsync at the end still makes the data durable.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File) {}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn hash_file(path: &Path, algorithm: Algorithm) -> Result<(Digest, u64), BlobError> {
    let mut f = File::open(path).map_err(|e| not_found_as(e, BlobError::UploadNotFound))?;
    let mut h = Hasher::new(algorithm);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        n_total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finish(), n_total))
}

impl FsBlobStore {
    /// Opens the store, creating its folders.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore {
            root,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn upload_path(&self, id: UploadId) -> PathBuf {
        self.root.join("uploads").join(id.to_string())
    }

    fn session(&self, id: UploadId) -> Arc<AsyncMutex<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    fn forget(&self, id: UploadId) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError> {
        let path = self.blob_path(digest);
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    async fn get(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<BlobContent, BlobError> {
        let path = self.blob_path(digest);
        let (file, start, len, whole) = blocking(move || {
            let mut f = File::open(&path).map_err(|e| not_found_as(e, BlobError::NotFound))?;
            let size = f.metadata()?.len();
            let (start, len) = match range {
                Some((s, e)) if s <= e && e < size => (s, e - s + 1),
                Some(_) => {
                    return Err(BlobError::Io(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "range outside blob",
                    )));
                }
                None => (0, size),
            };
            if len <= WHOLE_READ_MAX {
                let mut buf = vec![0u8; len as usize];
                f.seek(SeekFrom::Start(start))?;
                f.read_exact(&mut buf)?;
                return Ok((None, start, len, Some(Bytes::from(buf))));
            }
            Ok((Some(f), start, len, None))
        })
        .await?;
        if let Some(b) = whole {
            return Ok(BlobContent::Whole(b));
        }
        let file = file.expect("file for streamed read");
        // A blocking reader thread feeding a bounded channel: one thread hop per 256 KiB
        // instead of one per tokio::fs read call.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let mut f = file;
            if let Err(e) = f.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let mut left = len;
            while left > 0 {
                let want = left.min(READ_CHUNK as u64) as usize;
                let mut buf = BytesMut::zeroed(want);
                match f.read_exact(&mut buf) {
                    Ok(()) => {
                        left -= want as u64;
                        if tx.blocking_send(Ok(buf.freeze())).is_err() {
                            return; // client went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(BlobContent::Stream {
            len,
            stream: stream.boxed(),
        })
    }

    async fn upload_start(&self, id: UploadId) -> Result<(), BlobError> {
        let path = self.upload_path(id);
        blocking(move || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            Ok(())
        })
        .await?;
        *self.session(id).lock().await = Session {
            hash: Some(HashState {
                offset: 0,
                hasher: Hasher::new(Algorithm::Sha256),
            }),
        };
        Ok(())
    }

    async fn upload_offset(&self, id: UploadId) -> Result<Option<u64>, BlobError> {
        let session = self.session(id);
        let _guard = session.lock().await;
        let path = self.upload_path(id);
        let r = blocking(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await;
        if matches!(r, Ok(None)) {
            self.forget(id);
        }
        r
    }

    async fn upload_list(&self) -> Result<Vec<(UploadId, SystemTime)>, BlobError> {
        let dir = self.root.join("uploads");
        blocking(move || {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                // Anything not named like a session is not ours to judge.
                let Some(id) = entry.file_name().to_str().and_then(UploadId::parse) else {
                    continue;
                };
                match entry.metadata() {
                    Ok(m) => out.push((id, m.modified()?)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn upload_modified(&self, id: UploadId) -> Result<Option<SystemTime>, BlobError> {
        let path = self.upload_path(id);
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.modified()?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    async fn upload_append(
        &self,
        id: UploadId,
        start: Option<u64>,
        body: ByteStream,
        limits: AppendLimits,
    ) -> Result<u64, BlobError> {
        let session = self.session(id);
        let path = self.upload_path(id);
        // Run detached from the request future: if the client disconnects, hyper drops the
        // handler, but the rollback below must still run to keep the append all-or-nothing.
        let task = tokio::spawn(async move {
            let mut s = session.lock().await;
            append(&mut s, path, start, body, limits).await
        });
        task.await.map_err(|e| BlobError::Worker(e.to_string()))?
    }

    async fn upload_finish(&self, id: UploadId, expected: &Digest) -> Result<u64, BlobError> {
        let session = self.session(id);
        let s = session.lock().await;
        let path = self.upload_path(id);
        let p = path.clone();
        let len = blocking(move || {
            let f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| not_found_as(e, BlobError::UploadNotFound))?;
            f.sync_all()?;
            Ok(f.metadata()?.len())
        })
        .await?;
        let actual = match &s.hash {
            Some(h) if h.offset == len && h.hasher.algorithm() == expected.algorithm() => {
                h.hasher.clone().finish()
            }
            _ => {
                let (p, alg) = (path.clone(), expected.algorithm());
                let (d, _) = blocking(move || hash_file(&p, alg)).await?;
                d
            }
        };
        if &actual != expected {
            return Err(BlobError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        let target = self.blob_path(expected);
        blocking(move || {
            if target.exists() {
                return Ok(());
            }
            let dir = target.parent().expect("blob path has a parent");
            let created = !dir.exists();
            std::fs::create_dir_all(dir)?;
            // A hard link, not a rename: the session keeps its file until the caller has
            // recorded the blob, so a crash in between leaves a finishable upload.
            match std::fs::hard_link(&path, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
            sync_dir(dir)?;
            if created && let Some(up) = dir.parent() {
                sync_dir(up)?;
            }
            Ok(())
        })
        .await?;
        Ok(len)
    }

    async fn upload_abort(&self, id: UploadId) -> Result<(), BlobError> {
        let session = self.session(id);
        let _s = session.lock().await;
        let path = self.upload_path(id);
        let r = blocking(move || {
            std::fs::remove_file(&path).map_err(|e| not_found_as(e, BlobError::UploadNotFound))
        })
        .await;
        self.forget(id);
        r
    }
}

async fn append(
    s: &mut Session,
    path: PathBuf,
    start: Option<u64>,
    mut body: ByteStream,
    limits: AppendLimits,
) -> Result<u64, BlobError> {
    let p = path.clone();
    let (file, current) = blocking(move || {
        let f = OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(|e| not_found_as(e, BlobError::UploadNotFound))?;
        let meta = f.metadata()?;
        // More than one link: the upload was already published as a blob (the caller crashed
        // before discarding it). Appending would change the blob's bytes.
        if meta.nlink() > 1 {
            return Err(BlobError::UploadCompleted);
        }
        Ok((f, meta.len()))
    })
    .await?;
    if let Some(requested) = start
        && requested != current
    {
        return Err(BlobError::OffsetMismatch { current, requested });
    }
    let saved = s.hash.clone();
    let mut hash = saved.clone().filter(|h| h.offset == current);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<File> {
        let mut w = io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut unsynced = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            w.write_all(&chunk)?;
            unsynced += chunk.len() as u64;
            if unsynced >= WRITEBACK_EVERY {
                w.flush()?;
                start_writeback(w.get_ref());
                unsynced = 0;
            }
        }
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())
    });

    let mut received = 0u64;
    let mut failure: Option<BlobError> = None;
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if let Some(max) = limits.max_total
                    && current + received > max
                {
                    failure = Some(BlobError::TooLarge(max));
                    break;
                }
                if let Some(exact) = limits.exact_len
                    && received > exact
                {
                    failure = Some(BlobError::LengthMismatch {
                        declared: exact,
                        received,
                    });
                    break;
                }
                if let Some(h) = hash.as_mut() {
                    h.hasher.update(&chunk);
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(BlobError::Body(e));
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| BlobError::Worker(e.to_string()))?;
    if failure.is_none() {
        if let Err(e) = &written {
            failure = Some(BlobError::Io(io::Error::new(e.kind(), e.to_string())));
        } else if let Some(exact) = limits.exact_len
            && received != exact
        {
            failure = Some(BlobError::LengthMismatch {
                declared: exact,
                received,
            });
        }
    }
    if let Some(err) = failure {
        // Roll back to where this append started.
        drop(written);
        blocking(move || {
            Ok(OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(current)?)
        })
        .await?;
        s.hash = saved;
        return Err(err);
    }
    let new_offset = current + received;
    s.hash = hash.map(|mut h| {
        h.offset = new_offset;
        h
    });
    Ok(new_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<Result<&'static [u8], io::Error>>) -> ByteStream {
        futures::stream::iter(chunks.into_iter().map(|c| c.map(Bytes::from_static))).boxed()
    }

    async fn read_all(store: &FsBlobStore, d: &Digest) -> Vec<u8> {
        match store.get(d, None).await.unwrap() {
            BlobContent::Whole(b) => b.to_vec(),
            BlobContent::Stream { mut stream, .. } => {
                let mut v = Vec::new();
                while let Some(c) = stream.next().await {
                    v.extend_from_slice(&c.unwrap());
                }
                v
            }
        }
    }

    #[tokio::test]
    async fn chunked_upload_becomes_visible_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let id = UploadId::random();
        store.upload_start(id).await.unwrap();
        assert_eq!(
            store
                .upload_append(
                    id,
                    Some(0),
                    body(vec![Ok(b"hello ")]),
                    AppendLimits::default()
                )
                .await
                .unwrap(),
            6
        );
        let d = Digest::sha256_of(b"hello world");
        assert_eq!(store.stat(&d).await.unwrap(), None);
        let err = store
            .upload_append(id, Some(0), body(vec![Ok(b"x")]), AppendLimits::default())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            BlobError::OffsetMismatch {
                current: 6,
                requested: 0
            }
        ));
        store
            .upload_append(id, None, body(vec![Ok(b"world")]), AppendLimits::default())
            .await
            .unwrap();
        let wrong = Digest::sha256_of(b"nope");
        assert!(matches!(
            store.upload_finish(id, &wrong).await,
            Err(BlobError::DigestMismatch { .. })
        ));
        assert_eq!(store.upload_finish(id, &d).await.unwrap(), 11);
        assert_eq!(read_all(&store, &d).await, b"hello world");
        // Until discarded, the finished session can be finished again but not appended to:
        // appending would write into the published blob through the shared inode.
        assert_eq!(store.upload_offset(id).await.unwrap(), Some(11));
        assert!(matches!(
            store
                .upload_append(id, None, body(vec![Ok(b"!")]), AppendLimits::default())
                .await,
            Err(BlobError::UploadCompleted)
        ));
        assert_eq!(store.upload_finish(id, &d).await.unwrap(), 11);
        store.upload_abort(id).await.unwrap();
        assert_eq!(store.upload_offset(id).await.unwrap(), None);
        assert_eq!(read_all(&store, &d).await, b"hello world");
    }

    #[tokio::test]
    async fn failed_append_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let id = UploadId::random();
        store.upload_start(id).await.unwrap();
        store
            .upload_append(id, None, body(vec![Ok(b"abc")]), AppendLimits::default())
            .await
            .unwrap();
        let broken = body(vec![
            Ok(b"def"),
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof")),
        ]);
        assert!(matches!(
            store
                .upload_append(id, None, broken, AppendLimits::default())
                .await,
            Err(BlobError::Body(_))
        ));
        let short = AppendLimits {
            exact_len: Some(10),
            max_total: None,
        };
        assert!(matches!(
            store
                .upload_append(id, None, body(vec![Ok(b"def")]), short)
                .await,
            Err(BlobError::LengthMismatch {
                declared: 10,
                received: 3
            })
        ));
        let capped = AppendLimits {
            exact_len: None,
            max_total: Some(4),
        };
        assert!(matches!(
            store
                .upload_append(id, None, body(vec![Ok(b"def")]), capped)
                .await,
            Err(BlobError::TooLarge(4))
        ));
        assert_eq!(store.upload_offset(id).await.unwrap(), Some(3));
        assert_eq!(
            store
                .upload_finish(id, &Digest::sha256_of(b"abc"))
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn resumes_after_restart_and_supports_sha512_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let id = UploadId::random();
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let leaked: &'static [u8] = Box::leak(data.clone().into_boxed_slice());
        {
            let store = FsBlobStore::open(dir.path()).unwrap();
            store.upload_start(id).await.unwrap();
            store
                .upload_append(
                    id,
                    None,
                    body(vec![Ok(&leaked[..1000])]),
                    AppendLimits::default(),
                )
                .await
                .unwrap();
        }
        let store = FsBlobStore::open(dir.path()).unwrap(); // a "restart": no in-memory state
        assert_eq!(store.upload_offset(id).await.unwrap(), Some(1000));
        store
            .upload_append(
                id,
                Some(1000),
                body(vec![Ok(&leaked[1000..])]),
                AppendLimits::default(),
            )
            .await
            .unwrap();
        let d = Digest::of(Algorithm::Sha512, &data);
        assert_eq!(
            store.upload_finish(id, &d).await.unwrap(),
            data.len() as u64
        );
        assert_eq!(read_all(&store, &d).await, data);
        match store.get(&d, Some((10, 19))).await.unwrap() {
            BlobContent::Whole(b) => assert_eq!(&b[..], &data[10..20]),
            BlobContent::Stream { .. } => panic!("small range should be read whole"),
        }
    }
}
