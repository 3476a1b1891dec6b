//! Integration tests of `pack-store`: repos over the in-memory and the on-disk store.

mod gc_split;
mod repo;
