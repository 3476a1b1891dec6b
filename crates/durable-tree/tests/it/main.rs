//! Integration tests of `durable-tree`: repos over the in-memory and the
//! on-disk store.

mod gc_split;
mod random;
mod repo;
