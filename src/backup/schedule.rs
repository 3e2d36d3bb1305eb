//! `backup.schedule` of node.yaml: when backups run. Pure: the next run is computed from a
//! time the caller passes in, in that time's offset (pass local time for local hours).
//!
//! Accepted forms (case does not matter):
//!
//! | form | runs |
//! |---|---|
//! | `hourly` | every hour on the hour |
//! | `daily 03:30` | every day at 03:30 |
//! | `weekly Sun 04:00` | every Sunday at 04:00 (`Mon`…`Sun` or the full name) |
//! | `every 6h` | at 00:00, 06:00, 12:00, 18:00 (N divides 24) |
//! | `every 15m` | at :00, :15, :30, :45 of every hour (N divides 60) |
//!
//! Intervals are aligned on midnight, so a restart of the supervisor does not shift them.

use super::error::BackupError;
use std::fmt;
use time::{Duration, OffsetDateTime, Time, Weekday};

/// When backups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Hourly,
    Daily {
        at: Time,
    },
    Weekly {
        day: Weekday,
        at: Time,
    },
    /// Every `minutes`, aligned on midnight; divides a day, and an hour when under one.
    Every {
        minutes: u32,
    },
}

impl Schedule {
    /// Reads `backup.schedule`; the error lists the accepted forms.
    pub fn parse(value: &str) -> Result<Schedule, BackupError> {
        let fail = |problem: String| BackupError::InvalidSchedule {
            value: value.to_string(),
            problem,
        };
        let lower = value.trim().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        match words.as_slice() {
            [] => Err(fail("it is empty".into())),
            ["hourly"] => Ok(Schedule::Hourly),
            ["daily"] => Err(fail("`daily` needs a time, like `daily 03:30`".into())),
            ["daily", at] => Ok(Schedule::Daily {
                at: parse_time(at).map_err(fail)?,
            }),
            ["weekly"] | ["weekly", _] => Err(fail(
                "`weekly` needs a day and a time, like `weekly Sun 04:00`".into(),
            )),
            ["weekly", day, at] => Ok(Schedule::Weekly {
                day: parse_day(day).map_err(fail)?,
                at: parse_time(at).map_err(fail)?,
            }),
            ["every", n] => parse_every(n).map_err(fail),
            [first, ..] => Err(fail(format!("`{first}` does not start a schedule"))),
        }
    }

    /// The first run strictly after `after`, in `after`'s offset.
    pub fn next_run(&self, after: OffsetDateTime) -> OffsetDateTime {
        match *self {
            Schedule::Hourly => every(after, 60),
            Schedule::Every { minutes } => every(after, minutes),
            Schedule::Daily { at } => {
                let today = after.replace_time(at);
                if today > after {
                    today
                } else {
                    today + Duration::days(1)
                }
            }
            Schedule::Weekly { day, at } => {
                let ahead = (i64::from(day.number_days_from_monday())
                    - i64::from(after.weekday().number_days_from_monday()))
                .rem_euclid(7);
                let candidate = after.replace_time(at) + Duration::days(ahead);
                if candidate > after {
                    candidate
                } else {
                    candidate + Duration::days(7)
                }
            }
        }
    }
}

/// The next multiple of `minutes` since midnight strictly after `after`.
fn every(after: OffsetDateTime, minutes: u32) -> OffsetDateTime {
    let midnight = after.replace_time(Time::MIDNIGHT);
    let since = after - midnight;
    let step = Duration::minutes(i64::from(minutes));
    let slots = since.whole_seconds() / step.whole_seconds();
    midnight + step * (slots as i32 + 1)
}

fn parse_time(s: &str) -> Result<Time, String> {
    let bad = || format!("`{s}` is not a time of day; write it HH:MM, like 03:30");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u8 = h.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    Time::from_hms(h, m, 0).map_err(|_| bad())
}

fn parse_day(s: &str) -> Result<Weekday, String> {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    DAYS.iter()
        .find(|(name, _)| *name == s || name[..3] == *s)
        .map(|(_, d)| *d)
        .ok_or_else(|| format!("`{s}` is not a day; write Mon, Tue, Wed, Thu, Fri, Sat or Sun"))
}

fn parse_every(s: &str) -> Result<Schedule, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u32 = n
        .parse()
        .map_err(|_| format!("`{s}` is not an interval; write `6h` or `30m`"))?;
    match unit {
        "h" if n > 0 && 24 % n == 0 => Ok(if n == 1 {
            Schedule::Hourly
        } else {
            Schedule::Every { minutes: n * 60 }
        }),
        "h" => Err(format!(
            "every {n}h does not divide a day; use 1, 2, 3, 4, 6, 8, 12 or 24"
        )),
        "m" if n == 60 => Ok(Schedule::Hourly),
        "m" if n >= 5 && 60 % n == 0 => Ok(Schedule::Every { minutes: n }),
        "m" => Err(format!(
            "every {n}m does not divide an hour into runs at least 5 minutes apart; use 5, 6, \
             10, 12, 15, 20, 30 or 60"
        )),
        _ => Err(format!("`{s}` is not an interval; write `6h` or `30m`")),
    }
}

/// The canonical form, which [`Schedule::parse`] reads back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |t: &Time| format!("{:02}:{:02}", t.hour(), t.minute());
        match self {
            Schedule::Hourly => f.write_str("hourly"),
            Schedule::Daily { at } => write!(f, "daily {}", hm(at)),
            Schedule::Weekly { day, at } => {
                let name = day.to_string();
                write!(f, "weekly {} {}", &name[..3], hm(at))
            }
            Schedule::Every { minutes } if minutes % 60 == 0 => {
                write!(f, "every {}h", minutes / 60)
            }
            Schedule::Every { minutes } => write!(f, "every {minutes}m"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn s(v: &str) -> Schedule {
        Schedule::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn accepted_forms_read_back() {
        for (input, canonical) in [
            ("hourly", "hourly"),
            ("daily 03:30", "daily 03:30"),
            ("Daily 3:05", "daily 03:05"),
            ("weekly Sun 04:00", "weekly Sun 04:00"),
            ("WEEKLY monday 23:59", "weekly Mon 23:59"),
            ("every 6h", "every 6h"),
            ("every 1h", "hourly"),
            ("every 24h", "every 24h"),
            ("every 15m", "every 15m"),
            ("every 60m", "hourly"),
        ] {
            let parsed = s(input);
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(s(canonical), parsed, "{canonical}");
        }
    }

    #[test]
    fn refused_forms_say_why_and_what_is_accepted() {
        for (input, why) in [
            ("", "empty"),
            ("daily", "needs a time"),
            ("daily 25:00", "not a time"),
            ("daily 3", "not a time"),
            ("weekly 04:00", "needs a day"),
            ("weekly Someday 04:00", "not a day"),
            ("every 5h", "does not divide a day"),
            ("every 7m", "does not divide an hour"),
            ("every 2m", "at least 5 minutes"),
            ("every 2d", "not an interval"),
            ("monthly", "does not start"),
        ] {
            let e = Schedule::parse(input)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("{input} accepted"));
            assert!(e.contains(why), "{input}: {e}");
            assert!(e.contains("weekly Sun 04:00"), "{input}: {e}");
        }
    }

    #[test]
    fn next_run_daily_and_weekly() {
        let d = s("daily 03:30");
        assert_eq!(
            d.next_run(datetime!(2024-03-10 01:00 UTC)),
            datetime!(2024-03-10 03:30 UTC)
        );
        // Strictly after: a run at 03:30 schedules the next for tomorrow.
        assert_eq!(
            d.next_run(datetime!(2024-03-10 03:30 UTC)),
            datetime!(2024-03-11 03:30 UTC)
        );
        // Month and year ends.
        assert_eq!(
            d.next_run(datetime!(2024-12-31 04:00 +01:00)),
            datetime!(2025-01-01 03:30 +01:00)
        );
        let w = s("weekly Sun 04:00");
        // 2024-03-10 is a Sunday.
        assert_eq!(
            w.next_run(datetime!(2024-03-10 03:59:59 UTC)),
            datetime!(2024-03-10 04:00 UTC)
        );
        assert_eq!(
            w.next_run(datetime!(2024-03-10 04:00 UTC)),
            datetime!(2024-03-17 04:00 UTC)
        );
        assert_eq!(
            w.next_run(datetime!(2024-03-13 12:00 UTC)),
            datetime!(2024-03-17 04:00 UTC)
        );
    }

    #[test]
    fn next_run_intervals_are_aligned_on_midnight() {
        assert_eq!(
            s("hourly").next_run(datetime!(2024-03-10 10:00 UTC)),
            datetime!(2024-03-10 11:00 UTC)
        );
        assert_eq!(
            s("hourly").next_run(datetime!(2024-03-10 23:59:59.5 UTC)),
            datetime!(2024-03-11 00:00 UTC)
        );
        let six = s("every 6h");
        assert_eq!(
            six.next_run(datetime!(2024-03-10 05:59 UTC)),
            datetime!(2024-03-10 06:00 UTC)
        );
        assert_eq!(
            six.next_run(datetime!(2024-03-10 18:00 UTC)),
            datetime!(2024-03-11 00:00 UTC)
        );
        assert_eq!(
            s("every 15m").next_run(datetime!(2024-03-10 10:14:30 +02:00)),
            datetime!(2024-03-10 10:15 +02:00)
        );
        assert_eq!(
            s("every 24h").next_run(datetime!(2024-03-10 00:00 UTC)),
            datetime!(2024-03-11 00:00 UTC)
        );
    }
}
