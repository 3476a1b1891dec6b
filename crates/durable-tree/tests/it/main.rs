//! Integration tests of `durable-tree` (repos over the on-disk store: crate `pack-store`).

mod random;
