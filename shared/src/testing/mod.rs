//! Test support, compiled only for tests and with the `testing` feature (never in a function):
//! in-memory ports with the DynamoDB adapter's semantics (checked by the store contract suite,
//! shared/tests/store_contract.rs), a clock moved by hand, recorders, and signing-key generators
//! (with `TokenKeys::from_pem`).

mod clock;
mod keys;
mod memory;
mod ports;
mod recording;

pub use clock::ManualClock;
pub use keys::{generate_p256_signing_key_pem, generate_signing_key_pem, public_pem_of};
pub use memory::MemoryStore;
pub use ports::memory_ports;
pub use recording::{CountingHasher, RecordingEvents, RecordingOtp};
