//! Test support, compiled only for tests and with the `testing` feature (never in a function):
//! in-memory ports with the DynamoDB adapter's semantics (checked by the store contract suite,
//! shared/tests/store_contract.rs), a clock moved by hand, and recorders.

mod clock;
mod memory;
mod recording;

pub use clock::ManualClock;
pub use memory::MemoryStore;
pub use recording::{RecordingEvents, RecordingOtp};
