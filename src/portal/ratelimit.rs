//! Rate limits: a token bucket per key (an IP address, a username, an email address), on the
//! injected clock. In memory: a restart forgets them, which is fine for slowing down guessing
//! and floods; the durable caps (pending registrations per collective) live in the database.

use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// `burst` requests at once, then one more every `every`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    pub const fn new(burst: u32, every: Duration) -> Rate {
        Rate { burst, every }
    }

    /// No limit (benchmarks).
    pub const UNLIMITED: Rate = Rate {
        burst: u32::MAX,
        every: Duration::ZERO,
    };
}

/// Buckets keep at most this many keys; past it the full ones (idle) are forgotten.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, (f64, OffsetDateTime)>>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key`: `true` when allowed.
    pub fn allow(&self, key: &str, now: OffsetDateTime) -> bool {
        if self.rate.burst == u32::MAX {
            return true;
        }
        let burst = f64::from(self.rate.burst);
        let per_second = if self.rate.every.is_zero() {
            f64::INFINITY
        } else {
            1.0 / self.rate.every.as_seconds_f64()
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_KEYS {
            let rate = per_second;
            buckets.retain(|_, (tokens, at)| {
                let elapsed = (now - *at).as_seconds_f64().max(0.0);
                *tokens + elapsed * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((burst, now));
        let elapsed = (now - *at).as_seconds_f64().max(0.0);
        *tokens = (*tokens + elapsed * per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The portal's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Every form sent, per client IP.
    pub post_per_ip: Rate,
    /// Sign-in attempts per username.
    pub sign_in_per_user: Rate,
    /// Mail sent to one address (registration, reset, resend, invitation, email change).
    pub mail_per_address: Rate,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            post_per_ip: Rate::new(30, Duration::seconds(2)),
            sign_in_per_user: Rate::new(5, Duration::minutes(3)),
            mail_per_address: Rate::new(3, Duration::minutes(10)),
        }
    }
}

impl Limits {
    pub fn unlimited() -> Limits {
        Limits {
            post_per_ip: Rate::UNLIMITED,
            sign_in_per_user: Rate::UNLIMITED,
            mail_per_address: Rate::UNLIMITED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let l = Limiter::new(Rate::new(3, Duration::seconds(10)));
        assert!(l.allow("a", t0));
        assert!(l.allow("a", t0));
        assert!(l.allow("a", t0));
        assert!(!l.allow("a", t0));
        assert!(l.allow("b", t0), "keys are independent");
        assert!(!l.allow("a", t0 + Duration::seconds(9)));
        assert!(l.allow("a", t0 + Duration::seconds(19)));
        assert!(!l.allow("a", t0 + Duration::seconds(19)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::hours(1);
        assert!((0..3).all(|_| l.allow("a", later)));
        assert!(!l.allow("a", later));
        let u = Limiter::new(Rate::UNLIMITED);
        assert!((0..1000).all(|_| u.allow("a", t0)));
    }
}
