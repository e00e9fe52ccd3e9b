//! Slows password guessing: after `max_failures` failed logins for one account name or from
//! one address within `window`, further attempts for that key are refused until the window
//! has passed since the first failure counted. A success clears the account's counter.
//!
//! Per node and in memory (bounded): an attacker spreading guesses over several nodes gets
//! `nodes x max_failures` tries per window, still far too few to guess a real password.

use std::sync::Mutex;

/// Login attempts are refused for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

pub struct LoginLimiter {
    max_failures: u32,
    window_secs: u64,
    /// key → (first failure in the window, failures in the window)
    entries: quick_cache::sync::Cache<String, (u64, u32)>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("max_failures", &self.max_failures)
            .field("window_secs", &self.window_secs)
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    const CAPACITY: usize = 100_000;

    pub fn new(max_failures: u32, window_secs: u64) -> LoginLimiter {
        LoginLimiter {
            max_failures,
            window_secs,
            entries: quick_cache::sync::Cache::new(Self::CAPACITY),
            lock: Mutex::new(()),
        }
    }

    fn keys(account: &str, ip: Option<&str>) -> [Option<String>; 2] {
        [
            Some(format!("a:{}", account.to_ascii_lowercase())),
            ip.map(|ip| format!("i:{ip}")),
        ]
    }

    /// `Err` when the account or the address is locked out at `now`.
    pub fn check(&self, account: &str, ip: Option<&str>, now: u64) -> Result<(), RetryAfter> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let mut wait = 0;
        for key in Self::keys(account, ip).into_iter().flatten() {
            if let Some((first, count)) = self.entries.get(&key) {
                let ends = first.saturating_add(self.window_secs);
                if count >= self.max_failures && now < ends {
                    wait = wait.max(ends - now);
                }
            }
        }
        if wait > 0 {
            Err(RetryAfter(wait))
        } else {
            Ok(())
        }
    }

    pub fn failure(&self, account: &str, ip: Option<&str>, now: u64) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(account, ip).into_iter().flatten() {
            let next = match self.entries.get(&key) {
                Some((first, count)) if now < first.saturating_add(self.window_secs) => {
                    (first, count.saturating_add(1))
                }
                _ => (now, 1),
            };
            self.entries.insert(key, next);
        }
    }

    pub fn success(&self, account: &str) {
        self.entries
            .remove(&format!("a:{}", account.to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_the_window_ends() {
        let l = LoginLimiter::new(3, 60);
        for _ in 0..3 {
            assert!(l.check("Alice", Some("10.0.0.1"), 100).is_ok());
            l.failure("Alice", Some("10.0.0.1"), 100);
        }
        assert_eq!(l.check("alice", None, 110), Err(RetryAfter(50)));
        // The address is locked for other accounts too.
        assert_eq!(l.check("bob", Some("10.0.0.1"), 110), Err(RetryAfter(50)));
        assert!(l.check("bob", Some("10.0.0.2"), 110).is_ok());
        assert!(l.check("alice", None, 160).is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let l = LoginLimiter::new(2, 60);
        l.failure("carol", None, 0);
        l.success("carol");
        l.failure("carol", None, 1);
        assert!(l.check("carol", None, 2).is_ok());
        l.failure("carol", None, 2);
        assert!(l.check("carol", None, 3).is_err());
    }

    #[test]
    fn zero_disables() {
        let l = LoginLimiter::new(0, 60);
        for t in 0..10 {
            l.failure("d", None, t);
        }
        assert!(l.check("d", None, 10).is_ok());
    }
}
