//! The SMS pumping guard (API.md v3, "SMS pumping guard"): a number range that gets many codes
//! and completes few of them is a toll-fraud target; its sends pause until the window ends,
//! and every other range keeps getting codes (the global fuse would stop them all).

use super::{AuthService, Caller};
use crate::{domain::*, error::AuthError, ports::*};
use std::{collections::HashMap, sync::Mutex, time::Duration};

/// The ranges this instance has seen paused, until when. A paused range's sends are refused
/// here without a write: a refused conditional write still costs a write unit, and an attack
/// at 100 codes a second would otherwise write its range's item 100 times a second for the
/// whole window. The pause is the window's, so remembering it changes no answer.
#[derive(Default)]
pub(super) struct PausedRanges(Mutex<HashMap<DestinationPrefix, UnixTime>>);

impl PausedRanges {
    fn until(&self, prefix: DestinationPrefix, now: UnixTime) -> Option<UnixTime> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&prefix).copied().filter(|until| *until > now)
    }

    fn remember(&self, prefix: DestinationPrefix, until: UnixTime, now: UnixTime) {
        let mut paused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        paused.retain(|_, until| *until > now);
        paused.insert(prefix, until);
    }
}

/// A send counted against its range, to give back if another cap then refuses it.
#[must_use]
pub(super) struct CountedSend {
    prefix: DestinationPrefix,
    at: UnixTime,
}

impl AuthService {
    /// Counts a send to `to` against its range, or refuses it with `destination_blocked` (the
    /// range is paused), before anything is stored or sent. None: the guard is off or the
    /// number is on the safe list.
    pub(super) async fn guard_destination(&self, to: &Phone, caller: &Caller) -> Result<Option<CountedSend>, AuthError> {
        let rule = &self.limits.pumping;
        let Some(prefix) = rule.prefix_of(to) else { return Ok(None) };
        let now = self.now();
        let paused_until = match self.paused_ranges.until(prefix, now) {
            Some(until) => until,
            None => match self.ports.prefixes.count_send(prefix, rule, now).await? {
                LimitOutcome::Allowed => return Ok(Some(CountedSend { prefix, at: now })),
                LimitOutcome::Exceeded { retry_after } => {
                    let until = now + retry_after.as_secs() as i64;
                    self.paused_ranges.remember(prefix, until, now);
                    until
                }
            },
        };
        self.record(EventKind::DestinationBlocked(prefix), Subject::phone(to, caller));
        Err(AuthError::DestinationBlocked { retry_after: Duration::from_secs((paused_until - now).max(1) as u64) })
    }

    /// Takes back a counted send that did not go out (another cap refused it).
    pub(super) async fn give_back(&self, counted: Option<CountedSend>) {
        let Some(CountedSend { prefix, at }) = counted else { return };
        if let Err(err) = self.ports.prefixes.uncount_send(prefix, &self.limits.pumping, at).await {
            // Counted once too often: the range looks slightly worse until its window ends.
            tracing::warn!(error = %err, prefix = %prefix, "could not take back a refused send");
        }
    }

    /// A code sent to `challenge`'s phone was entered right: its range converts. Counted in the
    /// window its code went out in; nothing once that window has ended.
    pub(super) async fn count_completion(&self, challenge: &Challenge) {
        let rule = &self.limits.pumping;
        let Some(prefix) = rule.prefix_of(&challenge.phone) else { return };
        if fixed_window(challenge.last_sent_at, rule.window).1 <= self.now() {
            return;
        }
        if let Err(err) = self.ports.prefixes.count_completion(prefix, rule, challenge.last_sent_at).await {
            // The code is already approved: a missed completion only makes its range look worse.
            tracing::warn!(error = %err, prefix = %prefix, "could not count a completed challenge");
        }
    }
}
