//! Parsing of `Authorization` header values: `Basic base64(user:pass)` and `Bearer <token>`.
//!
//! The input is the raw header value (bytes: a header need not be UTF-8) and may be hostile,
//! so everything is bounded before it is decoded, and every malformed shape is an error
//! variant, never a panic. The scheme name is case-insensitive (RFC 9110); the credentials
//! are not trimmed or normalised beyond what the RFCs allow.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::password::MAX_PASSWORD_BYTES;
use crate::token::MAX_TOKEN_LEN;

/// Longest user name accepted in Basic credentials.
pub const MAX_USERNAME_BYTES: usize = 256;
/// Longest `Authorization: Basic` value accepted: a maximal user name and password, encoded.
pub const MAX_BASIC_LEN: usize = 6 + (MAX_USERNAME_BYTES + 1 + MAX_PASSWORD_BYTES).div_ceil(3) * 4;

/// Standard base64 that accepts both padded and unpadded input (clients differ), but still
/// refuses stray trailing bits.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("authorization header is empty")]
    Empty,
    #[error("authorization header is too long")]
    TooLong,
    #[error("authorization scheme is not supported (Basic and Bearer are)")]
    UnsupportedScheme,
    #[error("authorization header has no credentials after the scheme")]
    MissingCredentials,
    #[error("basic credentials are not valid base64")]
    BadBase64,
    #[error("basic credentials are not UTF-8")]
    NotUtf8,
    #[error("basic credentials have no ':' between user name and password")]
    NoColon,
    #[error("basic credentials have an empty user name")]
    EmptyUsername,
    #[error("user name is longer than {MAX_USERNAME_BYTES} bytes or has control characters")]
    BadUsername,
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error("bearer token has characters outside the token68 syntax")]
    BadBearerToken,
}

/// A user name and the secret presented with it (a password, a robot token or an app token:
/// [`crate::secret::SecretKind::detect`] tells which). The secret is wiped on drop and not
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub username: String,
    secret: Zeroizing<String>,
}

impl BasicCredentials {
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization<'a> {
    Basic(BasicCredentials),
    Bearer(&'a str),
}

/// Parses an `Authorization` header value of either scheme.
pub fn parse_authorization(value: &[u8]) -> Result<Authorization<'_>, CredentialsError> {
    let (scheme, rest) = split_scheme(value)?;
    if scheme.eq_ignore_ascii_case(b"basic") {
        parse_basic_credentials(rest).map(Authorization::Basic)
    } else if scheme.eq_ignore_ascii_case(b"bearer") {
        parse_bearer_token(rest).map(Authorization::Bearer)
    } else {
        Err(CredentialsError::UnsupportedScheme)
    }
}

/// Parses `Basic base64(user:pass)`.
pub fn parse_basic(value: &[u8]) -> Result<BasicCredentials, CredentialsError> {
    let (scheme, rest) = split_scheme(value)?;
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(CredentialsError::UnsupportedScheme);
    }
    parse_basic_credentials(rest)
}

/// Parses `Bearer <token>`, returning the token (not yet verified).
pub fn parse_bearer(value: &[u8]) -> Result<&str, CredentialsError> {
    let (scheme, rest) = split_scheme(value)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(CredentialsError::UnsupportedScheme);
    }
    parse_bearer_token(rest)
}

/// Splits `<scheme> 1*SP <credentials>`, bounding the whole value first.
fn split_scheme(value: &[u8]) -> Result<(&[u8], &[u8]), CredentialsError> {
    if value.is_empty() {
        return Err(CredentialsError::Empty);
    }
    if value.len() > MAX_BASIC_LEN.max(7 + MAX_TOKEN_LEN) {
        return Err(CredentialsError::TooLong);
    }
    let value = value.trim_ascii();
    let Some(space) = value.iter().position(|b| *b == b' ') else {
        return if value.is_empty() {
            Err(CredentialsError::Empty)
        } else if value.eq_ignore_ascii_case(b"basic") || value.eq_ignore_ascii_case(b"bearer") {
            Err(CredentialsError::MissingCredentials)
        } else {
            Err(CredentialsError::UnsupportedScheme)
        };
    };
    let scheme = &value[..space];
    let rest = value[space..].trim_ascii_start();
    if rest.is_empty() {
        return Err(CredentialsError::MissingCredentials);
    }
    Ok((scheme, rest))
}

fn parse_basic_credentials(encoded: &[u8]) -> Result<BasicCredentials, CredentialsError> {
    if encoded.len() > MAX_BASIC_LEN - 6 {
        return Err(CredentialsError::TooLong);
    }
    let decoded = Zeroizing::new(
        BASIC_B64
            .decode(encoded)
            .map_err(|_| CredentialsError::BadBase64)?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| CredentialsError::NotUtf8)?;
    // RFC 7617: the user name cannot contain ':', the password can.
    let (username, password) = text.split_once(':').ok_or(CredentialsError::NoColon)?;
    if username.is_empty() {
        return Err(CredentialsError::EmptyUsername);
    }
    if username.len() > MAX_USERNAME_BYTES || username.chars().any(char::is_control) {
        return Err(CredentialsError::BadUsername);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CredentialsError::PasswordTooLong);
    }
    Ok(BasicCredentials {
        username: username.to_owned(),
        secret: Zeroizing::new(password.to_owned()),
    })
}

/// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
fn parse_bearer_token(token: &[u8]) -> Result<&str, CredentialsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(CredentialsError::TooLong);
    }
    let body_end = token.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let (body, padding) = token.split_at(body_end);
    let token68 = |b: &u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(b);
    if body.is_empty() || !body.iter().all(token68) || !padding.iter().all(|b| *b == b'=') {
        return Err(CredentialsError::BadBearerToken);
    }
    // All ASCII, checked above.
    std::str::from_utf8(token).map_err(|_| CredentialsError::BadBearerToken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn basic(raw: &[u8]) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn parses_basic_credentials() {
        let c = parse_basic(&basic(b"alice:s3cret")).unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.secret(), "s3cret");
        // Colons in the password are kept.
        let c = parse_basic(&basic(b"bob:a:b:c")).unwrap();
        assert_eq!((c.username.as_str(), c.secret()), ("bob", "a:b:c"));
        // Empty password is a parse success (verification will fail).
        let c = parse_basic(&basic(b"carol:")).unwrap();
        assert_eq!(c.secret(), "");
        // Scheme case and extra spaces.
        let v = format!("bAsIc   {}", STANDARD.encode("dave:pw"));
        assert_eq!(parse_basic(v.as_bytes()).unwrap().username, "dave");
        // Unpadded base64 (some clients) is accepted.
        let unpadded = format!("Basic {}", STANDARD.encode("eve:pw1").trim_end_matches('='));
        assert_eq!(parse_basic(unpadded.as_bytes()).unwrap().secret(), "pw1");
        // UTF-8 user names and passwords.
        let c = parse_basic(&basic("jürgen:pässwörd".as_bytes())).unwrap();
        assert_eq!((c.username.as_str(), c.secret()), ("jürgen", "pässwörd"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = parse_basic(&basic(b"alice:topsecret")).unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("alice") && !dbg.contains("topsecret"), "{dbg}");
    }

    #[test]
    fn basic_errors() {
        use CredentialsError::*;
        let cases: Vec<(Vec<u8>, CredentialsError)> = vec![
            (b"".to_vec(), Empty),
            (b"   ".to_vec(), Empty),
            (b"Basic".to_vec(), MissingCredentials),
            (b"Basic    ".to_vec(), MissingCredentials),
            (b"Digest abc".to_vec(), UnsupportedScheme),
            (b"Bearer abc".to_vec(), UnsupportedScheme),
            (b"Basicx YWxpY2U6cHc=".to_vec(), UnsupportedScheme),
            (b"Basic !!!!".to_vec(), BadBase64),
            (b"Basic YWxpY2U6cHc=extra".to_vec(), BadBase64),
            (b"Basic YWxp Y2U6cHc=".to_vec(), BadBase64),
            (basic(b"no-colon"), NoColon),
            (basic(b":pw"), EmptyUsername),
            (basic(b"al\x01ice:pw"), BadUsername),
            (basic(b"\xff\xfe:pw"), NotUtf8),
            (basic(b"alice:\xc3"), NotUtf8),
            (
                basic(format!("{}:pw", "u".repeat(MAX_USERNAME_BYTES + 1)).as_bytes()),
                BadUsername,
            ),
            (
                basic(format!("u:{}", "p".repeat(MAX_PASSWORD_BYTES + 1)).as_bytes()),
                PasswordTooLong,
            ),
            (
                format!("Basic {}", "A".repeat(MAX_BASIC_LEN)).into_bytes(),
                TooLong,
            ),
            (vec![b'B'; MAX_BASIC_LEN + MAX_TOKEN_LEN + 100], TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_basic(&input),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
        // Maximal sizes are accepted.
        let max = format!(
            "{}:{}",
            "u".repeat(MAX_USERNAME_BYTES),
            "p".repeat(MAX_PASSWORD_BYTES)
        );
        let header = basic(max.as_bytes());
        assert!(header.len() <= MAX_BASIC_LEN);
        assert!(parse_basic(&header).is_ok());
    }

    #[test]
    fn parses_bearer_tokens() {
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln";
        assert_eq!(parse_bearer(format!("Bearer {jwt}").as_bytes()), Ok(jwt));
        assert_eq!(parse_bearer(format!("bearer  {jwt} ").as_bytes()), Ok(jwt));
        assert_eq!(parse_bearer(b"Bearer abc+/~_-.=="), Ok("abc+/~_-.=="));
        use CredentialsError::*;
        for (input, expected) in [
            (&b"Bearer"[..], MissingCredentials),
            (b"Bearer ", MissingCredentials),
            (b"Bearer a b", BadBearerToken),
            (b"Bearer a\"b", BadBearerToken),
            (b"Bearer ==", BadBearerToken),
            (b"Bearer a=b", BadBearerToken),
            (b"Bearer \xff", BadBearerToken),
            (b"Bearer a,b", BadBearerToken),
            (b"Basic abc", UnsupportedScheme),
        ] {
            assert_eq!(
                parse_bearer(input),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(parse_bearer(long.as_bytes()), Err(TooLong));
    }

    #[test]
    fn parse_authorization_dispatches() {
        match parse_authorization(&basic(b"a:b")).unwrap() {
            Authorization::Basic(c) => assert_eq!(c.username, "a"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_authorization(b"Bearer tok"),
            Ok(Authorization::Bearer("tok"))
        );
        assert_eq!(
            parse_authorization(b"Negotiate abc"),
            Err(CredentialsError::UnsupportedScheme)
        );
        assert_eq!(
            parse_authorization(b"Basic"),
            Err(CredentialsError::MissingCredentials)
        );
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let pieces: [&[u8]; 8] = [
            b"Basic ",
            b"Bearer ",
            b"YWxpY2U6",
            b"=",
            b":",
            b" ",
            b"\xff",
            b"\x00",
        ];
        for _ in 0..20_000 {
            let mut v = Vec::new();
            for _ in 0..(state % 6) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                v.extend_from_slice(pieces[(state % pieces.len() as u64) as usize]);
            }
            state = state.wrapping_add(0x9e37_79b9);
            let _ = parse_authorization(&v);
            let _ = parse_basic(&v);
            let _ = parse_bearer(&v);
        }
    }
}
