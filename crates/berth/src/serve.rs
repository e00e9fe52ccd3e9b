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
    let registry = Arc::new(Registry::new(Arc::new(meta), Arc::new(blobs), limits));

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
    axum::serve(listener, berth_api::router(registry))
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
