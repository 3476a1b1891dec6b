//! Integration tests of the L1 client against an in-test HTTP double (and the sandbox when
//! its binary is available).

mod monitor;
mod rpc;
mod sandbox;
mod server;
