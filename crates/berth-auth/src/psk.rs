//! Clair's pre-shared-key authentication: HS256 JWTs signed with a key both sides were
//! configured with (Clair's `auth.psk`), so tools written for Clair (Quay's security
//! worker, clairctl) authenticate to berth's Clair API unchanged.
//!
//! Only HS256 is accepted (never `none`, never another algorithm named by the token, the
//! classic JWT confusion); the signature is checked in constant time before any claim is
//! believed; `iss` must be a configured issuer; `exp` and `nbf`, when present, are enforced
//! with a minute of clock skew.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY: i64 = 60;
/// Longest token accepted (Clair's are a few hundred bytes).
const MAX_TOKEN: usize = 8 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PskError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    Algorithm,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("issuer {0:?} is not accepted")]
    Issuer(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
}

/// The claims berth reads.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PskClaims {
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
}

/// Verifies a Clair PSK token at time `now` (unix seconds).
pub fn verify_psk(
    token: &str,
    key: &[u8],
    issuers: &[String],
    now: i64,
) -> Result<PskClaims, PskError> {
    if token.len() > MAX_TOKEN {
        return Err(PskError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PskError::Malformed);
    };
    let header: JwtHeader = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(PskError::Malformed)?;
    if header.alg != "HS256" {
        return Err(PskError::Algorithm);
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| PskError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| PskError::Signature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig).map_err(|_| PskError::Signature)?;
    let claims: PskClaims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(PskError::Malformed)?;
    if !issuers.iter().any(|i| i == &claims.iss) {
        return Err(PskError::Issuer(claims.iss.chars().take(100).collect()));
    }
    if claims.exp.is_some_and(|exp| now > exp + LEEWAY) {
        return Err(PskError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now + LEEWAY < nbf) {
        return Err(PskError::NotYetValid);
    }
    Ok(claims)
}

/// Signs a token as a Clair client would (for tests and `berth` tooling).
pub fn sign_psk(claims: &serde_json::Value, key: &[u8]) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"a shared secret of 32 bytes, ok!";

    fn issuers() -> Vec<String> {
        vec!["quay".into(), "clairctl".into()]
    }

    #[test]
    fn accepts_good_tokens_and_refuses_every_kind_of_bad_one() {
        let now = 1_700_000_000;
        let good = sign_psk(&json!({"iss": "quay", "exp": now + 60}), KEY);
        assert_eq!(verify_psk(&good, KEY, &issuers(), now).unwrap().iss, "quay");
        // No exp is accepted (clairctl sends none by default).
        let no_exp = sign_psk(&json!({"iss": "clairctl"}), KEY);
        assert!(verify_psk(&no_exp, KEY, &issuers(), now).is_ok());

        let wrong_key = sign_psk(&json!({"iss": "quay"}), b"another key of some length......");
        assert_eq!(
            verify_psk(&wrong_key, KEY, &issuers(), now),
            Err(PskError::Signature)
        );
        let other_iss = sign_psk(&json!({"iss": "mallory"}), KEY);
        assert!(matches!(
            verify_psk(&other_iss, KEY, &issuers(), now),
            Err(PskError::Issuer(_))
        ));
        let expired = sign_psk(&json!({"iss": "quay", "exp": now - 61}), KEY);
        assert_eq!(
            verify_psk(&expired, KEY, &issuers(), now),
            Err(PskError::Expired)
        );
        let early = sign_psk(&json!({"iss": "quay", "nbf": now + 61}), KEY);
        assert_eq!(
            verify_psk(&early, KEY, &issuers(), now),
            Err(PskError::NotYetValid)
        );

        // alg=none with the signature stripped, and a tampered payload.
        let none_h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let p = good.split('.').nth(1).unwrap();
        assert_eq!(
            verify_psk(&format!("{none_h}.{p}."), KEY, &issuers(), now),
            Err(PskError::Algorithm)
        );
        let forged_p = URL_SAFE_NO_PAD.encode(br#"{"iss":"quay","exp":99999999999}"#);
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = &forged_p;
        assert_eq!(
            verify_psk(&parts.join("."), KEY, &issuers(), now),
            Err(PskError::Signature)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**", &"x".repeat(9000)] {
            assert!(
                verify_psk(junk, KEY, &issuers(), now).is_err(),
                "{junk:.20}"
            );
        }
    }
}
