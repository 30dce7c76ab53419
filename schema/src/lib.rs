//! Data contracts between the oracle (oracle-gen) and the harness (xtask): golden
//! JSON (schema version 1), runtime observations, hashing helpers and atomic writes.
//! Nothing here pulls candle, so `cargo xtask` stays fast to build.

pub mod arch;
pub mod gguf_header;
pub mod golden;
pub mod hashing;
pub mod host;
pub mod kld;
pub mod logprobs;
pub mod observation;
pub mod tensor_names;
pub mod tokenize;
pub mod verify;

pub use arch::Arch;
pub use golden::{Golden, GoldenInputs, OracleInfo, Precision, Settings, StopReason, TokenLogprob};
pub use hashing::{sha256_bytes, sha256_file, temp_sibling, write_atomic, write_file_atomic};
pub use host::HostInfo;
pub use observation::{Generation, Invocation, Score};
pub use verify::{verify, GoldenTolerance, Verification};
