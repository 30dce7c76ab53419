//! oracle-gen: the reference implementation every conversion and runtime is judged
//! against. Loads an HF model directory, decodes greedily with a KV cache on candle,
//! scores text teacher-forced, and writes golden JSON.

pub mod bench;
pub mod config;
pub mod fixture;
pub mod generate;
pub mod gguf;
pub mod golden;
pub mod kld;
pub mod loader;
pub mod models;
pub mod staging;
