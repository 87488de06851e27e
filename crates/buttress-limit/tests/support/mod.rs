//! Shared pieces of this crate's integration tests.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own subset

pub mod redis_server;
pub mod tenant_limiter;
