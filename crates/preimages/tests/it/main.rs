//! Integration tests of the `preimages` crate.

mod http;
