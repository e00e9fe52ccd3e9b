//! Registry bearer tokens: short-lived JWTs in the shape of Docker's token authentication
//! spec, signed with Ed25519 (`"alg":"EdDSA"`), and the keys that sign them.
//!
//! **Keys.** A [`KeyRing`] holds every key a node may need. The newest active key signs; every
//! key verifies until it is retired *and* the tokens it signed have expired (its retirement
//! time plus [`KeyRing::retention_secs`]), so rotation never invalidates a token in flight.
//! A key's id (`kid`) is derived from its public key, so a `kid` names exactly one key:
//! a stored key whose `kid` does not match is refused. Keys serialize to [`StoredKey`] (raw
//! 32-byte seed, base64url) so all nodes share them through the metadata store.
//!
//! **Verification** is strict and ordered cheapest-first: length bound, three segments,
//! bounded header, `alg` exactly `EdDSA` (so `none`, `HS256` keyed with the public key and
//! every other confusion is refused before any key is touched), no `crit`, known and still
//! valid `kid`, signature (`verify_strict`: no malleable or small-order signatures), and only
//! then the payload is parsed and `iss`, `aud`, `exp`, `nbf`, `iat` checked with a small
//! leeway. Each failure is its own [`TokenError`] variant so logs say what was wrong (the
//! HTTP layer answers all of them with the same 401).
//!
//! **Cache.** An Ed25519 verification costs tens of microseconds; a registry pull makes
//! dozens of requests with one token. [`TokenCache`] maps sha256(token) to the verified claims,
//! so a repeat costs a hash and a map lookup. Only successes are cached; a hit re-checks the
//! time claims, `iss`/`aud` and that the signing key is still in the ring and valid, so a
//! cached answer is always the answer a full verification would give now.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::CryptoRng;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::scope::{AccessEntry, Action, Resource, access_permits};

/// Longest token accepted (and issued). Docker's clients send it in every request header.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest encoded header accepted. The header is parsed before the signature is checked, so
/// it is kept small; the payload is parsed only after.
pub const MAX_HEADER_LEN: usize = 1024;
/// The only signature algorithm accepted.
pub const ALGORITHM: &str = "EdDSA";
/// Default lifetime of an issued token (Docker clients expect at least 60 s).
pub const DEFAULT_TTL_SECS: u64 = 300;
/// Default clock-skew allowance between berth nodes and between nodes and clients.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Bytes of sha256(public key) in a `kid`: 15 bytes is 20 base64url characters, without
/// padding, and collisions among a handful of keys are out of the question.
const KID_HASH_BYTES: usize = 15;
/// Length of an encoded Ed25519 signature (64 bytes, base64url without padding).
const SIGNATURE_B64_LEN: usize = 86;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is {len} bytes, longer than {MAX_TOKEN_LEN}")]
    TooLong { len: usize },
    #[error("token header is longer than {MAX_HEADER_LEN} bytes")]
    HeaderTooLarge,
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    #[error("token algorithm {0:?} is not accepted (only EdDSA is)")]
    UnsupportedAlgorithm(String),
    #[error("token header has critical extensions, which are not supported")]
    CriticalHeader,
    #[error("token header has no key id")]
    MissingKeyId,
    #[error("token key id {0:?} is not known")]
    UnknownKeyId(String),
    #[error("token key {0:?} was retired and its tokens have expired")]
    KeyNoLongerValid(String),
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: u64, now: u64 },
    #[error("token was issued in the future, at {iat} (now {now})")]
    IssuedInFuture { iat: u64, now: u64 },
    #[error("token audience {0:?} is not this registry")]
    WrongAudience(String),
    #[error("token issuer {0:?} is not this registry's token service")]
    WrongIssuer(String),
    #[error("no active signing key")]
    NoSigningKey,
    #[error("token could not be encoded: {0}")]
    Encode(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("stored key seed is not 32 bytes of base64url")]
    BadSeed,
    #[error("stored key id {stored:?} does not match its public key (expected {computed:?})")]
    KidMismatch { stored: String, computed: String },
    #[error("key {0:?} is already in the ring")]
    DuplicateKid(String),
    #[error("key {0:?} is not in the ring")]
    UnknownKid(String),
}

/// One Ed25519 signing key with its lifecycle.
#[derive(Clone)]
pub struct TokenKey {
    kid: String,
    signing: SigningKey,
    verifying: VerifyingKey,
    created_at: u64,
    retired_at: Option<u64>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate(created_at: u64) -> TokenKey {
        TokenKey::generate_with(&mut crate::os_rng(), created_at)
    }

    /// A new key from `rng` (a CSPRNG; tests pass a seeded one).
    pub fn generate_with<R: CryptoRng + ?Sized>(rng: &mut R, created_at: u64) -> TokenKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        TokenKey::from_seed(&seed, created_at)
    }

    /// The key whose 32-byte Ed25519 seed is `seed`.
    pub fn from_seed(seed: &[u8; 32], created_at: u64) -> TokenKey {
        let signing = SigningKey::from_bytes(seed);
        let verifying = signing.verifying_key();
        TokenKey {
            kid: kid_of(&verifying),
            signing,
            verifying,
            created_at,
            retired_at: None,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    pub fn retired_at(&self) -> Option<u64> {
        self.retired_at
    }

    /// Stops this key signing from `at` on (an earlier retirement is kept).
    pub fn retire(&mut self, at: u64) {
        self.retired_at = Some(self.retired_at.map_or(at, |r| r.min(at)));
    }

    fn signs_at(&self, now: u64) -> bool {
        self.retired_at.is_none_or(|r| now < r)
    }

    pub fn to_stored(&self) -> StoredKey {
        StoredKey {
            kid: self.kid.clone(),
            seed: URL_SAFE_NO_PAD.encode(self.signing.to_bytes()),
            created_at: self.created_at,
            retired_at: self.retired_at,
        }
    }

    pub fn from_stored(stored: &StoredKey) -> Result<TokenKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32 + 3]);
        match URL_SAFE_NO_PAD.decode_slice(stored.seed.as_bytes(), seed.as_mut()) {
            Ok(32) => {}
            _ => return Err(KeyError::BadSeed),
        }
        let mut exact = Zeroizing::new([0u8; 32]);
        exact.copy_from_slice(&seed[..32]);
        let mut key = TokenKey::from_seed(&exact, stored.created_at);
        if key.kid != stored.kid {
            return Err(KeyError::KidMismatch {
                stored: stored.kid.chars().take(64).collect(),
                computed: key.kid,
            });
        }
        key.retired_at = stored.retired_at;
        Ok(key)
    }
}

/// `base64url(sha256(public key)[..15])`.
fn kid_of(key: &VerifyingKey) -> String {
    let hash = Sha256::digest(key.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash[..KID_HASH_BYTES])
}

/// The storable form of a [`TokenKey`]: what goes into the shared metadata store. The seed is
/// the private key; `Debug` hides it and it is wiped on drop.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredKey {
    pub kid: String,
    /// The 32-byte Ed25519 seed, base64url without padding.
    pub seed: String,
    pub created_at: u64,
    #[serde(default)]
    pub retired_at: Option<u64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

/// The signing and verifying keys of a berth deployment.
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// Newest first.
    keys: Vec<TokenKey>,
    retention_secs: u64,
    activation_delay_secs: u64,
}

impl KeyRing {
    /// An empty ring whose retired keys keep verifying for `retention_secs` after retirement
    /// (use [`TokenConfig::key_retention_secs`]: the token lifetime plus clock skew).
    pub fn new(retention_secs: u64) -> KeyRing {
        KeyRing {
            keys: Vec::new(),
            retention_secs,
            activation_delay_secs: 0,
        }
    }

    /// A new key signs only `secs` after its creation (while an older key is still active),
    /// giving every node time to load it before tokens signed by it arrive.
    #[must_use]
    pub fn with_activation_delay(mut self, secs: u64) -> KeyRing {
        self.activation_delay_secs = secs;
        self
    }

    pub fn retention_secs(&self) -> u64 {
        self.retention_secs
    }

    pub fn keys(&self) -> &[TokenKey] {
        &self.keys
    }

    pub fn insert(&mut self, key: TokenKey) -> Result<(), KeyError> {
        if self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(KeyError::DuplicateKid(key.kid));
        }
        self.keys.push(key);
        // Newest first; the kid breaks ties so every node orders the same keys the same way.
        self.keys.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        Ok(())
    }

    pub fn retire(&mut self, kid: &str, at: u64) -> Result<(), KeyError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        key.retire(at);
        Ok(())
    }

    /// Adds `new` and retires every other active key once `new` has activated, so signing
    /// passes from the old key to the new one without a gap.
    pub fn rotate(&mut self, new: TokenKey) -> Result<(), KeyError> {
        let handover = new.created_at.saturating_add(self.activation_delay_secs);
        let new_kid = new.kid.clone();
        self.insert(new)?;
        for key in self.keys.iter_mut().filter(|k| k.kid != new_kid) {
            key.retire(handover);
        }
        Ok(())
    }

    /// The key that signs at `now`: the newest key that is not retired and has activated, or,
    /// when none has activated yet, the newest that is not retired.
    pub fn signing_key(&self, now: u64) -> Option<&TokenKey> {
        let mut active = self.keys.iter().filter(|k| k.signs_at(now));
        let delay = self.activation_delay_secs;
        active
            .clone()
            .find(|k| k.created_at.saturating_add(delay) <= now)
            .or_else(|| active.next())
    }

    /// The key named `kid`, if it may verify tokens at `now`.
    pub fn verifying_key(&self, kid: &str, now: u64) -> Result<&TokenKey, TokenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| TokenError::UnknownKeyId(kid.chars().take(64).collect()))?;
        if self.verifies_at(key, now) {
            Ok(key)
        } else {
            Err(TokenError::KeyNoLongerValid(key.kid.clone()))
        }
    }

    fn verifies_at(&self, key: &TokenKey, now: u64) -> bool {
        key.retired_at
            .is_none_or(|r| now <= r.saturating_add(self.retention_secs))
    }

    /// Removes keys that can no longer verify anything, returning their ids so the caller can
    /// delete them from the store.
    pub fn prune(&mut self, now: u64) -> Vec<String> {
        let mut removed = Vec::new();
        let retention = self.retention_secs;
        self.keys.retain(|k| {
            let keep = k
                .retired_at
                .is_none_or(|r| now <= r.saturating_add(retention));
            if !keep {
                removed.push(k.kid.clone());
            }
            keep
        });
        removed
    }

    /// Whether a new key should be made: there is no active key, or the newest active key is
    /// older than `max_age_secs`.
    pub fn needs_rotation(&self, now: u64, max_age_secs: u64) -> bool {
        match self.keys.iter().find(|k| k.signs_at(now)) {
            None => true,
            Some(k) => now.saturating_sub(k.created_at) >= max_age_secs,
        }
    }

    pub fn to_stored(&self) -> Vec<StoredKey> {
        self.keys.iter().map(TokenKey::to_stored).collect()
    }

    pub fn from_stored<'a>(
        stored: impl IntoIterator<Item = &'a StoredKey>,
        retention_secs: u64,
    ) -> Result<KeyRing, KeyError> {
        let mut ring = KeyRing::new(retention_secs);
        for s in stored {
            ring.insert(TokenKey::from_stored(s)?)?;
        }
        Ok(ring)
    }
}

/// The claims of a registry token (Docker token authentication spec).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    /// The token service that issued it.
    pub iss: String,
    /// The account it was issued to (empty for anonymous access).
    pub sub: String,
    /// The registry service it is for.
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    /// A unique id, for audit logs.
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessEntry>,
}

impl Claims {
    /// Whether the token allows `action` on `resource`.
    pub fn permits(&self, resource: &Resource, action: Action) -> bool {
        access_permits(&self.access, resource, action)
    }
}

/// A token that passed verification, with the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub kid: String,
    pub claims: Claims,
}

/// A freshly issued token and its claims (for `expires_in` and `issued_at` in the response).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub claims: Claims,
}

#[derive(serde::Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(serde::Deserialize)]
struct HeaderIn {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
}

/// What a berth deployment's tokens say and how strictly they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss`: the token service's name.
    pub issuer: String,
    /// `aud`: the registry service's name (the `service` parameter of token requests).
    pub service: String,
    pub ttl_secs: u64,
    pub leeway_secs: u64,
}

impl TokenConfig {
    pub fn new(issuer: impl Into<String>, service: impl Into<String>) -> TokenConfig {
        TokenConfig {
            issuer: issuer.into(),
            service: service.into(),
            ttl_secs: DEFAULT_TTL_SECS,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }

    /// How long a retired key must keep verifying: until every token it signed has expired,
    /// allowing for clock skew on both ends.
    pub fn key_retention_secs(&self) -> u64 {
        self.ttl_secs
            .saturating_add(self.leeway_secs.saturating_mul(2))
    }

    /// Issues a token for `subject` granting `access`, signed by the ring's current key.
    /// `rng` supplies the `jti`.
    pub fn issue<R: CryptoRng + ?Sized>(
        &self,
        ring: &KeyRing,
        subject: &str,
        access: Vec<AccessEntry>,
        now: u64,
        rng: &mut R,
    ) -> Result<IssuedToken, TokenError> {
        let key = ring.signing_key(now).ok_or(TokenError::NoSigningKey)?;
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.service.clone(),
            exp: now.saturating_add(self.ttl_secs),
            nbf: now,
            iat: now,
            jti: URL_SAFE_NO_PAD.encode(jti),
            access,
        };
        let token = sign(key, &claims)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong { len: token.len() });
        }
        Ok(IssuedToken { token, claims })
    }

    /// Verifies `token` against `ring` at `now`. See the module documentation for the checks.
    pub fn verify(
        &self,
        ring: &KeyRing,
        token: &str,
        now: u64,
    ) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong { len: token.len() });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "a token has three dot-separated parts",
            ));
        };
        if header_b64.len() > MAX_HEADER_LEN {
            return Err(TokenError::HeaderTooLarge);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: HeaderIn = serde_json::from_slice(&header_json)
            .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
        match header.alg.as_deref() {
            Some(ALGORITHM) => {}
            other => {
                let shown = other.unwrap_or("").chars().take(32).collect();
                return Err(TokenError::UnsupportedAlgorithm(shown));
            }
        }
        if header.crit.is_some() {
            return Err(TokenError::CriticalHeader);
        }
        let kid = header.kid.ok_or(TokenError::MissingKeyId)?;
        let key = ring.verifying_key(&kid, now)?;

        if signature_b64.len() != SIGNATURE_B64_LEN {
            return Err(TokenError::Malformed(
                "signature is not 64 bytes of base64url",
            ));
        }
        let mut sig = [0u8; 64 + 2];
        match URL_SAFE_NO_PAD.decode_slice(signature_b64, &mut sig) {
            Ok(64) => {}
            _ => {
                return Err(TokenError::Malformed(
                    "signature is not 64 bytes of base64url",
                ));
            }
        }
        let mut sig64 = [0u8; 64];
        sig64.copy_from_slice(&sig[..64]);
        let signature = Signature::from_bytes(&sig64);
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verifying
            .verify_strict(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("payload is not a valid claims object"))?;
        self.check_claims(&claims, now)?;
        Ok(VerifiedToken {
            kid: key.kid.clone(),
            claims,
        })
    }

    /// The checks that depend on the time and the deployment rather than on the signature:
    /// re-run on every cache hit.
    fn check_claims(&self, claims: &Claims, now: u64) -> Result<(), TokenError> {
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer(
                claims.iss.chars().take(64).collect(),
            ));
        }
        if claims.aud != self.service {
            return Err(TokenError::WrongAudience(
                claims.aud.chars().take(64).collect(),
            ));
        }
        let leeway = self.leeway_secs;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if now.saturating_add(leeway) < claims.nbf {
            return Err(TokenError::NotYetValid {
                nbf: claims.nbf,
                now,
            });
        }
        if now.saturating_add(leeway) < claims.iat {
            return Err(TokenError::IssuedInFuture {
                iat: claims.iat,
                now,
            });
        }
        Ok(())
    }
}

fn sign(key: &TokenKey, claims: &Claims) -> Result<String, TokenError> {
    let header = serde_json::to_vec(&HeaderOut {
        alg: ALGORITHM,
        typ: "JWT",
        kid: &key.kid,
    })
    .map_err(|e| TokenError::Encode(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Encode(e.to_string()))?;
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.signing.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

/// A bounded cache of verified tokens, keyed by sha256 of the token, shared by all request
/// tasks (it is `Sync`; lookups are sharded).
///
/// Only successful verifications are inserted, and the key is a hash of the entire token, so
/// reaching a cached entry requires presenting byte-for-byte a token that verified (or a
/// sha256 collision). Every hit re-checks `exp`/`nbf`/`iat`, `iss`/`aud` and that the signing
/// key still verifies in the ring passed in, so expiry, a changed configuration, or a key
/// removed from the ring take effect at once. Expired entries are dropped when met and
/// otherwise age out of the bounded map.
///
/// Measured with `cargo test -p berth-auth --release -- --nocapture verify_cost` on the
/// 2-core development machine, for a 451-byte token: about 52 µs for a full verification
/// (Ed25519 `verify_strict` dominates) and about 0.4 µs for a cache hit.
pub struct TokenCache {
    entries: quick_cache::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(TokenCache::DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// Enough for every client active within a token lifetime on a busy node; an entry is
    /// about a kilobyte.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// Verifies `token`, answering from the cache when it can. The result is the same as
    /// [`TokenConfig::verify`] would give.
    pub fn verify(
        &self,
        config: &TokenConfig,
        ring: &KeyRing,
        token: &str,
        now: u64,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong { len: token.len() });
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.entries.get(&key) {
            let still_valid = ring
                .verifying_key(&hit.kid, now)
                .and_then(|_| config.check_claims(&hit.claims, now));
            match still_valid {
                Ok(()) => return Ok(hit),
                Err(_) => {
                    // Fall through to a full verification, which gives the precise error (or,
                    // if the configuration changed back, success) and never trusts the entry.
                    self.entries.remove(&key);
                }
            }
        }
        let verified = Arc::new(config.verify(ring, token, now)?);
        self.entries.insert(key, Arc::clone(&verified));
        Ok(verified)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use hmac::{Hmac, Mac};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const NOW: u64 = 1_700_000_000;

    fn config() -> TokenConfig {
        TokenConfig::new("berth-token", "berth-registry")
    }

    fn key(seed: u8, created_at: u64) -> TokenKey {
        TokenKey::from_seed(&[seed; 32], created_at)
    }

    fn ring_with(keys: impl IntoIterator<Item = TokenKey>) -> KeyRing {
        let mut ring = KeyRing::new(config().key_retention_secs());
        for k in keys {
            ring.insert(k).unwrap();
        }
        ring
    }

    fn access() -> Vec<AccessEntry> {
        vec![
            Scope::parse("repository:org/app:pull,push")
                .unwrap()
                .to_access(),
        ]
    }

    fn issue(ring: &KeyRing, now: u64) -> String {
        config()
            .issue(ring, "alice", access(), now, &mut StdRng::seed_from_u64(1))
            .unwrap()
            .token
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn parts(token: &str) -> (String, String, String) {
        let v: Vec<&str> = token.split('.').collect();
        (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
    }

    /// Builds a token from arbitrary header and claims JSON, signed by `key`.
    fn forge(key: &TokenKey, header: &str, payload: &str) -> String {
        let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = key.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&sig.to_bytes()))
    }

    fn claims_json(now: u64) -> String {
        serde_json::to_string(&Claims {
            iss: "berth-token".into(),
            sub: "alice".into(),
            aud: "berth-registry".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: "x".into(),
            access: access(),
        })
        .unwrap()
    }

    #[test]
    fn issue_and_verify_round_trip() {
        let ring = ring_with([key(1, NOW - 10)]);
        let issued = config()
            .issue(&ring, "alice", access(), NOW, &mut StdRng::seed_from_u64(1))
            .unwrap();
        let verified = config().verify(&ring, &issued.token, NOW + 1).unwrap();
        assert_eq!(verified.claims, issued.claims);
        assert_eq!(verified.kid, ring.keys()[0].kid());
        let c = &verified.claims;
        assert_eq!(
            (c.iss.as_str(), c.sub.as_str(), c.aud.as_str()),
            ("berth-token", "alice", "berth-registry")
        );
        assert_eq!((c.iat, c.nbf, c.exp), (NOW, NOW, NOW + DEFAULT_TTL_SECS));
        assert_eq!(c.jti.len(), 22);
        let app = Resource::Repository {
            name: berth_domain::RepoName::parse("org/app").unwrap(),
            class: None,
        };
        assert!(c.permits(&app, Action::Push));
        assert!(!c.permits(&app, Action::Delete));
    }

    #[test]
    fn header_and_access_claim_shape() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let (h, p, s) = parts(&token);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": ring.keys()[0].kid()})
        );
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        assert_eq!(
            payload["access"],
            serde_json::json!([{"type":"repository","name":"org/app","actions":["pull","push"]}])
        );
        assert_eq!(s.len(), SIGNATURE_B64_LEN);
    }

    #[test]
    fn kid_is_derived_from_the_public_key() {
        let k = key(1, NOW);
        assert_eq!(k.kid().len(), 20);
        let hash = Sha256::digest(k.public_key());
        assert_eq!(k.kid(), b64(&hash[..15]));
        assert_ne!(key(2, NOW).kid(), k.kid());
        assert_eq!(key(1, 0).kid(), k.kid());
    }

    #[test]
    fn forged_signature_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let (h, p, _) = parts(&token);
        // A signature by another key under the known kid.
        let other = key(2, NOW);
        let sig = other.signing.sign(format!("{h}.{p}").as_bytes());
        let forged = format!("{h}.{p}.{}", b64(&sig.to_bytes()));
        assert_eq!(
            config().verify(&ring, &forged, NOW),
            Err(TokenError::BadSignature)
        );
        // All zeros.
        let zeros = format!("{h}.{p}.{}", b64(&[0u8; 64]));
        assert_eq!(
            config().verify(&ring, &zeros, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let (h, _, s) = parts(&token);
        let greedy = claims_json(NOW).replace("\"pull\",\"push\"", "\"*\"");
        let tampered = format!("{h}.{}.{s}", b64(greedy.as_bytes()));
        assert_eq!(
            config().verify(&ring, &tampered, NOW),
            Err(TokenError::BadSignature)
        );
        // Flipping one character of the payload.
        let mut bytes = token.into_bytes();
        let i = h.len() + 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(
            config().verify(&ring, &flipped, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_header_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let (_, p, s) = parts(&token);
        let kid = ring.keys()[0].kid();
        let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
        let swapped = format!("{}.{p}.{s}", b64(header.as_bytes()));
        assert_eq!(
            config().verify(&ring, &swapped, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let kid = ring.keys()[0].kid().to_owned();
        let header = format!(r#"{{"alg":"none","kid":"{kid}"}}"#);
        let unsigned = format!(
            "{}.{}.",
            b64(header.as_bytes()),
            b64(claims_json(NOW).as_bytes())
        );
        assert_eq!(
            config().verify(&ring, &unsigned, NOW),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
        for alg in ["None", "NONE", "eddsa", "Ed25519", "ES256", "RS256", ""] {
            let header = format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#);
            let token = forge(&ring.keys()[0], &header, &claims_json(NOW));
            assert_eq!(
                config().verify(&ring, &token, NOW),
                Err(TokenError::UnsupportedAlgorithm(alg.into())),
                "{alg}"
            );
        }
        let no_alg = forge(
            &ring.keys()[0],
            &format!(r#"{{"kid":"{kid}"}}"#),
            &claims_json(NOW),
        );
        assert_eq!(
            config().verify(&ring, &no_alg, NOW),
            Err(TokenError::UnsupportedAlgorithm(String::new()))
        );
        // Duplicate keys cannot sneak a second alg past the check.
        let dup = forge(
            &ring.keys()[0],
            &format!(r#"{{"alg":"none","alg":"EdDSA","kid":"{kid}"}}"#),
            &claims_json(NOW),
        );
        assert!(matches!(
            config().verify(&ring, &dup, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let k = &ring.keys()[0];
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#, k.kid());
        let input = format!(
            "{}.{}",
            b64(header.as_bytes()),
            b64(claims_json(NOW).as_bytes())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&k.public_key()).unwrap();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        assert_eq!(
            config().verify(&ring, &token, NOW),
            Err(TokenError::UnsupportedAlgorithm("HS256".into()))
        );
    }

    #[test]
    fn crit_header_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let kid = ring.keys()[0].kid().to_owned();
        let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}","crit":["b64"],"b64":false}}"#);
        let token = forge(&ring.keys()[0], &header, &claims_json(NOW));
        assert_eq!(
            config().verify(&ring, &token, NOW),
            Err(TokenError::CriticalHeader)
        );
    }

    #[test]
    fn wrong_or_missing_kid_is_rejected() {
        let ring = ring_with([key(1, NOW)]);
        let stranger = key(2, NOW);
        let token = issue(&ring_with([stranger.clone()]), NOW);
        assert_eq!(
            config().verify(&ring, &token, NOW),
            Err(TokenError::UnknownKeyId(stranger.kid().into()))
        );
        let no_kid = forge(&ring.keys()[0], r#"{"alg":"EdDSA"}"#, &claims_json(NOW));
        assert_eq!(
            config().verify(&ring, &no_kid, NOW),
            Err(TokenError::MissingKeyId)
        );
        // A known kid with a signature by the key the attacker has.
        let header = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, ring.keys()[0].kid());
        let lying = forge(&stranger, &header, &claims_json(NOW));
        assert_eq!(
            config().verify(&ring, &lying, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn time_claims_are_enforced_with_leeway() {
        let ring = ring_with([key(1, 0)]);
        let token = issue(&ring, NOW);
        let exp = NOW + DEFAULT_TTL_SECS;
        let leeway = DEFAULT_LEEWAY_SECS;
        assert!(config().verify(&ring, &token, exp).is_ok());
        assert!(config().verify(&ring, &token, exp + leeway - 1).is_ok());
        assert_eq!(
            config().verify(&ring, &token, exp + leeway),
            Err(TokenError::Expired {
                exp,
                now: exp + leeway
            })
        );
        assert!(config().verify(&ring, &token, NOW - leeway).is_ok());
        assert_eq!(
            config().verify(&ring, &token, NOW - leeway - 1),
            Err(TokenError::NotYetValid {
                nbf: NOW,
                now: NOW - leeway - 1
            })
        );
        // iat in the future with an nbf in the past.
        let kid = ring.keys()[0].kid().to_owned();
        let weird = claims_json(NOW).replace(
            &format!("\"iat\":{NOW}"),
            &format!("\"iat\":{}", NOW + 1000),
        );
        let token = forge(
            &ring.keys()[0],
            &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
            &weird,
        );
        assert_eq!(
            config().verify(&ring, &token, NOW),
            Err(TokenError::IssuedInFuture {
                iat: NOW + 1000,
                now: NOW
            })
        );
    }

    #[test]
    fn audience_and_issuer_must_match() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let mut other_service = config();
        other_service.service = "other-registry".into();
        assert_eq!(
            other_service.verify(&ring, &token, NOW),
            Err(TokenError::WrongAudience("berth-registry".into()))
        );
        let mut other_issuer = config();
        other_issuer.issuer = "someone-else".into();
        assert_eq!(
            other_issuer.verify(&ring, &token, NOW),
            Err(TokenError::WrongIssuer("berth-token".into()))
        );
        // An array audience is not what berth issues: refused as malformed.
        let kid = ring.keys()[0].kid().to_owned();
        let arr =
            claims_json(NOW).replace("\"aud\":\"berth-registry\"", "\"aud\":[\"berth-registry\"]");
        let token = forge(
            &ring.keys()[0],
            &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
            &arr,
        );
        assert!(matches!(
            config().verify(&ring, &token, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn size_bounds_are_enforced_before_parsing() {
        let ring = ring_with([key(1, NOW)]);
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            config().verify(&ring, &huge, NOW),
            Err(TokenError::TooLong {
                len: MAX_TOKEN_LEN + 1
            })
        );
        let big_header = format!("{}.e30.{}", "a".repeat(MAX_HEADER_LEN + 1), "a".repeat(86));
        assert_eq!(
            config().verify(&ring, &big_header, NOW),
            Err(TokenError::HeaderTooLarge)
        );
        // Issuing something that would be refused is refused.
        let many: Vec<AccessEntry> = (0..200)
            .map(|i| {
                Scope::parse(&format!("repository:org/repository-number-{i}:pull,push"))
                    .unwrap()
                    .to_access()
            })
            .collect();
        assert!(matches!(
            config().issue(&ring, "a", many, NOW, &mut StdRng::seed_from_u64(1)),
            Err(TokenError::TooLong { .. })
        ));
    }

    #[test]
    fn malformed_tokens() {
        let ring = ring_with([key(1, NOW)]);
        let token = issue(&ring, NOW);
        let (h, p, s) = parts(&token);
        let kid = ring.keys()[0].kid().to_owned();
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            format!("{h}.{p}.{s}.extra"),
            format!("{h}.{p}"),
            format!("!!!.{p}.{s}"),
            format!("{h}=.{p}.{s}"),
            format!("{}.{p}.{s}", b64(b"not json")),
            format!("{}.{p}.{s}", b64(b"[1,2]")),
            format!("{h}.{p}.{}", &s[..85]),
            format!("{h}.{p}.{s}A"),
            format!("{h}.{p}.{}", "*".repeat(86)),
        ];
        for t in &cases {
            assert!(
                matches!(
                    config().verify(&ring, t, NOW),
                    Err(TokenError::Malformed(_))
                ),
                "{t:?}: {:?}",
                config().verify(&ring, t, NOW)
            );
        }
        // A correctly signed payload that is not valid claims.
        let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
        for payload in ["{}", "not json", r#"{"exp":"soon"}"#] {
            let t = forge(&ring.keys()[0], &header, payload);
            assert!(matches!(
                config().verify(&ring, &t, NOW),
                Err(TokenError::Malformed(_))
            ));
        }
        // A payload that is not base64url but signed anyway.
        let input = format!("{}.%%%", b64(header.as_bytes()));
        let sig = ring.keys()[0].signing.sign(input.as_bytes());
        let t = format!("{input}.{}", b64(&sig.to_bytes()));
        assert_eq!(
            config().verify(&ring, &t, NOW),
            Err(TokenError::Malformed("payload is not base64url"))
        );
    }

    #[test]
    fn rotated_key_still_verifies_until_its_tokens_expire() {
        let cfg = config();
        let mut ring = ring_with([key(1, NOW - 1000)]);
        let old_token = issue(&ring, NOW);
        let old_kid = ring.keys()[0].kid().to_owned();

        ring.rotate(key(2, NOW + 10)).unwrap();
        let new_kid = key(2, 0).kid().to_owned();
        assert_eq!(ring.signing_key(NOW + 10).unwrap().kid(), new_kid);
        let new_token = issue(&ring, NOW + 10);
        assert!(cfg.verify(&ring, &new_token, NOW + 11).is_ok());
        // The old key is retired but still verifies its tokens.
        assert_eq!(ring.keys()[1].retired_at(), Some(NOW + 10));
        assert_eq!(
            cfg.verify(&ring, &old_token, NOW + 11).unwrap().kid,
            old_kid
        );
        // Past retirement + retention, it is refused and pruned.
        let gone = NOW + 10 + cfg.key_retention_secs() + 1;
        assert_eq!(
            ring.verifying_key(&old_kid, gone).unwrap_err(),
            TokenError::KeyNoLongerValid(old_kid.clone())
        );
        assert_eq!(ring.prune(gone), vec![old_kid.clone()]);
        assert_eq!(ring.keys().len(), 1);
        assert_eq!(
            cfg.verify(&ring, &old_token, NOW + 11),
            Err(TokenError::UnknownKeyId(old_kid))
        );
    }

    #[test]
    fn retired_and_expired_key_is_rejected_even_for_a_fresh_token() {
        // A token that claims to be fresh but is signed by a key long retired (a leaked old
        // key, say) is refused.
        let cfg = config();
        let mut ring = ring_with([key(1, 0), key(2, 100)]);
        let old = key(1, 0);
        ring.retire(old.kid(), 200).unwrap();
        let later = 200 + cfg.key_retention_secs() + 1;
        let token = forge(
            &old,
            &format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, old.kid()),
            &claims_json(later),
        );
        assert_eq!(
            cfg.verify(&ring, &token, later),
            Err(TokenError::KeyNoLongerValid(old.kid().into()))
        );
        // Retired keys never sign.
        assert_eq!(ring.signing_key(later).unwrap().kid(), key(2, 0).kid());
    }

    #[test]
    fn signing_key_selection_and_activation_delay() {
        let mut ring = KeyRing::new(600).with_activation_delay(60);
        assert!(ring.signing_key(NOW).is_none());
        assert!(ring.needs_rotation(NOW, 86_400));
        assert_eq!(
            config()
                .issue(&ring, "a", vec![], NOW, &mut StdRng::seed_from_u64(1))
                .unwrap_err(),
            TokenError::NoSigningKey
        );
        // Bootstrap: the only key signs at once.
        ring.insert(key(1, NOW)).unwrap();
        assert_eq!(ring.signing_key(NOW).unwrap().kid(), key(1, 0).kid());
        assert!(!ring.needs_rotation(NOW, 86_400));
        assert!(ring.needs_rotation(NOW + 86_400, 86_400));
        // A new key waits for the delay while the old one keeps signing.
        ring.rotate(key(2, NOW + 1000)).unwrap();
        assert_eq!(ring.signing_key(NOW + 1000).unwrap().kid(), key(1, 0).kid());
        assert_eq!(ring.signing_key(NOW + 1059).unwrap().kid(), key(1, 0).kid());
        assert_eq!(ring.signing_key(NOW + 1060).unwrap().kid(), key(2, 0).kid());
        assert_eq!(
            ring.insert(key(2, 5)),
            Err(KeyError::DuplicateKid(key(2, 0).kid().into()))
        );
        assert_eq!(
            ring.retire("nope", 1),
            Err(KeyError::UnknownKid("nope".into()))
        );
        // Retiring earlier wins over a later retirement.
        let mut k = key(3, 0);
        k.retire(50);
        k.retire(80);
        assert_eq!(k.retired_at(), Some(50));
    }

    #[test]
    fn keys_round_trip_through_storage() {
        let mut ring = ring_with([
            TokenKey::generate_with(&mut StdRng::seed_from_u64(3), NOW - 100),
            TokenKey::generate(NOW),
        ]);
        let second = ring.keys()[1].kid().to_owned();
        ring.retire(&second, NOW).unwrap();
        let stored = ring.to_stored();
        let json = serde_json::to_string(&stored).unwrap();
        let back: Vec<StoredKey> = serde_json::from_str(&json).unwrap();
        let restored = KeyRing::from_stored(&back, ring.retention_secs()).unwrap();
        assert_eq!(restored.to_stored(), stored);
        // A token signed on one node verifies on another.
        let token = issue(&ring, NOW + 1);
        assert!(config().verify(&restored, &token, NOW + 2).is_ok());
        assert!(!format!("{:?}", stored[0]).contains(&stored[0].seed));
        assert!(!format!("{:?}", ring.keys()[0]).contains(&stored[0].seed));
    }

    #[test]
    fn bad_stored_keys_are_refused() {
        let good = key(1, NOW).to_stored();
        let mut wrong_kid = good.clone();
        wrong_kid.kid = key(2, NOW).kid().into();
        assert!(matches!(
            TokenKey::from_stored(&wrong_kid),
            Err(KeyError::KidMismatch { .. })
        ));
        for seed in [
            "",
            "AAAA",
            &"A".repeat(44),
            "!!!!",
            &format!("{}=", good.seed),
        ] {
            let mut bad = good.clone();
            bad.seed = seed.to_owned();
            assert_eq!(
                TokenKey::from_stored(&bad).unwrap_err(),
                KeyError::BadSeed,
                "{seed}"
            );
        }
        let dup = [good.clone(), good.clone()];
        assert!(matches!(
            KeyRing::from_stored(&dup, 600),
            Err(KeyError::DuplicateKid(_))
        ));
    }

    #[test]
    fn cache_returns_the_same_answers_as_verification() {
        let cfg = config();
        let ring = ring_with([key(1, 0)]);
        let cache = TokenCache::new(100);
        let token = issue(&ring, NOW);
        let first = cache.verify(&cfg, &ring, &token, NOW).unwrap();
        assert_eq!(cache.len(), 1);
        let second = cache.verify(&cfg, &ring, &token, NOW + 1).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "second lookup is a cache hit");
        assert_eq!(*first, cfg.verify(&ring, &token, NOW).unwrap());

        // Expiry is re-checked on a hit, and the entry dropped.
        let late = NOW + DEFAULT_TTL_SECS + DEFAULT_LEEWAY_SECS;
        assert_eq!(
            cache.verify(&cfg, &ring, &token, late),
            cfg.verify(&ring, &token, late).map(Arc::new)
        );
        assert!(matches!(
            cache.verify(&cfg, &ring, &token, late),
            Err(TokenError::Expired { .. })
        ));
        assert!(cache.is_empty());

        // Audience is re-checked on a hit.
        cache.verify(&cfg, &ring, &token, NOW).unwrap();
        let mut other = cfg.clone();
        other.service = "elsewhere".into();
        assert!(matches!(
            cache.verify(&other, &ring, &token, NOW),
            Err(TokenError::WrongAudience(_))
        ));
    }

    #[test]
    fn cache_never_admits_failures_or_forgeries() {
        let cfg = config();
        let ring = ring_with([key(1, 0)]);
        let cache = TokenCache::new(100);
        let token = issue(&ring, NOW);
        cache.verify(&cfg, &ring, &token, NOW).unwrap();
        // A forgery differing in the signature misses the cache and fails verification.
        let (h, p, _) = parts(&token);
        let forged = format!("{h}.{p}.{}", b64(&[7u8; 64]));
        for _ in 0..3 {
            assert_eq!(
                cache.verify(&cfg, &ring, &forged, NOW),
                Err(TokenError::BadSignature)
            );
        }
        assert_eq!(cache.len(), 1, "failures are not cached");
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            cache.verify(&cfg, &ring, &huge, NOW),
            Err(TokenError::TooLong { .. })
        ));
    }

    #[test]
    fn cache_drops_tokens_of_keys_removed_from_the_ring() {
        let cfg = config();
        let ring = ring_with([key(1, 0)]);
        let cache = TokenCache::new(100);
        let token = issue(&ring, NOW);
        cache.verify(&cfg, &ring, &token, NOW).unwrap();
        // The key is withdrawn (compromised): the cached token stops working at once.
        let emptied = ring_with([key(2, 0)]);
        assert_eq!(
            cache.verify(&cfg, &emptied, &token, NOW),
            Err(TokenError::UnknownKeyId(key(1, 0).kid().into()))
        );
        assert!(cache.is_empty());
        cache.clear();
    }

    #[test]
    fn cache_is_bounded() {
        let cfg = config();
        let ring = ring_with([key(1, 0)]);
        let cache = TokenCache::new(16);
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..200 {
            let t = cfg
                .issue(&ring, "a", access(), NOW, &mut rng)
                .unwrap()
                .token;
            cache.verify(&cfg, &ring, &t, NOW).unwrap();
        }
        assert!(cache.len() <= 32, "{}", cache.len());
    }

    /// Measures verification cost. Timing is printed, never asserted; run with
    /// `cargo test -p berth-auth --release -- --nocapture verify_cost` for real numbers.
    #[test]
    fn verify_cost() {
        let cfg = config();
        let ring = ring_with([key(1, 0), key(2, 10)]);
        let token = issue(&ring, NOW);
        let cache = TokenCache::default();
        let n = if cfg!(debug_assertions) { 200 } else { 5_000 };

        let start = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(
                cfg.verify(&ring, std::hint::black_box(&token), NOW)
                    .unwrap(),
            );
        }
        let uncached = start.elapsed() / n;

        cache.verify(&cfg, &ring, &token, NOW).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..n * 10 {
            std::hint::black_box(
                cache
                    .verify(&cfg, &ring, std::hint::black_box(&token), NOW)
                    .unwrap(),
            );
        }
        let cached = start.elapsed() / (n * 10);
        println!(
            "token verify ({} bytes): uncached {uncached:?}/op, cached {cached:?}/op{}",
            token.len(),
            if cfg!(debug_assertions) {
                " (debug build: use --release)"
            } else {
                ""
            }
        );
    }
}
