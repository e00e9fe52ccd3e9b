//! Who may do what. [`Access`] authenticates callers (passwords, robot tokens, app tokens,
//! refresh tokens, sessions), decides their permissions from the identity store's facts (the
//! rules themselves are pure, in [`policy`]), issues and verifies registry tokens, performs
//! account, team, robot and permission changes on behalf of a principal ([`manage`]), and
//! records every security-relevant action in the audit log ([`audit`]).
//!
//! No HTTP here: `berth-api` turns requests into these calls, and the `berth admin` CLI calls
//! the same operations as [`Principal::System`].
//!
//! Invariants:
//! - a caller without read access to a repository gets the same answer whether or not it
//!   exists (`NotFound`), so names of private repositories never leak;
//! - verifying a registry token needs no database round trip (keys are in memory, reloaded
//!   from the store periodically and when an unknown `kid` shows up);
//! - secrets are compared as hashes in constant time, unknown users still pay for a password
//!   hash, and no secret is ever logged or stored in clear.

pub mod audit;
pub mod limiter;
pub mod manage;
pub mod policy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use berth_auth::{
    AccessEntry, Action, ActionSet, Argon2Params, KeyRing, PasswordHasher, Resource, Scope, Secret,
    SecretHash, SecretKind, TokenCache, TokenConfig, TokenError, TokenKey, VerifiedToken,
};
use berth_domain::RepoName;
use berth_meta::identity::{
    AuditRecord, NamespaceKind, NewRepo, RefreshTokenRow, RepoFacts, Role, SessionRow,
    SigningKeyRow, Subject, Visibility,
};
use berth_meta::{IdentityStore, MetaError};

pub use audit::AuditSink;
pub use limiter::{LoginLimiter, RetryAfter};

/// Settings of the access layer (from the `auth` section of the config).
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// The registry's service name: the token audience and the `service` of challenges.
    pub service: String,
    /// The token issuer's name.
    pub issuer: String,
    pub token_ttl_secs: u64,
    /// Anonymous callers may pull public repositories.
    pub anonymous_pull: bool,
    /// Anyone may create a user account through the API (otherwise only superusers).
    pub open_registration: bool,
    /// Users who are superusers whatever the database says.
    pub superusers: Vec<String>,
    pub refresh_ttl_secs: u64,
    pub session_ttl_secs: u64,
    /// A signing key older than this is replaced (the old one keeps verifying until its
    /// tokens have expired).
    pub key_max_age_secs: u64,
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    pub argon2: Argon2Params,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            service: "berth".into(),
            issuer: "berth".into(),
            token_ttl_secs: 300,
            anonymous_pull: false,
            open_registration: false,
            superusers: Vec::new(),
            refresh_ttl_secs: 30 * 24 * 3600,
            session_ttl_secs: 12 * 3600,
            key_max_age_secs: 30 * 24 * 3600,
            login_max_failures: 10,
            login_window_secs: 300,
            argon2: Argon2Params::default(),
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        id: i64,
        name: String,
        superuser: bool,
    },
    /// A robot account, `name` being `namespace+robot`.
    Robot {
        id: i64,
        name: String,
        namespace_id: i64,
    },
    /// The local `berth admin` command line: all powers.
    System,
}

impl Principal {
    pub fn is_superuser(&self) -> bool {
        matches!(
            self,
            Principal::System
                | Principal::User {
                    superuser: true,
                    ..
                }
        )
    }

    /// The name tokens and audit entries carry; empty for anonymous.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { name, .. } | Principal::Robot { name, .. } => name,
            Principal::System => "berth-admin",
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User { .. } => "user",
            Principal::Robot { .. } => "robot",
            Principal::System => "cli",
        }
    }

    /// The store's subject for grants and memberships.
    pub fn subject(&self) -> Option<Subject> {
        match self {
            Principal::User { id, .. } => Some(Subject::User(*id)),
            Principal::Robot { id, .. } => Some(Subject::Robot(*id)),
            Principal::Anonymous | Principal::System => None,
        }
    }
}

/// Where a request came from, for the audit log and login throttling.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Credentials missing or wrong. The message is safe to show.
    #[error("{0}")]
    Unauthorized(String),
    #[error("too many failed logins; retry in {0} seconds")]
    TooManyAttempts(u64),
    /// Authenticated, and allowed to know the thing exists, but not to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Does not exist, or the caller may not know that it exists.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("metadata store: {0}")]
    Meta(#[from] MetaError),
    #[error("token: {0}")]
    Token(#[from] TokenError),
    #[error("signing keys: {0}")]
    Key(#[from] berth_auth::KeyError),
    #[error("password hashing: {0}")]
    Password(#[from] berth_auth::PasswordError),
}

impl AccessError {
    /// Whether this is the server's fault (to log, and to hide from the caller).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            AccessError::Meta(_)
                | AccessError::Token(_)
                | AccessError::Key(_)
                | AccessError::Password(_)
        )
    }
}

impl From<berth_meta::identity::IdentityError> for AccessError {
    fn from(e: berth_meta::identity::IdentityError) -> Self {
        use berth_meta::identity::IdentityError as E;
        match e {
            E::Exists(what) => AccessError::Conflict(format!("{what} already exists")),
            E::NotFound(what) => AccessError::NotFound(format!("{what} does not exist")),
            E::Meta(m) => AccessError::Meta(m),
        }
    }
}

pub type Result<T, E = AccessError> = std::result::Result<T, E>;

/// A registry token as `/v2/auth` returns it.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: String,
    pub expires_in: u64,
    pub issued_at: u64,
    pub access: Vec<AccessEntry>,
    /// A refresh token, when one was asked for (OAuth2 `access_type=offline`).
    pub refresh_token: Option<String>,
}

/// Which repositories a principal may see, for listings.
#[derive(Debug, Clone)]
pub struct RepoFilter {
    all: bool,
    repos: std::collections::HashSet<String>,
    namespaces: std::collections::HashSet<String>,
    public: std::collections::HashSet<String>,
}

impl RepoFilter {
    pub fn allows(&self, name: &str) -> bool {
        if self.all || self.repos.contains(name) || self.public.contains(name) {
            return true;
        }
        let ns = name.split('/').next().unwrap_or(name);
        name.contains('/') && self.namespaces.contains(ns)
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How often the key ring may be reloaded because a token named an unknown key.
const RELOAD_ON_MISS_SECS: u64 = 5;
/// New keys sign only after this long, so every node has loaded them first.
const KEY_ACTIVATION_DELAY_SECS: u64 = 60;

pub struct Access {
    store: Arc<dyn IdentityStore>,
    config: AccessConfig,
    tokens: TokenConfig,
    hasher: PasswordHasher,
    ring: RwLock<Arc<KeyRing>>,
    last_reload: AtomicU64,
    cache: TokenCache,
    limiter: LoginLimiter,
    audit: AuditSink,
    /// Password hashes in flight. Each argon2id hash holds `m_cost` (19 MiB) of memory, so a
    /// burst of logins is queued here rather than allowed to grow the process without bound.
    hashing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("service", &self.config.service)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Loads the signing keys (making the first one if there is none) and starts the audit
    /// writer. Must run inside a tokio runtime.
    pub async fn open(store: Arc<dyn IdentityStore>, config: AccessConfig) -> Result<Arc<Access>> {
        let mut tokens = TokenConfig::new(config.issuer.clone(), config.service.clone());
        tokens.ttl_secs = config.token_ttl_secs;
        let hasher = PasswordHasher::new(config.argon2)?;
        let access = Access {
            audit: AuditSink::start(store.clone()),
            ring: RwLock::new(Arc::new(KeyRing::new(tokens.key_retention_secs()))),
            last_reload: AtomicU64::new(0),
            cache: TokenCache::default(),
            limiter: LoginLimiter::new(config.login_max_failures, config.login_window_secs),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            store,
            tokens,
            hasher,
            config,
        };
        access.maintain_keys().await?;
        Ok(Arc::new(access))
    }

    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }

    pub fn audit_sink(&self) -> &AuditSink {
        &self.audit
    }

    // ------------------------------------------------------------------ keys

    async fn load_ring(&self) -> Result<()> {
        let rows = self.store.signing_keys().await?;
        let mut ring = KeyRing::new(self.tokens.key_retention_secs())
            .with_activation_delay(KEY_ACTIVATION_DELAY_SECS);
        for row in &rows {
            let stored = berth_auth::StoredKey {
                kid: row.kid.clone(),
                seed: row.seed.clone(),
                created_at: row.created_at.max(0) as u64,
                retired_at: row.retired_at.map(|r| r.max(0) as u64),
            };
            match TokenKey::from_stored(&stored) {
                Ok(key) => ring.insert(key)?,
                Err(e) => {
                    tracing::error!(kid = %row.kid, error = %e, "ignoring a corrupt signing key")
                }
            }
        }
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
        self.last_reload.store(now(), Ordering::Relaxed);
        Ok(())
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads the keys from the store, makes a new signing key when the current one is too
    /// old (or there is none), retires the old one and forgets keys that can verify nothing
    /// any more. Run at start and periodically; safe on several nodes at once (at worst two
    /// nodes each add a key, and both keys verify).
    pub async fn maintain_keys(&self) -> Result<()> {
        self.load_ring().await?;
        let t = now();
        let ring = self.ring();
        if ring.needs_rotation(t, self.config.key_max_age_secs) {
            self.rotate(&ring, t).await?;
        }
        let mut ring = (*self.ring()).clone();
        for kid in ring.prune(now()) {
            self.store.delete_signing_key(&kid).await?;
        }
        Ok(())
    }

    /// Makes a new signing key at once (after a suspected leak, say); the old keys keep
    /// verifying the tokens they signed until those expire.
    pub async fn rotate_keys_now(&self) -> Result<()> {
        self.load_ring().await?;
        let ring = self.ring();
        self.rotate(&ring, now()).await
    }

    async fn rotate(&self, ring: &KeyRing, t: u64) -> Result<()> {
        {
            let first = ring.signing_key(t).is_none();
            let key = TokenKey::generate(t);
            let stored = key.to_stored();
            self.store
                .insert_signing_key(SigningKeyRow {
                    kid: stored.kid.clone(),
                    seed: stored.seed.clone(),
                    created_at: t as i64,
                    retired_at: None,
                })
                .await?;
            // The first key signs at once; later ones after the activation delay, while the
            // old key keeps signing until then.
            let handover = if first {
                t
            } else {
                t + KEY_ACTIVATION_DELAY_SECS
            };
            for old in ring.keys().iter().filter(|k| k.retired_at().is_none()) {
                self.store
                    .retire_signing_key(old.kid(), handover as i64)
                    .await?;
            }
            tracing::info!(kid = %stored.kid, "new token signing key");
            self.load_ring().await?;
        }
        Ok(())
    }

    /// Verifies a registry token. Cached (see [`TokenCache`]); a token signed by a key this
    /// node has not loaded yet triggers one reload.
    pub async fn verify_token(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        let t = now();
        match self.cache.verify(&self.tokens, &self.ring(), token, t) {
            Err(TokenError::UnknownKeyId(_))
                if t.saturating_sub(self.last_reload.load(Ordering::Relaxed))
                    >= RELOAD_ON_MISS_SECS =>
            {
                if let Err(e) = self.load_ring().await {
                    tracing::warn!(error = %e, "could not reload signing keys");
                }
                self.cache.verify(&self.tokens, &self.ring(), token, t)
            }
            other => other,
        }
    }

    /// Verifies without awaiting anything: for hot paths that can accept a miss on a key
    /// created in the last few seconds by another node.
    pub fn verify_token_cached(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        self.cache.verify(&self.tokens, &self.ring(), token, now())
    }

    // ------------------------------------------------------------------ authentication

    fn is_config_superuser(&self, name: &str) -> bool {
        self.config.superusers.iter().any(|s| s == name)
    }

    fn user_principal(&self, u: &berth_meta::identity::User) -> Principal {
        Principal::User {
            id: u.id,
            name: u.name.clone(),
            superuser: u.superuser || self.is_config_superuser(&u.name),
        }
    }

    /// Checks a username and password, robot token or app token. Failures are throttled per
    /// account and address, and recorded.
    pub async fn authenticate(
        &self,
        username: &str,
        secret: &str,
        origin: &Origin,
    ) -> Result<Principal> {
        Ok(self
            .authenticate_expiring(username, secret, origin)
            .await?
            .0)
    }

    /// [`Access::authenticate`], also returning when the credential itself expires (an app
    /// token with an expiry): anything derived from it, such as a refresh token, must not
    /// outlive it.
    pub async fn authenticate_expiring(
        &self,
        username: &str,
        secret: &str,
        origin: &Origin,
    ) -> Result<(Principal, Option<u64>)> {
        let t = now();
        let ip = origin.ip.as_deref();
        if let Err(RetryAfter(wait)) = self.limiter.check(username, ip, t) {
            self.record_raw(
                "login",
                false,
                Some(username.to_owned()),
                "user",
                None,
                None,
                origin,
                serde_json::json!({ "reason": "rate limited" }),
            );
            tracing::warn!(account = %username, ip = ?ip, "login refused: too many failures");
            return Err(AccessError::TooManyAttempts(wait));
        }
        let result = self.check_credentials(username, secret).await;
        match &result {
            Ok((p, method, _)) => {
                self.limiter.success(username);
                self.record(
                    "login",
                    true,
                    p,
                    None,
                    None,
                    origin,
                    serde_json::json!({ "method": method }),
                );
            }
            Err(e) if !e.is_internal() => {
                self.limiter.failure(username, ip, t);
                tracing::warn!(account = %username, ip = ?ip, "login failed");
                self.record_raw(
                    "login",
                    false,
                    Some(username.to_owned()),
                    if username.contains('+') {
                        "robot"
                    } else {
                        "user"
                    },
                    None,
                    None,
                    origin,
                    serde_json::json!({ "reason": e.to_string() }),
                );
            }
            Err(_) => {}
        }
        result.map(|(p, _, expires)| (p, expires))
    }

    async fn check_credentials(
        &self,
        username: &str,
        secret: &str,
    ) -> Result<(Principal, &'static str, Option<u64>)> {
        let bad = || AccessError::Unauthorized("invalid username or password".into());
        if let Some((ns, short)) = username.split_once('+') {
            let presented = Secret::parse_kind(secret, SecretKind::Robot).map_err(|_| bad())?;
            let robot = self.store.robot(ns, short).await?.ok_or_else(bad)?;
            let stored: SecretHash = robot.token_hash.parse().map_err(|_| bad())?;
            if !stored.matches(&presented) {
                return Err(bad());
            }
            return Ok((
                Principal::Robot {
                    id: robot.id,
                    name: robot.full_name(),
                    namespace_id: robot.namespace_id,
                },
                "robot_token",
                None,
            ));
        }
        if SecretKind::detect(secret) == Some(SecretKind::AppToken) {
            let presented = Secret::parse_kind(secret, SecretKind::AppToken).map_err(|_| bad())?;
            let hash = presented.hash().to_string();
            let token = self.store.app_token_by_hash(&hash).await?.ok_or_else(bad)?;
            let user = self
                .store
                .user_by_id(token.user_id)
                .await?
                .ok_or_else(bad)?;
            let t = now() as i64;
            if user.name != username
                || !user.enabled
                || token.revoked_at.is_some()
                || token.expires_at.is_some_and(|e| e <= t)
            {
                return Err(bad());
            }
            self.store.touch_app_token(&token.id, t).await?;
            let expires = token.expires_at.map(|e| e.max(0) as u64);
            return Ok((self.user_principal(&user), "app_token", expires));
        }
        let user = self.store.user_by_name(username).await?;
        let hasher = self.hasher.clone();
        let secret_owned = secret.to_owned();
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AccessError::Meta(MetaError::Worker(e.to_string())))?;
        let Some(user) = user.filter(|u| u.enabled && u.password_hash.is_some()) else {
            // Same cost as a real check, so timing does not reveal which accounts exist.
            let _ = tokio::task::spawn_blocking(move || hasher.dummy_verify(secret_owned)).await;
            return Err(bad());
        };
        let stored = user.password_hash.clone().unwrap_or_default();
        let stored2 = stored.clone();
        let (verdict, rehash) = tokio::task::spawn_blocking(move || {
            let verdict = hasher.verify(&secret_owned, &stored2);
            let rehash = match &verdict {
                Ok(v) if v.is_match() && hasher.needs_rehash(&stored2).unwrap_or(false) => {
                    hasher.hash(&secret_owned, &mut rand::rng()).ok()
                }
                _ => None,
            };
            (verdict, rehash)
        })
        .await
        .map_err(|e| AccessError::Meta(MetaError::Worker(e.to_string())))?;
        match verdict {
            Ok(v) if v.is_match() => {
                if let Some(new_hash) = rehash {
                    self.store
                        .set_password_hash(user.id, Some(&new_hash))
                        .await?;
                    tracing::info!(user = %user.name, "password hash upgraded to argon2id");
                }
                Ok((self.user_principal(&user), "password", None))
            }
            Ok(_) => Err(bad()),
            Err(e) => {
                tracing::error!(user = %user.name, error = %e, "stored password hash is unusable");
                Err(bad())
            }
        }
    }

    /// The principal a refresh token was issued to.
    pub async fn authenticate_refresh(&self, token: &str, origin: &Origin) -> Result<Principal> {
        let bad = || AccessError::Unauthorized("invalid or expired refresh token".into());
        let presented = Secret::parse_kind(token, SecretKind::Refresh).map_err(|_| bad())?;
        let row = self
            .store
            .refresh_token(&presented.hash().to_string())
            .await?
            .ok_or_else(bad)?;
        if row.revoked_at.is_some() || row.expires_at <= now() as i64 {
            return Err(bad());
        }
        let p = self.principal_of(row.principal).await?.ok_or_else(bad)?;
        self.record(
            "login",
            true,
            &p,
            None,
            None,
            origin,
            serde_json::json!({ "method": "refresh_token" }),
        );
        Ok(p)
    }

    /// The user an app token belongs to, for `Authorization: Bearer` on the REST API.
    pub async fn authenticate_app_token(&self, token: &str) -> Result<Principal> {
        let bad = || AccessError::Unauthorized("invalid, expired or revoked token".into());
        let presented = Secret::parse_kind(token, SecretKind::AppToken).map_err(|_| bad())?;
        let row = self
            .store
            .app_token_by_hash(&presented.hash().to_string())
            .await?
            .ok_or_else(bad)?;
        let t = now() as i64;
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= t) {
            return Err(bad());
        }
        self.enabled_user(row.user_id).await?.ok_or_else(bad)
    }

    /// The user with this id as a principal, unless it is gone or disabled.
    async fn enabled_user(&self, id: i64) -> Result<Option<Principal>> {
        Ok(self
            .store
            .user_by_id(id)
            .await?
            .filter(|u| u.enabled)
            .map(|u| self.user_principal(&u)))
    }

    /// Opens a web session for a user who just authenticated; returns the cookie value.
    pub async fn create_session(&self, principal: &Principal) -> Result<String> {
        let Principal::User { id, .. } = principal else {
            return Err(AccessError::Forbidden("only users can sign in".into()));
        };
        let secret = Secret::generate(SecretKind::Session);
        let t = now() as i64;
        self.store
            .create_session(SessionRow {
                token_hash: secret.hash().to_string(),
                user_id: *id,
                created_at: t,
                expires_at: t + self.config.session_ttl_secs as i64,
            })
            .await?;
        Ok(secret.expose().to_owned())
    }

    pub async fn authenticate_session(&self, cookie: &str) -> Result<Principal> {
        let bad = || AccessError::Unauthorized("session expired; sign in again".into());
        let presented = Secret::parse_kind(cookie, SecretKind::Session).map_err(|_| bad())?;
        let row = self
            .store
            .session(&presented.hash().to_string())
            .await?
            .ok_or_else(bad)?;
        if row.expires_at <= now() as i64 {
            return Err(bad());
        }
        self.enabled_user(row.user_id).await?.ok_or_else(bad)
    }

    pub async fn end_session(&self, cookie: &str) -> Result<()> {
        if let Ok(s) = Secret::parse_kind(cookie, SecretKind::Session) {
            self.store.delete_session(&s.hash().to_string()).await?;
        }
        Ok(())
    }

    async fn principal_of(&self, subject: Subject) -> Result<Option<Principal>> {
        Ok(match subject {
            Subject::User(id) => self.enabled_user(id).await?,
            Subject::Robot(id) => self.store.robot_by_id(id).await?.map(|r| Principal::Robot {
                id: r.id,
                name: r.full_name(),
                namespace_id: r.namespace_id,
            }),
            Subject::Team(_) => None,
        })
    }

    /// The principal named by a registry token's `sub` (for listings that depend on more than
    /// the token's scopes). A deleted or disabled account is anonymous.
    pub async fn principal_by_name(&self, name: &str) -> Result<Principal> {
        if name.is_empty() {
            return Ok(Principal::Anonymous);
        }
        if let Some((ns, short)) = name.split_once('+') {
            return Ok(match self.store.robot(ns, short).await? {
                Some(r) => Principal::Robot {
                    id: r.id,
                    name: r.full_name(),
                    namespace_id: r.namespace_id,
                },
                None => Principal::Anonymous,
            });
        }
        Ok(match self.store.user_by_name(name).await? {
            Some(u) if u.enabled => self.user_principal(&u),
            _ => Principal::Anonymous,
        })
    }

    // ------------------------------------------------------------------ authorization

    pub async fn facts(&self, principal: &Principal, repo: &str) -> Result<RepoFacts> {
        Ok(self.store.repo_facts(principal.subject(), repo).await?)
    }

    /// The principal's role on `repo` (`None`: no access, or no such repository).
    pub async fn role(&self, principal: &Principal, repo: &str) -> Result<Option<Role>> {
        let facts = self.facts(principal, repo).await?;
        if facts.repo.is_none() {
            return Ok(None);
        }
        Ok(policy::repo_role(
            principal,
            &facts,
            self.config.anonymous_pull,
        ))
    }

    /// What to grant for each requested scope: the request cut down to what the principal
    /// may do. Asking to push to a repository that does not exist, in a namespace where the
    /// principal may create repositories, creates it (private, with the namespace's default
    /// permissions).
    pub async fn grant(
        &self,
        principal: &Principal,
        scopes: &[Scope],
        origin: &Origin,
    ) -> Result<Vec<AccessEntry>> {
        let mut out = Vec::new();
        for scope in scopes {
            let allowed = match scope.resource() {
                Resource::Catalog => {
                    if matches!(principal, Principal::Anonymous) && !self.config.anonymous_pull {
                        ActionSet::default()
                    } else {
                        ActionSet::default().with(Action::All)
                    }
                }
                Resource::Repository { name, .. } => {
                    self.repo_actions(principal, name, scope, origin).await?
                }
            };
            let granted = scope.intersect(&allowed);
            if !granted.is_empty() {
                out.push(granted.to_access());
            }
        }
        Ok(out)
    }

    async fn repo_actions(
        &self,
        principal: &Principal,
        name: &RepoName,
        scope: &Scope,
        origin: &Origin,
    ) -> Result<ActionSet> {
        let _ = origin;
        let facts = self.facts(principal, name.as_str()).await?;
        if facts.repo.is_none() {
            // Pushing creates the repository (see `ensure_repository`); until then nothing
            // about it exists to read. The creator will hold admin (a robot, write).
            let wants_push =
                scope.actions().contains(&Action::Push) || scope.actions().contains(&Action::All);
            if !(wants_push && policy::may_create(principal, &facts)) {
                return Ok(ActionSet::default());
            }
            let role = match principal {
                Principal::Robot { .. } => Role::Write,
                _ => Role::Admin,
            };
            return Ok(policy::actions_for(Some(role)));
        }
        Ok(policy::actions_for(policy::repo_role(
            principal,
            &facts,
            self.config.anonymous_pull,
        )))
    }

    /// Called before the first write of a push (upload, mount, manifest) by the account a
    /// token names: creates the repository, private, with its creator's grant and its
    /// organization's default permissions, if it does not exist yet. Creating it when the
    /// push starts, not when a token is asked for, keeps token requests free of side effects.
    pub async fn ensure_repository(&self, sub: &str, name: &str, origin: &Origin) -> Result<()> {
        if self.store.repository(name).await?.is_some() {
            return Ok(());
        }
        let principal = self.principal_by_name(sub).await?;
        let facts = self.facts(&principal, name).await?;
        if !policy::may_create(&principal, &facts) {
            return Err(AccessError::Forbidden(format!(
                "you cannot create repositories in {}",
                namespace_of(name).unwrap_or(name)
            )));
        }
        self.create_repository(&principal, name, Visibility::Private, "", origin)
            .await?;
        Ok(())
    }

    /// Creates a repository (the caller has checked it may), granting its creator a role.
    pub(crate) async fn create_repository(
        &self,
        principal: &Principal,
        name: &str,
        visibility: Visibility,
        description: &str,
        origin: &Origin,
    ) -> Result<berth_meta::identity::RepoInfo> {
        // Superusers and namespace owners need no grant; an org creator gets admin (a robot,
        // write) so the repository it made does not vanish from its view.
        let creator = match principal.subject() {
            Some(s @ Subject::User(_)) => Some((s, Role::Admin)),
            Some(s @ Subject::Robot(_)) => Some((s, Role::Write)),
            _ => None,
        };
        let facts = self.facts(principal, name).await?;
        let creator = creator.filter(|_| {
            facts
                .namespace
                .as_ref()
                .is_some_and(|n| n.kind == NamespaceKind::Org)
        });
        let (info, created) = self
            .store
            .create_repository(NewRepo {
                name: name.to_owned(),
                visibility,
                description: description.to_owned(),
                creator,
            })
            .await?;
        if created {
            self.record(
                "create_repo",
                true,
                principal,
                namespace_of(name),
                Some(name),
                origin,
                serde_json::json!({ "visibility": visibility.as_str() }),
            );
        }
        Ok(info)
    }

    /// Issues a registry token for `scopes`, cut down to what `principal` may do.
    ///
    /// With `offline` (a client id), also issues a refresh token, which expires with the
    /// configured lifetime or at `credential_expires_at`, whichever is first.
    pub async fn issue(
        &self,
        principal: &Principal,
        scopes: &[Scope],
        origin: &Origin,
        offline: Option<&str>,
        credential_expires_at: Option<u64>,
    ) -> Result<TokenGrant> {
        let access = self.grant(principal, scopes, origin).await?;
        let t = now();
        let issued = self.tokens.issue(
            &self.ring(),
            principal.name(),
            access.clone(),
            t,
            &mut rand::rng(),
        )?;
        let refresh_token = match (offline, principal.subject()) {
            (Some(client_id), Some(subject)) => {
                let secret = Secret::generate(SecretKind::Refresh);
                self.store
                    .create_refresh_token(RefreshTokenRow {
                        token_hash: secret.hash().to_string(),
                        principal: subject,
                        client_id: client_id.chars().take(128).collect(),
                        created_at: t as i64,
                        expires_at: (t + self.config.refresh_ttl_secs)
                            .min(credential_expires_at.unwrap_or(u64::MAX))
                            as i64,
                        revoked_at: None,
                    })
                    .await?;
                Some(secret.expose().to_owned())
            }
            _ => None,
        };
        let scopes_text: Vec<String> = access
            .iter()
            .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
            .collect();
        self.record(
            "token_issued",
            true,
            principal,
            None,
            None,
            origin,
            serde_json::json!({ "jti": issued.claims.jti, "access": scopes_text, "refresh": refresh_token.is_some() }),
        );
        Ok(TokenGrant {
            token: issued.token,
            expires_in: self.tokens.ttl_secs,
            issued_at: t,
            access,
            refresh_token,
        })
    }

    /// Which repositories `principal` may see in listings.
    pub async fn repo_filter(&self, principal: &Principal) -> Result<RepoFilter> {
        let mut filter = RepoFilter {
            all: principal.is_superuser(),
            repos: Default::default(),
            namespaces: Default::default(),
            public: Default::default(),
        };
        if filter.all {
            return Ok(filter);
        }
        if !matches!(principal, Principal::Anonymous) || self.config.anonymous_pull {
            let mut after: Option<String> = None;
            loop {
                let page = self
                    .store
                    .list_repository_infos(None, after.as_deref(), 1000)
                    .await?;
                let done = page.len() < 1000;
                after = page.last().map(|r| r.name.clone());
                filter.public.extend(
                    page.into_iter()
                        .filter(|r| r.visibility == Visibility::Public)
                        .map(|r| r.name),
                );
                if done {
                    break;
                }
            }
        }
        if let Principal::User { name, .. } = principal {
            filter.namespaces.insert(name.clone());
        }
        if let Some(subject) = principal.subject() {
            let grants = self.store.principal_grants(subject).await?;
            filter
                .repos
                .extend(grants.repos.into_iter().map(|(n, _)| n));
            filter.namespaces.extend(
                grants
                    .orgs
                    .into_iter()
                    .filter(|(_, r)| *r == berth_meta::identity::TeamRole::Admin)
                    .map(|(n, _)| n),
            );
        }
        Ok(filter)
    }

    // ------------------------------------------------------------------ audit

    /// Deletes audit entries older than `retention_secs`, in batches so writers are not held
    /// up; returns how many went.
    pub async fn prune_audit(&self, retention_secs: u64) -> Result<u64> {
        let before = now().saturating_sub(retention_secs) as i64;
        let mut total = 0;
        loop {
            let n = self.store.prune_audit(before, 10_000).await?;
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Records an action by `principal`.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        kind: &str,
        success: bool,
        principal: &Principal,
        namespace: Option<&str>,
        repository: Option<&str>,
        origin: &Origin,
        metadata: serde_json::Value,
    ) {
        let actor = match principal {
            Principal::Anonymous => None,
            p => Some(p.name().to_owned()),
        };
        let namespace = namespace.or_else(|| repository.and_then(namespace_of));
        self.record_raw(
            kind,
            success,
            actor,
            principal.kind(),
            namespace,
            repository,
            origin,
            metadata,
        );
    }

    /// Records an action by the account a registry token names (`sub`; empty: anonymous).
    pub fn record_token_action(
        &self,
        kind: &str,
        sub: &str,
        repository: &str,
        origin: &Origin,
        metadata: serde_json::Value,
    ) {
        let (actor, actor_kind) = match sub {
            "" => (None, "anonymous"),
            s if s.contains('+') => (Some(s.to_owned()), "robot"),
            s => (Some(s.to_owned()), "user"),
        };
        self.record_raw(
            kind,
            true,
            actor,
            actor_kind,
            namespace_of(repository),
            Some(repository),
            origin,
            metadata,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn record_raw(
        &self,
        kind: &str,
        success: bool,
        actor: Option<String>,
        actor_kind: &str,
        namespace: Option<&str>,
        repository: Option<&str>,
        origin: &Origin,
        metadata: serde_json::Value,
    ) {
        self.audit.record(AuditRecord {
            id: 0,
            at: now() as i64,
            kind: kind.to_owned(),
            success,
            actor,
            actor_kind: actor_kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            repository: repository.map(str::to_owned),
            ip: origin.ip.clone(),
            metadata: metadata.to_string(),
        });
    }
}

/// The namespace (first component) of a repository name, when it has more than one.
pub fn namespace_of(repo: &str) -> Option<&str> {
    repo.split_once('/').map(|(ns, _)| ns)
}
