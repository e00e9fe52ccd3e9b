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

impl Config {
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
