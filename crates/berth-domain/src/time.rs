//! Timestamps as the APIs and documents spell them: RFC 3339 (the token service, SBOMs),
//! RFC 2822 (the Quay-shaped REST API). Unix seconds in, UTC out; no time-zone database
//! needed. Pure: the caller reads the clock.

/// Days since 1970-01-01 of a proleptic Gregorian date, month 1-12 (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn split(unix: i64) -> ((i64, u32, u32), (i64, i64, i64), i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    (
        civil_from_days(days),
        (secs / 3600, secs % 3600 / 60, secs % 60),
        days,
    )
}

/// `2026-11-23T10:00:00Z`
pub fn rfc3339(unix: i64) -> String {
    let ((y, mo, d), (h, mi, s), _) = split(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `Mon, 23 Nov 2026 10:00:00 -0000`, as Quay's API writes dates.
pub fn rfc2822(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ((y, mo, d), (h, mi, s), days) = split(unix);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} -0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_420_800), "2026-11-23T08:00:00Z");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 -0000");
        assert_eq!(rfc2822(1_795_420_800), "Mon, 23 Nov 2026 08:00:00 -0000");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        for days in [-800_000, -1, 0, 11_016, 20_415, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
