//! A cap that every request counts against (the global send fuse), spread over several counter
//! items so that no single item takes every write.
//!
//! DynamoDB serves at most 1,000 write units per second to one partition; one counter item that
//! every send updates throttles at a few thousand sends per second, and then every sign-up and
//! login fails at once. Here the cap is split into `shard_count(limit)` counters, each holding
//! its share (the shares sum to the cap exactly, so the cap can never be exceeded). A send
//! counts against a random shard; a full shard is remembered by this instance until the window
//! ends (a counter only grows within its window, so "full" stays true) and another shard is
//! tried, at most `PROBES` per send. docs/scale-and-cost.md ("Scale") has the arithmetic and the error bound.

use crate::{
    domain::UnixTime,
    ports::{fixed_window, LimitOutcome, RateLimiter, StoreResult},
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Enough for 10,000 sends per second at 156 writes per second per shard, under a sixth of
/// one partition's 1,000.
pub const MAX_SHARDS: u32 = 64;
/// Below `MAX_SHARDS`, a shard holds at most this many sends per window: even a window's
/// whole budget spent in one second stays under half of a partition's write limit.
pub const MAX_SHARE: u32 = 500;
/// Shards tried per send before it is refused; with `shard_count <= PROBES` every shard is
/// tried, so the cap is then exact.
pub const PROBES: u32 = 4;

/// Fewer shards for small caps (fewer shards, smaller error), never a share above `MAX_SHARE`
/// until `MAX_SHARDS` is reached.
pub fn shard_count(limit: u32) -> u32 {
    limit.div_ceil(MAX_SHARE).clamp(1, MAX_SHARDS)
}

/// Shard `shard`'s part of `limit`: the remainder goes one each to the first shards.
pub fn share(limit: u32, shards: u32, shard: u32) -> u32 {
    limit / shards + u32::from(shard < limit % shards)
}

/// The shards this instance has seen full, for one window.
#[derive(Default)]
struct KnownFull {
    window_start: UnixTime,
    limit: u32,
    mask: u64,
}

pub struct ShardedLimit {
    limiter: Arc<dyn RateLimiter>,
    key: &'static str,
    full: Mutex<KnownFull>,
}

impl ShardedLimit {
    /// Counters `<key>#<shard>` of `limiter`.
    pub fn new(limiter: Arc<dyn RateLimiter>, key: &'static str) -> Self {
        ShardedLimit { limiter, key, full: Mutex::new(KnownFull::default()) }
    }

    /// Counts one event if the cap has room; atomic per shard (the limiter's conditional write).
    pub async fn hit(&self, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
        let shards = shard_count(limit);
        let (start, end) = fixed_window(now, window);
        for _ in 0..PROBES {
            let Some(shard) = self.pick(start, limit, shards) else { break };
            let key = format!("{}#{shard}", self.key);
            match self.limiter.hit(&key, share(limit, shards, shard), window, now).await? {
                LimitOutcome::Allowed => return Ok(LimitOutcome::Allowed),
                LimitOutcome::Exceeded { .. } => self.mark_full(start, limit, shard),
            }
        }
        Ok(LimitOutcome::Exceeded { retry_after: Duration::from_secs((end - now).max(1) as u64) })
    }

    /// A random shard not known to be full in this window, or None when all are.
    fn pick(&self, window_start: UnixTime, limit: u32, shards: u32) -> Option<u32> {
        let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
        if full.window_start != window_start || full.limit != limit {
            *full = KnownFull { window_start, limit, mask: 0 };
        }
        let open: Vec<u32> = (0..shards).filter(|s| full.mask & (1 << s) == 0).collect();
        // Any shard is correct; randomness only spreads the writes.
        let r = getrandom::u32().unwrap_or(window_start as u32) as usize;
        (!open.is_empty()).then(|| open[r % open.len()])
    }

    fn mark_full(&self, window_start: UnixTime, limit: u32, shard: u32) {
        let mut full = self.full.lock().unwrap_or_else(|e| e.into_inner());
        if full.window_start == window_start && full.limit == limit {
            full.mask |= 1 << shard;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;
    use async_trait::async_trait;
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicUsize, Ordering},
    };

    const HOUR: Duration = Duration::from_secs(3600);

    /// Counts the limiter calls per key, over an in-memory store.
    #[derive(Default)]
    struct Counting {
        store: MemoryStore,
        calls: Mutex<HashMap<String, usize>>,
        total: AtomicUsize,
    }

    #[async_trait]
    impl RateLimiter for Counting {
        async fn hit(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
            *self.calls.lock().unwrap().entry(key.to_owned()).or_default() += 1;
            self.total.fetch_add(1, Ordering::Relaxed);
            self.store.hit(key, limit, window, now).await
        }
        async fn is_exhausted(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<LimitOutcome> {
            self.store.is_exhausted(key, limit, window, now).await
        }
        async fn reserve(&self, key: &str, limit: u32, window: Duration, now: UnixTime) -> StoreResult<crate::ports::CheckReservation> {
            self.store.reserve(key, limit, window, now).await
        }
        async fn release(&self, key: &str, window: Duration, reserved_at: UnixTime) -> StoreResult<()> {
            self.store.release(key, window, reserved_at).await
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn shards_and_shares() {
        assert_eq!((shard_count(1), shard_count(500), shard_count(501), shard_count(1000)), (1, 1, 2, 2));
        assert_eq!((shard_count(32_000), shard_count(36_000_000)), (64, 64));
        for limit in [1, 7, 999, 1000, 1001, 31_999, 36_000_001] {
            let shards = shard_count(limit);
            assert_eq!((0..shards).map(|s| share(limit, shards, s)).sum::<u32>(), limit, "{limit}");
            assert!((0..shards).all(|s| share(limit, shards, s) >= 1));
            assert!(shards == MAX_SHARDS || (0..shards).all(|s| share(limit, shards, s) <= MAX_SHARE));
        }
    }

    #[test]
    fn many_instances_never_exceed_the_cap_and_fall_short_only_a_little() {
        rt().block_on(async {
            let limiter = Arc::new(Counting::default());
            let limit = 40_000; // 64 shards of 625
            let instances: Vec<_> = (0..20).map(|_| ShardedLimit::new(limiter.clone(), "send#global")).collect();
            let (mut allowed, mut first_refusal) = (0u32, None);
            for i in 0..(limit as usize * 11 / 10) {
                let instance = &instances[(getrandom::u32().unwrap() as usize + i) % instances.len()];
                match instance.hit(limit, HOUR, 1_000).await.unwrap() {
                    LimitOutcome::Allowed => allowed += 1,
                    LimitOutcome::Exceeded { retry_after } => {
                        assert_eq!(retry_after, Duration::from_secs(2600));
                        first_refusal.get_or_insert(allowed);
                    }
                }
            }
            assert!(allowed <= limit);
            let first_refusal = first_refusal.expect("the cap was reached");
            // Random shard choices: runs have given 92.9-97%; the bound leaves room for chance.
            assert!(first_refusal >= limit * 90 / 100, "first refusal after {first_refusal} of {limit}");
            assert!(allowed >= limit * 99 / 100, "{allowed} of {limit} allowed in the end");
            let calls = limiter.calls.lock().unwrap();
            assert_eq!(calls.len(), 64);
            // Each shard takes its share of the writes: about 1/64 of them, none more than twice that.
            let total = limiter.total.load(Ordering::Relaxed);
            assert!(calls.values().all(|&n| n <= 2 * total / 64), "{calls:?}");
        })
    }

    #[test]
    fn small_caps_are_exact() {
        rt().block_on(async {
            let limiter = Arc::new(Counting::default());
            let instances: Vec<_> = (0..5).map(|_| ShardedLimit::new(limiter.clone(), "k")).collect();
            let mut allowed = 0;
            for i in 0..2500 {
                if instances[i % 5].hit(1000, HOUR, 0).await.unwrap() == LimitOutcome::Allowed {
                    allowed += 1;
                }
                // Two shards, both probed: nothing refused while the cap has room.
                assert_eq!(allowed, (i + 1).min(1000));
            }
        })
    }

    #[test]
    fn a_full_cap_costs_no_writes_until_the_window_ends() {
        rt().block_on(async {
            let limiter = Arc::new(Counting::default());
            let sharded = ShardedLimit::new(limiter.clone(), "k");
            for _ in 0..1000 {
                assert_eq!(sharded.hit(1000, HOUR, 10).await.unwrap(), LimitOutcome::Allowed);
            }
            let before = limiter.total.load(Ordering::Relaxed);
            for _ in 0..100 {
                assert!(matches!(sharded.hit(1000, HOUR, 20).await.unwrap(), LimitOutcome::Exceeded { .. }));
            }
            // Each shard is found full once (one of them already while the cap filled), then
            // this instance knows: at most 2 more writes for 100 refusals.
            assert!((1..=2).contains(&(limiter.total.load(Ordering::Relaxed) - before)));
            // A new window: counters and memory start over.
            assert_eq!(sharded.hit(1000, HOUR, 3600).await.unwrap(), LimitOutcome::Allowed);
        })
    }
}
