//! OAuth2 refresh tokens, as issued by `POST /v2/auth` (Docker's OAuth2 token flow) when a
//! client asks for `access_type=offline`.
//!
//! A refresh token is an opaque [`Secret`] of kind [`SecretKind::Refresh`]: the client keeps the
//! clear text, the server keeps a [`RefreshGrant`] (the hash, whose subject it is, and when it
//! expires) in its metadata store. Revoking it is deleting the grant; nothing here is signed,
//! so there is no key to rotate.

use crate::secret::{Secret, SecretError, SecretHash, SecretKind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    #[error("refresh token does not match")]
    Mismatch,
    #[error("refresh token expired at {expires_at} (now {now})")]
    Expired { expires_at: u64, now: u64 },
}

/// A refresh token in clear text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken(Secret);

impl RefreshToken {
    /// A new refresh token from the operating system's CSPRNG.
    pub fn generate() -> RefreshToken {
        RefreshToken(Secret::generate(SecretKind::Refresh))
    }

    /// A new refresh token from `rng`.
    pub fn generate_with<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> RefreshToken {
        RefreshToken(Secret::generate_with(SecretKind::Refresh, rng))
    }

    /// Parses a presented refresh token; any other kind of secret is refused.
    pub fn parse(s: &str) -> Result<RefreshToken, SecretError> {
        Secret::parse_kind(s, SecretKind::Refresh).map(RefreshToken)
    }

    /// The clear text, to return to the client once.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn hash(&self) -> SecretHash {
        self.0.hash()
    }
}

/// What the server stores for a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefreshGrant {
    pub hash: SecretHash,
    /// The account the token was issued to.
    pub subject: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

impl RefreshGrant {
    pub fn new(token: &RefreshToken, subject: impl Into<String>, expires_at: u64) -> Self {
        RefreshGrant {
            hash: token.hash(),
            subject: subject.into(),
            expires_at,
        }
    }

    /// Checks a presented token against this grant at `now`, returning the subject.
    pub fn check(&self, presented: &RefreshToken, now: u64) -> Result<&str, RefreshError> {
        if !self.hash.matches(&presented.0) {
            return Err(RefreshError::Mismatch);
        }
        if now >= self.expires_at {
            return Err(RefreshError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(&self.subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn grant_checks_token_and_expiry() {
        let token = RefreshToken::generate_with(&mut StdRng::seed_from_u64(1));
        assert!(token.expose().starts_with("berth_rft_"));
        let grant = RefreshGrant::new(&token, "alice", 1_000);
        let presented = RefreshToken::parse(token.expose()).unwrap();
        assert_eq!(grant.check(&presented, 999), Ok("alice"));
        assert_eq!(
            grant.check(&presented, 1_000),
            Err(RefreshError::Expired {
                expires_at: 1_000,
                now: 1_000
            })
        );
        let other = RefreshToken::generate();
        assert_eq!(grant.check(&other, 0), Err(RefreshError::Mismatch));
    }

    #[test]
    fn other_secret_kinds_are_not_refresh_tokens() {
        let robot = Secret::generate(SecretKind::Robot);
        assert!(matches!(
            RefreshToken::parse(robot.expose()),
            Err(SecretError::WrongKind { .. })
        ));
        assert!(RefreshToken::parse("not-a-token").is_err());
    }

    #[test]
    fn grant_round_trips_through_json() {
        let token = RefreshToken::generate();
        let grant = RefreshGrant::new(&token, "bob", 42);
        let json = serde_json::to_string(&grant).unwrap();
        assert!(!json.contains(token.expose()));
        let back: RefreshGrant = serde_json::from_str(&json).unwrap();
        assert_eq!(back, grant);
    }
}
