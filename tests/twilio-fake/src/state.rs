//! The fake's memory: verifications, messages, number kinds, faults, clock and counters.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::FakeConfig;

/// Verify's default code lifetime.
pub(crate) const VERIFICATION_TTL: Duration = Duration::minutes(10);
/// Verify sends a pending verification's code at most this many times.
pub(crate) const MAX_SENDS: usize = 5;
/// Verify evaluates at most this many checks per verification.
pub(crate) const MAX_CHECKS: u32 = 5;

/// Shared by all handlers; the config never changes, everything else sits behind one lock.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) cfg: Arc<FakeConfig>,
    inner: Arc<Mutex<Inner>>,
}

impl AppState {
    pub(crate) fn new(cfg: FakeConfig) -> Self {
        Self { cfg: Arc::new(cfg), inner: Arc::default() }
    }

    /// Every critical section is short and panic-free, so a poisoned lock still holds
    /// consistent data: keep serving rather than failing every later test.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    /// Oldest first, so the newest match is found from the back.
    pub(crate) verifications: Vec<Verification>,
    /// Oldest first, as the control API lists them.
    pub(crate) messages: Vec<Message>,
    pub(crate) numbers: HashMap<String, NumberKind>,
    pub(crate) fault: Fault,
    /// How far tests have moved the fake's clock past the real one.
    pub(crate) clock_offset: Duration,
    pub(crate) stats: Stats,
}

impl Inner {
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.clock_offset
    }

    pub(crate) fn number_kind(&self, number: &str) -> NumberKind {
        self.numbers.get(number).copied().unwrap_or_default()
    }

    /// The newest verification of `to` that still accepts sends and checks.
    pub(crate) fn pending_for(&mut self, to: &str) -> Option<&mut Verification> {
        let now = self.now();
        self.verifications.iter_mut().rev().find(|v| v.to == to && v.is_pending(now))
    }

    /// The verification `sid` if it still accepts checks and updates; Twilio deletes the others.
    pub(crate) fn pending_by_sid(&mut self, sid: &str) -> Option<&mut Verification> {
        let now = self.now();
        self.verifications.iter_mut().find(|v| v.sid == sid && v.is_pending(now))
    }

    /// The newest verification of `to` in any state, for the control API.
    pub(crate) fn latest_for(&self, to: &str) -> Option<&Verification> {
        self.verifications.iter().rev().find(|v| v.to == to)
    }

    /// The fault for the API request being handled; uses up one of a limited fault's requests.
    pub(crate) fn take_fault(&mut self) -> FaultMode {
        let mode = self.fault.mode;
        if mode != FaultMode::Ok {
            if let Some(remaining) = self.fault.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    self.fault = Fault::default();
                }
            }
        }
        mode
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerificationStatus {
    Pending,
    Approved,
    Canceled,
}

pub(crate) struct Verification {
    pub(crate) sid: String,
    pub(crate) to: String,
    pub(crate) channel: String,
    pub(crate) code: String,
    pub(crate) status: VerificationStatus,
    pub(crate) created: OffsetDateTime,
    pub(crate) updated: OffsetDateTime,
    pub(crate) send_attempts: Vec<SendAttempt>,
    pub(crate) check_count: u32,
}

impl Verification {
    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.created + VERIFICATION_TTL
    }

    pub(crate) fn is_pending(&self, now: OffsetDateTime) -> bool {
        self.status == VerificationStatus::Pending && !self.is_expired(now)
    }

    /// Expiry is lazy: a pending verification past its lifetime reads as `expired`.
    pub(crate) fn status_at(&self, now: OffsetDateTime) -> &'static str {
        match self.status {
            VerificationStatus::Pending if self.is_expired(now) => "expired",
            VerificationStatus::Pending => "pending",
            VerificationStatus::Approved => "approved",
            VerificationStatus::Canceled => "canceled",
        }
    }
}

pub(crate) struct SendAttempt {
    pub(crate) attempt_sid: String,
    pub(crate) channel: String,
    pub(crate) time: OffsetDateTime,
}

/// A sent message as the control API shows it.
#[derive(Clone, Serialize)]
pub(crate) struct Message {
    pub(crate) sid: String,
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NumberKind {
    #[default]
    Normal,
    Landline,
    Unsubscribed,
    /// A number Twilio refuses as invalid although it is well-formed E.164 (like its test
    /// number +15005550001): Messaging 21211, Verify 60200, each naming the number.
    Invalid,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FaultMode {
    #[default]
    Ok,
    Unavailable,
    Hang,
}

#[derive(Default)]
pub(crate) struct Fault {
    pub(crate) mode: FaultMode,
    /// `None`: until changed; `Some(n)`: for the next `n` API requests.
    pub(crate) remaining: Option<u32>,
}

#[derive(Clone, Default, Serialize)]
pub(crate) struct Stats {
    pub(crate) verifications_created: u64,
    pub(crate) verification_sends: u64,
    pub(crate) verification_checks: u64,
    pub(crate) messages_created: u64,
    pub(crate) requests: u64,
    /// Sorted so the JSON is stable across runs.
    pub(crate) by_to: BTreeMap<String, NumberStats>,
}

impl Stats {
    pub(crate) fn number(&mut self, to: &str) -> &mut NumberStats {
        self.by_to.entry(to.to_owned()).or_default()
    }
}

#[derive(Clone, Default, Serialize)]
pub(crate) struct NumberStats {
    pub(crate) verification_sends: u64,
    pub(crate) verification_checks: u64,
    pub(crate) messages_created: u64,
}
