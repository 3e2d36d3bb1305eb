//! Which snapshots `restic forget --keep-daily/--keep-weekly/--keep-monthly` keeps, predicted
//! without restic: for tests, and for `backup list` to show what the next prune removes.
//!
//! restic's rule (`ApplyPolicy` in restic's `internal/restic/snapshot_policy.go`), applied to
//! one group of snapshots:
//!
//! - snapshots are walked from the newest to the oldest;
//! - each policy (daily, weekly, monthly) is a bucket with a count N and the "last seen"
//!   period; a snapshot whose day (`YYYYMMDD`), ISO week (`YYYYWW`) or month (`YYYYMM`)
//!   differs from the last one seen by that bucket is kept and uses one of the N; later
//!   (older) snapshots in a period already seen are not kept by that bucket;
//! - so each bucket keeps the newest snapshot of each of the last N periods *that have
//!   snapshots*, counted from the newest snapshot (not from today): days without a backup
//!   do not use up the count;
//! - buckets are independent: a snapshot kept as a daily one also counts as its week's and
//!   month's;
//! - periods are calendar days, ISO 8601 weeks (Monday first, the week-year's number) and
//!   calendar months, in the offset the snapshot's time was recorded in;
//! - from restic 0.16 on, when a bucket still has counts left once the oldest snapshot is
//!   reached, that oldest snapshot is kept too (restic pull request 4366). Debian bookworm's
//!   restic (0.14) does not.
//!
//! Nothing here reads a clock: the snapshot times are the only input.

use super::output::ResticVersion;
use crate::model::node::Keep;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Which version of restic's policy to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyRules {
    /// restic ≥ 0.16: also keep the oldest snapshot when a bucket has counts left.
    pub keep_oldest_when_short: bool,
}

impl PolicyRules {
    /// The rules of the restic that answered `restic version`.
    pub fn of(version: ResticVersion) -> PolicyRules {
        PolicyRules {
            keep_oldest_when_short: (version.major, version.minor) >= (0, 16),
        }
    }
}

/// The snapshot times restic 0.14 (Debian bookworm's) keeps under `keep`; see the module
/// documentation. With no positive count in `keep`, restic keeps everything.
pub fn expected_kept(times: &[OffsetDateTime], keep: &Keep) -> BTreeSet<OffsetDateTime> {
    expected_kept_with(times, keep, PolicyRules::default())
}

/// [`expected_kept`] for the given version's rules.
pub fn expected_kept_with(
    times: &[OffsetDateTime],
    keep: &Keep,
    rules: PolicyRules,
) -> BTreeSet<OffsetDateTime> {
    let mut newest_first: Vec<OffsetDateTime> = times.to_vec();
    newest_first.sort_by(|a, b| b.cmp(a));
    let mut buckets: Vec<Bucket> = [
        (keep.daily, day as fn(OffsetDateTime) -> i64),
        (keep.weekly, iso_week),
        (keep.monthly, month),
    ]
    .into_iter()
    .filter_map(|(n, period)| {
        n.filter(|n| *n > 0).map(|n| Bucket {
            left: n,
            period,
            last: None,
        })
    })
    .collect();
    if buckets.is_empty() {
        return newest_first.into_iter().collect();
    }
    let mut kept = BTreeSet::new();
    let oldest = newest_first.len().saturating_sub(1);
    for (i, t) in newest_first.iter().enumerate() {
        for b in &mut buckets {
            if b.left == 0 {
                continue;
            }
            let p = (b.period)(*t);
            let oldest_bonus = rules.keep_oldest_when_short && i == oldest;
            if b.last != Some(p) || oldest_bonus {
                kept.insert(*t);
                b.last = Some(p);
                b.left -= 1;
            }
        }
    }
    kept
}

/// The snapshot times `keep` would remove: `times` less [`expected_kept`].
pub fn expected_removed(times: &[OffsetDateTime], keep: &Keep) -> BTreeSet<OffsetDateTime> {
    let kept = expected_kept(times, keep);
    times
        .iter()
        .filter(|t| !kept.contains(t))
        .copied()
        .collect()
}

struct Bucket {
    left: u32,
    period: fn(OffsetDateTime) -> i64,
    last: Option<i64>,
}

fn day(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 10_000 + i64::from(u8::from(t.month())) * 100 + i64::from(t.day())
}

fn iso_week(t: OffsetDateTime) -> i64 {
    let (year, week, _) = t.to_iso_week_date();
    i64::from(year) * 100 + i64::from(week)
}

fn month(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 100 + i64::from(u8::from(t.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    fn keep(daily: u32, weekly: u32, monthly: u32) -> Keep {
        let n = |v| if v == 0 { None } else { Some(v) };
        Keep {
            daily: n(daily),
            weekly: n(weekly),
            monthly: n(monthly),
        }
    }

    #[test]
    fn newest_of_each_day_and_days_without_backups_do_not_count() {
        let times = [
            datetime!(2024-03-01 03:00 UTC),
            datetime!(2024-03-01 15:00 UTC),
            datetime!(2024-03-02 03:00 UTC),
            // no backup on the 3rd and 4th
            datetime!(2024-03-05 03:00 UTC),
            datetime!(2024-03-05 09:00 UTC),
        ];
        let kept = expected_kept(&times, &keep(3, 0, 0));
        assert_eq!(
            kept.into_iter().collect::<Vec<_>>(),
            [
                datetime!(2024-03-01 15:00 UTC),
                datetime!(2024-03-02 03:00 UTC),
                datetime!(2024-03-05 09:00 UTC)
            ]
        );
    }

    #[test]
    fn iso_weeks_start_on_monday_and_cross_years() {
        // 2024-12-30 (Mon) belongs to ISO week 2025-W01, with 2025-01-05 (Sun).
        let times = [
            datetime!(2024-12-29 12:00 UTC), // Sun, 2024-W52
            datetime!(2024-12-30 12:00 UTC), // Mon, 2025-W01
            datetime!(2025-01-05 12:00 UTC), // Sun, 2025-W01
        ];
        let kept = expected_kept(&times, &keep(0, 5, 0));
        assert_eq!(
            kept.into_iter().collect::<Vec<_>>(),
            [
                datetime!(2024-12-29 12:00 UTC),
                datetime!(2025-01-05 12:00 UTC)
            ]
        );
    }

    #[test]
    fn buckets_are_independent_and_the_offset_decides_the_day() {
        // Both are 31 May in UTC (21:30 and 22:30), but 31 May and 1 June in the +02:00 they
        // were recorded in: restic counts days in the recorded offset.
        let times = [
            datetime!(2024-05-31 23:30 +02:00),
            datetime!(2024-06-01 00:30 +02:00),
        ];
        assert_eq!(expected_kept(&times, &keep(2, 0, 0)).len(), 2);
        let in_utc: Vec<_> = times
            .iter()
            .map(|t| t.to_offset(time::UtcOffset::UTC))
            .collect();
        assert_eq!(expected_kept(&in_utc, &keep(2, 0, 0)).len(), 1);
        // daily 1 and monthly 1 both pick the newest (June): one snapshot, counted twice.
        assert_eq!(
            expected_kept(&times, &keep(1, 0, 1))
                .into_iter()
                .collect::<Vec<_>>(),
            [datetime!(2024-06-01 00:30 +02:00)]
        );
        // monthly 2 also keeps May's newest.
        assert_eq!(expected_kept(&times, &keep(1, 0, 2)).len(), 2);
    }

    #[test]
    fn the_oldest_is_kept_from_restic_0_16_on() {
        let start = datetime!(2024-01-01 03:00 UTC);
        let times: Vec<_> = (0..10).map(|d| start + Duration::days(d)).collect();
        let policy = keep(3, 0, 6);
        let old = expected_kept(&times, &policy);
        let v16 = ResticVersion {
            major: 0,
            minor: 16,
            patch: 4,
        };
        let new = expected_kept_with(&times, &policy, PolicyRules::of(v16));
        assert_eq!(old.len(), 3);
        assert_eq!(new.len(), 4);
        assert!(new.contains(&start) && !old.contains(&start));
    }

    #[test]
    fn no_policy_keeps_everything_and_removed_is_the_rest() {
        let times = [
            datetime!(2024-01-01 03:00 UTC),
            datetime!(2024-01-01 04:00 UTC),
        ];
        assert_eq!(expected_kept(&times, &Keep::default()).len(), 2);
        assert_eq!(
            expected_removed(&times, &keep(1, 0, 0))
                .into_iter()
                .collect::<Vec<_>>(),
            [datetime!(2024-01-01 03:00 UTC)]
        );
    }
}
