//! The data folder of the vulnerability database: raw feeds, builds and the current pointer;
//! rebuilding, importing, exporting and status.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use berth_feeds::{Limits, Parsed};
use berth_updater::{FeedDir, FeedState, Outcome};

use crate::db::{Db, FeedInfo, FeedPart};
use crate::{VulnDbError, file};

/// Builds kept besides the current one (the previous build, for diffs and rollback).
const KEEP_BUILDS: usize = 2;

/// A node's vulnerability database.
pub struct VulnDb {
    root: PathBuf,
    feeds: FeedDir,
    current: RwLock<Option<Arc<Db>>>,
    /// The `current` pointer's modification time when it was loaded, to notice another
    /// process (a CLI import) installing a build.
    loaded_at: Mutex<Option<SystemTime>>,
    building: Mutex<()>,
}

/// What a rebuild did.
#[derive(Debug)]
pub struct Rebuilt {
    pub db: Arc<Db>,
    /// False when the content equals the current build (nothing installed).
    pub installed: bool,
    /// Feeds whose new data failed to parse (their last good advisories were kept).
    pub errors: Vec<(String, String)>,
}

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    /// Feeds installed (name, outcome) or failed (name, error).
    pub feeds: Vec<(String, Result<bool, String>)>,
    pub rebuilt: Option<Rebuilt>,
    /// Set when the import was a database bundle.
    pub bundle: Option<Arc<Db>>,
}

/// One feed as `berth vulndb status` shows it.
#[derive(Debug, Clone)]
pub struct FeedStatus {
    pub state: FeedState,
    /// The feed's part of the current build.
    pub info: Option<FeedInfo>,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub header: Option<crate::Header>,
    pub file_size: Option<u64>,
    pub feeds: Vec<FeedStatus>,
}

impl VulnDb {
    /// Opens (creating) the database folder and loads the current build, if any.
    pub fn open(root: &Path) -> Result<VulnDb, VulnDbError> {
        let io = |e| VulnDbError::Io(root.display().to_string(), e);
        fs::create_dir_all(root.join("builds")).map_err(io)?;
        let feeds = FeedDir::open(&root.join("feeds"))?;
        let db = VulnDb {
            root: root.to_owned(),
            feeds,
            current: RwLock::new(None),
            loaded_at: Mutex::new(None),
            building: Mutex::new(()),
        };
        db.reload()?;
        Ok(db)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn feeds(&self) -> &FeedDir {
        &self.feeds
    }

    /// The build in use.
    pub fn current(&self) -> Option<Arc<Db>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn pointer(&self) -> PathBuf {
        self.root.join("current")
    }

    fn build_path(&self, id: &str) -> PathBuf {
        self.root.join("builds").join(format!("{id}.bvdb"))
    }

    /// Loads the build named by `current` when it changed since the last load (another
    /// process may have imported one). Returns whether a different build is now in use.
    pub fn reload(&self) -> Result<bool, VulnDbError> {
        let pointer = self.pointer();
        let mtime = match fs::metadata(&pointer) {
            Ok(m) => m.modified().ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(VulnDbError::Io(pointer.display().to_string(), e)),
        };
        if *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) == mtime
            && self.current().is_some()
        {
            return Ok(false);
        }
        let id = fs::read_to_string(&pointer)
            .map_err(|e| VulnDbError::Io(pointer.display().to_string(), e))?;
        let id = id.trim();
        if self.current().is_some_and(|c| c.header().id == id) {
            *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) = mtime;
            return Ok(false);
        }
        let db = file::read(&self.build_path(id))?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
        *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) = mtime;
        Ok(true)
    }

    /// Builds from the stored feeds. Feeds whose data is unchanged since the current build
    /// are taken from it without parsing; `fresh` holds feeds parsed moments ago (by an
    /// import or update's validation) so they are not parsed twice.
    pub fn rebuild(
        &self,
        limits: &Limits,
        mut fresh: HashMap<String, Parsed>,
    ) -> Result<Rebuilt, VulnDbError> {
        let _one = self.building.lock().unwrap_or_else(|p| p.into_inner());
        self.reload()?;
        let previous = self.current();
        let states = self.feeds.states()?;
        // Nothing new (every feed's data is what the current build was made from): the
        // current build stands, without copying a single advisory.
        if let Some(prev) = &previous
            && fresh.is_empty()
        {
            let with_data: Vec<(&str, String)> = states
                .iter()
                .filter_map(|s| Some((s.name.as_str(), fingerprint_of(s.sha256.as_deref()?))))
                .collect();
            let feeds = &prev.header().feeds;
            if with_data.len() == feeds.len()
                && with_data.iter().all(|(name, fp)| {
                    feeds
                        .iter()
                        .any(|f| f.name == *name && &f.fingerprint == fp && f.error.is_none())
                })
            {
                return Ok(Rebuilt {
                    db: prev.clone(),
                    installed: false,
                    errors: Vec::new(),
                });
            }
        }
        let mut parts = Vec::new();
        let mut errors = Vec::new();
        for state in states {
            let Some(fingerprint) = state.sha256.as_deref().map(fingerprint_of) else {
                continue;
            };
            let name = state.name.clone();
            let old = previous.as_ref().and_then(|p| p.feed_part(&name));
            if let Some(old) = &old
                && old.info.fingerprint == fingerprint
                && old.info.error.is_none()
                && !fresh.contains_key(&name)
            {
                parts.push(old.clone());
                continue;
            }
            let parsed = match fresh.remove(&name) {
                Some(p) => Ok(p),
                None => berth_feeds::parse_path(&name, &self.feeds.data_path(&name), limits)
                    .map_err(|e| e.to_string()),
            };
            match parsed {
                Ok(p) => parts.push(FeedPart {
                    info: FeedInfo {
                        name: name.clone(),
                        fingerprint,
                        advisories: 0,
                        enrichments: 0,
                        skipped: p.skipped,
                        malformed: p.malformed,
                        error: None,
                    },
                    advisories: p.advisories,
                    enrichments: p.enrichments,
                }),
                Err(e) => {
                    tracing::warn!(feed = %name, error = %e, "feed data failed to parse; keeping the last good data");
                    errors.push((name.clone(), e.clone()));
                    if let Some(mut old) = old {
                        old.info.error = Some(e);
                        parts.push(old);
                    }
                }
            }
        }
        let created = berth_domain::time::rfc3339(unix_now());
        let db = Db::build(parts, &created, previous.as_deref());
        if previous
            .as_ref()
            .is_some_and(|p| p.header().digest == db.header().digest && errors.is_empty())
        {
            return Ok(Rebuilt {
                db: previous.unwrap_or_else(|| Arc::new(db)),
                installed: false,
                errors,
            });
        }
        let db = Arc::new(db);
        self.install(db.clone())?;
        Ok(Rebuilt {
            db,
            installed: true,
            errors,
        })
    }

    /// Writes a build and makes it current; prunes old builds.
    fn install(&self, db: Arc<Db>) -> Result<(), VulnDbError> {
        let id = db.header().id.clone();
        file::write(&db, &self.build_path(&id))?;
        let pointer = self.pointer();
        let tmp = self.root.join(".current.tmp");
        let io = |e| VulnDbError::Io(pointer.display().to_string(), e);
        fs::write(&tmp, format!("{id}\n")).map_err(io)?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        fs::rename(&tmp, &pointer).map_err(io)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(db);
        *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) =
            fs::metadata(&pointer).ok().and_then(|m| m.modified().ok());
        self.prune(&id);
        Ok(())
    }

    fn prune(&self, keep: &str) {
        let Ok(dir) = fs::read_dir(self.root.join("builds")) else {
            return;
        };
        let mut builds: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".bvdb").map(str::to_owned))
            .filter(|n| n != keep)
            .collect();
        builds.sort();
        let excess = builds.len().saturating_sub(KEEP_BUILDS - 1);
        for old in builds.into_iter().take(excess) {
            let _ = fs::remove_file(self.build_path(&old));
        }
    }

    /// Imports a database bundle (`berth vulndb export`), a raw-feeds bundle
    /// (`export --raw`), a folder of recorded feeds (each entry one feed, named by
    /// [`feed_name_for`]), or, with `feed` set, one feed from a file or folder.
    pub fn import(
        &self,
        path: &Path,
        feed: Option<&str>,
        limits: &Limits,
        progress: &dyn Fn(&str),
    ) -> Result<Imported, VulnDbError> {
        if feed.is_none() && path.is_file() && file::is_db_file(path) {
            progress("verifying database bundle");
            let db = Arc::new(file::read(path)?);
            let _one = self.building.lock().unwrap_or_else(|p| p.into_inner());
            self.install(db.clone())?;
            return Ok(Imported {
                feeds: Vec::new(),
                rebuilt: None,
                bundle: Some(db),
            });
        }
        let mut sources: Vec<(String, PathBuf)> = Vec::new();
        let unpacked;
        if let Some(name) = feed {
            sources.push((name.to_owned(), path.to_owned()));
        } else if path.is_dir() {
            sources = feed_sources(path)?;
        } else if is_raw_bundle(path) {
            unpacked = tempdir_in(&self.root)?;
            unpack_raw(path, &unpacked.0)?;
            sources = feed_sources(&unpacked.0.join(RAW_PREFIX))?;
        } else {
            let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or("feed");
            sources.push((feed_name_for(stem), path.to_owned()));
        }
        if sources.is_empty() {
            return Err(VulnDbError::Empty(path.display().to_string()));
        }
        let mut fresh = HashMap::new();
        let mut feeds = Vec::new();
        for (name, from) in sources {
            progress(&format!("importing {name}"));
            let parsed = std::cell::RefCell::new(None);
            let validate = |p: &Path| -> Result<(), String> {
                let out = berth_feeds::parse_path(&name, p, limits).map_err(|e| e.to_string())?;
                *parsed.borrow_mut() = Some(out);
                Ok(())
            };
            match self.feeds.install(&name, &from, &validate) {
                Ok(outcome) => {
                    if let Some(p) = parsed.into_inner() {
                        fresh.insert(name.clone(), p);
                    }
                    feeds.push((name, Ok(matches!(outcome, Outcome::Updated { .. }))));
                }
                Err(e) => feeds.push((name, Err(e.to_string()))),
            }
        }
        progress("building the database");
        let rebuilt = self.rebuild(limits, fresh)?;
        Ok(Imported {
            feeds,
            rebuilt: Some(rebuilt),
            bundle: None,
        })
    }

    /// Writes the current build (`raw = false`) or the raw feeds as a tar (`raw = true`).
    pub fn export(&self, out: &Path, raw: bool) -> Result<u64, VulnDbError> {
        let io = |e| VulnDbError::Io(out.display().to_string(), e);
        if !raw {
            let db = self
                .current()
                .ok_or_else(|| VulnDbError::Empty("the vulnerability database".into()))?;
            return fs::copy(self.build_path(&db.header().id), out).map_err(io);
        }
        let file = fs::File::create(out).map_err(io)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        tar.follow_symlinks(false);
        let mut any = false;
        for state in self.feeds.states()? {
            if state.sha256.is_none() {
                continue;
            }
            let dir = self.feeds.data_path(&state.name);
            let base = format!("{RAW_PREFIX}/{}", state.name);
            if dir.is_dir() {
                tar.append_dir_all(format!("{base}/data"), &dir)
                    .map_err(io)?;
            } else {
                tar.append_path_with_name(&dir, format!("{base}/data"))
                    .map_err(io)?;
            }
            any = true;
        }
        if !any {
            return Err(VulnDbError::Empty("the feed folder".into()));
        }
        let w = tar.into_inner().map_err(io)?;
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        Ok(f.metadata().map_err(io)?.len())
    }

    pub fn status(&self) -> Result<Status, VulnDbError> {
        let _ = self.reload();
        let current = self.current();
        let header = current.as_ref().map(|d| d.header().clone());
        let file_size = header
            .as_ref()
            .and_then(|h| fs::metadata(self.build_path(&h.id)).ok())
            .map(|m| m.len());
        let feeds = self
            .feeds
            .states()?
            .into_iter()
            .map(|state| FeedStatus {
                info: header
                    .as_ref()
                    .and_then(|h| h.feeds.iter().find(|f| f.name == state.name).cloned()),
                state,
            })
            .collect();
        Ok(Status {
            header,
            file_size,
            feeds,
        })
    }
}

/// A feed's fingerprint as builds record it (`sha256:<hex>`).
fn fingerprint_of(sha256: &str) -> String {
    if sha256.starts_with("sha256:") {
        sha256.to_owned()
    } else {
        format!("sha256:{sha256}")
    }
}

/// The top folder of a raw-feeds bundle.
const RAW_PREFIX: &str = "berth-feeds";

/// The feed name for a recorded folder or file: the names of `../shared/vulndata` map to
/// the default feeds they are snapshots of, so an online update later replaces them.
pub fn feed_name_for(entry: &str) -> String {
    let stem = entry
        .trim_end_matches(".gz")
        .trim_end_matches(".json")
        .trim_end_matches(".zip");
    match stem {
        "pypa-advisory-database" => "pypa".into(),
        "rustsec-advisory-db" => "rustsec".into(),
        other => other
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect(),
    }
}

/// The feeds of a folder: each entry (not hidden, not a README/MANIFEST) is one feed. A
/// raw-bundle entry (`<name>/data`) stands for its `data`.
fn feed_sources(dir: &Path) -> Result<Vec<(String, PathBuf)>, VulnDbError> {
    let io = |e| VulnDbError::Io(dir.display().to_string(), e);
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        if name.starts_with('.') || lower.starts_with("readme") || lower.starts_with("manifest") {
            continue;
        }
        let path = entry.path();
        let data = path.join("data");
        let from = if data.exists() { data } else { path };
        out.push((feed_name_for(&name), from));
    }
    out.sort();
    Ok(out)
}

fn is_raw_bundle(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let mut a = tar::Archive::new(f);
    let Ok(mut entries) = a.entries() else {
        return false;
    };
    matches!(entries.next(), Some(Ok(e)) if e.path().is_ok_and(|p| p.starts_with(RAW_PREFIX)))
}

/// Unpacks a raw bundle, refusing paths outside its prefix and links (tar's own unpack
/// already refuses `..`).
fn unpack_raw(path: &Path, into: &Path) -> Result<(), VulnDbError> {
    let io = |e| VulnDbError::Io(path.display().to_string(), e);
    let mut a = tar::Archive::new(fs::File::open(path).map_err(io)?);
    for entry in a.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let p = entry.path().map_err(io)?.into_owned();
        if !p.starts_with(RAW_PREFIX) {
            return Err(VulnDbError::Format(format!(
                "{}: entry {} is outside {RAW_PREFIX}/",
                path.display(),
                p.display()
            )));
        }
        entry.unpack_in(into).map_err(io)?;
    }
    Ok(())
}

/// A temporary folder removed on drop (inside the database folder, so renames stay on one
/// file system).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempdir_in(root: &Path) -> Result<TempDir, VulnDbError> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let p = root.join(format!(".import-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&p).map_err(|e| VulnDbError::Io(p.display().to_string(), e))?;
    Ok(TempDir(p))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
