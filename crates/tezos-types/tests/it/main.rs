//! Integration tests of `tezos-types` (one binary; see `mod` files beside this one).

mod fixtures;
mod taquito;
