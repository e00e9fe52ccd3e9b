//! The feed folder: the last good copy of each feed and what is known about it.
//!
//! Readers (the parsers, `berth`'s status output) may look at any time, also while an update
//! runs in another process, so nothing here is ever written in place: new data and new state
//! are written beside the old, fsynced, and renamed over it. A folder replacing a file (or the
//! reverse, or a folder replacing a folder) cannot be done with a plain rename; on Linux it is
//! one `renameat2(RENAME_EXCHANGE)`, elsewhere two renames with a moment in between where
//! `data` is missing. One process at a time updates a feed (an advisory lock on
//! `<name>/.lock`), which is also what makes it safe to delete temporary files a crashed
//! update left behind.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Outcome, UpdateError, valid_name};

const DATA: &str = "data";
const STATE: &str = "state.json";
const LOCK: &str = ".lock";
/// Prefix of everything an update writes before it is committed; deleted when found later.
const TMP_PREFIX: &str = ".tmp-";
/// Prefix of a replaced copy waiting to be deleted (the non-Linux replace path).
const OLD_PREFIX: &str = ".old-";
/// A state file is a few hundred bytes; anything much larger is not ours.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// Bounds on a folder given to `install`: real feeds have ~10^4 files a few levels deep.
const MAX_TREE_ENTRIES: usize = 2_000_000;
const MAX_TREE_DEPTH: usize = 64;
const COPY_BUF: usize = 256 * 1024;

/// What is known about one feed's stored copy, kept in `<name>/state.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct FeedState {
    pub name: String,
    /// Where the stored copy came from, redacted (see [`crate::redact_url`]); `file://...`
    /// after an [`FeedDir::install`]. When the configured URL changes, the validators below
    /// belong to the old one and are dropped.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Unix seconds of the last successful download, 304 or install: what [`crate::due`]
    /// schedules from.
    pub fetched_at: Option<u64>,
    /// Unix seconds of the last time the stored copy was replaced by different content.
    pub changed_at: Option<u64>,
    pub size: Option<u64>,
    /// sha256 of the stored file, or for a folder the fingerprint of its tree (every path,
    /// kind, size and file sha256, in sorted order): equal exactly when the content is.
    pub sha256: Option<String>,
    /// The current failure streak: cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<u64>,
    /// Consecutive failed updates (not HTTP attempts): drives the retry backoff in `due`.
    pub attempts: u32,
}

/// The root folder of all feeds (see the crate docs for the layout).
#[derive(Clone, Debug)]
pub struct FeedDir {
    root: PathBuf,
}

impl FeedDir {
    /// Opens (creating if needed) the feed root.
    pub fn open(root: &Path) -> Result<FeedDir, UpdateError> {
        fs::create_dir_all(root).map_err(|source| UpdateError::Io {
            feed: "*".to_owned(),
            what: "creating the feed folder",
            path: root.to_owned(),
            source,
        })?;
        Ok(FeedDir {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stored state of one feed; `None` if it was never updated.
    pub fn state(&self, name: &str) -> Result<Option<FeedState>, UpdateError> {
        check_name(name)?;
        read_state(name, &self.root.join(name).join(STATE))
    }

    /// Every feed with a state file, sorted by name. Folders that are not valid feed names
    /// are ignored: the root may be shared with other things.
    pub fn states(&self) -> Result<Vec<FeedState>, UpdateError> {
        let entries = fs::read_dir(&self.root).map_err(|source| UpdateError::Io {
            feed: "*".to_owned(),
            what: "listing",
            path: self.root.clone(),
            source,
        })?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| UpdateError::Io {
                feed: "*".to_owned(),
                what: "listing",
                path: self.root.clone(),
                source,
            })?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !valid_name(&name) {
                continue;
            }
            if let Some(state) = read_state(&name, &entry.path().join(STATE))? {
                out.push(state);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Where the parsers read a feed: a file, or a folder if it was installed from one. An
    /// invalid name gets a path that is never created, inside the root.
    pub fn data_path(&self, name: &str) -> PathBuf {
        if valid_name(name) {
            self.root.join(name).join(DATA)
        } else {
            self.root.join(".invalid-name").join(DATA)
        }
    }

    /// Install bytes from elsewhere (air-gapped import of a recorded file or folder): same
    /// atomic replace + validate + state update as a download. A folder is copied as given
    /// (regular files and folders only; a symlink or device inside is refused, so the stored
    /// copy cannot point outside itself). The validators (`etag`, `last_modified`) are
    /// dropped: they described what the server had, not what was installed.
    pub fn install(
        &self,
        name: &str,
        from: &Path,
        validate: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<Outcome, UpdateError> {
        check_name(name)?;
        let feed = self.lock(name)?;
        let mut state = feed.load_state();
        let shown = format!("file://{}", from.display());
        let result = install_into(&feed, from, &state, validate);
        if result.is_ok() {
            state.url = shown;
            state.etag = None;
            state.last_modified = None;
        }
        feed.finish(&mut state, result, crate::fetch::now_unix())
    }

    /// Takes the feed's lock (creating its folder) and clears what a crashed update left.
    pub(crate) fn lock(&self, name: &str) -> Result<FeedLock, UpdateError> {
        let dir = self.root.join(name);
        let io_err = |what, path: &Path, source| UpdateError::Io {
            feed: name.to_owned(),
            what,
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(&dir).map_err(|e| io_err("creating", &dir, e))?;
        let lock_path = dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err("opening the lock", &lock_path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(UpdateError::Busy {
                    feed: name.to_owned(),
                    path: lock_path,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("locking", &lock_path, e)),
        }
        let lock = FeedLock {
            name: name.to_owned(),
            dir,
            _file: file,
        };
        lock.remove_leftovers();
        Ok(lock)
    }
}

fn check_name(name: &str) -> Result<(), UpdateError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(UpdateError::BadName {
            name: name.chars().take(120).collect(),
        })
    }
}

fn read_state(name: &str, path: &Path) -> Result<Option<FeedState>, UpdateError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(UpdateError::Io {
                feed: name.to_owned(),
                what: "reading",
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|source| UpdateError::Io {
            feed: name.to_owned(),
            what: "reading",
            path: path.to_owned(),
            source,
        })?;
    let mut state: FeedState =
        serde_json::from_slice(&bytes).map_err(|source| UpdateError::State {
            feed: name.to_owned(),
            path: path.to_owned(),
            source,
        })?;
    // The folder name is the truth; a copied state file must not rename a feed.
    state.name = name.to_owned();
    Ok(Some(state))
}

/// One feed's folder while this process holds its lock (released on drop).
pub(crate) struct FeedLock {
    pub(crate) name: String,
    dir: PathBuf,
    _file: File,
}

impl FeedLock {
    pub(crate) fn data_path(&self) -> PathBuf {
        self.dir.join(DATA)
    }

    pub(crate) fn has_data(&self) -> bool {
        fs::symlink_metadata(self.data_path()).is_ok()
    }

    pub(crate) fn io_err(&self, what: &'static str, path: &Path, source: io::Error) -> UpdateError {
        UpdateError::Io {
            feed: self.name.clone(),
            what,
            path: path.to_owned(),
            source,
        }
    }

    /// The stored state, or a fresh one. A damaged state file costs one full download, not
    /// a stuck feed, so it is replaced rather than reported here.
    pub(crate) fn load_state(&self) -> FeedState {
        match read_state(&self.name, &self.dir.join(STATE)) {
            Ok(Some(s)) => s,
            Ok(None) => FeedState {
                name: self.name.clone(),
                ..FeedState::default()
            },
            Err(e) => {
                tracing::warn!(feed = %self.name, error = %e.chain(), "starting from a fresh state");
                FeedState {
                    name: self.name.clone(),
                    ..FeedState::default()
                }
            }
        }
    }

    pub(crate) fn save_state(&self, state: &FeedState) -> Result<(), UpdateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| {
            self.io_err("serializing the state for", &self.dir, io::Error::other(e))
        })?;
        let (tmp, mut file) = self.temp_file()?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io_err("writing", tmp.path(), e))?;
        let target = self.dir.join(STATE);
        fs::rename(tmp.path(), &target)
            .map_err(|e| self.io_err("renaming into place", &target, e))?;
        tmp.disarm();
        sync_dir(&self.dir).map_err(|e| self.io_err("syncing", &self.dir, e))
    }

    /// Records the result of an update or install in the state file and passes it on. A
    /// failure counts one attempt whatever the number of HTTP retries inside it.
    pub(crate) fn finish(
        &self,
        state: &mut FeedState,
        result: Result<Outcome, UpdateError>,
        now: u64,
    ) -> Result<Outcome, UpdateError> {
        match result {
            Ok(outcome) => {
                state.fetched_at = Some(now);
                if let Outcome::Updated { size, sha256 } = &outcome {
                    state.size = Some(*size);
                    state.sha256 = Some(sha256.clone());
                    state.changed_at = Some(now);
                }
                state.last_error = None;
                state.last_error_at = None;
                state.attempts = 0;
                self.save_state(state)?;
                Ok(outcome)
            }
            Err(e) => {
                state.last_error = Some(e.chain());
                state.last_error_at = Some(now);
                state.attempts = state.attempts.saturating_add(1);
                if let Err(save) = self.save_state(state) {
                    tracing::error!(feed = %self.name, error = %save.chain(), "cannot record the failure");
                }
                Err(e)
            }
        }
    }

    /// A new, empty temporary file in the feed folder (same filesystem as `data`, so the
    /// final rename is atomic), deleted when the guard drops unless disarmed.
    pub(crate) fn temp_file(&self) -> Result<(TempPath, File), UpdateError> {
        let path = self.dir.join(unique_name(TMP_PREFIX));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| self.io_err("creating", &path, e))?;
        Ok((TempPath { path: Some(path) }, file))
    }

    fn temp_dir(&self) -> Result<TempPath, UpdateError> {
        let path = self.dir.join(unique_name(TMP_PREFIX));
        fs::create_dir(&path).map_err(|e| self.io_err("creating", &path, e))?;
        Ok(TempPath { path: Some(path) })
    }

    /// Makes `new` (already fsynced) the stored copy.
    pub(crate) fn commit(&self, new: TempPath) -> Result<(), UpdateError> {
        let data = self.data_path();
        replace(&self.dir, new.path(), &data).map_err(|e| self.io_err("replacing", &data, e))?;
        // After an exchange `new` names the old copy; either way the guard deletes what is
        // left there.
        drop(new);
        Ok(())
    }

    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) || name.starts_with(OLD_PREFIX) {
                let path = entry.path();
                tracing::debug!(feed = %self.name, path = %path.display(), "removing a leftover");
                if let Err(e) = remove_any(&path) {
                    tracing::warn!(feed = %self.name, path = %path.display(), error = %e, "cannot remove a leftover");
                }
            }
        }
    }
}

/// A temporary file or folder, removed on drop unless [`TempPath::disarm`]ed.
pub(crate) struct TempPath {
    path: Option<PathBuf>,
}

impl TempPath {
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.path.take()
            && let Err(e) = remove_any(&p)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "cannot remove a temporary file");
        }
    }
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos}", std::process::id())
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Puts `new` at `data`; afterwards `new` is gone or holds the previous copy.
fn replace(dir: &Path, new: &Path, data: &Path) -> io::Result<()> {
    let new_is_dir = fs::symlink_metadata(new)?.is_dir();
    match fs::symlink_metadata(data) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(new, data)?,
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() && !new_is_dir => fs::rename(new, data)?,
        Ok(_) => {
            if !exchange(new, data)? {
                let old = dir.join(unique_name(OLD_PREFIX));
                fs::rename(data, &old)?;
                if let Err(e) = fs::rename(new, data) {
                    let _ = fs::rename(&old, data);
                    return Err(e);
                }
                if let Err(e) = remove_any(&old) {
                    tracing::warn!(path = %old.display(), error = %e, "cannot remove the replaced copy");
                }
            }
        }
    }
    sync_dir(dir)
}

/// Atomically swaps two paths; `Ok(false)` where the kernel or filesystem cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
    };
    let (a, b) = (cstr(a)?, cstr(b)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call; the
    // syscall only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}

fn install_into(
    feed: &FeedLock,
    from: &Path,
    state: &FeedState,
    validate: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<Outcome, UpdateError> {
    let bad = |reason: String| UpdateError::BadInstallSource {
        feed: feed.name.clone(),
        path: from.to_owned(),
        reason,
    };
    let meta = fs::metadata(from).map_err(|e| feed.io_err("reading", from, e))?;
    let (tmp, size, sha256) = if meta.is_file() {
        let (tmp, mut out) = feed.temp_file()?;
        let mut input = File::open(from).map_err(|e| feed.io_err("reading", from, e))?;
        let (size, digest) =
            copy_hashing(&mut input, &mut out).map_err(|e| feed.io_err("copying", from, e))?;
        out.sync_all()
            .map_err(|e| feed.io_err("syncing", tmp.path(), e))?;
        (tmp, size, hex(&digest))
    } else if meta.is_dir() {
        let tmp = feed.temp_dir()?;
        let mut tree = Tree {
            hasher: Sha256::new(),
            size: 0,
            entries: 0,
        };
        tree.copy(from, tmp.path(), &mut Vec::new(), 0)
            .and_then(|()| {
                sync_dir(tmp.path()).map_err(|e| TreeError::Io("syncing", tmp.path().to_owned(), e))
            })
            .map_err(|e| match e {
                TreeError::Bad(reason) => bad(reason),
                TreeError::Io(what, path, source) => feed.io_err(what, &path, source),
            })?;
        (tmp, tree.size, hex(&tree.hasher.finalize()))
    } else {
        return Err(bad("not a regular file or folder".to_owned()));
    };
    if feed.has_data() && state.sha256.as_deref() == Some(sha256.as_str()) {
        return Ok(Outcome::Unchanged);
    }
    validate(tmp.path()).map_err(|reason| UpdateError::Invalid {
        feed: feed.name.clone(),
        source_desc: from.display().to_string(),
        reason: bounded_reason(reason),
    })?;
    feed.commit(tmp)?;
    Ok(Outcome::Updated { size, sha256 })
}

pub(crate) fn bounded_reason(mut reason: String) -> String {
    if reason.len() > 1000 {
        let mut cut = 1000;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn copy_hashing(input: &mut impl Read, out: &mut File) -> io::Result<(u64, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((total, hasher.finalize().to_vec()))
}

enum TreeError {
    Bad(String),
    Io(&'static str, PathBuf, io::Error),
}

/// Copies a folder while computing its fingerprint: for every entry in sorted order, its
/// kind, relative path (raw bytes, NUL-terminated) and, for files, size and sha256.
struct Tree {
    hasher: Sha256,
    size: u64,
    entries: usize,
}

impl Tree {
    fn copy(
        &mut self,
        src: &Path,
        dst: &Path,
        rel: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), TreeError> {
        if depth > MAX_TREE_DEPTH {
            return Err(TreeError::Bad(format!(
                "more than {MAX_TREE_DEPTH} nested folders"
            )));
        }
        let read = fs::read_dir(src).map_err(|e| TreeError::Io("listing", src.to_owned(), e))?;
        let mut names: Vec<OsString> = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| TreeError::Io("listing", src.to_owned(), e))?;
            self.entries += 1;
            if self.entries > MAX_TREE_ENTRIES {
                return Err(TreeError::Bad(format!(
                    "more than {MAX_TREE_ENTRIES} entries"
                )));
            }
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let from = src.join(&name);
            let to = dst.join(&name);
            let meta = fs::symlink_metadata(&from)
                .map_err(|e| TreeError::Io("reading", from.clone(), e))?;
            let mark = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.as_encoded_bytes());
            if meta.is_dir() {
                self.hasher.update(b"d\0");
                self.hasher.update(&*rel);
                self.hasher.update(b"\0");
                fs::create_dir(&to).map_err(|e| TreeError::Io("creating", to.clone(), e))?;
                self.copy(&from, &to, rel, depth + 1)?;
                sync_dir(&to).map_err(|e| TreeError::Io("syncing", to.clone(), e))?;
            } else if meta.is_file() {
                let mut input =
                    File::open(&from).map_err(|e| TreeError::Io("reading", from.clone(), e))?;
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&to)
                    .map_err(|e| TreeError::Io("creating", to.clone(), e))?;
                let (size, digest) = copy_hashing(&mut input, &mut out)
                    .map_err(|e| TreeError::Io("copying", from.clone(), e))?;
                out.sync_all()
                    .map_err(|e| TreeError::Io("syncing", to.clone(), e))?;
                self.size += size;
                self.hasher.update(b"f\0");
                self.hasher.update(&*rel);
                self.hasher.update(b"\0");
                self.hasher.update(size.to_be_bytes());
                self.hasher.update(&digest);
            } else {
                let kind = if meta.file_type().is_symlink() {
                    "a symlink"
                } else {
                    "not a regular file or folder"
                };
                return Err(TreeError::Bad(format!(
                    "{} is {kind}",
                    String::from_utf8_lossy(rel)
                )));
            }
            rel.truncate(mark);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder swap must be the atomic one where it can be: a plain rename cannot replace
    /// a non-empty folder, and the fallback leaves a moment without `data`.
    #[cfg(target_os = "linux")]
    #[test]
    fn exchange_swaps_a_file_and_a_folder() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::write(&a, b"file").unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(b.join("x"), b"inside").unwrap();
        assert!(exchange(&a, &b).unwrap());
        assert_eq!(fs::read(a.join("x")).unwrap(), b"inside");
        assert_eq!(fs::read(&b).unwrap(), b"file");
    }
}
