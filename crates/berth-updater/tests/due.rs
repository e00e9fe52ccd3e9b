//! `due`: the scheduling policy, with the clock as an argument.

use std::time::Duration;

use berth_updater::{FeedSpec, FeedState, default_feeds, due, retry_delay};

const H: u64 = 3600;

fn spec(name: &str, hours: u64) -> FeedSpec {
    FeedSpec {
        name: name.to_owned(),
        url: format!("https://example.org/{name}"),
        interval: Duration::from_secs(hours * H),
        enabled: true,
    }
}

fn fetched(name: &str, at: u64) -> FeedState {
    FeedState {
        name: name.to_owned(),
        fetched_at: Some(at),
        ..FeedState::default()
    }
}

fn failed(name: &str, fetched_at: Option<u64>, error_at: u64, attempts: u32) -> FeedState {
    FeedState {
        name: name.to_owned(),
        fetched_at,
        last_error: Some("boom".to_owned()),
        last_error_at: Some(error_at),
        attempts,
        ..FeedState::default()
    }
}

#[test]
fn never_fetched_and_expired_feeds_are_due() {
    let now = 1_800_000_000;
    let specs = [
        spec("new", 6),
        spec("fresh", 6),
        spec("stale", 6),
        spec("edge", 6),
    ];
    let states = [
        fetched("fresh", now - 5 * H),
        fetched("stale", now - 7 * H),
        fetched("edge", now - 6 * H),
        fetched("unknown-feed", 0),
    ];
    assert_eq!(due(&specs, &states, now), [0, 2, 3]);
}

#[test]
fn disabled_feeds_never_are() {
    let mut s = spec("off", 1);
    s.enabled = false;
    assert!(due(&[s], &[], 1_800_000_000).is_empty());
}

#[test]
fn failures_back_off_but_never_past_the_interval() {
    let now = 1_800_000_000;
    let specs = [spec("f", 24)];
    // One failure: retried after 5 minutes.
    assert!(due(&specs, &[failed("f", Some(now - 2 * H), now - 299, 1)], now).is_empty());
    assert_eq!(
        due(&specs, &[failed("f", Some(now - 2 * H), now - 300, 1)], now),
        [0]
    );
    // Four failures: 40 minutes.
    assert!(due(&specs, &[failed("f", None, now - 39 * 60, 4)], now).is_empty());
    assert_eq!(
        due(&specs, &[failed("f", None, now - 40 * 60, 4)], now),
        [0]
    );
    // Many failures: capped at the interval.
    assert_eq!(
        retry_delay(Duration::from_secs(24 * H), 40),
        Duration::from_secs(24 * H)
    );
    assert_eq!(
        due(&specs, &[failed("f", None, now - 24 * H, 40)], now),
        [0]
    );
    assert!(due(&specs, &[failed("f", None, now - 23 * H, 40)], now).is_empty());
    // A short interval caps the backoff too.
    let hourly = [FeedSpec {
        interval: Duration::from_secs(120),
        ..spec("f", 1)
    }];
    assert_eq!(due(&hourly, &[failed("f", None, now - 120, 3)], now), [0]);
}

#[test]
fn a_clock_that_went_back_does_not_stall_feeds() {
    let now = 1_800_000_000;
    let specs = [spec("f", 6)];
    assert_eq!(due(&specs, &[fetched("f", now + 30 * 24 * H)], now), [0]);
    // Small skew between machines is tolerated.
    assert!(due(&specs, &[fetched("f", now + 60)], now).is_empty());
    assert_eq!(due(&specs, &[fetched("f", u64::MAX)], now), [0]);
}

#[test]
fn on_first_start_every_enabled_default_feed_is_due() {
    let feeds = default_feeds();
    let enabled = feeds.iter().filter(|f| f.enabled).count();
    assert_eq!(due(&feeds, &[], 1_800_000_000).len(), enabled);
    assert!(enabled >= 20, "{enabled}");
}
