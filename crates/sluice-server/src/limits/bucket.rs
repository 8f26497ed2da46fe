//! Keyed token buckets: each key (a write key, a token, a client address) has a bucket that
//! holds at most `burst` tokens and refills at `per_second`; a request takes one. A bucket that
//! has refilled completely is the same as none, so full buckets are dropped from time to time and
//! memory follows the keys that are active, not every key ever seen.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: a sustained number per second, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second. `0` turns the limit off.
    pub per_second: f64,
    /// Most tokens a bucket holds (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `count` in every `window`, all of them at once if they come at once.
    pub fn per(count: u32, window: Duration) -> Rate {
        Rate {
            per_second: if window.is_zero() {
                0.0
            } else {
                f64::from(count) / window.as_secs_f64()
            },
            burst: count,
        }
    }

    /// Whether this rate limits anything.
    pub fn is_limited(&self) -> bool {
        self.per_second > 0.0 && self.burst > 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// The bucket refilled up to `now`.
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.updated = now;
    }

    /// How long until a token is there.
    fn wait(&self, rate: Rate) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / rate.per_second).max(0.0))
    }
}

/// Buckets by key, all with one rate.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    inner: Mutex<Inner<K>>,
}

#[derive(Debug)]
struct Inner<K> {
    buckets: HashMap<K, Bucket>,
    /// The size at which full buckets are next dropped.
    prune_at: usize,
}

const PRUNE_FLOOR: usize = 1024;

impl<K: Eq + Hash + Clone> Buckets<K> {
    /// Buckets refilling at `rate`.
    pub fn new(rate: Rate) -> Self {
        Buckets {
            rate,
            inner: Mutex::new(Inner {
                buckets: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until one is there.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        self.take_at(key, Instant::now())
    }

    /// Without taking anything: whether `key`'s bucket is empty, and for how long.
    pub fn empty_for(&self, key: &K) -> Option<Duration> {
        if !self.rate.is_limited() {
            return None;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("buckets lock");
        let bucket = inner.buckets.get_mut(key)?;
        bucket.refill(self.rate, now);
        (bucket.tokens < 1.0).then(|| bucket.wait(self.rate))
    }

    fn take_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if !self.rate.is_limited() {
            return Ok(());
        }
        let rate = self.rate;
        let mut inner = self.inner.lock().expect("buckets lock");
        if inner.buckets.len() >= inner.prune_at {
            inner.prune(rate, now);
        }
        let bucket = inner.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(rate.burst),
            updated: now,
        });
        bucket.refill(rate, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(bucket.wait(rate))
        }
    }
}

impl<K: Eq + Hash> Inner<K> {
    /// Drops the buckets that have refilled: they are the same as no bucket.
    fn prune(&mut self, rate: Rate, now: Instant) {
        self.buckets.retain(|_, bucket| {
            bucket.refill(rate, now);
            bucket.tokens < f64::from(rate.burst)
        });
        self.prune_at = (self.buckets.len() * 2).max(PRUNE_FLOOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let buckets = Buckets::new(Rate {
            per_second: 2.0,
            burst: 3,
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take_at(&"k", start).is_ok());
        }
        let wait = buckets.take_at(&"k", start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later one token is back, and only one.
        let later = start + Duration::from_millis(500);
        assert!(buckets.take_at(&"k", later).is_ok());
        assert!(buckets.take_at(&"k", later).is_err());
        // Other keys have their own bucket.
        assert!(buckets.take_at(&"other", later).is_ok());
    }

    #[test]
    fn no_rate_no_limit() {
        let buckets = Buckets::new(Rate {
            per_second: 0.0,
            burst: 1,
        });
        let now = Instant::now();
        for _ in 0..100 {
            assert!(buckets.take_at(&1, now).is_ok());
        }
        assert!(buckets.empty_for(&1).is_none());
    }

    #[test]
    fn full_buckets_are_dropped() {
        let buckets = Buckets::new(Rate::per(1, Duration::from_secs(1)));
        let start = Instant::now();
        for key in 0..PRUNE_FLOOR {
            let _ = buckets.take_at(&key, start);
        }
        // A second later every bucket has refilled: the next new key prunes them all.
        let _ = buckets.take_at(&usize::MAX, start + Duration::from_secs(1));
        assert_eq!(buckets.inner.lock().unwrap().buckets.len(), 1);
    }
}
