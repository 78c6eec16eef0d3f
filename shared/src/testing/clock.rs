//! A clock tests move by hand.

use crate::{domain::UnixTime, ports::Clock};
use std::sync::atomic::{AtomicI64, Ordering};

/// A settable clock for expiry tests.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(now: UnixTime) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
