//! How many ticks Octez's small-step decoder takes on a module, and the module's imports.
//!
//! Octez decodes `/kernel/boot.wasm` one `Decode.module_step` per tick
//! (`src/lib_webassembly/binary/decode.ml`, driven by `src/lib_scoru_wasm/wasm_vm.ml`). The
//! number of steps from `MKStart` to `MKStop` is a function of the module's bytes only; this
//! module computes it without building the module, by walking the bytes with the step rules
//! below (`docs/reference/wasm-pvm.md` §3.5). Each rule names the continuation steps it counts.
//!
//! * Header (`MKStart`): 1. Every custom section (skipped whole by `MKSkipCustom`): 1.
//! * Each of the ten vector sections, present or not (`MKSkipCustom`, `MKFieldStart`, the final
//!   `MKField` at the end of the vector): 3, plus its elements. `start` and `datacount`
//!   (`MKSkipCustom`, `MKFieldStart`): 2 each.
//! * type: 5 + params + results (`MKField`→`MKTypes`, `FKStart`, one per value type, the two
//!   vector ends, `FKStop`→`MKField`). import: 9 + the code points of both names (`ImpKStart`,
//!   two names of `NKStart` + one step per UTF-8 code point + `NKStop`, the descriptor,
//!   `ImpKStop`→`MKField`). export: 6 + code points of the name. func, table, memory: 1 each.
//!   global: 2 + the init expression's block steps.
//! * Expression (`block_step`): `BlockStart` 1, each plain instruction 1, each
//!   `block`/`loop`/`if` 1 to open, `IKStop` + closing `end` 2, an `else` 2 (`IKStop` of the
//!   then-branch, the switch to `IKIf2`), the final `IKStop` 1 and `BlockStop` 1; the final
//!   `end` byte is read by the caller's next step (1).
//! * code entry: `MKField`→`MKCode` 1, `CKStart` 1, one per locals group, the end of the groups
//!   1, `CKLocalsAccumulate`: one per local, one per group fetched before the last local, and 1
//!   to reach `CKBody`; the body expression, its `end` 1, `CKStop`→`MKField` 1.
//! * data segment: 5 + bytes (+ the offset expression and its `end` when active); element
//!   segment: 4 + one per index or each init expression and its `end` (+ the offset expression
//!   and its `end` when active).
//! * After the sections (`MKSkipCustom None`): 1, then `MKElaborateFunc`: per function 1, one
//!   per instruction and one per block visited (a body, every nested block, and the shared empty
//!   block of an `if` without `else`), 1 to leave it; once a `memory.init` or `data.drop` is
//!   met the walk stops there and every later function costs 1. Then `MKBuild` 1, `MKStop` 1.
//!
//! Checked against Octez's regression traces (`testdata/conformance/link_errors.tsv`): the
//! `link_*` kernels of `src/lib_scoru_wasm/regressions/` take 126 to 145 decoding ticks.

/// Why a module could not be walked. Octez's decoder rejects such a module too (a decode error),
/// so a kernel that an engine decoded should never produce one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot walk the module at byte {offset}: {what}")]
pub struct WalkError {
    /// Byte offset in the module.
    pub offset: usize,
    /// What was expected there.
    pub what: &'static str,
}

/// What [`decode_ticks`] learns about a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSummary {
    /// Number of `module_step` ticks from `MKStart` to `MKStop`.
    pub decode_ticks: u128,
    /// Imports in order: (module name, item name).
    pub imports: Vec<(String, String)>,
}

/// Walk `module` and count the decoder's ticks (see the module documentation).
pub fn decode_ticks(module: &[u8]) -> Result<ModuleSummary, WalkError> {
    Walker {
        c: Cursor { b: module, pos: 0 },
        ticks: 0,
    }
    .module()
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn err<T>(&self, what: &'static str) -> Result<T, WalkError> {
        Err(WalkError {
            offset: self.pos,
            what,
        })
    }

    fn eos(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn byte(&mut self) -> Result<u8, WalkError> {
        match self.peek() {
            Some(b) => {
                self.pos = self.pos.saturating_add(1);
                Ok(b)
            }
            None => self.err("a byte (unexpected end)"),
        }
    }

    fn skip(&mut self, n: usize) -> Result<(), WalkError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.b.len() => {
                self.pos = end;
                Ok(())
            }
            _ => self.err("more bytes (unexpected end)"),
        }
    }

    /// An unsigned LEB128 of at most `max_bytes` bytes.
    fn leb(&mut self, max_bytes: u32) -> Result<u64, WalkError> {
        let mut v: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            if let Some(part) = u64::from(b & 0x7f).checked_shl(i.saturating_mul(7)) {
                v |= part;
            }
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err("a shorter LEB128 integer")
    }

    fn u32(&mut self) -> Result<u32, WalkError> {
        let at = self.pos;
        let v = self.leb(5)?;
        u32::try_from(v).map_err(|_| WalkError {
            offset: at,
            what: "an integer that fits 32 bits",
        })
    }

    /// `len32`: a length that fits in the rest of the stream.
    fn len(&mut self) -> Result<usize, WalkError> {
        let at = self.pos;
        let n = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if n > self.b.len().saturating_sub(self.pos) {
            return Err(WalkError {
                offset: at,
                what: "a length within the module",
            });
        }
        Ok(n)
    }

    /// A name: returns it and its number of code points (`name_step` is one step per code
    /// point). Octez limits names to 512 bytes.
    fn name(&mut self) -> Result<(String, u128), WalkError> {
        let n = self.len()?;
        if n > 512 {
            return self.err("a name of at most 512 bytes");
        }
        let start = self.pos;
        self.skip(n)?;
        let bytes = self.b.get(start..self.pos).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok((s.to_owned(), s.chars().count() as u128)),
            Err(_) => Err(WalkError {
                offset: start,
                what: "a UTF-8 name",
            }),
        }
    }

    /// A value type (`value_type ~allow_floats:false`): i32, i64, v128, funcref, externref.
    fn value_type(&mut self) -> Result<(), WalkError> {
        match self.byte()? {
            0x7f | 0x7e | 0x7b | 0x70 | 0x6f => Ok(()),
            _ => self.err("an integer, vector or reference type (no floats)"),
        }
    }

    fn ref_type(&mut self) -> Result<(), WalkError> {
        match self.byte()? {
            0x70 | 0x6f => Ok(()),
            _ => self.err("a reference type"),
        }
    }

    fn limits(&mut self) -> Result<(), WalkError> {
        match self.byte()? {
            0 => self.u32().map(drop),
            1 => {
                self.u32()?;
                self.u32().map(drop)
            }
            _ => self.err("limits flag 0 or 1"),
        }
    }

    /// `memop`: alignment then offset.
    fn memop(&mut self) -> Result<(), WalkError> {
        self.u32()?;
        self.u32().map(drop)
    }

    fn zero(&mut self) -> Result<(), WalkError> {
        match self.byte()? {
            0 => Ok(()),
            _ => self.err("a zero byte"),
        }
    }

    /// Block type of `block`/`loop`/`if`: empty, a value type, or a type index (`vs33`).
    fn block_type(&mut self) -> Result<(), WalkError> {
        match self.peek() {
            Some(0x40) => self.skip(1),
            Some(b) if b & 0xc0 == 0x40 => self.value_type(),
            _ => self.leb(5).map(drop),
        }
    }

    /// Immediates of a non-structured instruction whose opcode `op` was read (`instr`).
    /// Returns whether it is `memory.init` or `data.drop` (they stop the elaboration walk).
    fn instr(&mut self, op: u8) -> Result<bool, WalkError> {
        match op {
            0x00
            | 0x01
            | 0x0f
            | 0x1a
            | 0x1b
            | 0x45..=0x5a
            | 0x67..=0x8a
            | 0xa7..=0xb1
            | 0xbc
            | 0xbd
            | 0xc0..=0xc4
            | 0xd1 => {}
            // Float instructions: rejected by the decoder (`allow_floats:false`).
            0x2a
            | 0x2b
            | 0x38
            | 0x39
            | 0x43
            | 0x44
            | 0x5b..=0x66
            | 0x8b..=0xa6
            | 0xb2..=0xbb
            | 0xbe
            | 0xbf => return self.err("no float instruction"),
            0x0c | 0x0d | 0x10 | 0x20..=0x26 | 0xd2 => {
                self.u32()?;
            }
            0x0e => {
                let n = self.u32()?;
                for _ in 0..n {
                    self.u32()?;
                }
                self.u32()?;
            }
            0x11 => {
                self.u32()?;
                self.u32()?;
            }
            0x1c => {
                let n = self.u32()?;
                for _ in 0..n {
                    self.value_type()?;
                }
            }
            0x28 | 0x29 | 0x2c..=0x37 | 0x3a..=0x3e => self.memop()?,
            0x3f | 0x40 => self.zero()?,
            0x41 => {
                self.leb(5)?;
            }
            0x42 => {
                self.leb(10)?;
            }
            0xd0 => self.ref_type()?,
            0xfc => return self.instr_fc(),
            0xfd => self.instr_fd()?,
            _ => return self.err("a known opcode"),
        }
        Ok(false)
    }

    fn instr_fc(&mut self) -> Result<bool, WalkError> {
        match self.u32()? {
            0..=7 => {}
            8 => {
                self.u32()?;
                self.zero()?;
                return Ok(true);
            }
            9 => {
                self.u32()?;
                return Ok(true);
            }
            0x0a => {
                self.zero()?;
                self.zero()?;
            }
            0x0b => self.zero()?,
            0x0c | 0x0e => {
                self.u32()?;
                self.u32()?;
            }
            0x0d | 0x0f..=0x11 => {
                self.u32()?;
            }
            _ => return self.err("a known 0xfc opcode"),
        }
        Ok(false)
    }

    /// `0xfd` (SIMD) instructions: the table of `instr` in `decode.ml`.
    fn instr_fd(&mut self) -> Result<(), WalkError> {
        match self.u32()? {
            0x00..=0x0b | 0x5c | 0x5d => self.memop(),
            0x0c | 0x0d => self.skip(16),
            0x15..=0x1e => self.skip(1),
            0x54..=0x5b => {
                self.memop()?;
                self.skip(1)
            }
            // Float SIMD instructions are rejected by the decoder (`guard_float`).
            0x13
            | 0x14
            | 0x1f..=0x22
            | 0x41..=0x4c
            | 0x5e
            | 0x5f
            | 0x67..=0x6a
            | 0xe0
            | 0xe1
            | 0xe3..=0xed
            | 0xef..=0xf7
            | 0xfe
            | 0xff => self.err("no float SIMD instruction"),
            0x0e..=0x12
            | 0x23..=0x40
            | 0x4d..=0x53
            | 0x60..=0x66
            | 0x6b..=0x99
            | 0x9b..=0xa1
            | 0xa3
            | 0xa4
            | 0xa7..=0xae
            | 0xb1
            | 0xb5..=0xba
            | 0xbc..=0xc1
            | 0xc3
            | 0xc4
            | 0xc7..=0xce
            | 0xd1
            | 0xd5..=0xdf
            | 0xf8..=0xfd => Ok(()),
            _ => self.err("a known 0xfd opcode"),
        }
    }
}

/// One entry of a block as seen by `MKElaborateFunc`.
#[derive(Clone, Copy)]
enum Item {
    /// Any instruction without nested blocks.
    Plain,
    /// `memory.init` or `data.drop`.
    DataOp,
    /// `block`/`loop`: its block.
    Block(usize),
    /// `if`: its then-branch and its else-branch (`None`: the shared empty block).
    If(usize, Option<usize>),
}

/// Blocks of one function body: block 0 is the body. `None` refers to the empty block.
struct Body {
    blocks: Vec<Vec<Item>>,
}

/// An open structured instruction while walking an expression.
struct Frame {
    /// Index of the block being filled.
    block: usize,
    /// For `if`: the index in the parent block of the `If` item, to record the else-branch.
    if_item: Option<(usize, usize)>,
    /// Whether this frame's `else` was seen (or the frame is not an `if`).
    else_seen: bool,
}

struct Walker<'a> {
    c: Cursor<'a>,
    ticks: u128,
}

fn overflow(offset: usize) -> WalkError {
    WalkError {
        offset,
        what: "a tick count that fits 128 bits",
    }
}

impl Walker<'_> {
    fn tick(&mut self, n: u128) -> Result<(), WalkError> {
        self.ticks = self.ticks.checked_add(n).ok_or(overflow(self.c.pos))?;
        Ok(())
    }

    /// One expression through `block_step` up to `BlockStop` (final `end` consumed, its step
    /// not counted). Returns the blocks seen (for function bodies).
    fn expr(&mut self) -> Result<Body, WalkError> {
        let mut body = Body {
            blocks: vec![Vec::new()],
        };
        let mut stack = vec![Frame {
            block: 0,
            if_item: None,
            else_seen: true,
        }];
        // BlockStart.
        self.tick(1)?;
        loop {
            let at = self.c.pos;
            let op = self.c.byte()?;
            let Some(top) = stack.last_mut() else {
                return self.c.err("an open block");
            };
            let cur = top.block;
            match op {
                0x0b => {
                    // IKStop; then, for a nested block, the step that reads `end`.
                    stack.pop();
                    if stack.is_empty() {
                        // Final IKStop and BlockStop.
                        self.tick(2)?;
                        return Ok(body);
                    }
                    self.tick(2)?;
                }
                0x05 => {
                    if top.else_seen {
                        return Err(WalkError {
                            offset: at,
                            what: "`else` inside an `if`",
                        });
                    }
                    top.else_seen = true;
                    let Some((parent, idx)) = top.if_item else {
                        return self.c.err("an `if` for this `else`");
                    };
                    let new = body.blocks.len();
                    body.blocks.push(Vec::new());
                    if let Some(Item::If(_, els)) =
                        body.blocks.get_mut(parent).and_then(|b| b.get_mut(idx))
                    {
                        *els = Some(new);
                    }
                    top.block = new;
                    self.tick(2)?;
                }
                0x02..=0x04 => {
                    self.c.block_type()?;
                    let new = body.blocks.len();
                    body.blocks.push(Vec::new());
                    let Some(parent) = body.blocks.get_mut(cur) else {
                        return self.c.err("an open block");
                    };
                    let idx = parent.len();
                    // An `if` without `else` refers to the empty block (`empty_block`).
                    parent.push(if op == 0x04 {
                        Item::If(new, None)
                    } else {
                        Item::Block(new)
                    });
                    stack.push(Frame {
                        block: new,
                        if_item: (op == 0x04).then_some((cur, idx)),
                        else_seen: op != 0x04,
                    });
                    self.tick(1)?;
                }
                _ => {
                    let data = self.c.instr(op)?;
                    if let Some(b) = body.blocks.get_mut(cur) {
                        b.push(if data { Item::DataOp } else { Item::Plain });
                    }
                    self.tick(1)?;
                }
            }
        }
    }

    /// An expression followed by the step that reads its `end`.
    fn const_expr(&mut self) -> Result<(), WalkError> {
        self.expr()?;
        self.tick(1)
    }

    fn module(mut self) -> Result<ModuleSummary, WalkError> {
        if self.c.b.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
            return self.c.err("the WASM magic and version 1");
        }
        self.c.pos = 8;
        // MKStart.
        self.tick(1)?;
        // Section ids in the decoder's order; `start` (8) and `datacount` (12) are not vectors.
        const ORDER: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11];
        let mut next = 0usize;
        let mut imports = Vec::new();
        let mut nfuncs: Option<u32> = None;
        let mut bodies: Vec<Body> = Vec::new();
        while !self.c.eos() {
            let at = self.c.pos;
            let id = self.c.byte()?;
            let size = self.c.len()?;
            let start = self.c.pos;
            let end = start.checked_add(size).ok_or(overflow(at))?;
            if id == 0 {
                self.c.name()?;
                if self.c.pos > end {
                    return self.c.err("a custom section name within the section");
                }
                self.c.pos = end;
                self.tick(1)?;
                continue;
            }
            let Some(slot) = ORDER.iter().position(|&s| s == id) else {
                return Err(WalkError {
                    offset: at,
                    what: "a known section id",
                });
            };
            if slot < next {
                return Err(WalkError {
                    offset: at,
                    what: "sections in order, each at most once",
                });
            }
            // Absent sections before this one: 3 (vectors) or 2 (start, datacount).
            for &skipped in ORDER.get(next..slot).unwrap_or_default() {
                self.tick(if matches!(skipped, 8 | 12) { 2 } else { 3 })?;
            }
            next = slot.saturating_add(1);
            self.section(id, &mut imports, &mut nfuncs, &mut bodies)?;
            if self.c.pos != end {
                return Err(WalkError {
                    offset: self.c.pos,
                    what: "a section that ends at its declared size",
                });
            }
        }
        for &skipped in ORDER.get(next..).unwrap_or_default() {
            self.tick(if matches!(skipped, 8 | 12) { 2 } else { 3 })?;
        }
        if nfuncs.unwrap_or(0) as usize != bodies.len() {
            return self.c.err("as many function declarations as code entries");
        }
        // MKSkipCustom None → MKElaborateFunc.
        self.tick(1)?;
        let mut no_datas = true;
        for body in &bodies {
            if !no_datas {
                self.tick(1)?;
                continue;
            }
            let (t, found) = elaborate(body).ok_or(overflow(self.c.pos))?;
            self.tick(t)?;
            no_datas = !found;
        }
        // End of the functions → MKBuild, MKBuild → MKStop.
        self.tick(2)?;
        Ok(ModuleSummary {
            decode_ticks: self.ticks,
            imports,
        })
    }

    fn section(
        &mut self,
        id: u8,
        imports: &mut Vec<(String, String)>,
        nfuncs: &mut Option<u32>,
        bodies: &mut Vec<Body>,
    ) -> Result<(), WalkError> {
        if matches!(id, 8 | 12) {
            // start / datacount: one index, read by `MKFieldStart`.
            self.c.u32()?;
            return self.tick(2);
        }
        let n = self.c.u32()?;
        // MKSkipCustom, MKFieldStart, and the end of the vector.
        self.tick(3)?;
        for _ in 0..n {
            match id {
                1 => {
                    if self.c.byte()? != 0x60 {
                        return self.c.err("a function type (0x60)");
                    }
                    let mut count: u128 = 5;
                    for _ in 0..2 {
                        let k = self.c.u32()?;
                        for _ in 0..k {
                            self.c.value_type()?;
                        }
                        count = count
                            .checked_add(u128::from(k))
                            .ok_or(overflow(self.c.pos))?;
                    }
                    self.tick(count)?;
                }
                2 => {
                    let (module, m) = self.c.name()?;
                    let (item, i) = self.c.name()?;
                    match self.c.byte()? {
                        0 => self.c.u32().map(drop)?,
                        1 => {
                            self.c.ref_type()?;
                            self.c.limits()?;
                        }
                        2 => self.c.limits()?,
                        3 => {
                            self.c.value_type()?;
                            self.c.byte()?;
                        }
                        _ => return self.c.err("an import kind"),
                    }
                    imports.push((module, item));
                    self.tick(9)?;
                    self.tick(m)?;
                    self.tick(i)?;
                }
                3 => {
                    self.c.u32()?;
                    self.tick(1)?;
                }
                4 => {
                    self.c.ref_type()?;
                    self.c.limits()?;
                    self.tick(1)?;
                }
                5 => {
                    self.c.limits()?;
                    self.tick(1)?;
                }
                6 => {
                    self.c.value_type()?;
                    self.c.byte()?;
                    // MKField → MKGlobal, then the init expression and its `end`.
                    self.tick(1)?;
                    self.const_expr()?;
                }
                7 => {
                    let (_, k) = self.c.name()?;
                    if self.c.byte()? > 3 {
                        return self.c.err("an export kind");
                    }
                    self.c.u32()?;
                    self.tick(6)?;
                    self.tick(k)?;
                }
                9 => self.elem()?,
                10 => bodies.push(self.code()?),
                11 => self.data()?,
                _ => return self.c.err("a known section id"),
            }
        }
        if id == 3 {
            *nfuncs = Some(n);
        }
        Ok(())
    }

    fn elem(&mut self) -> Result<(), WalkError> {
        // MKField → MKElem, EKStart (reads the kind and what precedes the offset), the end of
        // the initialisers (EKStop), EKStop → MKField.
        self.tick(4)?;
        let kind = self.c.u32()?;
        let active = matches!(kind, 0 | 2 | 4 | 6);
        if matches!(kind, 2 | 6) {
            self.c.u32()?;
        }
        if active {
            // The offset expression; its `end` step also reads the element kind and count.
            self.const_expr()?;
        }
        match kind {
            1..=3 => {
                if self.c.byte()? != 0x00 {
                    return self.c.err("element kind funcref (0x00)");
                }
            }
            5..=7 => self.c.ref_type()?,
            0 | 4 => {}
            _ => return self.c.err("an element segment kind"),
        }
        let n = self.c.u32()?;
        for _ in 0..n {
            if kind <= 3 {
                self.c.u32()?;
                self.tick(1)?;
            } else {
                self.const_expr()?;
            }
        }
        Ok(())
    }

    fn data(&mut self) -> Result<(), WalkError> {
        // MKField → MKData, DKStart, VKStart, VKStop, DKStop, DKStop → MKField.
        self.tick(6)?;
        match self.c.u32()? {
            0 => self.const_expr()?,
            1 => {}
            2 => {
                self.c.u32()?;
                self.const_expr()?;
            }
            _ => return self.c.err("a data segment kind"),
        }
        let n = self.c.len()?;
        self.c.skip(n)?;
        // One step per byte.
        self.tick(n as u128)
    }

    fn code(&mut self) -> Result<Body, WalkError> {
        let size = self.c.len()?;
        let start = self.c.pos;
        let groups = self.c.u32()?;
        let mut total: u128 = 0;
        let mut fetched: u128 = 0;
        for g in 0..groups {
            let k = self.c.u32()?;
            self.c.value_type()?;
            if k > 0 {
                total = total
                    .checked_add(u128::from(k))
                    .ok_or(overflow(self.c.pos))?;
                // Groups up to the last non-empty one are fetched.
                fetched = u128::from(g).saturating_add(1);
            }
        }
        if total >= 0x1_0000_0000 {
            return self.c.err("fewer than 2^32 locals");
        }
        // MKField → MKCode, CKStart, one per group, end of groups, one per local, one per
        // group fetched, CKLocalsAccumulate → CKBody, the body, its `end`, CKStop → MKField.
        self.tick(5)?;
        self.tick(u128::from(groups))?;
        self.tick(total)?;
        self.tick(fetched)?;
        let body = self.expr()?;
        self.tick(1)?;
        if self.c.pos != start.saturating_add(size) {
            return self.c.err("a function body that ends at its declared size");
        }
        Ok(body)
    }
}

/// Ticks of `MKElaborateFunc` for one function while no data instruction was met, and whether
/// one is met (the walk stops at it). Blocks are visited in the order they are discovered.
fn elaborate(body: &Body) -> Option<(u128, bool)> {
    const EMPTY: &[Item] = &[];
    // Fetching the function.
    let mut ticks: u128 = 1;
    let mut queue: Vec<Option<usize>> = vec![Some(0)];
    let mut offset = 0usize;
    while let Some(&block) = queue.get(offset) {
        let items = match block {
            Some(b) => body.blocks.get(b).map_or(EMPTY, Vec::as_slice),
            None => EMPTY,
        };
        for item in items {
            ticks = ticks.checked_add(1)?;
            match item {
                Item::Plain => {}
                Item::DataOp => return Some((ticks, true)),
                Item::Block(b) => queue.push(Some(*b)),
                Item::If(then, els) => {
                    queue.push(Some(*then));
                    queue.push(*els);
                }
            }
        }
        // End of this block.
        ticks = ticks.checked_add(1)?;
        offset = offset.checked_add(1)?;
    }
    // The last block done → leave the function.
    Some((ticks.checked_add(1)?, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut v: usize, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn name(s: &str, out: &mut Vec<u8>) {
        leb(s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }

    /// A module from `(section id, body)` pairs, in the given order.
    fn module(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        for (id, body) in sections {
            m.push(*id);
            leb(body.len(), &mut m);
            m.extend_from_slice(body);
        }
        m
    }

    /// A code entry: locals groups then the body (final `end` included).
    fn func(locals: &[(usize, u8)], body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        leb(locals.len(), &mut f);
        for &(n, t) in locals {
            leb(n, &mut f);
            f.push(t);
        }
        f.extend_from_slice(body);
        let mut out = Vec::new();
        leb(f.len(), &mut out);
        out.extend(f);
        out
    }

    /// The regression kernels of Octez (`link_kernel` in
    /// `src/lib_scoru_wasm/regressions/tezos_scoru_wasm_regressions.ml`).
    fn link_kernel(import: &str, nparams: usize) -> Vec<u8> {
        let mut types = vec![2, 0x60];
        leb(nparams, &mut types);
        types.extend(std::iter::repeat_n(0x7f, nparams));
        types.extend([1, 0x7f, 0x60, 0, 0]);
        let mut imports = vec![1];
        name("smart_rollup_core", &mut imports);
        name(import, &mut imports);
        imports.extend([0x00, 0x00]);
        let mut exports = vec![2];
        name("mem", &mut exports);
        exports.extend([0x02, 0x00]);
        name("kernel_run", &mut exports);
        exports.extend([0x00, 0x01]);
        let mut code = vec![1];
        code.extend(func(&[], &[0x01, 0x0b]));
        module(&[
            (1, types),
            (2, imports),
            (3, vec![1, 1]),
            (5, vec![1, 0x00, 0x01]),
            (7, exports),
            (10, code),
        ])
    }

    #[test]
    fn octez_regression_kernels() {
        // Stuck ticks in Octez's traces are 5000 + D + 3 (testdata/conformance/link_errors.tsv).
        for (import, nparams, ticks) in [
            ("reveal", 4, 5129 - 5003),
            ("store_exists", 2, 5133 - 5003),
            ("store_create", 3, 5134 - 5003),
            ("store_delete_value", 2, 5139 - 5003),
            ("__internal_store_get_hash", 4, 5148 - 5003),
        ] {
            let s = decode_ticks(&link_kernel(import, nparams)).unwrap();
            assert_eq!(s.decode_ticks, ticks, "{import}");
            assert_eq!(
                s.imports,
                vec![("smart_rollup_core".to_owned(), import.to_owned())]
            );
        }
    }

    #[test]
    fn nested_blocks_and_locals() {
        let body = [
            0x02, 0x40, // block
            0x41, 0x01, // i32.const 1
            0x04, 0x40, // if
            0x01, // nop
            0x05, // else
            0x01, 0x01, // nop nop
            0x0b, // end if
            0x0b, // end block
            0x03, 0x40, // loop
            0x0c, 0x00, // br 0
            0x0b, // end loop
            0x41, 0x00, // i32.const 0
            0x04, 0x40, // if (no else)
            0x01, // nop
            0x0b, // end if
            0x0b, // end
        ];
        let mut code = vec![1];
        code.extend(func(&[(2, 0x7f), (0, 0x7e), (1, 0x7e), (0, 0x7f)], &body));
        let m = module(&[(1, vec![1, 0x60, 0, 0]), (3, vec![1, 0]), (10, code)]);
        // Header 1; type 3+5; import 3; func 3+1; table, memory, global, export 3 each;
        // start 2; elem 3; datacount 2; code 3 + (5 + 4 groups + 3 locals + 3 fetched + 24
        // body + 1); data 3; elaboration 1 + (1 + 18 + 1) + 2, the blocks visited being the
        // body (4 instructions), the block (2), the loop (1), the second `if` (1), the empty
        // block (0), the first `if`'s then (1) and else (2) branches.
        assert_eq!(decode_ticks(&m).unwrap().decode_ticks, 104);
    }

    #[test]
    fn segments_globals_customs_and_data_instructions() {
        let mut custom = Vec::new();
        name("name", &mut custom);
        custom.extend(b"whatever");
        let global = vec![1, 0x7f, 0x00, 0x41, 0x07, 0x0b];
        let elem = vec![1, 0x00, 0x41, 0x00, 0x0b, 2, 0, 1];
        let mut code = vec![2];
        code.extend(func(
            &[],
            &[0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 0x08, 0x00, 0x00, 0x0b],
        ));
        code.extend(func(&[], &[0x01, 0x0b]));
        let data = vec![1, 0x01, 3, b'a', b'b', b'c'];
        let m = module(&[
            (0, custom.clone()),
            (1, vec![1, 0x60, 0, 0]),
            (3, vec![2, 0, 0]),
            (4, vec![1, 0x70, 0x00, 0x01]),
            (5, vec![1, 0x00, 0x01]),
            (6, global),
            (9, elem),
            (12, vec![1]),
            (10, code),
            (11, data),
            (0, custom),
        ]);
        // Header 1; type 8; import 3; func 5; table 4; memory 4; global 3 + 6; export 3;
        // start 2; elem 3 + 11; datacount 2; code 3 + 13 + 10; data 3 + 9; customs 2;
        // elaboration 1 + 5 (stops at `memory.init`) + 1 + 2.
        assert_eq!(decode_ticks(&m).unwrap().decode_ticks, 104);
    }

    #[test]
    fn rejects_what_the_decoder_rejects() {
        let float = {
            let mut code = vec![1];
            code.extend(func(&[], &[0x43, 0, 0, 0, 0, 0x1a, 0x0b]));
            module(&[(1, vec![1, 0x60, 0, 0]), (3, vec![1, 0]), (10, code)])
        };
        assert_eq!(
            decode_ticks(&float).unwrap_err().what,
            "no float instruction"
        );
        let out_of_order = module(&[(3, vec![0]), (1, vec![0])]);
        assert!(decode_ticks(&out_of_order).is_err());
        assert!(decode_ticks(b"\0asm\x02\0\0\0").is_err());
        let missing_code = module(&[(1, vec![1, 0x60, 0, 0]), (3, vec![1, 0])]);
        assert!(decode_ticks(&missing_code).is_err());
    }
}
