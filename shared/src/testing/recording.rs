//! Ports that record what the use cases did, so tests can read it: codes "sent", security events.

use crate::{domain::*, error::DeliveryError, ports::*};
use async_trait::async_trait;
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

/// An OTP provider that records what it sent, for unit tests: codes are made by the real
/// builtin provider's generator rules (6 digits) but kept in clear here so a test can read them.
#[derive(Default)]
pub struct RecordingOtp {
    sent: Mutex<Vec<(Phone, Channel, String)>>,
    fail_sends: AtomicUsize,
}

impl RecordingOtp {
    /// The next `n` sends fail as if the provider were down.
    pub fn fail_next_sends(&self, n: usize) {
        self.fail_sends.store(n, Ordering::SeqCst);
    }

    pub fn sent(&self) -> Vec<(Phone, Channel, String)> {
        self.sent.lock().unwrap().clone()
    }

    pub fn last_code_to(&self, phone: &Phone) -> Option<String> {
        self.sent.lock().unwrap().iter().rev().find(|(p, _, _)| p == phone).map(|(_, _, c)| c.clone())
    }
}

#[async_trait]
impl OtpProvider for RecordingOtp {
    fn generate(&self, _: &ChallengeId) -> Option<GeneratedCode> {
        let code = format!("{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000);
        // The "hash" is the code itself: acceptable only in this test double.
        Some(GeneratedCode { hash: code.clone(), code: OtpCode::from_generated(code) })
    }

    fn supports(&self, channel: Channel) -> bool {
        channel != Channel::Whatsapp
    }

    async fn send(&self, to: &Phone, channel: Channel, code: Option<&GeneratedCode>) -> Result<Option<String>, DeliveryError> {
        if self.fail_sends.load(Ordering::SeqCst) > 0 {
            self.fail_sends.fetch_sub(1, Ordering::SeqCst);
            return Err(DeliveryError::Unavailable("test outage".into()));
        }
        let code = code.map(|c| c.code.expose().to_owned()).unwrap_or_default();
        self.sent.lock().unwrap().push((to.clone(), channel, code));
        Ok(None)
    }

    async fn cancel(&self, _: &str) -> Result<(), DeliveryError> {
        Ok(())
    }

    async fn check(&self, challenge: &Challenge, code: &OtpCode) -> Result<bool, DeliveryError> {
        Ok(challenge.code_hash.as_deref() == Some(code.expose()))
    }
}

/// An `EventSink` that keeps every security event, for tests to assert what a flow recorded.
#[derive(Default)]
pub struct RecordingEvents(Mutex<Vec<SecurityEvent>>);

impl RecordingEvents {
    pub fn all(&self) -> Vec<SecurityEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The kinds recorded, in order.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.0.lock().unwrap().iter().map(|e| e.kind).collect()
    }

    /// How many events of `kind` were recorded.
    pub fn count(&self, kind: EventKind) -> usize {
        self.0.lock().unwrap().iter().filter(|e| e.kind == kind).count()
    }
}

impl EventSink for RecordingEvents {
    fn record(&self, event: SecurityEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// The real argon2 hasher, counting every password it evaluates (a real account's hash or the
/// dummy one), so tests can show what argon2 work a flow did.
#[derive(Default)]
pub struct CountingHasher {
    inner: crate::adapters::password::Argon2Hasher,
    verifies: AtomicUsize,
}

impl CountingHasher {
    /// Passwords evaluated so far.
    pub fn verifies(&self) -> usize {
        self.verifies.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for CountingHasher {
    async fn hash(&self, password: &Password) -> Result<String, crate::AuthError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &Password, phc: &str) -> Result<bool, crate::AuthError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, phc).await
    }

    async fn verify_absent(&self, password: &Password) -> Result<bool, crate::AuthError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.inner.verify_absent(password).await
    }
}
