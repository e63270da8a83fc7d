//! Helpers shared by the integration tests (each test file includes this
//! module with `mod common;`).

#![allow(dead_code)]

pub mod mongo;
