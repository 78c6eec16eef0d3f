//! The use cases' ports over one memory store: what every use-case test wires the same way.

use super::MemoryStore;
use crate::{
    adapters::secret_box::AesGcmSealer,
    ports::{Clock, EventSink, OtpProvider, PasswordHasher},
    use_cases::Ports,
};
use std::sync::Arc;

/// Every store port on `store`, authenticator secrets sealed with a fixed test key, and the
/// given code provider, hasher, clock and event sink.
pub fn memory_ports(
    store: &Arc<MemoryStore>,
    otp: Arc<dyn OtpProvider>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
) -> Ports {
    Ports {
        users: store.clone(),
        challenges: store.clone(),
        limiter: store.clone(),
        prefixes: store.clone(),
        otp,
        hasher,
        clock,
        factors: store.clone(),
        devices: store.clone(),
        sealer: Arc::new(AesGcmSealer::from_key(&[7u8; 32]).expect("a 32-byte key")),
        events,
    }
}
