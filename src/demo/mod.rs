//! Demo data: genuine Tari outputs for demo chains, benches and tests, built with the official crate so
//! a demo exercises exactly the bytes a real chain carries.

pub mod chain;
pub mod outputs;
