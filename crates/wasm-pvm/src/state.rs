//! Native PVM state and its encoding into Octez's state tree (`src/lib_scoru_wasm/tree_state.ml`
//! `pvm_state_encoding`, `wasm_encoding.ml` `buffers_encoding`; `wasm-pvm.md` §7.2).
//!
//! Layout (paths from the state root; `n`/`z`/`int32`/`string` are Data_encoding forms):
//! * `durable/…` — durable storage (crate `durable-tree`);
//! * `wasm/current_tick` n, `wasm/input` int32 level ‖ n counter (absent before the first input),
//!   `wasm/reboot_counter` n, `wasm/tag` string (`collect`, `padding`, `snapshot`, `stuck`),
//!   `wasm/value` (only for `stuck`: `Wasm_pvm_errors.encoding`);
//! * `pvm/last_top_level_call` n, `pvm/max_nb_ticks` n, `pvm/maximum_reboots_per_input` n,
//!   `pvm/outbox_validity_period` int32, `pvm/outbox_message_limit` z;
//! * buffers wrapped in a tree-encoding `option` (a tagged union at the **root**): `tag` = string
//!   `Some`, and under `value/pvm/buffers/`:
//!   * `input/{head,length}` z, `input/contents/<k>/{raw-level int32, message-counter z,
//!     length int64, contents/<j> 512-byte chunks}`;
//!   * `output/1/outboxes/<level>/{head,length z, contents/<i> bytes}`, `output/2/last_level`
//!     int32 (absent if none), `output/3/validity_period` int32, `output/4/message_limit` z.

use std::collections::BTreeMap;

use durable_tree::durable::{Durable, Key};
use durable_tree::{Hash, Kind, Tree, TreeError};

use crate::buffers::{InputBuffer, InputMessage, OutputBuffer};
use crate::enc;
use crate::version::PvmVersion;

/// Chunk size of chunked byte vectors (`Chunk.size`).
const CHUNK: usize = 512;

/// Why the PVM is stuck (`Wasm_pvm_errors.t`). Strings are truncated to 128 bytes on encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StuckError {
    /// `Decode_error {raw_exception; explanation}`.
    Decode(String, Option<String>),
    /// `Link_error msg`.
    Link(String),
    /// `Init_error {raw_exception; explanation}`.
    Init(String, Option<String>),
    /// `Eval_error {raw_exception; explanation}`.
    Eval(String, Option<String>),
    /// `Invalid_state msg`.
    InvalidState(String),
    /// `Unknown_error msg`.
    Unknown(String),
    /// `Too_many_ticks`.
    TooManyTicks,
    /// `Too_many_reboots`.
    TooManyReboots,
    /// `No_fallback_kernel cause` (cause: decode, link or init error).
    NoFallbackKernel(Box<StuckError>),
}

/// `truncate_message`: at most 128 bytes (on a char boundary here, so decoding round-trips;
/// Octez cuts bytes).
fn trunc(s: &str) -> &[u8] {
    let mut n = s.len().min(128);
    while !s.is_char_boundary(n) {
        // Stops at 0 at the latest (always a boundary).
        n = n.saturating_sub(1);
    }
    &s.as_bytes()[..n]
}

fn enc_interp(out: &mut Vec<u8>, raw: &str, expl: &Option<String>) {
    out.extend(enc::string(trunc(raw)));
    match expl {
        None => out.push(0x00),
        Some(e) => {
            out.push(0xff);
            out.extend(enc::string(trunc(e)));
        }
    }
}

impl StuckError {
    /// Data_encoding of `Wasm_pvm_errors.encoding` (1-byte union tag, then the fields).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Decode(r, e) => {
                out.push(0);
                enc_interp(&mut out, r, e);
            }
            Self::Link(m) => {
                out.push(1);
                out.extend(enc::string(trunc(m)));
            }
            Self::Init(r, e) => {
                out.push(2);
                enc_interp(&mut out, r, e);
            }
            Self::Eval(r, e) => {
                out.push(3);
                enc_interp(&mut out, r, e);
            }
            Self::InvalidState(m) => {
                out.push(4);
                out.extend(enc::string(trunc(m)));
            }
            Self::Unknown(m) => {
                out.push(5);
                out.extend(enc::string(trunc(m)));
            }
            Self::TooManyTicks => out.push(6),
            Self::TooManyReboots => out.push(7),
            Self::NoFallbackKernel(cause) => {
                out.push(8);
                match cause.as_ref() {
                    Self::Decode(r, e) => {
                        out.push(0);
                        enc_interp(&mut out, r, e);
                    }
                    Self::Link(m) => {
                        out.push(1);
                        out.extend(enc::string(trunc(m)));
                    }
                    Self::Init(r, e) => {
                        out.push(2);
                        enc_interp(&mut out, r, e);
                    }
                    other => {
                        // Not a fallback cause; encode as an unknown init error.
                        out.push(2);
                        enc_interp(&mut out, &format!("{other:?}"), &None);
                    }
                }
            }
        }
        out
    }

    /// Decode [`StuckError::encode`]'s format (the whole slice must be consumed).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut r = Reader(b);
        let e = Self::read(&mut r, false)?;
        r.0.is_empty().then_some(e)
    }

    fn read(r: &mut Reader<'_>, cause: bool) -> Option<Self> {
        let tag = r.byte()?;
        Some(match (tag, cause) {
            (0, _) => Self::Decode(r.string()?, r.opt_string()?),
            (1, _) => Self::Link(r.string()?),
            (2, _) => Self::Init(r.string()?, r.opt_string()?),
            (3, false) => Self::Eval(r.string()?, r.opt_string()?),
            (4, false) => Self::InvalidState(r.string()?),
            (5, false) => Self::Unknown(r.string()?),
            (6, false) => Self::TooManyTicks,
            (7, false) => Self::TooManyReboots,
            (8, false) => Self::NoFallbackKernel(Box::new(Self::read(r, true)?)),
            _ => return None,
        })
    }

    /// The stuck state Octez records for an exception of the reference interpreter's
    /// `Error.Make ()` family (`Eval.Link`, `Trap`, `Crash`, `Exhaustion`; `util/error.ml`:
    /// `exception Error of Source.region * string`) raised during evaluation: `Eval_error`
    /// (`wasm_vm.ml` `exn_to_stuck`) with `explanation = Some msg` and
    /// `raw_exception = Printexc.to_string exn` (`wasm_pvm_errors.ml`
    /// `extract_interpreter_error`, both truncated to 128 bytes on encoding).
    ///
    /// `Printexc.to_string` without a registered printer gives the constructor name, then the
    /// arguments in parentheses: the region (a record) as `_`, the message as OCaml's `%S`. The
    /// constructor name is plain `Error`: an exception defined in the body of a *generative*
    /// functor gets no path prefix (OCaml `translmod.ml` `merge_functors`: a `()` parameter
    /// resets the root path, so `transl_extension_constructor` uses `Ident.name`). Known
    /// renderings of the same functor's exceptions agree, e.g. `Error(_, "... trap: load")`
    /// from the spec interpreter's `Eval.Trap`.
    pub fn interpreter_eval_error(msg: &str) -> StuckError {
        StuckError::Eval(
            format!("Error(_, {})", ocaml_quoted(msg)),
            Some(msg.to_owned()),
        )
    }

    /// The stuck state recorded for an engine's [`crate::RunOutcome::Stuck`] message:
    /// [`crate::CALL_STACK_EXHAUSTED`] is `Eval.Exhaustion` (`eval.ml`:
    /// `Exhaustion.error no_region "call stack exhausted"`, raised in the `Eval` tick state), so
    /// [`StuckError::interpreter_eval_error`]; any other message is kept as `Invalid_state`.
    pub fn from_engine_stuck(msg: &str) -> StuckError {
        if msg == crate::CALL_STACK_EXHAUSTED {
            Self::interpreter_eval_error(msg)
        } else {
            Self::InvalidState(msg.to_owned())
        }
    }

    /// Whether the next tick recovers through the fallback kernel (decode/link/init errors).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::Decode(..) | Self::Link(_) | Self::Init(..))
    }
}

/// OCaml's `Printf "%S"`: double quotes around `String.escaped` (`\\`, `\"`, `\n`, `\t`,
/// `\r`, `\b`, other bytes outside `' '..='~'` as `\ddd` decimal).
fn ocaml_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x08 => out.push_str("\\b"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn string(&mut self) -> Option<String> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let (s, rest) = rest.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }

    fn opt_string(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0x00 => Some(None),
            0xff => Some(Some(self.string()?)),
            _ => None,
        }
    }
}

/// Tick state of the PVM as kept natively. The interpreter states (`decode`, `link`, `init`,
/// `eval`) are never materialised: a whole `kernel_run` is executed at once by an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickState {
    /// Waiting for inbox messages.
    Collect,
    /// Start of a `kernel_run` window.
    Snapshot,
    /// Burning ticks to the end of the window.
    Padding,
    /// Stuck (recoverable for decode/link/init errors, permanent otherwise).
    Stuck(StuckError),
}

impl TickState {
    fn tag(&self) -> &'static str {
        match self {
            Self::Collect => "collect",
            Self::Snapshot => "snapshot",
            Self::Padding => "padding",
            Self::Stuck(_) => "stuck",
        }
    }
}

/// Location of the last input read (`input_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputInfo {
    /// Inbox level.
    pub level: u32,
    /// Message counter within the level.
    pub counter: u64,
}

/// The whole PVM state (`Internal_state.pvm_state`) in native form.
#[derive(Clone)]
pub struct PvmState {
    /// Durable storage (the `durable` subtree).
    pub(crate) durable: Durable,
    /// Input FIFO.
    pub(crate) input: InputBuffer,
    /// Outboxes.
    pub(crate) output: OutputBuffer,
    /// Current tick state.
    pub(crate) tick_state: TickState,
    /// Ticks executed since genesis.
    pub(crate) current_tick: u128,
    /// First tick of the current window (`last_top_level_call`).
    pub(crate) last_top_level_call: u128,
    /// Ticks per window (`max_nb_ticks`).
    pub(crate) max_nb_ticks: u128,
    /// Remaining `kernel_run` calls in this level (`reboot_counter`).
    pub(crate) reboot_counter: u128,
    /// `maximum_reboots_per_input`.
    pub(crate) maximum_reboots_per_input: u128,
    /// Last input read (`last_input_info`).
    pub(crate) last_input: Option<InputInfo>,
    /// `output_buffer_parameters.validity_period` (the `pvm/` copy; a V4 migration only changes
    /// the buffer's own copy).
    pub(crate) outbox_validity_period: u32,
    /// `output_buffer_parameters.message_limit`.
    pub(crate) outbox_message_limit: u64,
    /// Loser-mode failure markers (`failures/<n>` at the root, [`crate::loser`]); 0 for an
    /// honest node.
    pub(crate) failures: u32,
}

/// A state tree that does not decode as a PVM state.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Tree access failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A field is missing or malformed.
    #[error("malformed PVM state at {0}")]
    Malformed(String),
}

fn mal(p: &str) -> DecodeError {
    DecodeError::Malformed(p.to_owned())
}

fn set(t: &mut Tree, path: &[&str], bytes: Vec<u8>) -> Result<(), TreeError> {
    t.set_contents(path, bytes)
}

/// Encode a chunked byte vector fully materialised (`Chunked_byte_vector.of_bytes`) at `t`.
fn encode_cbv(bytes: &[u8]) -> Result<Tree, TreeError> {
    let mut t = Tree::empty();
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let mut c = chunk.to_vec();
        c.resize(CHUNK, 0);
        t.set_contents(&["contents", &i.to_string()], c)?;
    }
    t.set_contents(&["length"], (bytes.len() as u64).to_be_bytes().to_vec())?;
    Ok(t)
}

fn decode_cbv(t: &Tree, at: &str) -> Result<Vec<u8>, DecodeError> {
    let len = t
        .get_contents(&["length"])?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| mal(at))?;
    let len = usize::try_from(len).map_err(|_| mal(at))?;
    let mut out = vec![0u8; len];
    for (i, chunk) in out.chunks_mut(CHUNK).enumerate() {
        if let Some(c) = t.get_contents(&["contents", &i.to_string()])? {
            let n = chunk.len().min(c.len());
            chunk[..n].copy_from_slice(&c[..n]);
        }
    }
    Ok(out)
}

/// The last input a state read (`wasm/input`: an `int32` level then the counter, Octez
/// `get_current_level`), absent before the first input; readable at any tick, the states
/// between two snapshots included.
///
/// # Errors
/// A malformed `wasm/input`, or the tree unreadable.
pub fn last_input_of(root: &Tree) -> Result<Option<InputInfo>, DecodeError> {
    root.get_contents(&["wasm", "input"])?
        .map(|b| decode_input_info(&b))
        .transpose()
}

/// The value of `wasm/input`: an `int32` big-endian level, then the counter (`n`).
///
/// # Errors
/// Bytes that are not such a pair.
pub fn decode_input_info(b: &[u8]) -> Result<InputInfo, DecodeError> {
    if b.len() <= 4 {
        return Err(mal("wasm/input"));
    }
    Ok(InputInfo {
        level: u32::try_from(enc::de_i32(&b[..4]).ok_or_else(|| mal("wasm/input"))?)
            .map_err(|_| mal("wasm/input"))?,
        counter: u64::try_from(enc::de_n(&b[4..]).ok_or_else(|| mal("wasm/input"))?)
            .map_err(|_| mal("wasm/input"))?,
    })
}

impl PvmState {
    /// `initial_state version` followed by `install_boot_sector` (`wasm_pvm.ml`): the genesis
    /// state of a rollup. Writes `/readonly/wasm_version`, `/kernel/env/reboot` (empty) and
    /// `/kernel/boot.wasm`; `Collect` at tick 0 with `reboot_counter = max_reboots + 1`.
    pub fn genesis(
        version: PvmVersion,
        kernel: &[u8],
        params: &GenesisParams,
    ) -> Result<Self, TreeError> {
        if params.ticks_per_snapshot == 0 {
            return Err(TreeError::Precondition(
                "genesis: ticks_per_snapshot must be at least 1",
            ));
        }
        let reboot_counter =
            params
                .maximum_reboots_per_input
                .checked_add(1)
                .ok_or(TreeError::Precondition(
                    "genesis: maximum_reboots_per_input must be below 2^128 - 1",
                ))?;
        let mut durable = Durable::new(Tree::empty());
        durable.set(&key(VERSION_KEY), version.as_str().as_bytes())?;
        durable.set(&key(REBOOT_FLAG_KEY), b"")?;
        durable.set(&key(KERNEL_KEY), kernel)?;
        Ok(Self {
            durable,
            input: InputBuffer::new(),
            output: OutputBuffer::new(params.outbox_validity_period, params.outbox_message_limit),
            tick_state: TickState::Collect,
            current_tick: 0,
            last_top_level_call: 0,
            max_nb_ticks: params.ticks_per_snapshot,
            reboot_counter,
            maximum_reboots_per_input: params.maximum_reboots_per_input,
            last_input: None,
            outbox_validity_period: params.outbox_validity_period,
            outbox_message_limit: params.outbox_message_limit,
            failures: 0,
        })
    }

    /// Encode the state into a fresh tree with Octez's layout.
    pub fn to_tree(&self) -> Result<Tree, TreeError> {
        let mut root = Tree::empty();
        root.set_tree(&["durable"], self.durable.tree().clone())?;
        // wasm/
        if let Some(info) = self.last_input {
            let mut b = info.level.to_be_bytes().to_vec();
            b.extend(enc::n(u128::from(info.counter)));
            set(&mut root, &["wasm", "input"], b)?;
        }
        set(
            &mut root,
            &["wasm", "current_tick"],
            enc::n(self.current_tick),
        )?;
        set(
            &mut root,
            &["wasm", "reboot_counter"],
            enc::n(self.reboot_counter),
        )?;
        set(
            &mut root,
            &["wasm", "tag"],
            enc::string(self.tick_state.tag().as_bytes()),
        )?;
        if let TickState::Stuck(e) = &self.tick_state {
            set(&mut root, &["wasm", "value"], e.encode())?;
        }
        // pvm/
        set(
            &mut root,
            &["pvm", "last_top_level_call"],
            enc::n(self.last_top_level_call),
        )?;
        set(
            &mut root,
            &["pvm", "max_nb_ticks"],
            enc::n(self.max_nb_ticks),
        )?;
        set(
            &mut root,
            &["pvm", "maximum_reboots_per_input"],
            enc::n(self.maximum_reboots_per_input),
        )?;
        set(
            &mut root,
            &["pvm", "outbox_validity_period"],
            self.outbox_validity_period.to_be_bytes().to_vec(),
        )?;
        set(
            &mut root,
            &["pvm", "outbox_message_limit"],
            enc::z(u128::from(self.outbox_message_limit)),
        )?;
        // buffers (option => root `tag` + `value/`)
        set(&mut root, &["tag"], enc::string(b"Some"))?;
        root.set_tree(&["value", "pvm", "buffers"], self.buffers_tree()?)?;
        if self.failures > 0 {
            crate::loser::set_failures(&mut root, self.failures)?;
        }
        Ok(root)
    }

    fn buffers_tree(&self) -> Result<Tree, TreeError> {
        let mut b = Tree::empty();
        // input
        let mut input = Tree::empty();
        for (k, m) in self.input.entries() {
            let mut e = encode_cbv(&m.payload)?;
            e.set_contents(&["raw-level"], m.level.to_be_bytes().to_vec())?;
            e.set_contents(&["message-counter"], enc::z(u128::from(m.counter)))?;
            input.set_tree(&["contents", &k.to_string()], e)?;
        }
        input.set_contents(&["length"], enc::z(u128::from(self.input.len())))?;
        input.set_contents(&["head"], enc::z(u128::from(self.input.head())))?;
        b.set_tree(&["input"], input)?;
        // output
        let o = &self.output;
        let mut output = Tree::empty();
        output.set_tree(&["1", "outboxes"], o.outboxes_tree()?)?;
        if let Some(l) = o.last_level() {
            output.set_contents(&["2", "last_level"], l.to_be_bytes().to_vec())?;
        }
        output.set_contents(
            &["3", "validity_period"],
            o.validity_period().to_be_bytes().to_vec(),
        )?;
        output.set_contents(
            &["4", "message_limit"],
            enc::z(u128::from(o.message_limit())),
        )?;
        b.set_tree(&["output"], output)?;
        Ok(b)
    }

    /// State hash (Irmin hash of the encoded root), the commitment's `compressed_state`.
    pub fn hash(&self) -> Result<Hash, TreeError> {
        self.to_tree()?.hash()
    }

    /// Decode a state tree written by [`PvmState::to_tree`] (or by Octez, for the states this
    /// crate represents: collect, snapshot, padding, stuck).
    pub fn from_tree(root: &Tree) -> Result<Self, DecodeError> {
        let get =
            |p: &[&str]| -> Result<Option<Vec<u8>>, DecodeError> { Ok(root.get_contents(p)?) };
        let req_n = |p: &[&str], default: Option<u128>| -> Result<u128, DecodeError> {
            match get(p)? {
                Some(b) => enc::de_n(&b).ok_or_else(|| mal(&p.join("/"))),
                None => default.ok_or_else(|| mal(&p.join("/"))),
            }
        };
        let durable = Durable::new(root.get(&["durable"])?.unwrap_or_else(Tree::empty));
        let maximum_reboots_per_input = req_n(&["pvm", "maximum_reboots_per_input"], Some(1000))?;
        // Validated here so that the tick and reboot arithmetic cannot overflow on a crafted
        // state: the reboot counter restarts at `maximum_reboots_per_input + 1`, and a window
        // ends at `last_top_level_call + max_nb_ticks - 1`.
        let full_reboot_counter = maximum_reboots_per_input.checked_add(1).ok_or_else(|| {
            DecodeError::Malformed(
                "pvm/maximum_reboots_per_input: must be below 2^128 - 1".to_owned(),
            )
        })?;
        let max_nb_ticks = req_n(&["pvm", "max_nb_ticks"], None)?;
        if max_nb_ticks == 0 {
            return Err(DecodeError::Malformed(
                "pvm/max_nb_ticks: must be at least 1".to_owned(),
            ));
        }
        let last_input = last_input_of(root)?;
        let tag = match get(&["wasm", "tag"])? {
            None => "collect".to_owned(),
            Some(b) => {
                String::from_utf8(enc::de_string(&b).ok_or_else(|| mal("wasm/tag"))?.to_vec())
                    .map_err(|_| mal("wasm/tag"))?
            }
        };
        let tick_state = match tag.as_str() {
            "collect" => TickState::Collect,
            "snapshot" => TickState::Snapshot,
            "padding" => TickState::Padding,
            "stuck" => TickState::Stuck(
                get(&["wasm", "value"])?
                    .and_then(|b| StuckError::decode(&b))
                    .ok_or_else(|| mal("wasm/value"))?,
            ),
            other => {
                return Err(DecodeError::Malformed(format!(
                    "wasm/tag: interpreter state `{other}` is not supported"
                )));
            }
        };
        let i32_at = |p: &[&str]| -> Result<u32, DecodeError> {
            get(p)?
                .and_then(|b| enc::de_i32(&b))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| mal(&p.join("/")))
        };
        let z_at = |p: &[&str]| -> Result<u128, DecodeError> {
            get(p)?
                .and_then(|b| enc::de_z(&b))
                .ok_or_else(|| mal(&p.join("/")))
        };
        let outbox_validity_period = i32_at(&["pvm", "outbox_validity_period"])?;
        let outbox_message_limit =
            u64::try_from(z_at(&["pvm", "outbox_message_limit"])?).map_err(|_| mal("limit"))?;
        let (input, output) = if root.get(&["value", "pvm", "buffers"])?.is_some() {
            decode_buffers(root)?
        } else {
            (
                InputBuffer::new(),
                OutputBuffer::new(outbox_validity_period, outbox_message_limit),
            )
        };
        Ok(Self {
            durable,
            input,
            output,
            tick_state,
            current_tick: req_n(&["wasm", "current_tick"], Some(0))?,
            last_top_level_call: req_n(&["pvm", "last_top_level_call"], Some(0))?,
            max_nb_ticks,
            reboot_counter: req_n(&["wasm", "reboot_counter"], Some(full_reboot_counter))?,
            maximum_reboots_per_input,
            last_input,
            outbox_validity_period,
            outbox_message_limit,
            failures: crate::loser::failure_count(root)?,
        })
    }
}

fn decode_buffers(root: &Tree) -> Result<(InputBuffer, OutputBuffer), DecodeError> {
    let base = ["value", "pvm", "buffers"];
    let path = |rest: &[&'static str]| -> Vec<&'static str> {
        base.iter().copied().chain(rest.iter().copied()).collect()
    };
    let z_at = |p: &[&str]| -> Result<u128, DecodeError> {
        root.get_contents(p)?
            .and_then(|b| enc::de_z(&b))
            .ok_or_else(|| mal(&p.join("/")))
    };
    let to64 = |v: u128, at: &str| u64::try_from(v).map_err(|_| mal(at));
    // input
    let head = to64(z_at(&path(&["input", "head"]))?, "input/head")?;
    let len = to64(z_at(&path(&["input", "length"]))?, "input/length")?;
    let mut values = BTreeMap::new();
    for k in head..head.checked_add(len).ok_or_else(|| mal("input"))? {
        let ks = k.to_string();
        let mut p = path(&["input", "contents"]);
        p.push(&ks);
        let e = root.get(&p)?.ok_or_else(|| mal("input/contents"))?;
        let level = e
            .get_contents(&["raw-level"])?
            .and_then(|b| enc::de_i32(&b))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| mal("raw-level"))?;
        let counter = e
            .get_contents(&["message-counter"])?
            .and_then(|b| enc::de_z(&b))
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| mal("message-counter"))?;
        let payload = decode_cbv(&e, "input payload")?;
        values.insert(
            k,
            InputMessage {
                level,
                counter,
                payload,
            },
        );
    }
    let input = InputBuffer::from_parts(head, values);
    // output
    let last_level = match root.get_contents(&path(&["output", "2", "last_level"]))? {
        None => None,
        Some(b) => Some(
            enc::de_i32(&b)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| mal("last_level"))?,
        ),
    };
    let validity_period = root
        .get_contents(&path(&["output", "3", "validity_period"]))?
        .and_then(|b| enc::de_i32(&b))
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| mal("validity_period"))?;
    let message_limit = to64(
        z_at(&path(&["output", "4", "message_limit"]))?,
        "message_limit",
    )?;
    let mut output = OutputBuffer::new(validity_period, message_limit);
    output.last_level = last_level;
    let obase = path(&["output", "1", "outboxes"]);
    for (name, kind) in root.list(&obase)? {
        let level: u32 = name.parse().map_err(|_| mal("outbox level"))?;
        if kind != Kind::Node {
            return Err(mal("outbox"));
        }
        let mut p = obase.clone();
        p.push(&name);
        let ob = root.get(&p)?.ok_or_else(|| mal("outbox"))?;
        let ohead = ob
            .get_contents(&["head"])?
            .and_then(|b| enc::de_z(&b))
            .ok_or_else(|| mal("outbox head"))?;
        let olen = ob
            .get_contents(&["length"])?
            .and_then(|b| enc::de_z(&b))
            .ok_or_else(|| mal("outbox length"))?;
        let mut msgs = Vec::new();
        let oend = ohead
            .checked_add(olen)
            .ok_or_else(|| mal("outbox head + length"))?;
        for i in ohead..oend {
            let m = ob
                .get_contents(&["contents", &i.to_string()])?
                .ok_or_else(|| mal("outbox message"))?;
            msgs.push(
                enc::de_string(&m)
                    .ok_or_else(|| mal("outbox message"))?
                    .to_vec(),
            );
        }
        // Only non-empty outboxes are kept in memory (`OutputBuffer::outboxes`).
        if !msgs.is_empty() {
            output.outboxes.insert(level, std::sync::Arc::new(msgs));
        }
    }
    if let Some(t) = root.get(&obase)? {
        output.set_cache(t);
    }
    Ok((input, output))
}

/// Parameters of `install_boot_sector` (`wasm-pvm.md` §3.1; protocol constants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisParams {
    /// `max_nb_ticks` (50 000 000 000 000 on mainnet since Paris).
    pub ticks_per_snapshot: u128,
    /// Outbox validity period in levels (241 920 on mainnet).
    pub outbox_validity_period: u32,
    /// Messages per outbox level (100).
    pub outbox_message_limit: u64,
    /// Reboots per inbox level (1000).
    pub maximum_reboots_per_input: u128,
}

impl GenesisParams {
    /// The parameters of the protocol a rollup was originated in, by its version string
    /// (`sc_rollup_wasm.ml` of each protocol: Mumbai to Oxford install 11 000 000 000 ticks
    /// per window and an outbox validity period of 80 640 levels; Paris and later 50 000 000
    /// 000 000 and 241 920). An unknown name gets the current protocol's ([`Default`]).
    pub fn at_origination(name: &[u8]) -> Self {
        match name {
            b"mumbai_016" | b"nairobi_017" | b"oxford_018" => Self {
                ticks_per_snapshot: 11_000_000_000,
                outbox_validity_period: 80_640,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

impl Default for GenesisParams {
    fn default() -> Self {
        Self {
            ticks_per_snapshot: 50_000_000_000_000,
            outbox_validity_period: 241_920,
            outbox_message_limit: 100,
            maximum_reboots_per_input: 1000,
        }
    }
}

/// Durable key of the PVM version string (`Constants.version_key`).
pub const VERSION_KEY: &str = "/readonly/wasm_version";
/// Durable key of the kernel.
pub const KERNEL_KEY: &str = "/kernel/boot.wasm";
/// Durable key of the fallback kernel.
pub const KERNEL_FALLBACK_KEY: &str = "/readonly/kernel/boot.wasm";
/// Durable key of the reboot flag.
pub const REBOOT_FLAG_KEY: &str = "/kernel/env/reboot";
/// Durable key of the remaining-reboots counter (`i32` LE).
pub const REBOOT_COUNTER_KEY: &str = "/readonly/kernel/env/reboot_counter";
/// Durable key of the stuck flag (previous run trapped).
pub const STUCK_FLAG_KEY: &str = "/readonly/kernel/env/stuck";
/// Durable key of the upgrade-error flag (new kernel failed, fallback restored).
pub const UPGRADE_ERROR_FLAG_KEY: &str = "/readonly/kernel/env/upgrade_error";
/// Durable key of the too-many-reboots flag (forced yield).
pub const TOO_MANY_REBOOT_FLAG_KEY: &str = "/readonly/kernel/env/too_many_reboot";

/// Parse one of the constant keys above.
/// Copy `/kernel/boot.wasm` to `/readonly/kernel/boot.wasm` if their value hashes differ
/// (`save_fallback_kernel`).
pub(crate) fn save_fallback_kernel(d: &mut Durable) -> Result<(), TreeError> {
    let (k, f) = (key(KERNEL_KEY), key(KERNEL_FALLBACK_KEY));
    if d.value_hash(&k)? != d.value_hash(&f)? {
        d.copy(&k, &f)?;
    }
    Ok(())
}

pub(crate) fn key(s: &str) -> Key {
    Key::parse(s.as_bytes()).expect("constant durable keys are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_error_roundtrip() {
        let long = "x".repeat(200);
        for e in [
            StuckError::Decode("a".into(), None),
            StuckError::Link("l".into()),
            StuckError::Init("i".into(), Some("why".into())),
            StuckError::Eval("e".into(), Some("s".into())),
            StuckError::InvalidState("No input required during padding".into()),
            StuckError::Unknown("u".into()),
            StuckError::TooManyTicks,
            StuckError::TooManyReboots,
            StuckError::NoFallbackKernel(Box::new(StuckError::Link("m".into()))),
        ] {
            assert_eq!(StuckError::decode(&e.encode()), Some(e));
        }
        let t = StuckError::Unknown(long).encode();
        assert_eq!(t.len(), 1 + 4 + 128);
        assert_eq!(StuckError::TooManyTicks.encode(), [6]);
        assert_eq!(
            StuckError::InvalidState("ab".into()).encode(),
            [4, 0, 0, 0, 2, b'a', b'b']
        );
        assert_eq!(StuckError::decode(&[6, 0]), None);
    }

    #[test]
    fn call_stack_exhaustion_is_an_eval_error() {
        let e = StuckError::from_engine_stuck(crate::CALL_STACK_EXHAUSTED);
        let raw = br#"Error(_, "call stack exhausted")"#;
        let mut expected = vec![3, 0, 0, 0, raw.len() as u8];
        expected.extend_from_slice(raw);
        expected.extend([0xff, 0, 0, 0, 20]);
        expected.extend_from_slice(b"call stack exhausted");
        assert_eq!(e.encode(), expected);
        assert_eq!(raw.len(), 32);
        assert_eq!(StuckError::decode(&expected), Some(e));
        assert_eq!(
            StuckError::from_engine_stuck("other"),
            StuckError::InvalidState("other".into())
        );
    }

    /// Rollups originated before Paris get that protocol's window and outbox period (the L1's
    /// genesis commitment holds that state); the unsafe patch raises the window, never lowers
    /// it, and shows in the state hash.
    #[test]
    fn genesis_parameters_of_the_origination_protocol_and_the_tick_patch() {
        let oxford = GenesisParams::at_origination(b"oxford_018");
        assert_eq!(oxford.ticks_per_snapshot, 11_000_000_000);
        assert_eq!(oxford.outbox_validity_period, 80_640);
        assert_eq!(
            GenesisParams::at_origination(b"u025_025"),
            GenesisParams::default()
        );
        let mut st = PvmState::genesis(PvmVersion::V3, b"k", &oxford).unwrap();
        let before = st.hash().unwrap();
        let err = st.increase_max_nb_ticks(10).unwrap_err();
        assert_eq!(
            err,
            "Decreasing tick limit of WASM PVM from 11000000000 to 10 is not allowed"
        );
        st.increase_max_nb_ticks(50_000_000_000_000).unwrap();
        assert_eq!(st.max_nb_ticks(), 50_000_000_000_000);
        let tree = st.to_tree().unwrap();
        assert_ne!(tree.hash().unwrap(), before);
        assert_eq!(
            PvmState::from_tree(&tree).unwrap().max_nb_ticks(),
            50_000_000_000_000
        );
    }

    /// A crafted state cannot make the tick or reboot arithmetic wrap: `max_nb_ticks = 0` and
    /// `maximum_reboots_per_input = 2^128 - 1` are refused when decoded or at genesis.
    #[test]
    fn tick_and_reboot_bounds_are_validated() {
        let genesis = PvmState::genesis(PvmVersion::V6, b"k", &GenesisParams::default()).unwrap();
        let tree = genesis.to_tree().unwrap();
        assert!(PvmState::from_tree(&tree).is_ok());
        let with = |path: &[&str], v: u128| {
            let mut t = tree.clone();
            t.set_contents(path, enc::n(v)).unwrap();
            PvmState::from_tree(&t).map(|_| ())
        };
        let err = with(&["pvm", "max_nb_ticks"], 0).unwrap_err().to_string();
        assert!(err.contains("max_nb_ticks"), "{err}");
        let err = with(&["pvm", "maximum_reboots_per_input"], u128::MAX)
            .unwrap_err()
            .to_string();
        assert!(err.contains("maximum_reboots_per_input"), "{err}");
        assert!(with(&["pvm", "maximum_reboots_per_input"], u128::MAX - 1).is_ok());
        let params = |ticks, reboots| GenesisParams {
            ticks_per_snapshot: ticks,
            maximum_reboots_per_input: reboots,
            ..GenesisParams::default()
        };
        assert!(PvmState::genesis(PvmVersion::V6, b"k", &params(0, 10)).is_err());
        assert!(PvmState::genesis(PvmVersion::V6, b"k", &params(1, u128::MAX)).is_err());
        assert!(PvmState::genesis(PvmVersion::V6, b"k", &params(1, 10)).is_ok());
    }

    #[test]
    fn ocaml_string_quoting() {
        assert_eq!(ocaml_quoted("a b"), r#""a b""#);
        assert_eq!(
            ocaml_quoted("q\"\\\n\t\r\u{8}\u{1}\u{7f}é"),
            r#""q\"\\\n\t\r\b\001\127\195\169""#
        );
    }
}
