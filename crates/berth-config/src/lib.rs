//! berth's configuration.
//!
//! Precedence, lowest first: built-in defaults, the YAML file, `BERTH_*` environment variables,
//! command-line flags. Nested keys are joined with `__` in variable names, so `limits:
//! manifest_max_bytes` is `BERTH_LIMITS__MANIFEST_MAX_BYTES`; a top-level key is simply
//! `BERTH_DATA_DIR`. Values are validated at start and every error names the key, because a
//! typo found at start is cheap and one found at the first push is not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Variables that share the prefix but are not configuration keys.
const NON_CONFIG_VARS: &[&str] = &["BERTH_CONFIG", "BERTH_LOG", "BERTH_SHARED"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Folder for everything berth keeps locally by default (database, blobs, uploads).
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub metadata: MetadataConfig,
    pub storage: StorageConfig,
    pub limits: Limits,
    pub uploads: UploadConfig,
    pub auth: AuthConfig,
    pub scanner: ScannerConfig,
    pub vulndb: VulnDbConfig,
    pub clair: ClairConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5000".into(),
            data_dir: PathBuf::from("./berth-data"),
            log: LogConfig::default(),
            metadata: MetadataConfig::default(),
            storage: StorageConfig::default(),
            limits: Limits::default(),
            uploads: UploadConfig::default(),
            auth: AuthConfig::default(),
            scanner: ScannerConfig::default(),
            vulndb: VulnDbConfig::default(),
            clair: ClairConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `berth_api=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// `sqlite://PATH`; empty means `sqlite://<data_dir>/berth.db`.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `filesystem` (the only driver so far).
    pub driver: String,
    /// Root folder of the filesystem driver; empty means `<data_dir>/storage`.
    pub path: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            driver: "filesystem".into(),
            path: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub manifest_max_bytes: u64,
    /// Largest blob accepted, in bytes (0 = no limit).
    pub blob_max_bytes: u64,
    /// Largest page a list endpoint returns.
    pub page_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            manifest_max_bytes: 4 * 1024 * 1024,
            blob_max_bytes: 0,
            page_max: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Uploads untouched for this long are deleted (e.g. `24h`).
    pub expire_after: String,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            expire_after: "24h".into(),
        }
    }
}

/// The image indexer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    /// Index every image in the background as it is pushed (and every stored image without
    /// a current report at start). Off: reports are made when first asked for.
    pub on_push: bool,
    /// Layers read at once per image; 0 means one per CPU core.
    pub threads: u32,
    /// Images indexed at once by this node (each a worker taking jobs from the queue).
    pub workers: u32,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            on_push: true,
            threads: 0,
            workers: 2,
        }
    }
}

/// The vulnerability database and the feeds it is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VulnDbConfig {
    /// Download the feeds from their upstream URLs, each on its own schedule. Turn off on
    /// machines without internet and load data with `berth vulndb import`.
    pub update: bool,
    /// Per-feed settings by feed name: point a default feed at a mirror, change its
    /// interval, disable it, or add a feed (which then needs a `url`).
    pub feeds: std::collections::BTreeMap<String, FeedConfig>,
}

impl Default for VulnDbConfig {
    fn default() -> Self {
        VulnDbConfig {
            update: true,
            feeds: Default::default(),
        }
    }
}

/// One feed's settings; empty fields keep the default feed's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    pub url: String,
    /// A duration such as `6h`.
    pub interval: String,
    pub enabled: Option<bool>,
}

/// Clair v4's HTTP API (`/indexer/api/v1`, `/matcher/api/v1`), for tools written for Clair.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClairConfig {
    /// The pre-shared key (base64, as in Clair's `auth.psk.key`) that signs the HS256 JWTs
    /// clients send. Empty: the Clair API refuses every request.
    #[serde(serialize_with = "redact")]
    pub psk: String,
    /// Accepted `iss` claims (Clair's `auth.psk.iss`).
    pub issuers: Vec<String>,
}

impl Default for ClairConfig {
    fn default() -> Self {
        ClairConfig {
            psk: String::new(),
            issuers: vec!["quay".into(), "clairctl".into()],
        }
    }
}

impl std::fmt::Debug for ClairConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClairConfig")
            .field(
                "psk",
                &if self.psk.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("issuers", &self.issuers)
            .finish()
    }
}

/// Accounts and token authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The registry's name in tokens and challenges (`service=`).
    pub service: String,
    /// The token endpoint URL clients are sent to; empty derives it from each request's
    /// `Host` (set it when berth is behind a proxy that rewrites Host).
    pub realm: String,
    /// Lifetime of registry tokens.
    pub token_ttl: String,
    /// Anonymous clients may pull public repositories.
    pub anonymous_pull: bool,
    /// Anyone may create an account through the API (otherwise superusers create them).
    pub open_registration: bool,
    /// Users who are superusers whatever the database says.
    pub superusers: Vec<String>,
    pub refresh_token_ttl: String,
    pub session_ttl: String,
    /// Signing keys older than this are replaced (the old key keeps verifying its tokens).
    pub key_rotation: String,
    /// Failed logins per account or address before further attempts wait for the window.
    pub login_max_failures: u32,
    pub login_window: String,
    /// Mark the session cookie `Secure` (serve over TLS).
    pub secure_cookies: bool,
    /// Audit-log entries older than this are deleted (hourly); `0s` keeps them forever.
    pub audit_retention: String,
    /// A superuser created at start when the database has no users. With no username set,
    /// berth creates `admin` with a random password written to `<data_dir>/initial-admin-password`.
    pub initial_admin: InitialAdmin,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            service: "berth".into(),
            realm: String::new(),
            token_ttl: "5m".into(),
            anonymous_pull: false,
            open_registration: false,
            superusers: Vec::new(),
            refresh_token_ttl: "30d".into(),
            session_ttl: "12h".into(),
            key_rotation: "30d".into(),
            login_max_failures: 10,
            login_window: "5m".into(),
            secure_cookies: false,
            audit_retention: "365d".into(),
            initial_admin: InitialAdmin::default(),
        }
    }
}

#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitialAdmin {
    pub username: String,
    /// Prefer `password_file`, or the variable `BERTH_AUTH__INITIAL_ADMIN__PASSWORD`.
    #[serde(serialize_with = "redact")]
    pub password: String,
    pub password_file: String,
}

impl std::fmt::Debug for InitialAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitialAdmin")
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .finish_non_exhaustive()
    }
}

/// Secrets are never printed back (`berth config` shows `<redacted>` when one is set).
fn redact<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_empty() { "" } else { "<redacted>" })
}

/// Durations of the `auth` section, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthDurations {
    pub token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_ttl: Duration,
    pub key_rotation: Duration,
    pub login_window: Duration,
    pub audit_retention: Duration,
}

impl Config {
    /// The `auth` section's durations; every error names its key.
    pub fn auth_durations(&self) -> Result<AuthDurations, ConfigError> {
        let d = |key: &str, v: &str| {
            humantime::parse_duration(v)
                .map_err(|e| key_err(&format!("auth.{key}"), format!("{v:?}: {e}")))
        };
        let a = &self.auth;
        let out = AuthDurations {
            token_ttl: d("token_ttl", &a.token_ttl)?,
            refresh_token_ttl: d("refresh_token_ttl", &a.refresh_token_ttl)?,
            session_ttl: d("session_ttl", &a.session_ttl)?,
            key_rotation: d("key_rotation", &a.key_rotation)?,
            login_window: d("login_window", &a.login_window)?,
            audit_retention: d("audit_retention", &a.audit_retention)?,
        };
        if out.token_ttl.as_secs() < 30 || out.token_ttl.as_secs() > 24 * 3600 {
            return Err(key_err("auth.token_ttl", "must be between 30s and 24h"));
        }
        if out.key_rotation < out.token_ttl * 2 {
            return Err(key_err(
                "auth.key_rotation",
                "must be at least twice auth.token_ttl",
            ));
        }
        Ok(out)
    }

    /// Loads defaults, then `file` if given, then `BERTH_*` variables from `env`.
    /// Returns the config and warnings (unknown `BERTH_*` variables) for the caller to log.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut tree = serde_json::to_value(Config::default()).expect("defaults serialize");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let file_value: Value = if text.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_saphyr::from_str(&text).map_err(|e| ConfigError::Yaml {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            };
            if !file_value.is_object() && !file_value.is_null() {
                return Err(ConfigError::Yaml {
                    path: path.to_owned(),
                    message: "top level must be a mapping".into(),
                });
            }
            merge(&mut tree, file_value);
        }
        let mut warnings = Vec::new();
        let mut vars: Vec<_> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("BERTH_"))
            .collect();
        vars.sort();
        for (var, value) in vars {
            if NON_CONFIG_VARS.contains(&var.as_str()) {
                continue;
            }
            let path: Vec<String> = var["BERTH_".len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            match lookup_mut(&mut tree, &path) {
                Some(slot) if !slot.is_object() => *slot = scalar(&value, slot),
                Some(_) => {
                    return Err(ConfigError::Env {
                        var,
                        message: "names a section, not a key".into(),
                    });
                }
                None => warnings.push(format!("ignoring {var}: no config key {}", path.join("."))),
            }
        }
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            key_err(&key, e.into_inner().to_string())
        })?;
        config.validate()?;
        Ok((config, warnings))
    }

    /// Checks what types alone cannot. Called by [`Config::load`]; call again after applying
    /// command-line overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(key_err("data_dir", "must not be empty"));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(key_err("log.format", "must be `text` or `json`"));
        }
        if !self.metadata.url.is_empty() && !self.metadata.url.starts_with("sqlite://") {
            return Err(key_err("metadata.url", "must be a sqlite:// URL"));
        }
        if self.storage.driver != "filesystem" {
            return Err(key_err("storage.driver", "must be `filesystem`"));
        }
        if self.limits.manifest_max_bytes == 0 || self.limits.manifest_max_bytes > 64 * 1024 * 1024
        {
            return Err(key_err(
                "limits.manifest_max_bytes",
                "must be between 1 and 67108864",
            ));
        }
        if self.limits.page_max == 0 {
            return Err(key_err("limits.page_max", "must be at least 1"));
        }
        self.upload_expiry()?;
        self.auth_durations()?;
        if self.auth.service.is_empty()
            || !self
                .auth
                .service
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(key_err(
                "auth.service",
                "must be a non-empty name without spaces or quotes",
            ));
        }
        let realm = &self.auth.realm;
        if !(realm.is_empty() || realm.starts_with("http://") || realm.starts_with("https://")) {
            return Err(key_err("auth.realm", "must be an http:// or https:// URL"));
        }
        if self.scanner.workers == 0 || self.scanner.workers > 64 {
            return Err(key_err("scanner.workers", "must be between 1 and 64"));
        }
        for (name, feed) in &self.vulndb.feeds {
            let key = format!("vulndb.feeds.{name}");
            if !feed.interval.is_empty() {
                humantime::parse_duration(&feed.interval)
                    .map_err(|e| key_err(&format!("{key}.interval"), e.to_string()))?;
            }
            if !(feed.url.is_empty()
                || feed.url.starts_with("http://")
                || feed.url.starts_with("https://"))
            {
                return Err(key_err(&format!("{key}.url"), "must be an http(s) URL"));
            }
        }
        if !self.clair.psk.is_empty() {
            use base64::Engine as _;
            let key = base64::engine::general_purpose::STANDARD
                .decode(self.clair.psk.trim())
                .map_err(|_| key_err("clair.psk", "must be base64 (as Clair's auth.psk.key)"))?;
            if key.len() < 16 {
                return Err(key_err("clair.psk", "must decode to at least 16 bytes"));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            key_err(
                "listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:5000: {e}",
                    self.listen
                ),
            )
        })
    }

    pub fn upload_expiry(&self) -> Result<Duration, ConfigError> {
        humantime::parse_duration(&self.uploads.expire_after).map_err(|e| {
            key_err(
                "uploads.expire_after",
                format!("{:?}: {e}", self.uploads.expire_after),
            )
        })
    }

    /// The SQLite database file.
    pub fn sqlite_path(&self) -> PathBuf {
        match self.metadata.url.strip_prefix("sqlite://") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => self.data_dir.join("berth.db"),
        }
    }

    /// Root folder of the filesystem blob store.
    pub fn storage_path(&self) -> PathBuf {
        if self.storage.path.is_empty() {
            self.data_dir.join("storage")
        } else {
            PathBuf::from(&self.storage.path)
        }
    }
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    // Unknown keys are kept so deserialization reports them by name.
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (b, o) => *b = o,
    }
}

fn lookup_mut<'a>(tree: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(tree, |node, key| node.as_object_mut()?.get_mut(key))
}

/// Interprets an environment string with the type of the default it replaces.
fn scalar(raw: &str, current: &Value) -> Value {
    match current {
        Value::Number(_) => raw
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.into())),
        // Lists are comma-separated in variables: BERTH_AUTH__SUPERUSERS=alice,bob
        Value::Array(_) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        Value::Bool(_) => match raw {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        _ => Value::String(raw.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let (c, w) = Config::load(None, env(&[])).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.listen, "127.0.0.1:5000");
        assert_eq!(c.data_dir, PathBuf::from("./berth-data"));
        assert_eq!(c.limits.manifest_max_bytes, 4 * 1024 * 1024);
        assert_eq!(c.sqlite_path(), PathBuf::from("./berth-data/berth.db"));
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("berth.yaml");
        std::fs::write(
            &f,
            "listen: 127.0.0.1:6000\nlimits:\n  manifest_max_bytes: 1000\n",
        )
        .unwrap();
        let (c, _) = Config::load(Some(&f), env(&[])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:6000");
        assert_eq!(c.limits.manifest_max_bytes, 1000);
        let (c, w) = Config::load(
            Some(&f),
            env(&[
                ("BERTH_LISTEN", "127.0.0.1:7000"),
                ("BERTH_LIMITS__MANIFEST_MAX_BYTES", "2000"),
                ("BERTH_NOPE", "x"),
                ("BERTH_SHARED", "../shared"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert_eq!(c.limits.manifest_max_bytes, 2000);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("BERTH_NOPE"));
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("berth.yaml");
        std::fs::write(&f, "limits:\n  manifest_max_byte: 1\n").unwrap();
        let e = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("limits") && e.contains("manifest_max_byte"),
            "{e}"
        );

        let e = Config::load(None, env(&[("BERTH_LIMITS__MANIFEST_MAX_BYTES", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.manifest_max_bytes"), "{e}");

        let e = Config::load(None, env(&[("BERTH_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`"), "{e}");

        std::fs::write(&f, "listen: [unclosed\n").unwrap();
        assert!(matches!(
            Config::load(Some(&f), env(&[])),
            Err(ConfigError::Yaml { .. })
        ));
    }
}
