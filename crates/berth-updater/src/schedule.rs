//! Which feeds to update now.
//!
//! Pure: the caller owns the clock and the loop, so the policy is tested without waiting. A
//! healthy feed is due once its interval has passed since the last success. A failing feed
//! must neither hammer a server that is down nor wait a whole day for its next chance, so it
//! retries after a delay that starts small and doubles with each consecutive failure, never
//! longer than its interval.

use std::collections::HashMap;
use std::time::Duration;

use crate::{FeedSpec, FeedState};

/// First retry delay after a failed update; doubles with each further failure.
pub const RETRY_BASE: Duration = Duration::from_secs(300);
/// A timestamp this far in the future means the clock moved back; waiting for it to catch
/// up could stall a feed for as long, so such a feed is due.
const CLOCK_SLACK_SECS: u64 = 3600;

/// How long after its last failure a feed that failed `attempts` times in a row is retried:
/// `RETRY_BASE * 2^(attempts-1)`, at most `interval`.
pub fn retry_delay(interval: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    RETRY_BASE.saturating_mul(1u32 << doublings).min(interval)
}

/// Which feeds are due now (indexes into `specs`, in order; disabled feeds never): never
/// fetched, or fetched_at + interval <= now; failed feeds retry after
/// min(interval, backoff growing with attempts). States are matched to specs by name.
pub fn due(specs: &[FeedSpec], states: &[FeedState], now_unix: u64) -> Vec<usize> {
    let by_name: HashMap<&str, &FeedState> = states.iter().map(|s| (s.name.as_str(), s)).collect();
    specs
        .iter()
        .enumerate()
        .filter(|(_, spec)| {
            spec.enabled && is_due(spec, by_name.get(spec.name.as_str()).copied(), now_unix)
        })
        .map(|(i, _)| i)
        .collect()
}

fn is_due(spec: &FeedSpec, state: Option<&FeedState>, now: u64) -> bool {
    let Some(state) = state else {
        return true;
    };
    let elapsed = |since: u64, wait: Duration| {
        since > now.saturating_add(CLOCK_SLACK_SECS) || since.saturating_add(wait.as_secs()) <= now
    };
    if state.attempts > 0
        && let Some(failed_at) = state.last_error_at
    {
        return elapsed(failed_at, retry_delay(spec.interval, state.attempts));
    }
    match state.fetched_at {
        None => true,
        Some(at) => elapsed(at, spec.interval),
    }
}
