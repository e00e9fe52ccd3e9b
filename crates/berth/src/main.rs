//! The `berth` binary: a container registry with a built-in vulnerability scanner.
//!
//! This file only parses the command line and wires crates together; behaviour lives in the
//! library crates (see ARCHITECTURE.md).

mod admin;
mod scan;
mod serve;
mod vulndb;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A self-hosted container registry with a built-in vulnerability scanner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command that touches the local store takes.
#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// YAML config file (keys can also be set with BERTH_* variables).
    #[arg(long, short, env = "BERTH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Folder for the database, blobs and uploads [default: ./berth-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on [default: 127.0.0.1:5000].
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage accounts, organizations, teams, robots, tokens, repositories and permissions
    /// in the local store (for bootstrap and recovery; the server may be running).
    Admin {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Index an image (oci:DIR[:REF], docker-archive:FILE[:REF] or docker://HOST/REPO:TAG)
    /// and print its packages, its index report or an SBOM.
    Scan(scan::ScanArgs),
    /// The vulnerability database: import (offline), export, update, status.
    Vulndb {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: vulndb::VulndbCommand,
    },
    /// Print the effective configuration (defaults, file and environment merged) as YAML-ish JSON.
    Config {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Loads the config with the usual precedence; flags win over everything.
pub fn load_config(
    store: &StoreArgs,
    listen: Option<&str>,
) -> anyhow::Result<berth_config::Config> {
    let (mut config, warnings) =
        berth_config::Config::load(store.config.as_deref(), std::env::vars())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if let Some(l) = listen {
        config.listen = l.to_owned();
    }
    if let Some(d) = &store.data_dir {
        config.data_dir = d.clone();
    }
    config
        .validate()
        .context("invalid settings from the command line")?;
    Ok(config)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { store, listen } => {
            let config = load_config(&store, listen.as_deref())?;
            serve::tune_allocator();
            serve::init_logging(&config)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve::run(config))
        }
        Command::Admin { store, command } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(admin::run(store, command))
        }
        Command::Scan(args) => {
            let code = scan::run(args)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Vulndb { store, command } => vulndb::run(store, command),
        Command::Config { store } => {
            let config = load_config(&store, None)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
    }
}
