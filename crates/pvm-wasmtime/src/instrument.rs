//! Deterministic call-depth limit by module instrumentation.
//!
//! The reference interpreter raises "call stack exhausted" when a WASM function call would make
//! the number of suspended frames reach `stack_size_limit` (`frame_step`, `SK_Next
//! (LS_Push_frame …)` in `src/lib_webassembly/exec/eval.ml`: `limit <= stack + 1`). `kernel_run`
//! is invoked from an empty pseudo-frame, so it is at depth 1 and the deepest allowed WASM frame
//! is at depth `limit - 1` (59 999 for V1+, 299 for V0; `wasm-pvm.md` §3.1). Host functions
//! push no frame and are not counted.
//!
//! wasmtime's `max_wasm_stack` counts native bytes, so every defined function that calls a
//! WASM function gets:
//! * a prologue `budget -= 1; if budget < 0 { unreachable }`,
//! * its body wrapped in a `block` of the function's result type (so a branch to the function
//!   label lands on the epilogue), followed by the epilogue `budget += 1`,
//! * the epilogue before every `return`.
//!
//! A leaf function (no call, or only calls to imported host functions) cannot go deeper, so it
//! only checks that its own frame fits: `if budget < 1 { budget = -1; unreachable }`, leaving
//! the budget untouched otherwise (no epilogue needed).
//!
//! The budget is a new mutable `i32` global exported as [`BUDGET_EXPORT`], set by the engine to
//! `limit - 1` before any code runs. A trap leaves it at `-1` exactly when the limit was hit,
//! which tells an exhaustion from a genuine `unreachable`. The start section is removed and the
//! start function exported as [`START_EXPORT`], so the engine can set the budget first and then
//! run the start function itself.

use std::ops::Range;

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, Encode, ExportKind, ExportSection, GlobalSection,
    GlobalType, Instruction, Module, RawSection,
};
use wasmparser::{FunctionBody, Operator, Parser, Payload};

use crate::validate::ModuleInfo;

/// Export name of the frame budget global (a name no toolchain produces).
pub const BUDGET_EXPORT: &str = "\u{0}pvm:frame-budget";
/// Export name of the former start function.
pub const START_EXPORT: &str = "\u{0}pvm:start";

/// Position of a section in the module order (custom sections excluded).
fn rank(id: u8) -> u8 {
    match id {
        1 => 1,   // type
        2 => 2,   // import
        3 => 3,   // function
        4 => 4,   // table
        5 => 5,   // memory
        13 => 6,  // tag
        6 => 7,   // global
        7 => 8,   // export
        8 => 9,   // start
        9 => 10,  // element
        12 => 11, // data count
        10 => 12, // code
        11 => 13, // data
        _ => 14,
    }
}

const GLOBAL_RANK: u8 = 7;
const EXPORT_RANK: u8 = 8;

struct Instrumenter<'a> {
    info: &'a ModuleInfo,
    module: Module,
    budget_global: u32,
    globals_done: bool,
    exports_done: bool,
    code: Option<(CodeSection, u32)>,
    defined_index: usize,
    prologue: Vec<u8>,
    leaf_prologue: Vec<u8>,
    epilogue: Vec<u8>,
}

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Instrumenter<'_> {
    fn add_budget_global(&self, globals: &mut GlobalSection) {
        globals.global(
            GlobalType {
                val_type: wasm_encoder::ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(0),
        );
    }

    fn add_exports(&self, exports: &mut ExportSection) {
        exports.export(BUDGET_EXPORT, ExportKind::Global, self.budget_global);
        if let Some(start) = self.info.start {
            exports.export(START_EXPORT, ExportKind::Func, start);
        }
    }

    /// Emit our global/export sections if the module has none and `next` comes after them.
    fn before(&mut self, next: u8) {
        if next > GLOBAL_RANK && !self.globals_done {
            let mut globals = GlobalSection::new();
            self.add_budget_global(&mut globals);
            self.module.section(&globals);
            self.globals_done = true;
        }
        if next > EXPORT_RANK && !self.exports_done {
            let mut exports = ExportSection::new();
            self.add_exports(&mut exports);
            self.module.section(&exports);
            self.exports_done = true;
        }
    }

    fn body(&mut self, bytes: &[u8], body: &FunctionBody<'_>) -> Res<()> {
        let type_index = *self
            .info
            .defined_func_types
            .get(self.defined_index)
            .ok_or("more bodies than functions")?;
        self.defined_index += 1;
        let results = self
            .info
            .type_results
            .get(type_index as usize)
            .ok_or("unknown function type")?;
        let block_type = match results.as_slice() {
            [] => BlockType::Empty,
            [t] => BlockType::Result(RoundtripReencoder.val_type(*t).map_err(err)?),
            _ => return Err("multi-value function results are not supported".into()),
        };
        let range: Range<usize> = body.range();
        let mut ops = body.get_operators_reader().map_err(err)?;
        let ops_start = ops.original_position();
        let mut out = Vec::with_capacity(range.len() + 64);
        out.extend_from_slice(&bytes[range.start..ops_start]);
        if self.is_leaf(body)? {
            out.extend_from_slice(&self.leaf_prologue);
            out.extend_from_slice(&bytes[ops_start..range.end]);
            return self.push_body(&out);
        }
        out.extend_from_slice(&self.prologue);
        Instruction::Block(block_type).encode(&mut out);
        let mut copied = ops_start;
        while !ops.eof() {
            let at = ops.original_position();
            let op = ops.read().map_err(err)?;
            match op {
                Operator::Return => {
                    out.extend_from_slice(&bytes[copied..at]);
                    out.extend_from_slice(&self.epilogue);
                    copied = at; // the `return` itself is copied with the next chunk
                }
                Operator::End if ops.eof() => {
                    out.extend_from_slice(&bytes[copied..at]);
                    Instruction::End.encode(&mut out); // closes the wrapper block
                    out.extend_from_slice(&self.epilogue);
                    Instruction::End.encode(&mut out); // the function's own end
                    copied = range.end;
                }
                _ => {}
            }
        }
        if copied != range.end {
            return Err("function body does not end with `end`".into());
        }
        self.push_body(&out)
    }

    /// Whether the body calls no WASM function (calls to imported host functions push no
    /// frame in the reference interpreter).
    fn is_leaf(&self, body: &FunctionBody<'_>) -> Res<bool> {
        let mut ops = body.get_operators_reader().map_err(err)?;
        while !ops.eof() {
            match ops.read().map_err(err)? {
                Operator::Call { function_index } if function_index < self.info.imported_funcs => {}
                Operator::Call { .. }
                | Operator::CallIndirect { .. }
                | Operator::ReturnCall { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::CallRef { .. }
                | Operator::ReturnCallRef { .. } => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }

    fn push_body(&mut self, out: &[u8]) -> Res<()> {
        let (code, remaining) = self
            .code
            .as_mut()
            .ok_or("code entry outside code section")?;
        code.raw(out);
        *remaining = remaining.checked_sub(1).ok_or("too many code entries")?;
        if *remaining == 0 {
            let (code, _) = self.code.take().ok_or("code section vanished")?;
            self.module.section(&code);
        }
        Ok(())
    }
}

fn encode(instrs: &[Instruction<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in instrs {
        i.encode(&mut out);
    }
    out
}

/// Instrument a module that passed [`crate::validate::validate`] (see the module docs).
pub fn instrument(bytes: &[u8], info: &ModuleInfo) -> Result<Vec<u8>, String> {
    let budget_global = info
        .imported_globals
        .checked_add(info.defined_globals)
        .ok_or("too many globals")?;
    let g = budget_global;
    let prologue = encode(&[
        Instruction::GlobalGet(g),
        Instruction::I32Const(1),
        Instruction::I32Sub,
        Instruction::GlobalSet(g),
        Instruction::GlobalGet(g),
        Instruction::I32Const(0),
        Instruction::I32LtS,
        Instruction::If(BlockType::Empty),
        Instruction::Unreachable,
        Instruction::End,
    ]);
    let leaf_prologue = encode(&[
        Instruction::GlobalGet(g),
        Instruction::I32Const(1),
        Instruction::I32LtS,
        Instruction::If(BlockType::Empty),
        Instruction::I32Const(-1),
        Instruction::GlobalSet(g),
        Instruction::Unreachable,
        Instruction::End,
    ]);
    let epilogue = encode(&[
        Instruction::GlobalGet(g),
        Instruction::I32Const(1),
        Instruction::I32Add,
        Instruction::GlobalSet(g),
    ]);
    let mut st = Instrumenter {
        info,
        module: Module::new(),
        budget_global,
        globals_done: false,
        exports_done: false,
        code: None,
        defined_index: 0,
        prologue,
        leaf_prologue,
        epilogue,
    };
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(err)?;
        match payload {
            Payload::Version { .. } => {}
            Payload::GlobalSection(reader) => {
                st.before(GLOBAL_RANK);
                let mut globals = GlobalSection::new();
                for global in reader {
                    RoundtripReencoder
                        .parse_global(&mut globals, global.map_err(err)?)
                        .map_err(err)?;
                }
                st.add_budget_global(&mut globals);
                st.module.section(&globals);
                st.globals_done = true;
            }
            Payload::ExportSection(reader) => {
                st.before(EXPORT_RANK);
                let mut exports = ExportSection::new();
                for export in reader {
                    RoundtripReencoder
                        .parse_export(&mut exports, export.map_err(err)?)
                        .map_err(err)?;
                }
                st.add_exports(&mut exports);
                st.module.section(&exports);
                st.exports_done = true;
            }
            Payload::StartSection { .. } => st.before(rank(8)), // dropped: exported instead
            Payload::CodeSectionStart { count, .. } => {
                st.before(rank(10));
                if count == 0 {
                    st.module.section(&CodeSection::new());
                } else {
                    st.code = Some((CodeSection::new(), count));
                }
            }
            Payload::CodeSectionEntry(body) => st.body(bytes, &body)?,
            Payload::CustomSection(_) => {} // names and debug info are not needed
            Payload::End(_) => st.before(u8::MAX),
            other => {
                let (id, range) = other
                    .as_section()
                    .ok_or("unexpected payload outside a section")?;
                st.before(rank(id));
                st.module.section(&RawSection {
                    id,
                    data: &bytes[range],
                });
            }
        }
    }
    if st.code.is_some() {
        return Err("truncated code section".into());
    }
    Ok(st.module.finish())
}

#[cfg(test)]
mod tests {
    use wasmparser::{ExternalKind, Validator};

    use super::*;
    use crate::config::KERNEL_FEATURES;
    use crate::validate::validate;

    fn instrumented(wat: &str) -> Vec<u8> {
        let bytes = wat::parse_str(wat).expect("wat");
        let info = validate(&bytes).expect("valid kernel");
        let out = instrument(&bytes, &info).expect("instrumented");
        Validator::new_with_features(KERNEL_FEATURES)
            .validate_all(&out)
            .expect("instrumented module is valid");
        out
    }

    /// (export name, kind, index) of every export, and whether a start section remains.
    fn exports(bytes: &[u8]) -> (Vec<(String, ExternalKind, u32)>, bool) {
        let mut out = Vec::new();
        let mut start = false;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.expect("parse") {
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.expect("export");
                        out.push((e.name.to_owned(), e.kind, e.index));
                    }
                }
                Payload::StartSection { .. } => start = true,
                _ => {}
            }
        }
        (out, start)
    }

    #[test]
    fn start_becomes_an_export_and_the_budget_is_exported() {
        let out = instrumented(
            r#"(module (global $g (mut i32) (i32.const 0)) (memory (export "memory") 1)
                 (func $s) (start $s) (func (export "kernel_run")))"#,
        );
        let (exports, start) = exports(&out);
        assert!(!start, "start section removed");
        assert!(exports.contains(&(BUDGET_EXPORT.into(), ExternalKind::Global, 1)));
        assert!(exports.contains(&(START_EXPORT.into(), ExternalKind::Func, 0)));
        assert!(exports.contains(&("kernel_run".into(), ExternalKind::Func, 1)));
    }

    #[test]
    fn missing_global_and_export_sections_are_added() {
        let out = instrumented("(module (func $f (result i32) (i32.const 1) (return)))");
        let (exports, _) = exports(&out);
        assert_eq!(
            exports,
            vec![(BUDGET_EXPORT.to_owned(), ExternalKind::Global, 0)]
        );
    }

    #[test]
    fn imported_globals_come_before_the_budget() {
        let out = instrumented(
            r#"(module (import "m" "g" (global i32)) (global i64 (i64.const 0))
                 (memory (export "memory") 1) (data (i32.const 0) "x"))"#,
        );
        let (exports, _) = exports(&out);
        assert!(exports.contains(&(BUDGET_EXPORT.into(), ExternalKind::Global, 2)));
    }

    #[test]
    fn section_ranks_follow_the_binary_order() {
        let order = [1u8, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
        assert!(order.windows(2).all(|w| rank(w[0]) < rank(w[1])));
    }
}
