//! Keeping the vulnerability database current: the feeds that are due are downloaded
//! (berth-updater), checked by parsing them (berth-feeds), and the database is rebuilt once
//! per round from whatever changed. A feed that fails keeps its last good data; the error
//! is in `berth vulndb status`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_feeds::{Limits, Parsed};
use berth_updater::{FeedSpec, Fetcher, Options, Outcome, UpdateError};
use berth_vulndb::{Rebuilt, VulnDb, VulnDbError};

use crate::Scanner;

/// How often the node checks which feeds are due.
const CHECK_EVERY: Duration = Duration::from_secs(300);

/// A feed's configured changes (from `vulndb.feeds`).
#[derive(Debug, Clone, Default)]
pub struct FeedOverride {
    pub url: Option<String>,
    pub interval: Option<Duration>,
    pub enabled: Option<bool>,
}

/// The default feeds with the configured changes applied; a configured name that is not a
/// default feed is added when it has a URL.
pub fn feed_specs(overrides: &BTreeMap<String, FeedOverride>) -> Vec<FeedSpec> {
    let mut specs = berth_updater::default_feeds();
    for (name, o) in overrides {
        let spec = match specs.iter_mut().find(|s| &s.name == name) {
            Some(s) => s,
            None => {
                let Some(url) = o.url.clone() else {
                    continue;
                };
                specs.push(FeedSpec {
                    name: name.clone(),
                    url,
                    interval: Duration::from_secs(6 * 3600),
                    enabled: true,
                });
                specs.last_mut().expect("just pushed")
            }
        };
        if let Some(u) = &o.url {
            spec.url = u.clone();
        }
        if let Some(i) = o.interval {
            spec.interval = i;
        }
        if let Some(e) = o.enabled {
            spec.enabled = e;
        }
    }
    specs
}

/// What one update round did.
#[derive(Debug, Default)]
pub struct Round {
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub rebuilt: Option<Rebuilt>,
}

/// Downloads due feeds and rebuilds the database.
pub struct FeedUpdater {
    db: Arc<VulnDb>,
    specs: Vec<FeedSpec>,
    fetcher: Fetcher,
    limits: Limits,
}

impl FeedUpdater {
    pub fn new(
        db: Arc<VulnDb>,
        specs: Vec<FeedSpec>,
        options: Options,
    ) -> Result<FeedUpdater, UpdateError> {
        Ok(FeedUpdater {
            db,
            specs,
            fetcher: Fetcher::new(options)?,
            limits: Limits::default(),
        })
    }

    pub fn specs(&self) -> &[FeedSpec] {
        &self.specs
    }

    /// Updates the feeds that are due (`all`: every enabled feed) and rebuilds when any
    /// changed. Blocking. `progress` hears each feed's name as it starts.
    pub fn update(&self, all: bool, progress: &dyn Fn(&str)) -> Result<Round, VulnDbError> {
        let states = self.db.feeds().states()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let due: Vec<usize> = if all {
            (0..self.specs.len())
                .filter(|&i| self.specs[i].enabled)
                .collect()
        } else {
            berth_updater::due(&self.specs, &states, now)
        };
        let mut round = Round::default();
        let mut fresh: HashMap<String, Parsed> = HashMap::new();
        for i in due {
            let spec = &self.specs[i];
            progress(&spec.name);
            let parsed = Mutex::new(None);
            let validate = |p: &std::path::Path| -> Result<(), String> {
                let out = berth_feeds::parse_path(&spec.name, p, &self.limits)
                    .map_err(|e| e.to_string())?;
                *parsed.lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
                Ok(())
            };
            // A feed published under a dated name behind a pointer file (Red Hat's CSAF
            // VEX archive) is resolved to today's name first.
            let resolved;
            let spec = if spec.url.ends_with("archive_latest.txt") {
                match self.fetcher.resolve_pointer(spec) {
                    Ok(s) => {
                        resolved = s;
                        &resolved
                    }
                    Err(e) => {
                        round.failed.push((spec.name.clone(), e.to_string()));
                        continue;
                    }
                }
            } else {
                spec
            };
            match self.fetcher.update(self.db.feeds(), spec, &validate) {
                Ok(Outcome::Updated { .. }) => {
                    if let Some(p) = parsed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                        fresh.insert(spec.name.clone(), p);
                    }
                    round.updated.push(spec.name.clone());
                }
                Ok(Outcome::Unchanged) => round.unchanged.push(spec.name.clone()),
                Err(e) => {
                    tracing::warn!(feed = %spec.name, error = %e, "feed update failed; keeping the last good data");
                    round.failed.push((spec.name.clone(), e.to_string()));
                }
            }
        }
        if !round.updated.is_empty() || self.db.current().is_none() {
            let any_data = self.db.feeds().states()?.iter().any(|s| s.sha256.is_some());
            if any_data {
                round.rebuilt = Some(self.db.rebuild(&self.limits, fresh)?);
            }
        }
        Ok(round)
    }

    /// The node's update loop: a round every few minutes; a new build wakes the
    /// re-matcher.
    pub async fn run(self: Arc<Self>, scanner: Arc<Scanner>) {
        loop {
            let me = self.clone();
            match tokio::task::spawn_blocking(move || me.update(false, &|_| {})).await {
                Ok(Ok(round)) => {
                    if let Some(r) = &round.rebuilt
                        && r.installed
                    {
                        let h = r.db.header();
                        tracing::info!(vulndb = %h.id, advisories = h.advisories, updated = ?round.updated, "vulnerability database rebuilt");
                        scanner.database_changed();
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "vulnerability database update failed"),
                Err(e) => tracing::warn!(error = %e, "vulnerability database update task failed"),
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }
}
