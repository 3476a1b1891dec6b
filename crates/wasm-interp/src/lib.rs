//! Octez's small-step WebAssembly interpreter (`src/lib_webassembly`, issue 13): the PVM's
//! `Decode`, `Link`, `Init`, `Eval` and `Padding` tick states one tick at a time, with every
//! intermediate state written into the PVM state tree exactly as Octez writes it, so that the
//! state hash after every tick is Octez's (`docs/reference/wasm-ticks.md` §1.1, §1.3–1.5, §2).
//!
//! Rules followed (citations are to `docs/reference/wasm-ticks.md`):
//! * one tick = one `compute_step` (§1.1): `Snapshot` → `Decode` (initial), one
//!   `Decode.module_step` per tick (§1.3) on the kernel bytes re-read from
//!   `/kernel/boot.wasm`, `MKStop` → `Link`, one import per `Link` tick, a failing import →
//!   `Stuck Link_error`, `Link` → `Init IK_Start` (rule 9), one `init_step` per tick
//!   ([`init`], §1.4), `IK_Stop` → `Eval` with `save_fallback_kernel` or `Stuck Invalid_state`
//!   (rule 11), one `frame_step` per tick ([`exec`], §1.5), `SK_Result` → `Padding` (stuck and
//!   upgrade-error flags deleted, rule 15), `SK_Trapped` → stuck flag + `Padding` (rule 14),
//!   `Padding` → `Padding`, `Collect` → `Stuck Invalid_state` (rule 4), a permanent stuck state
//!   stays (rule 2); the window end (rule 5) and the fallback-kernel recovery (rule 1) are
//!   `wasm_pvm::PvmState`'s ([`tick::step`]);
//! * each tick decodes the tick state from `wasm/value`, steps it, and re-encodes it after
//!   removing the old one (§2.2) — lazy structures keep their origin subtree and re-encode only
//!   what they loaded (§2.1, [`lazy`]), so the tree depends on the exact sequence of container
//!   operations, which [`decode`], [`init`] and [`exec`] reproduce operation for operation
//!   (`pop` = `get 0` + `drop`, `prepend_list` = `cons` from the last element, `split` shares
//!   the origin and the loaded bindings);
//! * the encodings are those of `binary_parser_encodings.ml` (§2.5), `wasm_encoding.ml`,
//!   `init_encodings.ml`, `kont_encodings.ml` and `interpreter_encodings.ml` (§2.4, §2.6, §2.7),
//!   `tree_state.ml` (§2.3), one [`codec::Codec`] impl per Octez encoding;
//! * host functions run in the `Inv_start` tick on the tree's durable storage, input buffer and
//!   outbox and on memory 0 (a chunked byte vector), and cost Octez's ticks ([`host`]); like
//!   every tick, on a plain tree or on a one-tick proof's partial tree with one implementation
//!   (the reveal answer too: [`tick::reveal_step_tree`]; proofs of every tick of the echo
//!   traces: `crates/pvm-tick/tests/it/host_proofs.rs`).
//!
//! Findings from the sources that differ from the research notes: `Lazy_vector.pop`/`drop`
//! remove the dropped binding from the tree (it is the decoder's `LazyStack` whose popped slots
//! stay); `Building_state` keys are `types`, `imports`, `vars`, … (no `module/` prefix, which
//! only the `MKField`/`MK*` accumulators and the AST module use); decoded function types use
//! `func_type_encoding` (`type_params`/`type_result`, underscores); `Data_encoding.list` (the
//! `br_table` targets, typed `select`) carries a 4-byte byte length; a `call_indirect` on a
//! null or out-of-range slot raises `Trap` from `func_ref` (an exception: `Stuck Eval_error`),
//! it is not a `Trapping` instruction.
//!
//! Checked: every tick 5000–9999 of `link_reveal.v6.hashes` and `link_store_create.v6.hashes`
//! (decode, link, init, eval of `kernel_run`, padding) and 5000–5129 of `link_reveal.v0.hashes`
//! match Octez's hashes; every sample of the echo traces (`echo.v0`…`v6`, `v_experimental`:
//! 109 each, three `kernel_run` windows) matches too (`tests/it/ticks.rs`). Whole windows of
//! the echo kernel and of WAT kernels covering the integer, memory, bulk-memory, table,
//! control-flow, call, durable-storage, outbox and reveal operations end in the same state as
//! the fast path (`crates/pvm-tick/tests/it/differential.rs`, through the driver), and so does
//! a SIMD kernel (integer lanes, memory, lanes and shuffles).
//!
//! `Data_encoding.option` (instructions' pack sizes, block types, limits) is a union tag
//! `0x00`/`0x01`; only an `opt` field of an object uses `0xff` (found on the echo kernel:
//! `i32.load16_u`'s `Some (Pack16, ZX)`).
//!
//! Reveal ticks: at `Inv_reveal_tick` the PVM waits ([`tick::reveal_request`]) and the next
//! tick is [`tick::reveal_step`] with the revealed bytes (`wasm_vm.ml` `reveal_step`).
//!
//! SIMD (`0xfd`, [`stream::Stream::simd`], [`simd`]): every integer vector instruction is
//! decoded, encoded (`Vec*` cases, `V128.laneop_encoding`) and evaluated as Octez does, one
//! tick each. Float vector operators behind `return_float` are `Decode_error`s; the
//! `i32x4.trunc_sat_f32x4_*`/`_f64x2_*_zero` conversions are `I32x4` operators Octez runs (the
//! fast path runs them too: `crates/pvm-tick/tests/it/differential.rs` compares both).
//!
//! Not yet: the `nds_*` host functions and the fallback-kernel recovery tick (rule 1)
//! ([`Error::Unsupported`]); the SIMD cases where Octez raises an exception this crate does not
//! reproduce ([`Error::Unsupported`]): `f64x2.ceil/floor/trunc/nearest` and
//! `f32x4.convert_i32x4_*`, which Octez's decoder does not guard but whose `F64x2`/`F32x4`
//! operators its tree encoding cannot write, a shuffle lane over 127 (`int8`), and the
//! `Failure "nth"` of a shuffle lane over 31 or an extracted/stored lane past the last (only
//! reachable by modules that do not validate); the `raw_exception` strings of
//! `Decode_error`/`Init_error` stuck states are this crate's guess (`Error(_, "<msg>")`), not
//! checked against an Octez run.
//!
//! Module order (each uses only those above it): [`codec`] ← [`lazy`] ← [`ast`] ← [`stream`] ←
//! [`decode`] ← [`link`] ← [`instance`] ← [`kont`] ← [`eval`] ← [`numeric`] ← [`simd`] ← [`exec`] ←
//! [`init`] ← [`host`] ← [`tick`].

// Positions and sizes come from the kernel and the state tree: no silent wrap.
#![deny(clippy::arithmetic_side_effects)]

pub mod ast;
pub mod callstack;
pub mod codec;
pub mod decode;
pub mod eval;
pub mod exec;
pub mod host;
pub mod init;
pub mod instance;
pub mod kont;
pub mod lazy;
pub mod link;
pub mod numeric;
pub mod simd;
pub mod stream;
pub mod tick;

pub use callstack::{CallEvent, call_event};
pub use codec::Error;
pub use tick::step;
