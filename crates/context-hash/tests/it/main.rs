//! Integration tests of `context-hash`: the exact Octez PVM state tree of the conformance
//! scenario must hash to the recorded Octez values (see `LAYOUT.md`).

mod pvm_state;
mod tree;
