//! `berth scan IMAGE`: index an image outside the server, match it against the
//! vulnerability database of a data folder, and print what it contains and what affects it.
//!
//! IMAGE uses skopeo's transports (`oci:DIR[:REF]`, `docker-archive:FILE[:REF]`,
//! `docker://HOST/REPO[:TAG|@DIGEST]`), resolved by `berth-source`; the indexing is the
//! server's own (`berth-index`), with layer scans cached in a directory so scanning the next
//! image built on the same base reads only its new layers; the matching is the server's own
//! too (`berth-match`), against the database `berth vulndb import` put in `--data-dir`.
//!
//! As a CI gate: `--severity high --exit-code 1` fails the job when anything High or
//! Critical is found, and fails it (exit 2) when there is no database to judge by, rather
//! than passing an image nobody checked.

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_index::{Blobs, DirCache, Indexer, LayerCache, LayerRef, NoCache, Progress};
use berth_report::IndexReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per vulnerability found (per package when there is no database).
    Table,
    /// One line per package.
    Packages,
    /// The vulnerability report (Clair v4's JSON shape).
    Json,
    /// The index report (Clair v4's JSON shape): packages only.
    Index,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// CycloneDX 1.5 JSON SBOM.
    Cyclonedx,
    /// SPDX 2.3 JSON SBOM.
    Spdx,
}

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// The image: oci:DIR[:REF], docker-archive:FILE[:REF] or docker://HOST/REPO[:TAG|@DIGEST].
    pub image: String,
    #[arg(long, short, value_enum, default_value = "table")]
    pub format: Format,
    /// Platform to pick from a multi-platform image (os/arch[/variant]) [default: linux/amd64].
    #[arg(long)]
    pub platform: Option<String>,
    /// Registry credentials USER:PASSWORD for docker:// (or BERTH_SCAN_CREDS).
    #[arg(long, env = "BERTH_SCAN_CREDS", hide_env_values = true)]
    pub creds: Option<String>,
    /// Verify TLS certificates for docker:// (false also allows plain http).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Where layer scans are cached [default: $XDG_CACHE_HOME/berth/layers or ~/.cache/berth/layers].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Read every layer, using and filling no cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Write the output to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// The data folder whose vulnerability database is used (`berth vulndb import
    /// --data-dir`) [default: the config's data_dir, ./berth-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// YAML config file (for data_dir).
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Show (and gate on) only findings of this severity or worse: unknown, negligible,
    /// low, medium, high, critical.
    #[arg(long, default_value = "unknown", value_parser = parse_severity)]
    pub severity: berth_advisory::Severity,
    /// Exit with this code when a finding at or above --severity is shown.
    #[arg(long)]
    pub exit_code: Option<i32>,
}

fn parse_severity(s: &str) -> Result<berth_advisory::Severity, String> {
    berth_advisory::Severity::parse(s)
        .ok_or_else(|| "one of unknown, negligible, low, medium, high, critical".to_owned())
}

/// Exit code when a gate was asked for but there is nothing to judge by.
pub const NO_DATABASE_EXIT: i32 = 2;

/// Layer bytes from the image source.
struct SourceBlobs<'a>(&'a dyn berth_source::ImageSource);

impl Blobs for SourceBlobs<'_> {
    fn open(&self, layer: &LayerRef) -> io::Result<Box<dyn Read + Send + '_>> {
        self.0.open_blob(&layer.digest).map_err(io::Error::other)
    }
}

/// A byte progress bar over the layers still to read, drawn only on a terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, layers: usize, bytes: u64) {
        self.0.set_length(bytes);
        self.0.set_message(format!("{layers} layer(s) to read"));
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("berth/layers"))
}

/// Runs the scan; returns the process exit code (0, or --exit-code when the gate trips).
pub fn run(args: ScanArgs) -> anyhow::Result<i32> {
    let transport = berth_source::parse(&args.image)
        .with_context(|| format!("cannot read image reference {:?}", args.image))?;
    let mut opts = berth_source::Options {
        tls_verify: args.tls_verify,
        ..berth_source::Options::default()
    };
    if let Some(p) = &args.platform {
        opts.platform = Some(p.parse().with_context(|| format!("bad --platform {p:?}"))?);
    }
    if let Some(c) = &args.creds {
        let Some((user, pass)) = c.split_once(':') else {
            bail!("--creds must be USER:PASSWORD");
        };
        opts.creds = Some((user.to_owned(), pass.to_owned()));
    }
    let source = berth_source::open(&transport, &opts)
        .with_context(|| format!("cannot open {}", args.image))?;
    let image = source.image();
    let layers: Vec<LayerRef> = image
        .layers
        .iter()
        .filter(|l| berth_index::is_layer(&l.media_type))
        .map(|l| LayerRef {
            digest: l.digest.clone(),
            media_type: l.media_type.clone(),
            size: l.size,
        })
        .collect();
    if layers.is_empty() {
        bail!("{} has no filesystem layers to index", args.image);
    }

    let cache: Box<dyn LayerCache> = match (
        args.no_cache,
        args.cache_dir.clone().or_else(default_cache_dir),
    ) {
        (false, Some(dir)) => Box::new(DirCache::new(dir)),
        _ => Box::new(NoCache),
    };
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = Bar(bar);
    let indexed = Indexer::new()
        .index(
            &image.manifest_digest,
            &layers,
            &SourceBlobs(source.as_ref()),
            cache.as_ref(),
            &progress,
        )
        .with_context(|| format!("indexing {} failed", args.image))?;
    progress.0.finish_and_clear();
    for (layer, path, why) in indexed.skipped.iter().take(20) {
        eprintln!("warning: skipped {path} (layer {}): {why}", short(layer));
    }
    if indexed.skipped.len() > 20 {
        eprintln!("warning: {} more files skipped", indexed.skipped.len() - 20);
    }

    let report = indexed.report;
    let needs_vulns = matches!(args.format, Format::Table | Format::Json | Format::Sarif)
        || args.exit_code.is_some();
    let vulndb_dir = data_dir(&args)?.join("vulndb");
    let vulns = if needs_vulns {
        vulnerabilities(&vulndb_dir, &report)?
    } else {
        None
    };
    if args.exit_code.is_some() && vulns.is_none() {
        eprintln!(
            "error: no vulnerability database in {}: cannot judge the image (run `berth vulndb import` or `berth vulndb update`)",
            vulndb_dir.display()
        );
        return Ok(NO_DATABASE_EXIT);
    }
    let opts = berth_present::Options {
        min_severity: args.severity,
        image: args.image.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        color: args.output.is_none() && io::stdout().is_terminal(),
    };
    let text = match (args.format, &vulns) {
        (Format::Index, _) => serde_json::to_string_pretty(&report)? + "\n",
        (Format::Json, Some(v)) => {
            serde_json::to_string_pretty(&berth_present::json(v, &opts))? + "\n"
        }
        (Format::Sarif, Some(v)) => {
            serde_json::to_string_pretty(&berth_present::sarif(v, &opts))? + "\n"
        }
        (Format::Json | Format::Sarif, None) => bail!(
            "no vulnerability database in {}: run `berth vulndb import PATH` (offline) or `berth vulndb update`, or use --format index",
            vulndb_dir.display()
        ),
        (Format::Table, Some(v)) => berth_present::table(v, &opts),
        (Format::Table, None) => {
            eprintln!(
                "warning: no vulnerability database in {}: listing packages only (run `berth vulndb import PATH` or `berth vulndb update`)",
                vulndb_dir.display()
            );
            table(&args.image, &report)
        }
        (Format::Packages, _) => table(&args.image, &report),
        (Format::Cyclonedx | Format::Spdx, _) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let created = berth_api::time::rfc3339(now);
            let info = berth_sbom::SbomInfo {
                name: &args.image,
                created: &created,
                tool_version: env!("CARGO_PKG_VERSION"),
            };
            let doc = if args.format == Format::Spdx {
                berth_sbom::spdx(&report, &info)
            } else {
                berth_sbom::cyclonedx(&report, &info)
            };
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
                && e.kind() != io::ErrorKind::BrokenPipe
            {
                return Err(e).context("cannot write to standard output");
            }
        }
    }
    if let (Some(code), Some(v)) = (args.exit_code, &vulns)
        && berth_present::worst(v, args.severity).is_some()
    {
        return Ok(code);
    }
    Ok(0)
}

fn data_dir(args: &ScanArgs) -> anyhow::Result<PathBuf> {
    let store = crate::StoreArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
    };
    Ok(crate::load_config(&store, None)?.data_dir)
}

/// The vulnerability report of `report` against the data folder's database; `None` when
/// the folder has no database.
fn vulnerabilities(
    dir: &Path,
    report: &IndexReport,
) -> anyhow::Result<Option<berth_report::VulnerabilityReport>> {
    if !dir.join("current").exists() {
        return Ok(None);
    }
    let db = berth_vulndb::VulnDb::open(dir).with_context(|| {
        format!(
            "cannot open the vulnerability database in {}",
            dir.display()
        )
    })?;
    let Some(db) = db.current() else {
        return Ok(None);
    };
    if !report.success {
        bail!("the image could not be indexed: {}", report.err);
    }
    let (v, stats) = berth_match::match_report(report, &db);
    if stats.incomparable > 0 {
        eprintln!(
            "warning: {} package/advisory pair(s) had versions that could not be compared",
            stats.incomparable
        );
    }
    Ok(Some(v))
}

fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.get(..12).unwrap_or(hex)
}

/// The human view: the image, its distribution, then one package per line.
fn table(name: &str, r: &IndexReport) -> String {
    let mut rows: Vec<[String; 5]> = r
        .packages
        .iter()
        .map(|(id, p)| {
            let env = r.environments.get(id).and_then(|e| e.first());
            [
                p.name.clone(),
                p.version.clone(),
                r.ecosystem(id).map_or("?", |e| e.osv_name()).to_owned(),
                env.map_or(String::new(), |e| short(&e.introduced_in).to_owned()),
                env.map_or(String::new(), |e| e.package_db.clone()),
            ]
        })
        .collect();
    rows.sort();
    let header = ["NAME", "VERSION", "ECOSYSTEM", "LAYER", "FOUND IN"];
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(60);
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "Image:        {name}\nManifest:     {}\n",
        r.manifest_hash
    ));
    match r.distributions.values().next() {
        Some(d) => out.push_str(&format!("Distribution: {}\n", d.pretty_name)),
        None => out.push_str("Distribution: unknown\n"),
    }
    out.push_str(&format!("Packages:     {}\n\n", rows.len()));
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(&header.map(str::to_owned)));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}
