//! Integration tests of the `inbox` crate (one test binary, `tests/it/`).

mod dal;
