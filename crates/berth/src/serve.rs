//! `berth serve`: opens the stores named by the config and serves the HTTP API until a
//! termination signal, finishing in-flight requests first.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_config::Config;
use berth_registry::{Limits, Registry};
use tracing_subscriber::EnvFilter;

pub fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = match std::env::var("BERTH_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::try_new(f),
        _ => EnvFilter::try_new(&config.log.level),
    }
    .with_context(|| {
        format!(
            "config key `log.level`: {:?} is not a valid filter",
            config.log.level
        )
    })?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if config.log.format == "json" {
        builder.json().init()
    } else {
        builder.init()
    }
    Ok(())
}

/// Large allocations (argon2id's 19 MiB per password check) always go to mmap and back to
/// the system when freed. glibc otherwise raises its threshold after the first such free and
/// keeps the memory in per-thread arenas: measured, a login burst left the process at
/// 555 MiB resident. Call before any thread is started.
pub fn tune_allocator() {
    // SAFETY: mallopt only changes allocator tuning, and runs while the process has one thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let db = config.sqlite_path();
    let meta = berth_meta::SqliteStore::open(&db).await.with_context(|| {
        format!(
            "metadata store: cannot open SQLite database {}",
            db.display()
        )
    })?;
    let storage = config.storage_path();
    let blobs = berth_blob::FsBlobStore::open(&storage)
        .with_context(|| format!("blob storage: cannot open {}", storage.display()))?;
    let limits = Limits {
        manifest_max_bytes: config.limits.manifest_max_bytes,
        blob_max_bytes: config.limits.blob_max_bytes,
        page_max: config.limits.page_max,
    };
    let meta = Arc::new(meta);
    let blobs: Arc<dyn berth_blob::BlobStore> = Arc::new(blobs);
    let registry = Arc::new(Registry::new(meta.clone(), blobs.clone(), limits));
    let mut indexer = berth_index::Indexer::new();
    if config.scanner.threads > 0 {
        indexer = indexer.threads(config.scanner.threads as usize);
    }
    let vdir = crate::vulndb::vulndb_dir(&config);
    let vulndb = Arc::new(
        berth_vulndb::VulnDb::open(&vdir)
            .with_context(|| format!("vulnerability database: cannot open {}", vdir.display()))?,
    );
    match vulndb.current() {
        Some(db) => {
            tracing::info!(vulndb = %db.header().id, advisories = db.header().advisories, "vulnerability database loaded")
        }
        None => {
            tracing::warn!(dir = %vdir.display(), "no vulnerability database yet: packages are reported but no vulnerabilities until `berth vulndb import` or an update")
        }
    }
    let scanner = berth_scan::Scanner::new(
        meta.clone(),
        blobs,
        indexer,
        berth_scan::ScanOptions {
            workers: config.scanner.workers as usize,
            vulndb: Some(vulndb.clone()),
        },
    );
    if config.scanner.on_push {
        registry.set_listener(scanner.clone());
        tokio::spawn(scanner.clone().run());
    } else {
        tokio::spawn(scanner.clone().rematch_loop());
    }
    if config.vulndb.update {
        let updater = berth_scan::FeedUpdater::new(
            vulndb.clone(),
            crate::vulndb::feed_specs(&config)?,
            berth_updater::Options::default(),
        )
        .context("vulnerability feeds: cannot start the updater")?;
        tokio::spawn(Arc::new(updater).run(scanner.clone()));
    } else {
        tracing::info!("vulnerability feed updates are off (vulndb.update: false)");
    }
    let clair = if config.clair.psk.is_empty() {
        None
    } else {
        use base64::Engine as _;
        Some(berth_api::ClairAuth {
            key: base64::engine::general_purpose::STANDARD
                .decode(config.clair.psk.trim())
                .context("config key `clair.psk`")?,
            issuers: config.clair.issuers.clone(),
        })
    };
    let access = berth_access::Access::open(meta, access_config(&config)?)
        .await
        .context("cannot load the token signing keys")?;
    bootstrap_admin(&config, &access).await?;
    let acc = access.clone();
    let retention = config.auth_durations()?.audit_retention;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        let mut rounds = 0u64;
        loop {
            tick.tick().await;
            if rounds > 0
                && let Err(e) = acc.maintain_keys().await
            {
                tracing::warn!(error = %e, "signing key maintenance failed");
            }
            // Hourly, and once at start.
            if rounds.is_multiple_of(12) && !retention.is_zero() {
                match acc.prune_audit(retention.as_secs()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old audit-log entries"),
                    Err(e) => tracing::warn!(error = %e, "audit-log pruning failed"),
                }
            }
            rounds += 1;
        }
    });

    let expiry = config.upload_expiry()?;
    let reg = registry.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600).min(expiry));
        loop {
            tick.tick().await;
            match reg.expire_uploads(expiry).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "removed abandoned uploads"),
                Err(e) => tracing::warn!(error = %e, "could not remove abandoned uploads"),
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "berth is serving");
    let options = berth_api::ApiOptions {
        realm: Some(config.auth.realm.clone()).filter(|r| !r.is_empty()),
        secure_cookies: config.auth.secure_cookies,
        clair,
    };
    let app = berth_api::router(registry, access, Some(scanner), options);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server failed")?;
    tracing::info!("berth stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The access layer's settings from the `auth` section.
pub fn access_config(config: &Config) -> anyhow::Result<berth_access::AccessConfig> {
    let d = config.auth_durations()?;
    let a = &config.auth;
    Ok(berth_access::AccessConfig {
        service: a.service.clone(),
        issuer: a.service.clone(),
        token_ttl_secs: d.token_ttl.as_secs(),
        anonymous_pull: a.anonymous_pull,
        open_registration: a.open_registration,
        superusers: a.superusers.clone(),
        refresh_ttl_secs: d.refresh_token_ttl.as_secs(),
        session_ttl_secs: d.session_ttl.as_secs(),
        key_max_age_secs: d.key_rotation.as_secs(),
        login_max_failures: a.login_max_failures,
        login_window_secs: d.login_window.as_secs(),
        ..berth_access::AccessConfig::default()
    })
}

/// On a database without users, creates the first superuser: the configured one, or
/// `admin` with a random password written to a file only the owner can read (a secret in
/// the log would outlive its purpose).
async fn bootstrap_admin(config: &Config, access: &berth_access::Access) -> anyhow::Result<()> {
    if access.store().count_users().await? > 0 {
        return Ok(());
    }
    let ia = &config.auth.initial_admin;
    let origin = berth_access::Origin::default();
    let system = berth_access::Principal::System;
    if !ia.username.is_empty() {
        let password = if !ia.password_file.is_empty() {
            std::fs::read_to_string(&ia.password_file)
                .with_context(|| {
                    format!(
                        "config key `auth.initial_admin.password_file`: cannot read {}",
                        ia.password_file
                    )
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        } else {
            ia.password.clone()
        };
        if password.is_empty() {
            anyhow::bail!(
                "config key `auth.initial_admin`: a username needs `password` or `password_file`"
            );
        }
        access
            .create_user(&system, &ia.username, Some(&password), None, true, &origin)
            .await
            .context("config key `auth.initial_admin`: cannot create the user")?;
        tracing::info!(user = %ia.username, "created the initial superuser");
        return Ok(());
    }
    let password = crate::admin::generated_password();
    let path = config.data_dir.join("initial-admin-password");
    write_private(&path, &format!("{password}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    access
        .create_user(&system, "admin", Some(&password), None, true, &origin)
        .await
        .context("cannot create the initial superuser")?;
    tracing::warn!(
        user = "admin",
        password_file = %path.display(),
        "created superuser `admin`; its password is in the file named here (readable by you only): sign in and change it"
    );
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
