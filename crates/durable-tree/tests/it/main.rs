//! Integration tests of `durable-tree`: repos over the in-memory and the
//! on-disk store.

mod random;
mod repo;
