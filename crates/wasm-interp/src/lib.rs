//! Octez's small-step WebAssembly interpreter (`src/lib_webassembly`, issue 13): the PVM's
//! `Decode` and `Link` tick states one tick at a time, with every intermediate state written
//! into the PVM state tree exactly as Octez writes it, so that the state hash after every tick
//! is Octez's (`docs/reference/wasm-ticks.md` §1.1, §1.3, §2). `Init` and `Eval` are not here
//! yet.
//!
//! Rules followed (citations are to `docs/reference/wasm-ticks.md`):
//! * one tick = one `compute_step` (§1.1): `Snapshot` → `Decode` (initial), one
//!   `Decode.module_step` per tick (§1.3) on the kernel bytes re-read from
//!   `/kernel/boot.wasm`, `MKStop` → `Link`, one import per `Link` tick, a failing import →
//!   `Stuck Link_error` ([`tick::step`]);
//! * each tick decodes the tick state from `wasm/value`, steps it, and re-encodes it after
//!   removing the old one (§2.2) — lazy structures keep their origin subtree and re-encode only
//!   what they loaded (§2.1, [`lazy`]), so the tree depends on the exact sequence of container
//!   operations, which [`decode`] reproduces operation for operation;
//! * the encodings are those of `binary_parser_encodings.ml` (§2.5), `wasm_encoding.ml` and
//!   `interpreter_encodings.ml` (§2.6), `tree_state.ml` (§2.3), one [`codec::Codec`] impl per
//!   Octez encoding.
//!
//! Findings from the sources that differ from the research notes: `Lazy_vector.pop`/`drop`
//! remove the dropped binding from the tree (it is the decoder's `LazyStack` whose popped slots
//! stay); `Building_state` keys are `types`, `imports`, `vars`, … (no `module/` prefix, which
//! only the `MKField`/`MK*` accumulators and the AST module use); decoded function types use
//! `func_type_encoding` (`type_params`/`type_result`, underscores).
//!
//! Checked: every tick 5000–5129 of `link_reveal.v0.hashes` (decode, link, `Link_error`), the
//! decode and link ticks of `link_reveal.v6.hashes` (to 5129) and `link_store_create.v6.hashes`
//! (to 5134) match Octez's hashes (`tests/it/ticks.rs`).
//!
//! Not yet: `Init`/`Eval`; SIMD (`0xfd`) instructions in the decoder (decoded as an illegal
//! opcode); the `raw_exception` string of a `Decode_error` stuck state is this crate's guess
//! (`Error(_, "<msg>")`), not checked against an Octez run.
//!
//! Module order (each uses only those above it): [`codec`] ← [`lazy`] ← [`ast`] ← [`stream`] ←
//! [`decode`] ← [`link`] ← [`tick`].

// Positions and sizes come from the kernel and the state tree: no silent wrap.
#![deny(clippy::arithmetic_side_effects)]

pub mod ast;
pub mod codec;
pub mod decode;
pub mod lazy;
pub mod link;
pub mod stream;
pub mod tick;

pub use codec::Error;
pub use tick::step;
