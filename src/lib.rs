//! image-manager: keeps OpenStack Glance in line with declarative YAML image catalogs.
//!
//! Data flows one way: catalog → desired → (observed) → plan (pure) → apply → report. Each
//! stage is a module named after its domain; only `glance` talks to Keystone/Glance.

pub mod apply;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod desired;
pub mod glance;
pub mod mirror;
pub mod plan;
pub mod redact;
pub mod scs;
pub mod transfer;
pub mod update;
