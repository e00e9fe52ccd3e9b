//! `berth vulndb`: the vulnerability database of a data folder, for air-gapped machines and
//! for operators: import recorded feeds or a bundle, export one, update from the internet
//! now, and show each feed's age, size and last error.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use berth_vulndb::VulnDb;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::StoreArgs;

#[derive(Subcommand, Debug)]
pub enum VulndbCommand {
    /// Load a database bundle (`export`), a raw-feeds bundle (`export --raw`), a folder of
    /// recorded feeds (each entry one feed, e.g. ../shared/vulndata), or with --feed one
    /// feed's file or folder. Works with no network.
    Import {
        path: PathBuf,
        /// Import PATH as this one feed.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Write the current database as one portable file (or, with --raw, the raw feeds as a
    /// tar) to carry to a machine without internet.
    Export {
        file: PathBuf,
        #[arg(long)]
        raw: bool,
    },
    /// Download the feeds now (all enabled ones, or those named) and rebuild.
    Update {
        /// Only these feeds.
        #[arg(long = "feed")]
        feeds: Vec<String>,
    },
    /// Each feed's age, size, advisories and last error, and the current build.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The vulnerability database folder of a config.
pub fn vulndb_dir(config: &berth_config::Config) -> PathBuf {
    config.data_dir.join("vulndb")
}

/// The feeds to download: the defaults changed by `vulndb.feeds`.
pub fn feed_specs(config: &berth_config::Config) -> anyhow::Result<Vec<berth_updater::FeedSpec>> {
    let mut overrides = BTreeMap::new();
    for (name, f) in &config.vulndb.feeds {
        let interval = if f.interval.is_empty() {
            None
        } else {
            Some(
                humantime::parse_duration(&f.interval)
                    .with_context(|| format!("config key `vulndb.feeds.{name}.interval`"))?,
            )
        };
        overrides.insert(
            name.clone(),
            berth_scan::FeedOverride {
                url: Some(f.url.clone()).filter(|u| !u.is_empty()),
                interval,
                enabled: f.enabled,
            },
        );
    }
    Ok(berth_scan::feed_specs(&overrides))
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub fn run(store: StoreArgs, command: VulndbCommand) -> anyhow::Result<()> {
    let config = crate::load_config(&store, None)?;
    let dir = vulndb_dir(&config);
    let db = Arc::new(VulnDb::open(&dir).with_context(|| {
        format!(
            "cannot open the vulnerability database in {}",
            dir.display()
        )
    })?);
    match command {
        VulndbCommand::Import { path, feed } => {
            let bar = spinner();
            let started = std::time::Instant::now();
            let out = db
                .import(
                    &path,
                    feed.as_deref(),
                    &berth_feeds::Limits::default(),
                    &|m| bar.set_message(m.to_owned()),
                )
                .with_context(|| format!("cannot import {}", path.display()))?;
            bar.finish_and_clear();
            let mut failed = 0;
            for (name, r) in &out.feeds {
                match r {
                    Ok(true) => println!("feed {name}: imported"),
                    Ok(false) => println!("feed {name}: unchanged"),
                    Err(e) => {
                        failed += 1;
                        println!("feed {name}: FAILED: {e}");
                    }
                }
            }
            let db = out
                .bundle
                .or_else(|| out.rebuilt.as_ref().map(|r| r.db.clone()))
                .or_else(|| db.current());
            if let Some(db) = db {
                let h = db.header();
                println!(
                    "database {} ({} advisories, {} enrichments, {} feeds) in {:.1}s",
                    h.id,
                    h.advisories,
                    h.enrichments,
                    h.feeds.len(),
                    started.elapsed().as_secs_f64()
                );
                if let Some(c) = &h.changes {
                    println!(
                        "changes since {}: {} added, {} removed, {} changed",
                        h.previous.as_deref().unwrap_or("-"),
                        c.added,
                        c.removed,
                        c.changed
                    );
                }
            }
            if let Some(r) = &out.rebuilt {
                for (name, e) in &r.errors {
                    println!("feed {name}: kept the last good data: {e}");
                }
            }
            if failed > 0 {
                bail!("{failed} feed(s) could not be imported");
            }
            Ok(())
        }
        VulndbCommand::Export { file, raw } => {
            let n = db
                .export(&file, raw)
                .with_context(|| format!("cannot export to {}", file.display()))?;
            println!("wrote {} ({})", file.display(), human_bytes(n));
            Ok(())
        }
        VulndbCommand::Update { feeds } => {
            let mut specs = feed_specs(&config)?;
            if !feeds.is_empty() {
                for f in &feeds {
                    if !specs.iter().any(|s| &s.name == f) {
                        bail!("no feed named {f:?}; `berth vulndb status` lists them");
                    }
                }
                specs.retain(|s| feeds.contains(&s.name));
                for s in &mut specs {
                    s.enabled = true;
                }
            }
            let updater =
                berth_scan::FeedUpdater::new(db.clone(), specs, berth_updater::Options::default())?;
            let bar = spinner();
            let round =
                updater.update(true, &|name| bar.set_message(format!("updating {name}")))?;
            bar.finish_and_clear();
            for n in &round.updated {
                println!("feed {n}: updated");
            }
            for n in &round.unchanged {
                println!("feed {n}: unchanged");
            }
            for (n, e) in &round.failed {
                println!("feed {n}: FAILED: {e}");
            }
            if let Some(r) = &round.rebuilt {
                println!(
                    "database {} ({} advisories){}",
                    r.db.header().id,
                    r.db.header().advisories,
                    if r.installed { "" } else { ", unchanged" }
                );
            }
            if !round.failed.is_empty() {
                bail!(
                    "{} feed(s) failed; their last good data is kept",
                    round.failed.len()
                );
            }
            Ok(())
        }
        VulndbCommand::Status { json } => status(&db, json),
    }
}

fn status(db: &VulnDb, json: bool) -> anyhow::Result<()> {
    let st = db.status()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if json {
        let feeds: Vec<serde_json::Value> = st
            .feeds
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.state.name,
                    "url": f.state.url,
                    "fetched_at": f.state.fetched_at,
                    "changed_at": f.state.changed_at,
                    "age_seconds": f.state.fetched_at.map(|t| now.saturating_sub(t)),
                    "size": f.state.size,
                    "fingerprint": f.state.sha256,
                    "last_error": f.state.last_error,
                    "advisories": f.info.as_ref().map(|i| i.advisories),
                    "enrichments": f.info.as_ref().map(|i| i.enrichments),
                    "parse_error": f.info.as_ref().and_then(|i| i.error.clone()),
                })
            })
            .collect();
        let out = serde_json::json!({
            "database": st.header,
            "file_size": st.file_size,
            "feeds": feeds,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &st.header {
        Some(h) => {
            println!("Database:   {}", h.id);
            println!("Created:    {}", h.created);
            println!("Digest:     {}", h.digest);
            println!(
                "Contents:   {} advisories, {} enrichments, {}",
                h.advisories,
                h.enrichments,
                st.file_size.map(human_bytes).unwrap_or_default()
            );
            if let Some(c) = &h.changes {
                println!(
                    "Changes:    {} added, {} removed, {} changed since {}",
                    c.added,
                    c.removed,
                    c.changed,
                    h.previous.as_deref().unwrap_or("-")
                );
            }
        }
        None => println!(
            "Database:   none yet (run `berth vulndb import PATH` or `berth vulndb update`)"
        ),
    }
    println!();
    println!(
        "{:<32} {:>10} {:>10} {:>11}  LAST ERROR",
        "FEED", "AGE", "SIZE", "ADVISORIES"
    );
    for f in &st.feeds {
        let age = f
            .state
            .fetched_at
            .map(|t| human_age(now.saturating_sub(t)))
            .unwrap_or_else(|| "never".into());
        let err = f
            .state
            .last_error
            .clone()
            .or_else(|| f.info.as_ref().and_then(|i| i.error.clone()))
            .unwrap_or_default();
        println!(
            "{:<32} {:>10} {:>10} {:>11}  {}",
            f.state.name,
            age,
            f.state.size.map(human_bytes).unwrap_or_default(),
            f.info
                .as_ref()
                .map(|i| i.advisories.to_string())
                .unwrap_or_else(|| "-".into()),
            err.chars().take(120).collect::<String>()
        );
    }
    Ok(())
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
