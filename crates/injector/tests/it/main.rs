//! Integration tests of the injector (one binary, `tests/it`).

mod sandbox;
