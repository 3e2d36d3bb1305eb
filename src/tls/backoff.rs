//! Jittered exponential backoff, so an unreachable ACME server is retried calmly and many
//! nodes failing at once do not retry in step.

use rand::Rng;
use std::time::Duration;

/// Delay before retry number `attempt` (0 for the first retry): an exponential
/// `base · 2^attempt`, capped at `cap`, of which a random half is dropped ("equal jitter").
/// The delay is therefore always at least half the exponential value, so retries never turn
/// into a hot loop, and at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// For certificate renewal: 1 minute, then 2, 4, … up to 6 hours.
    pub const RENEWAL: Backoff = Backoff {
        base: Duration::from_secs(60),
        cap: Duration::from_secs(6 * 3600),
    };

    /// The exponential value for `attempt`, before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry `attempt`, in `[ceiling / 2, ceiling]`. Deterministic for a
    /// seeded `rng` (e.g. `StdRng::seed_from_u64`), which is how tests pin it.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_millis().min(u64::MAX as u128) as u64;
        half + Duration::from_millis(rng.random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const B: Backoff = Backoff {
        base: Duration::from_secs(10),
        cap: Duration::from_secs(600),
    };

    #[test]
    fn grows_then_caps() {
        let ceilings: Vec<u64> = (0..9).map(|a| B.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(B.ceiling(u32::MAX), B.cap);
    }

    #[test]
    fn delays_stay_within_half_and_full_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..40 {
            for _ in 0..50 {
                let d = B.delay(attempt, &mut rng);
                let c = B.ceiling(attempt);
                assert!(
                    d >= c / 2 && d <= c,
                    "attempt {attempt}: {d:?} not in [{:?}, {c:?}]",
                    c / 2
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_and_is_reproducible() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20).map(|_| B.delay(5, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let delays = run(3);
        let (min, max) = (delays.iter().min(), delays.iter().max());
        // 20 draws over a 160 s range: not all the same.
        assert!(max
            .zip(min)
            .is_some_and(|(a, b)| *a - *b > Duration::from_secs(10)));
    }
}
