//! Authentication primitives for berth, free of I/O: password hashes, generated secrets,
//! Docker token-auth scopes, signed registry tokens and `Authorization` header parsing.
//!
//! Nothing here reads a clock, a file or the network: times are `now: u64` (unix seconds)
//! parameters and randomness comes from a caller's RNG, except in constructors named
//! `generate`, which use the operating system's CSPRNG. So every rule is testable with fixed
//! inputs, and accounts, teams and robots can be built on top by crates that own the storage.
//!
//! Design choices:
//! - **Ed25519 for registry tokens.** Small keys (a 32-byte seed to share between nodes),
//!   deterministic signatures (no nonce to get wrong), fast verification, and one fixed
//!   algorithm: the verifier accepts `EdDSA` and nothing else, which closes the classic JWT
//!   holes (`alg: none`, HMAC keyed with a public key) by construction.
//! - **Hash-only storage of generated secrets.** Robot, app and refresh tokens are 256-bit
//!   random strings; the database keeps only their sha256, so a leaked dump grants nothing,
//!   and a fast hash suffices because there is nothing to brute-force. Human passwords are the
//!   opposite case and get argon2id.
//! - **A verified-token cache.** One docker pull is dozens of requests with the same token;
//!   caching sha256(token) → claims turns a ~50 µs signature check into a hash and a lookup,
//!   and keeps "no database round trip per request". Only successes are cached, and each hit
//!   re-checks expiry, audience and the signing key.

pub mod credentials;
pub mod password;
pub mod psk;
pub mod refresh;
pub mod scope;
pub mod secret;
pub mod token;

pub use credentials::{
    Authorization, BasicCredentials, CredentialsError, parse_authorization, parse_basic,
    parse_bearer,
};
pub use password::{Argon2Params, PasswordError, PasswordHasher, Verdict};
pub use psk::{PskClaims, PskError, sign_psk, verify_psk};
pub use refresh::{RefreshError, RefreshGrant, RefreshToken};
pub use scope::{AccessEntry, Action, ActionSet, Resource, Scope, ScopeError, parse_scopes};
pub use secret::{Secret, SecretError, SecretHash, SecretKind};
pub use token::{
    Claims, IssuedToken, KeyError, KeyRing, StoredKey, TokenCache, TokenConfig, TokenError,
    TokenKey, VerifiedToken,
};

/// The operating system's CSPRNG as an infallible RNG, for the `generate` constructors only.
/// It panics only if the OS cannot supply randomness at all, when no secret can be made.
fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::OsRng> {
    use rand::TryRngCore as _;
    rand::rngs::OsRng.unwrap_err()
}
