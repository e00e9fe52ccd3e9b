//! Password hashing: argon2id for everything berth hashes, bcrypt only to verify hashes
//! imported from elsewhere (htpasswd files, other registries).
//!
//! A stored hash is a self-describing string (a PHC string such as `$argon2id$v=19$m=...`, or
//! a 60-character `$2b$...` bcrypt hash), so the parameters travel with it: raising the cost
//! later needs no migration. [`Verdict::Match`] says whether the stored hash is weaker than the
//! current policy (bcrypt, another argon2 variant, lower costs), and the caller re-hashes the
//! password it just saw, which is the only moment the plaintext is available.
//!
//! Both input sides are bounded before any work: a password longer than
//! [`MAX_PASSWORD_BYTES`] is refused (argon2 would happily hash a megabyte per attempt), and a
//! stored hash whose costs exceed sane limits is refused instead of running for minutes.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::CryptoRng;

/// Longest password accepted, in bytes. Long passphrases fit; a request body posing as a
/// password does not.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Longest stored hash looked at; a PHC string with default parameters is under 100 bytes.
const MAX_STORED_HASH_LEN: usize = 512;
/// Salt length for new hashes (the PHC recommendation).
const SALT_LEN: usize = 16;
/// Output length for new hashes.
const OUTPUT_LEN: usize = 32;

/// Largest argon2 memory cost a stored hash may ask for (1 GiB): beyond this a single login
/// could exhaust the machine.
pub const MAX_STORED_M_COST_KIB: u32 = 1 << 20;
/// Largest argon2 iteration count a stored hash may ask for.
pub const MAX_STORED_T_COST: u32 = 32;
/// Largest argon2 parallelism a stored hash may ask for.
pub const MAX_STORED_P_COST: u32 = 16;
/// Largest bcrypt cost a stored hash may ask for: 2^16 rounds is about four seconds; 31
/// (the format's limit) would be days.
pub const MAX_STORED_BCRYPT_COST: u32 = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("argon2 parameters are invalid: {0}")]
    BadParams(String),
    #[error("stored password hash is malformed: {0}")]
    MalformedHash(&'static str),
    #[error("stored password hash uses an unsupported scheme {0:?}")]
    UnsupportedScheme(String),
    #[error("stored password hash asks for a cost above the allowed maximum")]
    CostTooHigh,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Argon2id cost parameters for new hashes. The defaults are OWASP's recommended minimum
/// (19 MiB, 2 iterations, 1 lane): about 20 ms per hash on one core, so a login is cheap for
/// the server and a guessing attack is expensive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes over memory.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Argon2Params {
    fn to_params(self) -> Result<Params, PasswordError> {
        if self.m_cost_kib > MAX_STORED_M_COST_KIB
            || self.t_cost > MAX_STORED_T_COST
            || self.p_cost > MAX_STORED_P_COST
        {
            // Refuse to write hashes this crate would refuse to verify.
            return Err(PasswordError::BadParams(
                "costs exceed the limits for stored hashes".into(),
            ));
        }
        Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(OUTPUT_LEN))
            .map_err(|e| PasswordError::BadParams(e.to_string()))
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right. If `needs_rehash`, the stored hash is weaker than the current
    /// policy: hash the password again and store the new hash.
    Match { needs_rehash: bool },
    /// The password is wrong.
    Mismatch,
}

impl Verdict {
    pub fn is_match(self) -> bool {
        matches!(self, Verdict::Match { .. })
    }
}

/// Hashes and verifies passwords under one argon2id policy.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Argon2Params,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        // The defaults are valid by construction (and tested).
        PasswordHasher::new(Argon2Params::default()).expect("default argon2 parameters")
    }
}

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> Result<Self, PasswordError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.to_params()?);
        Ok(PasswordHasher { argon2, params })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes `password` with a fresh salt from `rng`, returning the PHC string to store.
    pub fn hash<R: CryptoRng + ?Sized>(
        &self,
        password: impl AsRef<[u8]>,
        rng: &mut R,
    ) -> Result<String, PasswordError> {
        let password = bounded(password.as_ref())?;
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
        let hash = self
            .argon2
            .hash_password(password, &salt)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Checks `password` against a stored argon2 or bcrypt hash. The comparison of hash
    /// outputs is constant-time in both schemes. A wrong password is `Ok(Verdict::Mismatch)`;
    /// errors are for inputs that could not be checked at all.
    pub fn verify(
        &self,
        password: impl AsRef<[u8]>,
        stored: &str,
    ) -> Result<Verdict, PasswordError> {
        let password = bounded(password.as_ref())?;
        match Scheme::of(stored)? {
            Scheme::Argon2 => self.verify_argon2(password, stored),
            Scheme::Bcrypt => verify_bcrypt(password, stored),
        }
    }

    /// Whether a stored hash is weaker than this policy, without a password (e.g. to report
    /// how many accounts still have legacy hashes).
    pub fn needs_rehash(&self, stored: &str) -> Result<bool, PasswordError> {
        match Scheme::of(stored)? {
            Scheme::Bcrypt => {
                bcrypt_cost(stored)?;
                Ok(true)
            }
            Scheme::Argon2 => {
                let parsed = PasswordHash::new(stored)
                    .map_err(|_| PasswordError::MalformedHash("not a PHC string"))?;
                let (algorithm, params) = argon2_params(&parsed)?;
                Ok(self.weaker(algorithm, parsed.version, &params))
            }
        }
    }

    /// Spends the same work as verifying against a hash of the current policy, for a login
    /// whose user does not exist, so response time does not reveal which users exist.
    pub fn dummy_verify(&self, password: impl AsRef<[u8]>) {
        let password = password.as_ref();
        let password = &password[..password.len().min(MAX_PASSWORD_BYTES)];
        let salt = SaltString::encode_b64(&[0u8; SALT_LEN]);
        if let Ok(salt) = salt {
            let _ = self.argon2.hash_password(password, &salt);
        }
    }

    fn verify_argon2(&self, password: &[u8], stored: &str) -> Result<Verdict, PasswordError> {
        let parsed = PasswordHash::new(stored)
            .map_err(|_| PasswordError::MalformedHash("not a PHC string"))?;
        let (algorithm, params) = argon2_params(&parsed)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::MalformedHash(
                "PHC string has no salt or hash",
            ));
        }
        // The verifier recomputes with the stored hash's own algorithm and parameters, and
        // compares outputs with `Output`'s constant-time equality.
        match self.argon2.verify_password(password, &parsed) {
            Ok(()) => Ok(Verdict::Match {
                needs_rehash: self.weaker(algorithm, parsed.version, &params),
            }),
            Err(argon2::password_hash::Error::Password) => Ok(Verdict::Mismatch),
            Err(_) => Err(PasswordError::MalformedHash(
                "argon2 rejected the stored hash",
            )),
        }
    }

    fn weaker(&self, algorithm: Algorithm, version: Option<u32>, params: &Params) -> bool {
        algorithm != Algorithm::Argon2id
            || version != Some(Version::V0x13 as u32)
            || params.m_cost() < self.params.m_cost_kib
            || params.t_cost() < self.params.t_cost
            || params.p_cost() < self.params.p_cost
            || params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) < OUTPUT_LEN
    }
}

fn bounded(password: &[u8]) -> Result<&[u8], PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(password)
}

enum Scheme {
    Argon2,
    Bcrypt,
}

impl Scheme {
    fn of(stored: &str) -> Result<Scheme, PasswordError> {
        if stored.len() > MAX_STORED_HASH_LEN {
            return Err(PasswordError::MalformedHash("stored hash is too long"));
        }
        if stored.starts_with("$argon2") {
            Ok(Scheme::Argon2)
        } else if stored.starts_with("$2") {
            Ok(Scheme::Bcrypt)
        } else {
            // Name only a `$scheme$` identifier: whatever else is stored might be a secret
            // (a plaintext password imported by mistake) and errors end up in logs.
            let shown = stored
                .strip_prefix('$')
                .and_then(|rest| rest.split('$').next())
                .filter(|id| id.len() <= 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
                .unwrap_or("");
            Err(PasswordError::UnsupportedScheme(shown.to_owned()))
        }
    }
}

/// The algorithm and parameters of a parsed argon2 PHC string, refused if they exceed the
/// limits for stored hashes.
fn argon2_params(parsed: &PasswordHash<'_>) -> Result<(Algorithm, Params), PasswordError> {
    let algorithm = Algorithm::try_from(parsed.algorithm)
        .map_err(|_| PasswordError::UnsupportedScheme(parsed.algorithm.as_str().to_owned()))?;
    let params = Params::try_from(parsed)
        .map_err(|_| PasswordError::MalformedHash("argon2 parameters are invalid"))?;
    if params.m_cost() > MAX_STORED_M_COST_KIB
        || params.t_cost() > MAX_STORED_T_COST
        || params.p_cost() > MAX_STORED_P_COST
    {
        return Err(PasswordError::CostTooHigh);
    }
    Ok((algorithm, params))
}

/// The cost of a `$2a$`/`$2b$`/`$2y$` hash, after checking its shape and bounds.
fn bcrypt_cost(stored: &str) -> Result<u32, PasswordError> {
    if stored.len() != 60 || !stored.is_ascii() {
        return Err(PasswordError::MalformedHash(
            "bcrypt hashes are 60 ASCII characters",
        ));
    }
    match &stored[..4] {
        "$2a$" | "$2b$" | "$2y$" => {}
        // `$2x$` marks hashes from crypt_blowfish's sign-extension bug: recomputing them as
        // `$2b$` gives different results for non-ASCII passwords, so they cannot be verified.
        other => return Err(PasswordError::UnsupportedScheme(other.to_owned())),
    }
    if stored.as_bytes()[6] != b'$' {
        return Err(PasswordError::MalformedHash(
            "bcrypt cost is not two digits",
        ));
    }
    let cost: u32 = stored[4..6]
        .parse()
        .map_err(|_| PasswordError::MalformedHash("bcrypt cost is not a number"))?;
    if cost > MAX_STORED_BCRYPT_COST {
        return Err(PasswordError::CostTooHigh);
    }
    Ok(cost)
}

fn verify_bcrypt(password: &[u8], stored: &str) -> Result<Verdict, PasswordError> {
    bcrypt_cost(stored)?;
    // bcrypt uses at most 72 bytes of the password, as every other implementation does, so an
    // imported hash verifies exactly as it did where it came from. Its comparison is
    // constant-time (`subtle`).
    match bcrypt::verify(password, stored) {
        Ok(true) => Ok(Verdict::Match { needs_rehash: true }),
        Ok(false) => Ok(Verdict::Mismatch),
        Err(_) => Err(PasswordError::MalformedHash(
            "bcrypt rejected the stored hash",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Cheap parameters so the suite stays fast; the default policy is tested once.
    fn fast() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        })
        .unwrap()
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn default_policy_hashes_argon2id_and_verifies() {
        let hasher = PasswordHasher::default();
        let hash = hasher.hash("correct horse", &mut rng()).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            hasher.verify("correct horse", &hash).unwrap(),
            Verdict::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher.verify("correct horse!", &hash).unwrap(),
            Verdict::Mismatch
        );
        assert!(!hasher.needs_rehash(&hash).unwrap());
    }

    #[test]
    fn same_password_different_salts() {
        let hasher = fast();
        let mut rng = rng();
        let a = hasher.hash("pw", &mut rng).unwrap();
        let b = hasher.hash("pw", &mut rng).unwrap();
        assert_ne!(a, b);
        assert!(hasher.verify("pw", &a).unwrap().is_match());
        assert!(hasher.verify("pw", &b).unwrap().is_match());
    }

    #[test]
    fn deterministic_with_seeded_rng() {
        let hasher = fast();
        assert_eq!(
            hasher.hash("pw", &mut rng()).unwrap(),
            hasher.hash("pw", &mut rng()).unwrap()
        );
    }

    #[test]
    fn weaker_argon2_needs_rehash() {
        let weak = fast();
        let hash = weak.hash("pw", &mut rng()).unwrap();
        let strong = PasswordHasher::new(Argon2Params {
            m_cost_kib: 128,
            t_cost: 2,
            p_cost: 1,
        })
        .unwrap();
        assert_eq!(
            strong.verify("pw", &hash).unwrap(),
            Verdict::Match { needs_rehash: true }
        );
        assert!(strong.needs_rehash(&hash).unwrap());
        assert!(!weak.needs_rehash(&hash).unwrap());
        // Stronger than policy is fine.
        let strong_hash = strong.hash("pw", &mut rng()).unwrap();
        assert_eq!(
            weak.verify("pw", &strong_hash).unwrap(),
            Verdict::Match {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn other_argon2_variants_verify_and_need_rehash() {
        let salt = SaltString::encode_b64(&[1u8; 16]).unwrap();
        let params = Params::new(64, 1, 1, Some(32)).unwrap();
        for alg in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let other = Argon2::new(alg, Version::V0x13, params.clone());
            let hash = other.hash_password(b"pw", &salt).unwrap().to_string();
            assert_eq!(
                fast().verify("pw", &hash).unwrap(),
                Verdict::Match { needs_rehash: true },
                "{hash}"
            );
        }
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x10, params);
        let hash = old.hash_password(b"pw", &salt).unwrap().to_string();
        assert_eq!(
            fast().verify("pw", &hash).unwrap(),
            Verdict::Match { needs_rehash: true }
        );
    }

    #[test]
    fn bcrypt_imports_verify_and_need_rehash() {
        let parts = bcrypt::hash_with_salt("hunter2", 4, [9u8; 16]).unwrap();
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let stored = parts.format_for_version(version);
            assert_eq!(
                fast().verify("hunter2", &stored).unwrap(),
                Verdict::Match { needs_rehash: true },
                "{stored}"
            );
            assert_eq!(
                fast().verify("hunter3", &stored).unwrap(),
                Verdict::Mismatch
            );
            assert!(fast().needs_rehash(&stored).unwrap());
        }
    }

    #[test]
    fn bcrypt_from_the_outside_world() {
        // An htpasswd-style hash generated elsewhere (`htpasswd -nbB`-compatible, cost 5).
        let stored = bcrypt::hash_with_salt("s3cret", 5, *b"0123456789abcdef")
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(stored.starts_with("$2y$05$"));
        assert!(fast().verify("s3cret", &stored).unwrap().is_match());
    }

    #[test]
    fn bcrypt_2x_and_absurd_costs_are_refused() {
        let stored = bcrypt::hash_with_salt("pw", 4, [1u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        let x = stored.replacen("$2b$", "$2x$", 1);
        assert_eq!(
            fast().verify("pw", &x),
            Err(PasswordError::UnsupportedScheme("$2x$".into()))
        );
        let expensive = stored.replacen("$04$", "$31$", 1);
        assert_eq!(
            fast().verify("pw", &expensive),
            Err(PasswordError::CostTooHigh)
        );
        let garbage_cost = stored.replacen("$04$", "$x4$", 1);
        assert!(matches!(
            fast().verify("pw", &garbage_cost),
            Err(PasswordError::MalformedHash(_))
        ));
        let short = &stored[..59];
        assert!(matches!(
            fast().verify("pw", short),
            Err(PasswordError::MalformedHash(_))
        ));
        // Non-ASCII in a 60-byte string must not panic on slicing.
        let mut odd = String::from("$2b$04$");
        while odd.len() < 58 {
            odd.push('a');
        }
        odd.push('é');
        assert_eq!(odd.len(), 60);
        assert!(matches!(
            fast().verify("pw", &odd),
            Err(PasswordError::MalformedHash(_))
        ));
    }

    #[test]
    fn absurd_stored_argon2_costs_are_refused() {
        let stored = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert_eq!(fast().verify("pw", stored), Err(PasswordError::CostTooHigh));
        let stored = "$argon2id$v=19$m=64,t=1000,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert_eq!(fast().verify("pw", stored), Err(PasswordError::CostTooHigh));
    }

    #[test]
    fn too_long_password_is_an_error_not_a_panic() {
        let hasher = fast();
        let long = vec![b'a'; MAX_PASSWORD_BYTES + 1];
        assert_eq!(hasher.hash(&long, &mut rng()), Err(PasswordError::TooLong));
        let hash = hasher.hash("pw", &mut rng()).unwrap();
        assert_eq!(hasher.verify(&long, &hash), Err(PasswordError::TooLong));
        let max = vec![b'a'; MAX_PASSWORD_BYTES];
        let hash = hasher.hash(&max, &mut rng()).unwrap();
        assert!(hasher.verify(&max, &hash).unwrap().is_match());
        hasher.dummy_verify(&long);
    }

    #[test]
    fn empty_and_non_utf8_passwords_work() {
        let hasher = fast();
        for pw in [&b""[..], &[0xff, 0xfe, 0x00][..]] {
            let hash = hasher.hash(pw, &mut rng()).unwrap();
            assert!(hasher.verify(pw, &hash).unwrap().is_match());
        }
    }

    #[test]
    fn malformed_stored_hashes() {
        let hasher = fast();
        for stored in [
            "",
            "plaintext",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "$1$saltsalt$hash",
        ] {
            assert!(
                matches!(
                    hasher.verify("pw", stored),
                    Err(PasswordError::UnsupportedScheme(_))
                ),
                "{stored}"
            );
        }
        for stored in [
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1",
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA",
            "$argon2id$v=19$m=abc,t=1,p=1$c29tZXNhbHQ$aGFzaA",
        ] {
            assert!(
                matches!(
                    hasher.verify("pw", stored),
                    Err(PasswordError::MalformedHash(_))
                ),
                "{stored}"
            );
        }
        assert!(matches!(
            hasher.verify("pw", "$argon2xx$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"),
            Err(PasswordError::UnsupportedScheme(_))
        ));
        let huge = format!("$argon2id${}", "a".repeat(1000));
        assert!(matches!(
            hasher.verify("pw", &huge),
            Err(PasswordError::MalformedHash(_))
        ));
    }

    #[test]
    fn bad_policy_params_are_errors() {
        assert!(matches!(
            PasswordHasher::new(Argon2Params {
                m_cost_kib: 1,
                t_cost: 1,
                p_cost: 1
            }),
            Err(PasswordError::BadParams(_))
        ));
        assert!(matches!(
            PasswordHasher::new(Argon2Params {
                m_cost_kib: 64,
                t_cost: 0,
                p_cost: 1
            }),
            Err(PasswordError::BadParams(_))
        ));
        assert!(matches!(
            PasswordHasher::new(Argon2Params {
                m_cost_kib: MAX_STORED_M_COST_KIB + 1,
                t_cost: 1,
                p_cost: 1
            }),
            Err(PasswordError::BadParams(_))
        ));
    }
}
