//! Generated secrets: robot tokens, app-specific tokens and OAuth2 refresh tokens.
//!
//! A secret is 32 bytes from a CSPRNG, shown once as `<prefix><base64url>` (for example
//! `berth_rbt_3q2-7w...`). The prefix says what the string is, so secret scanners and people
//! recognise a leaked token, and a robot token presented as a password can be routed without a
//! database lookup.
//!
//! Only [`SecretHash`] (sha256 of the whole string, prefix included) is stored. 256 bits of
//! randomness cannot be guessed or brute-forced, so a slow password hash would add cost and no
//! safety; what matters is that a database dump does not contain usable tokens. Hashing the
//! prefix too means a robot token's hash never matches an app token's record.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::CryptoRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Random bytes in every generated secret.
pub const SECRET_BYTES: usize = 32;
/// Length of the base64url (no padding) encoding of [`SECRET_BYTES`].
const ENCODED_LEN: usize = 43;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("not a berth secret: unknown prefix")]
    UnknownPrefix,
    #[error("secret has the wrong length")]
    WrongLength,
    #[error("secret is not valid base64url")]
    BadEncoding,
    #[error("secret is a {found:?} where a {expected:?} was expected")]
    WrongKind {
        expected: SecretKind,
        found: SecretKind,
    },
    #[error("secret hash {0:?} is malformed: expected sha256:<64 lowercase hex>")]
    BadHash(String),
}

/// What a secret is for. The prefix is part of the secret and of its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKind {
    /// A robot account's password.
    Robot,
    /// An app-specific token a user creates to use instead of their password.
    AppToken,
    /// An OAuth2 refresh token issued by `POST /v2/auth`.
    Refresh,
    /// A web session (the API's cookie).
    Session,
}

impl SecretKind {
    pub const ALL: [SecretKind; 4] = [
        SecretKind::Robot,
        SecretKind::AppToken,
        SecretKind::Refresh,
        SecretKind::Session,
    ];

    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::Robot => "berth_rbt_",
            SecretKind::AppToken => "berth_app_",
            SecretKind::Refresh => "berth_rft_",
            SecretKind::Session => "berth_ses_",
        }
    }

    /// The kind whose prefix `s` starts with, if any; a cheap check that decides whether a
    /// presented password should be treated as a token.
    pub fn detect(s: &str) -> Option<SecretKind> {
        SecretKind::ALL
            .into_iter()
            .find(|k| s.starts_with(k.prefix()))
    }
}

/// A secret in clear text: exists between generation and showing it to the user, and between
/// receiving it and hashing it. Its memory is wiped on drop and `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    kind: SecretKind,
    text: Zeroizing<String>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// A new secret from the operating system's CSPRNG.
    pub fn generate(kind: SecretKind) -> Secret {
        Secret::generate_with(kind, &mut crate::os_rng())
    }

    /// A new secret from `rng` (which must be a CSPRNG; tests pass a seeded one).
    pub fn generate_with<R: CryptoRng + ?Sized>(kind: SecretKind, rng: &mut R) -> Secret {
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        rng.fill_bytes(bytes.as_mut());
        let mut text = Zeroizing::new(String::with_capacity(kind.prefix().len() + ENCODED_LEN));
        text.push_str(kind.prefix());
        URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut text);
        Secret { kind, text }
    }

    /// Parses a presented secret, checking prefix, length and encoding (so garbage is refused
    /// before any lookup).
    pub fn parse(s: &str) -> Result<Secret, SecretError> {
        let kind = SecretKind::detect(s).ok_or(SecretError::UnknownPrefix)?;
        let body = &s[kind.prefix().len()..];
        if body.len() != ENCODED_LEN {
            return Err(SecretError::WrongLength);
        }
        // Strict decoding (no padding, no stray trailing bits) makes the encoding canonical:
        // one secret, one string, one hash.
        let mut buf = Zeroizing::new([0u8; SECRET_BYTES + 3]);
        match URL_SAFE_NO_PAD.decode_slice(body, buf.as_mut()) {
            Ok(SECRET_BYTES) => {}
            _ => return Err(SecretError::BadEncoding),
        }
        Ok(Secret {
            kind,
            text: Zeroizing::new(s.to_owned()),
        })
    }

    /// Parses a presented secret that must be of `kind`.
    pub fn parse_kind(s: &str, kind: SecretKind) -> Result<Secret, SecretError> {
        let secret = Secret::parse(s)?;
        if secret.kind != kind {
            return Err(SecretError::WrongKind {
                expected: kind,
                found: secret.kind,
            });
        }
        Ok(secret)
    }

    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// The clear text, to show the user once. Never store or log it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The hash to store (and to look the secret up by).
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.text.as_bytes()).into())
    }
}

/// sha256 of a secret's full text: what is stored instead of the secret. Its string form is
/// `sha256:<hex>`. Equality is constant-time.
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretHash {
        SecretHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` is the secret this hash was made from, compared in constant time.
    /// (The lookup by hash that usually precedes this leaks nothing useful: an attacker who
    /// learns that some hash prefix exists still has to invert sha256.)
    pub fn matches(&self, presented: &Secret) -> bool {
        *self == presented.hash()
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretHash {}

impl std::hash::Hash for SecretHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({self})")
    }
}

impl FromStr for SecretHash {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SecretError::BadHash(s.chars().take(80).collect());
        let hex_part = s.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| bad())?;
        Ok(SecretHash(out))
    }
}

impl serde::Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn generated_secrets_have_prefix_and_length() {
        let mut rng = StdRng::seed_from_u64(1);
        for kind in SecretKind::ALL {
            let s = Secret::generate_with(kind, &mut rng);
            assert!(s.expose().starts_with(kind.prefix()));
            assert_eq!(s.expose().len(), kind.prefix().len() + ENCODED_LEN);
            assert_eq!(s.kind(), kind);
            let back = Secret::parse(s.expose()).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.hash(), s.hash());
            assert!(s.hash().matches(&back));
        }
    }

    #[test]
    fn os_rng_secrets_are_distinct() {
        let a = Secret::generate(SecretKind::Robot);
        let b = Secret::generate(SecretKind::Robot);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn seeded_generation_is_deterministic() {
        let a = Secret::generate_with(SecretKind::AppToken, &mut StdRng::seed_from_u64(5));
        let b = Secret::generate_with(SecretKind::AppToken, &mut StdRng::seed_from_u64(5));
        assert_eq!(a.expose(), b.expose());
    }

    #[test]
    fn hash_covers_the_prefix() {
        let robot = Secret::generate_with(SecretKind::Robot, &mut StdRng::seed_from_u64(3));
        let app = Secret::generate_with(SecretKind::AppToken, &mut StdRng::seed_from_u64(3));
        // Same random bytes, different kinds: different hashes.
        assert_eq!(robot.expose()[10..], app.expose()[10..]);
        assert_ne!(robot.hash(), app.hash());
        assert!(!robot.hash().matches(&app));
    }

    #[test]
    fn hash_round_trips_through_string_and_serde() {
        let s = Secret::generate_with(SecretKind::Robot, &mut StdRng::seed_from_u64(2));
        let h = s.hash();
        let text = h.to_string();
        assert!(text.starts_with("sha256:"));
        assert_eq!(text.len(), 7 + 64);
        assert_eq!(text.parse::<SecretHash>().unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), h);
        assert_eq!(format!("{h:?}"), format!("SecretHash({text})"));
    }

    #[test]
    fn bad_hash_strings() {
        for bad in [
            "",
            "sha256:",
            "sha512:0000000000000000000000000000000000000000000000000000000000000000",
            "sha256:000000000000000000000000000000000000000000000000000000000000000",
            "sha256:00000000000000000000000000000000000000000000000000000000000000000",
            "sha256:000000000000000000000000000000000000000000000000000000000000000G",
            "sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000",
            "sha256:00000000000000000000000000000000000000000000000000000000000000é",
        ] {
            assert!(
                matches!(bad.parse::<SecretHash>(), Err(SecretError::BadHash(_))),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<SecretHash>("\"nope\"").is_err());
    }

    #[test]
    fn parse_rejects_malformed_secrets() {
        let good = Secret::generate_with(SecretKind::Robot, &mut StdRng::seed_from_u64(9));
        let text = good.expose().to_owned();
        assert_eq!(
            Secret::parse("berth_xyz_AAAA"),
            Err(SecretError::UnknownPrefix)
        );
        assert_eq!(Secret::parse(""), Err(SecretError::UnknownPrefix));
        assert_eq!(Secret::parse("hunter2"), Err(SecretError::UnknownPrefix));
        assert_eq!(
            Secret::parse(&text[..text.len() - 1]),
            Err(SecretError::WrongLength)
        );
        assert_eq!(
            Secret::parse(&format!("{text}A")),
            Err(SecretError::WrongLength)
        );
        // A character outside the alphabet.
        let mut bad = text.clone();
        bad.replace_range(12..13, "+");
        assert_eq!(Secret::parse(&bad), Err(SecretError::BadEncoding));
        // Non-canonical: the last symbol carries bits that do not fit in 32 bytes.
        let mut noncanon = text[..text.len() - 1].to_owned();
        noncanon.push('B');
        let last = text.as_bytes()[text.len() - 1];
        if last != b'B' {
            assert_eq!(Secret::parse(&noncanon), Err(SecretError::BadEncoding));
        }
        // Multi-byte characters must not cause a slicing panic.
        let mut multibyte = String::from("berth_rbt_");
        while multibyte.len() < 10 + ENCODED_LEN - 1 {
            multibyte.push('a');
        }
        multibyte.push('é');
        assert!(Secret::parse(&multibyte).is_err());
    }

    #[test]
    fn parse_kind_checks_the_kind() {
        let robot = Secret::generate_with(SecretKind::Robot, &mut StdRng::seed_from_u64(4));
        assert!(Secret::parse_kind(robot.expose(), SecretKind::Robot).is_ok());
        assert_eq!(
            Secret::parse_kind(robot.expose(), SecretKind::Refresh),
            Err(SecretError::WrongKind {
                expected: SecretKind::Refresh,
                found: SecretKind::Robot
            })
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Secret::generate_with(SecretKind::Robot, &mut StdRng::seed_from_u64(8));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(&s.expose()[10..]), "{dbg}");
        assert!(dbg.contains("Robot"));
    }

    #[test]
    fn detect_prefix() {
        assert_eq!(SecretKind::detect("berth_rbt_x"), Some(SecretKind::Robot));
        assert_eq!(
            SecretKind::detect("berth_app_x"),
            Some(SecretKind::AppToken)
        );
        assert_eq!(SecretKind::detect("berth_rft_x"), Some(SecretKind::Refresh));
        assert_eq!(SecretKind::detect("berth_"), None);
        assert_eq!(SecretKind::detect("password"), None);
    }
}
