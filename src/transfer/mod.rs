//! Moving image bytes from upstream to Glance: verified, streamed, in constant memory.
//!
//! The data path of `apply` (design.md "Data path"): upstream stream → (decompress) → hash →
//! Glance. This module knows nothing about plans or parallelism; it turns a source into a
//! verified byte stream. Built so far: format sniffing and parallel hashing.

mod error;
pub mod hash;
pub mod retry;
pub mod sniff;

pub use error::{Error, redact};
