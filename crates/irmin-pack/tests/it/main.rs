//! Integration tests of `irmin-pack`: the upstream irmin-pack test stores of every format
//! version (`tests/fixtures/`, see its README), stores of the Octez rollup node's Tezos schema
//! written here in the documented format, and damaged copies of both.

mod corruption;
mod fixtures;
mod sha1;
mod tezos;
