//! A debugging session: the PVM state, the engine, the reveal channel, the pending
//! inboxes, and the execution of REPL commands with Octez's output
//! (`src/lib_wasm_debugger/commands.ml`; `wasm-pvm.md` §10.1).
//!
//! Two ways to run the kernel. The fast path (`step kernel_run`, `step inbox`) runs a whole
//! `kernel_run` at once on a [`PvmState`], with reveals answered inline. The tick commands
//! (`step tick`, `step <n> ticks`, `step result`) run Octez's ticks one at a time on the state
//! tree (`pvm_tick::compute_step`, with the small-step interpreter `wasm-interp` for
//! `Decode`, `Link`, `Init` and `Eval`; `docs/reference/wasm-ticks.md` §1.1); `show memory`
//! reads memory 0 of the instance in `Init`/`Eval` (§2.7). After ticks, the session goes back
//! to the fast path's state as soon as the tick state is one it represents (`Snapshot`,
//! `Padding`, `Collect`, `Stuck`); inside an interpreter state the fast-path commands are
//! refused. At a reveal tick, `step tick` stops (`show status` prints `Waiting for reveal: …`)
//! and `reveal preimage [<hex>]` / `reveal metadata` answer it; `step result` answers reveals
//! itself (Octez's reveal builtins).
//!
//! `profile` runs the inbox tick by tick on the state tree (reveals answered by the session's
//! handler, top-level padding in bulk), feeding [`crate::profiler`] the call events of every
//! state reached (`wasm_interp::call_event`), then writes the flamegraph file in the
//! flamecharts directory and prints Octez's summaries (`commands.ml` `eval_and_profile`,
//! `produce_flamegraph`, `profiling_results`). The tick commands print the kernel's debug
//! output as the fast path does; with it on, `profile` interprets the kernel's
//! `__wasm_debugger__::start_section(…)`/`end_section(…)` messages (`profiling.ml`
//! `State`): an end prints the ticks since the matching start.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use durable_tree::Tree;
use durable_tree::durable::Key;
use preimages::{PreimageError, RevealHash, RevealRequest, Revealer};
use pvm_tick::{EvalEnd, MemoryError, TickTag};
use tezos_types::{BlockHash, ContractHash, PublicKeyHash, SmartRollupAddress};
use wasm_pvm::{
    DebugSink, KernelEngine, PvmState, RevealError, RevealHandler, Status, StuckError, TickState,
};

use crate::commands::{Command, HELP, ProfileOptions, StepKind, parse_command, show_value};
use crate::inputs::wrap_level;
use crate::profiler::{Event, Profiler};
use crate::symbols::{Symbols, dump, function_symbols};

/// `write_debug` output printed on standard output as is (Octez prints `%s%!`).
#[derive(Debug, Default)]
pub struct StdoutSink;

impl DebugSink for StdoutSink {
    fn debug(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
}

/// Reveals for the debugger: the pre-image store, then (like Octez) a prompt asking
/// for the hex pre-image on standard input, 3 tries.
/// DAL pages are read from `<dal-pages-dir>/<published level>-<slot index>-<page index>`, or
/// asked on standard input; DAL parameters are refused (Octez `commands.ml` `reveals`).
#[derive(Debug)]
pub struct DebuggerReveals {
    revealer: Revealer,
    dal_pages_dir: PathBuf,
}

const PROMPT_RETRIES: u32 = 3;

impl DebuggerReveals {
    /// Wraps a revealer; DAL pages come from `dal_pages_dir`.
    #[must_use]
    pub fn new(revealer: Revealer, dal_pages_dir: PathBuf) -> Self {
        Self {
            revealer,
            dal_pages_dir,
        }
    }

    /// The underlying revealer.
    #[must_use]
    pub fn revealer(&self) -> &Revealer {
        &self.revealer
    }

    fn prompt(&self, hash: &RevealHash, err: &PreimageError) -> Result<Vec<u8>, RevealError> {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{err}");
        drop(out);
        self.ask(
            "Preimage",
            &hash.to_hex(),
            &self.revealer.store().dir().display().to_string(),
        )
    }

    /// A DAL page from its file, else from standard input (`request_dal_page`).
    fn dal_page(&self, level: i32, slot: u8, page: i16) -> Result<Vec<u8>, RevealError> {
        let name = format!("{level}-{slot}-{page}");
        match std::fs::read(self.dal_pages_dir.join(&name)) {
            Ok(data) => Ok(data),
            Err(_) => self.ask("DAL page", &name, &self.dal_pages_dir.display().to_string()),
        }
    }

    fn ask(&self, kind: &str, name: &str, dir: &str) -> Result<Vec<u8>, RevealError> {
        print_flush(&format!(
            "{kind} {name} not found in {dir}, or there was a reading error. Please provide it \
             manually.\n"
        ));
        for _ in 0..PROMPT_RETRIES {
            print_flush("> ");
            let mut line = String::new();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match hex::decode(line.trim_end_matches(['\n', '\r'])) {
                Ok(data) => return Ok(data),
                Err(_) => print_flush("Error: the data is not a valid hexadecimal value.\n"),
            }
        }
        Err(RevealError("Too many tries, aborting.".into()))
    }
}

impl RevealHandler for DebuggerReveals {
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
        match RevealRequest::decode(request) {
            RevealRequest::DalPage {
                published_level,
                slot_index,
                page_index,
            } => return self.dal_page(published_level, slot_index, page_index),
            RevealRequest::DalParameters => {
                return Err(RevealError(
                    "The kernel tried to request DAL parameters, but this is not yet supported \
                     by the debugger."
                        .into(),
                ));
            }
            _ => {}
        }
        match self.revealer.answer(request) {
            Ok(v) => Ok(v),
            Err(e) => match RevealRequest::decode(request) {
                RevealRequest::RawData(hash) => self.prompt(&hash, &e),
                _ => Err(RevealError(e.to_string())),
            },
        }
    }

    fn set_inbox_level(&mut self, level: u32) {
        self.revealer
            .set_inbox_level(i32::try_from(level).unwrap_or(i32::MAX));
    }
}

fn print_flush(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// State of one debugger run.
pub struct Session {
    state: PvmState,
    /// The state tree while the tick commands left the PVM in a state the fast path does not
    /// represent (`Decode`, `Link`, `Init`, `Eval`); `None`: `state` is the PVM's state.
    ticking: Option<Tree>,
    engine: Box<dyn KernelEngine>,
    reveals: DebuggerReveals,
    kernel_debug: bool,
    inboxes: VecDeque<Vec<Vec<u8>>>,
    level: u32,
    flamecharts_dir: PathBuf,
}

/// Whether the REPL goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// `stop`.
    Stop,
}

impl Session {
    /// A session over a genesis (or installed) `state`, with the inboxes still to load.
    #[must_use]
    pub fn new(
        state: PvmState,
        engine: Box<dyn KernelEngine>,
        reveals: DebuggerReveals,
        kernel_debug: bool,
        inboxes: Vec<Vec<Vec<u8>>>,
    ) -> Self {
        Self {
            state,
            ticking: None,
            engine,
            reveals,
            kernel_debug,
            inboxes: inboxes.into(),
            level: 0,
            flamecharts_dir: std::env::temp_dir(),
        }
    }

    /// Where `profile` writes its flamegraph files (default: the system's temporary
    /// directory, Octez's `--flamecharts-dir` default).
    pub fn set_flamecharts_dir(&mut self, dir: PathBuf) {
        self.flamecharts_dir = dir;
    }

    /// The PVM state.
    #[must_use]
    pub fn state(&self) -> &PvmState {
        &self.state
    }

    /// The state hash of the PVM now (the tree being ticked, or the fast path's state).
    pub fn state_hash(&self) -> Result<durable_tree::Hash, String> {
        self.tree()?.hash().map_err(|e| e.to_string())
    }

    /// Whether the session is inside an interpreter tick state (`Decode`, `Link`, `Init`,
    /// `Eval`), where only the tick commands run.
    #[must_use]
    pub fn in_interpreter_state(&self) -> bool {
        self.ticking.is_some()
    }

    /// Runs the REPL until `stop` or end of input. `read_line` appends one line to its
    /// buffer and returns the byte count (0 at end of input), like
    /// [`std::io::Stdin::read_line`]; it must not hold a lock on standard input between
    /// calls, because reveal prompts read from standard input too.
    pub fn repl(
        &mut self,
        read_line: &mut dyn FnMut(&mut String) -> std::io::Result<usize>,
    ) -> std::io::Result<()> {
        loop {
            print_flush("> ");
            let mut line = String::new();
            if read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if self.handle(line) == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Executes one command line.
    pub fn handle(&mut self, line: &str) -> Flow {
        let command = parse_command(line);
        self.run(command)
    }

    fn run(&mut self, command: Command) -> Flow {
        match command {
            Command::Time(c) => {
                let t = Instant::now();
                let flow = self.run(*c);
                print_flush(&format!("took {:?}\n", t.elapsed()));
                flow
            }
            Command::ShowInbox => {
                self.show_inbox();
                Flow::Continue
            }
            Command::ShowOutbox(level) => {
                self.show_outbox(level);
                Flow::Continue
            }
            Command::ShowStatus => {
                self.show_status();
                Flow::Continue
            }
            Command::ShowDurableStorage => {
                self.show_durable();
                Flow::Continue
            }
            Command::ShowSubkeys(path) => {
                self.show_subkeys(&path);
                Flow::Continue
            }
            Command::ShowKey(key, kind) => {
                let out = match Key::from_str_checked(&key) {
                    Err(_) => "Invalid key".to_owned(),
                    Ok(k) => match self.view().durable().read_all(&k) {
                        Ok(Some(v)) => show_value(kind, &v),
                        Ok(None) => "Key not found".to_owned(),
                        Err(e) => format!("Unknown exception: {e}"),
                    },
                };
                print_flush(&format!("{out}\n"));
                Flow::Continue
            }
            Command::ShowMemory(address, length, kind) => {
                self.show_memory(address, length, kind);
                Flow::Continue
            }
            Command::DumpFunctionSymbols => {
                match self.kernel_symbols() {
                    Ok(s) => print_flush(&dump(&s)),
                    Err(e) => print_flush(&format!("Error: {e}\n")),
                }
                Flow::Continue
            }
            Command::Profile(opts) => {
                self.profile(opts);
                Flow::Continue
            }
            Command::Step(kind) => {
                self.step(kind);
                Flow::Continue
            }
            Command::LoadInputs => {
                self.load_inputs();
                Flow::Continue
            }
            Command::RevealPreimage(hex) => {
                self.reveal_preimage(hex.as_deref());
                Flow::Continue
            }
            Command::RevealMetadata => {
                self.reveal_metadata();
                Flow::Continue
            }
            Command::Unknown(s) => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "Unknown command `{s}`");
                let _ = err.flush();
                Flow::Continue
            }
            Command::Help => {
                let mut text = String::new();
                for doc in HELP {
                    text.push_str("  ");
                    text.push_str(doc);
                    text.push('\n');
                }
                print_flush(&text);
                Flow::Continue
            }
            Command::Stop => Flow::Stop,
        }
    }

    fn show_status(&self) {
        let (status, internal) = match &self.ticking {
            Some(t) => tree_status(t),
            None => (
                match self.state.status() {
                    Status::InputRequired => "Waiting for input",
                    Status::Computing => "Evaluating",
                }
                .to_owned(),
                internal_status(self.state.tick_state()),
            ),
        };
        print_flush(&format!("Status: {status}\nInternal_status: {internal}\n"));
    }

    /// The state's tick state as Octez prints it (`pp_state`).
    fn internal(&self) -> String {
        match &self.ticking {
            Some(t) => tree_status(t).1,
            None => internal_status(self.state.tick_state()),
        }
    }

    /// The PVM's state for the read-only commands (inbox, outbox, durable storage): while
    /// ticking inside an interpreter state, the tree's buffers and durable storage (read as
    /// those of a `Padding` state: the tick state's payload is left out).
    fn view(&self) -> Cow<'_, PvmState> {
        let Some(t) = &self.ticking else {
            return Cow::Borrowed(&self.state);
        };
        let mut outer = t.clone();
        let patched = outer
            .set_contents(&["wasm", "tag"], b"\0\0\0\x07padding".to_vec())
            .and_then(|()| outer.remove(&["wasm", "value"]));
        match patched.ok().and_then(|()| PvmState::from_tree(&outer).ok()) {
            Some(s) => Cow::Owned(s),
            None => Cow::Borrowed(&self.state),
        }
    }

    /// The state as a tree: the one being ticked, or the fast path's.
    fn tree(&self) -> Result<Tree, String> {
        match &self.ticking {
            Some(t) => Ok(t.clone()),
            None => self.state.to_tree().map_err(|e| e.to_string()),
        }
    }

    /// Takes the tree reached by ticks: back to the fast path's state when it represents the
    /// tick state and gives the same state hash, else kept as a tree.
    fn adopt(&mut self, t: Tree) {
        let representable = matches!(
            pvm_tick::tick_tag(&t),
            Ok(TickTag::Snapshot | TickTag::Padding | TickTag::Collect | TickTag::Stuck)
        );
        if representable
            && let Ok(s) = PvmState::from_tree(&t)
            && let (Ok(a), Ok(b)) = (s.hash(), t.hash())
            && a == b
        {
            self.state = s;
            self.ticking = None;
            return;
        }
        self.ticking = Some(t);
    }

    /// `step tick`, `step <n> ticks`, `step result` on the state tree. On an error the state
    /// is unchanged.
    fn step_ticks(&mut self, kind: StepKind) {
        let before = match self.tree() {
            Ok(t) => t,
            Err(e) => {
                print_flush(&format!("Error: {e}\n"));
                return;
            }
        };
        let mut sink = StdoutSink;
        let debug: Option<&mut dyn DebugSink> = if self.kernel_debug {
            Some(&mut sink)
        } else {
            None
        };
        let r = match kind {
            StepKind::Ticks(n) => pvm_tick::compute_step_many_until_with_debug(
                &before,
                n,
                |t| Ok(!pvm_tick::is_input_state(t)?),
                debug,
            )
            .map(|(t, _)| t),
            StepKind::Result => match self.eval_to_result(&before) {
                Ok(t) => Ok(t),
                Err(e) => {
                    print_flush(&format!("Error: {e}\n"));
                    return;
                }
            },
            _ => match debug {
                Some(d) => pvm_tick::compute_step_with_debug(&before, d),
                None => pvm_tick::compute_step(&before),
            },
        };
        match r {
            Ok(after) => {
                let ticks = match (
                    pvm_tick::current_tick(&after),
                    pvm_tick::current_tick(&before),
                ) {
                    (Ok(a), Ok(b)) => a.saturating_sub(b),
                    _ => 0,
                };
                self.adopt(after);
                print_flush(&format!("Evaluation took {ticks} ticks so far\n"));
                self.show_status();
            }
            Err(e) if e.is_unsupported() => print_flush(&format!(
                "Error: the small-step interpreter cannot run this yet ({e}); the state is unchanged (internal status {}).\n",
                self.internal()
            )),
            Err(e) => print_flush(&format!("Error: {e}\n")),
        }
    }

    /// The reveal the tick state waits for (`Reveal_required`), if any.
    fn pending_reveal(&self) -> Option<Vec<u8>> {
        let t = self.ticking.as_ref()?;
        pvm_tick::reveal_request(t).ok().flatten()
    }

    /// The reveal tick answered with `payload` (`Wasm.reveal_step`); on an error the state is
    /// unchanged.
    fn answer_reveal(&mut self, payload: &[u8]) {
        let Some(t) = &self.ticking else { return };
        match pvm_tick::reveal_step(t, payload) {
            Ok(after) => self.adopt(after),
            Err(e) => print_flush(&format!("Error: {e}\n")),
        }
    }

    /// `reveal preimage [<hex>]` (Octez `commands.ml` `reveal_preimage`): in a raw-data reveal
    /// step, answers with the given bytes or, without them (or when they are not hex, as
    /// Octez's `Hex.to_bytes` gives nothing then), with the pre-image from the directory, the
    /// endpoint or the prompt; a failure to find it leaves the state unchanged.
    fn reveal_preimage(&mut self, hex_bytes: Option<&str>) {
        let Some(request) = self.pending_reveal() else {
            print_flush("Error: not a reveal step\n");
            return;
        };
        if !matches!(RevealRequest::decode(&request), RevealRequest::RawData(_)) {
            print_flush("Error: not the expected reveal step\n");
            return;
        }
        let given = hex_bytes.and_then(|h| hex::decode(h).ok());
        let payload = match given {
            Some(bytes) => bytes,
            None => match self.reveals.reveal(&request) {
                Ok(bytes) => bytes,
                Err(_) => return,
            },
        };
        self.answer_reveal(&payload);
    }

    /// `reveal metadata` (Octez `commands.ml` `reveal_metadata`): in a metadata reveal step,
    /// answers with the rollup's metadata (address ‖ origination level).
    fn reveal_metadata(&mut self) {
        let Some(request) = self.pending_reveal() else {
            print_flush("Error: Not in a reveal step\n");
            return;
        };
        if RevealRequest::decode(&request) != RevealRequest::Metadata {
            print_flush("Error: Not the expected reveal step\n");
            return;
        }
        match self.reveals.reveal(&request) {
            Ok(metadata) => self.answer_reveal(&metadata),
            Err(e) => print_flush(&format!("Error: {}\n", e.0)),
        }
    }

    /// `step result` (Octez `eval_to_result` with the debugger's reveal builtins): ticks until
    /// the evaluation ends (`SK_Result`/`SK_Trapped`) or an input is required, answering each
    /// reveal on the way (a reveal answer is one tick, `reveal_step`).
    fn eval_to_result(&mut self, start: &Tree) -> Result<Tree, String> {
        let err = |e: pvm_tick::TickError| e.to_string();
        let mut sink = StdoutSink;
        let mut debug: Option<&mut dyn DebugSink> = if self.kernel_debug {
            Some(&mut sink)
        } else {
            None
        };
        let mut t = start.clone();
        let mut stepped = false;
        loop {
            if let Some(request) = pvm_tick::reveal_request(&t).map_err(err)? {
                let answer = self.reveals.reveal(&request).map_err(|e| e.0)?;
                t = pvm_tick::reveal_step(&t, &answer).map_err(err)?;
                stepped = true;
                continue;
            }
            let done = pvm_tick::is_input_state(&t).map_err(err)?
                || pvm_tick::eval_end(&t).map_err(err)?.is_some();
            if done && stepped {
                return Ok(t);
            }
            // At least one tick, as Octez's `compute_step_many_until`; stops before a reveal.
            t = pvm_tick::compute_step_many_until_with_debug(
                &t,
                u64::MAX,
                |s| Ok(!pvm_tick::is_input_state(s)? && pvm_tick::eval_end(s)?.is_none()),
                debug.as_deref_mut(),
            )
            .map_err(err)?
            .0;
            stepped = true;
        }
    }

    /// `show memory at <address> for <length> bytes`: memory 0 of the instance, in `Init` or
    /// `Eval` only (Octez's `load_memory`).
    fn show_memory(&self, address: i32, length: usize, kind: crate::commands::ValueKind) {
        let cannot = || {
            format!(
                "Error: Cannot inspect memory during internal state {}\n",
                self.internal()
            )
        };
        let Some(t) = &self.ticking else {
            print_flush(&cannot());
            return;
        };
        let length = u64::try_from(length).unwrap_or(u64::MAX);
        let out = match pvm_tick::read_memory(t, i64::from(address), length) {
            Ok(bytes) => format!("{}\n", show_value(kind, &bytes)),
            Err(MemoryError::NoInstance) => cannot(),
            Err(e) => format!("Error: {e}\n"),
        };
        print_flush(&out);
    }

    /// The refusal of a fast-path command inside an interpreter tick state.
    fn refuse_fast_path(&self) -> bool {
        if self.ticking.is_none() {
            return false;
        }
        print_flush(&format!(
            "Error: the PVM is in the tick state {}, which the fast execution does not represent; use `step tick`, `step <n> ticks` or `step result` until a Snapshot, Padding, Collect or Stuck state first.\n",
            self.internal()
        ));
        true
    }

    /// `load inputs`: only when waiting for input; feeds the next inbox at the current
    /// level (SOL, IPL, messages, EOL) without evaluating.
    fn load_inputs(&mut self) -> bool {
        self.feed_next_inbox(true)
    }

    /// [`Self::load_inputs`]; the `Loaded …` line only when `report` (Octez's `profile`
    /// loads the inbox silently, `load_inputs_gen`).
    fn feed_next_inbox(&mut self, report: bool) -> bool {
        if self.refuse_fast_path() {
            return false;
        }
        if self.state.status() != Status::InputRequired {
            print_flush(
                "The PVM is not expecting inputs yet. You can `step inbox` to evaluate the current inbox.\n",
            );
            return false;
        }
        let Some(messages) = self.inboxes.pop_front() else {
            print_flush(&format!("No more inputs at level {}\n", self.level));
            return false;
        };
        let backup = self.state.clone();
        for (i, m) in wrap_level(&messages).iter().enumerate() {
            let counter = u64::try_from(i).unwrap_or(u64::MAX);
            if let Err(e) = self.state.set_input(self.level, counter, m) {
                self.state = backup;
                print_flush(&format!("Error: {e}\n"));
                return false;
            }
        }
        if report {
            print_flush(&format!(
                "Loaded {} inputs at level {}\n",
                messages.len(),
                self.level
            ));
        }
        self.level = self.level.saturating_add(1);
        true
    }

    fn step(&mut self, kind: StepKind) {
        let mut sink = StdoutSink;
        let debug: Option<&mut dyn DebugSink> = if self.kernel_debug {
            Some(&mut sink)
        } else {
            None
        };
        if matches!(kind, StepKind::Tick | StepKind::Ticks(_) | StepKind::Result) {
            self.step_ticks(kind);
            return;
        }
        if self.refuse_fast_path() {
            return;
        }
        let result = match kind {
            StepKind::Tick | StepKind::Ticks(_) | StepKind::Result => return,
            StepKind::KernelRun => {
                let backup = self.state.clone();
                let r = self
                    .state
                    .step_kernel_run(&mut *self.engine, &mut self.reveals, debug);
                if r.is_err() {
                    self.state = backup;
                }
                r
            }
            StepKind::Inbox => {
                if self.state.status() == Status::InputRequired {
                    self.load_inputs();
                }
                let backup = self.state.clone();
                let r = self
                    .state
                    .eval_until_input(&mut *self.engine, &mut self.reveals, debug);
                if r.is_err() {
                    self.state = backup;
                }
                r
            }
        };
        match result {
            Ok(ticks) => {
                print_flush(&format!("Evaluation took {ticks} ticks so far\n"));
                self.show_status();
            }
            Err(e) => print_flush(&format!("Error: {e}\n")),
        }
    }

    /// The function symbols of the kernel in the durable storage (`/kernel/boot.wasm`;
    /// `get_function_symbols`).
    fn kernel_symbols(&self) -> Result<Symbols, String> {
        let key = Key::from_str_checked(wasm_pvm::KERNEL_KEY).map_err(|e| format!("{e:?}"))?;
        let kernel = self
            .view()
            .durable()
            .read_all(&key)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no kernel at /kernel/boot.wasm".to_owned())?;
        function_symbols(&kernel)
    }

    /// `profile`: only from `Collect`, `Snapshot` or the first `Decode` state; loads the next
    /// inbox when waiting for input, then profiles up to the next input request (or the next
    /// `Snapshot` with `--no-reboot`).
    fn profile(&mut self, opts: ProfileOptions) {
        let symbols = match self.kernel_symbols() {
            Ok(s) => s,
            Err(e) => {
                print_flush(&format!("Error: {e}\n"));
                return;
            }
        };
        let profilable = match &self.ticking {
            None => matches!(
                self.state.tick_state(),
                TickState::Collect | TickState::Snapshot
            ),
            Some(t) => matches!(
                wasm_interp::call_event(t),
                Ok(Some(wasm_interp::CallEvent::DecodeStart))
            ),
        };
        if !profilable {
            print_flush(
                "Profiling can only be done from a snapshotable state or when waiting for input. You can `step kernel_run` to go to the next snapshotable state.\n",
            );
            return;
        }
        if self.ticking.is_none() && self.state.status() == Status::InputRequired {
            self.feed_next_inbox(false);
        }
        print_flush(
            "Starting the profiling until new messages are expected. Please note that it will take some time and does not reflect a real computation time.\n",
        );
        let mut profiler = Profiler::new(symbols, opts.with_time);
        let result = self
            .tree()
            .and_then(|t| self.profile_run(t, opts.no_reboot, &mut profiler));
        let (tree, ticks) = match result {
            Ok(r) => r,
            Err(e) => {
                print_flush(&format!("Error: {e}\n"));
                return;
            }
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let path = self.flamecharts_dir.join(crate::profiler::file_name(now));
        let graph = crate::profiler::flamegraph(profiler.runs(), opts.collapsed);
        match std::fs::write(&path, graph) {
            Ok(()) => print_flush(&format!(
                "Profiling result can be found in {}\n",
                path.display()
            )),
            Err(e) => print_flush(&format!("Error: {}: {e}\n", path.display())),
        }
        let mut out = String::new();
        for run in profiler.runs() {
            out.push_str(&crate::profiler::run_summary(run));
        }
        out.push_str(&format!(
            "----------------------\nFull execution with padding: {ticks} ticks\n"
        ));
        print_flush(&out);
        self.adopt(tree);
    }

    /// Runs from `start` tick by tick until an input (not a reveal) is required, or with
    /// `no_reboot` until a `Snapshot`, feeding `profiler` the events of every state reached
    /// (not the starting one, as Octez's `compute_step_many_until`). Returns the state reached
    /// and the ticks done.
    fn profile_run(
        &mut self,
        start: Tree,
        no_reboot: bool,
        profiler: &mut Profiler,
    ) -> Result<(Tree, u128), String> {
        let err = |e: pvm_tick::TickError| e.to_string();
        let clock = Instant::now();
        let first = pvm_tick::current_tick(&start).map_err(err)?;
        let mut t = start;
        let mut stepped = false;
        // Open `start_section` calls: the tick after the call and its data.
        let mut sections: Vec<(u128, Vec<u8>)> = Vec::new();
        loop {
            let tag = pvm_tick::tick_tag(&t).map_err(err)?;
            if stepped {
                let tick = pvm_tick::current_tick(&t).map_err(err)?;
                if let Some(e) = wasm_interp::call_event(&t).map_err(|e| e.to_string())? {
                    profiler.on_event(Event::Call(e), tick, clock.elapsed());
                }
                if matches!(tag, TickTag::Snapshot | TickTag::Collect) {
                    profiler.on_event(Event::WindowEnd, tick, clock.elapsed());
                }
                if no_reboot && tag == TickTag::Snapshot {
                    break;
                }
            }
            let reveal = pvm_tick::reveal_request(&t).map_err(err)?;
            if reveal.is_none() && pvm_tick::is_input_state(&t).map_err(err)? {
                break;
            }
            t = match reveal {
                Some(request) => {
                    let answer = self.reveals.reveal(&request).map_err(|e| e.0)?;
                    pvm_tick::reveal_step(&t, &answer).map_err(err)?
                }
                // Top-level padding in bulk, up to the window end.
                None if tag == TickTag::Padding => {
                    pvm_tick::compute_step_many_until(&t, u64::MAX, |s| {
                        Ok(pvm_tick::tick_tag(s)? == TickTag::Padding)
                    })
                    .map_err(err)?
                    .0
                }
                None if self.kernel_debug => {
                    let mut messages = Messages::default();
                    let next = pvm_tick::compute_step_with_debug(&t, &mut messages).map_err(err)?;
                    let tick = pvm_tick::current_tick(&next).map_err(err)?;
                    for m in messages.0 {
                        match debugger_call(&m) {
                            Some(DebuggerCall::StartSection(data)) => sections.push((tick, data)),
                            Some(DebuggerCall::EndSection(end)) => {
                                if let Some((start, data)) = sections.pop() {
                                    print_flush(&format!(
                                        "__wasm_debugger__::Section{{ticks:{};data:(0x{},0x{})}}\n",
                                        tick.saturating_sub(start),
                                        hex::encode(data),
                                        hex::encode(end)
                                    ));
                                }
                            }
                            None => StdoutSink.debug(&m),
                        }
                    }
                    next
                }
                None => pvm_tick::compute_step(&t).map_err(err)?,
            };
            stepped = true;
        }
        let last = pvm_tick::current_tick(&t).map_err(err)?;
        Ok((t, last.saturating_sub(first)))
    }

    fn show_inbox(&self) {
        let view = self.view();
        let buffer = view.input_buffer();
        let mut msgs: Vec<_> = buffer.entries().map(|(_, m)| m).collect();
        msgs.sort_by_key(|m| (m.level, m.counter));
        let body: Vec<String> = msgs
            .iter()
            .map(|m| {
                format!(
                    "{{ raw_level: {};\n  counter: {}\n  payload: {} }}",
                    m.level,
                    m.counter,
                    pp_input(&m.payload)
                )
            })
            .collect();
        print_flush(&format!(
            "Inbox has {} messages:\n{}\n",
            buffer.len(),
            body.join("\n")
        ));
    }

    fn show_outbox(&self, level: i32) {
        let view = self.view();
        let found = u32::try_from(level).ok().and_then(|l| view.outbox(l).ok());
        match found {
            None => print_flush(&format!("No outbox found at level {level}\n")),
            Some(msgs) => {
                let body: Vec<String> = msgs.iter().map(|m| pp_output(m)).collect();
                print_flush(&format!(
                    "Outbox has {} messages:\n{}\n",
                    msgs.len(),
                    body.join("\n")
                ));
            }
        }
    }

    /// `show durable storage`: every key (depth ≤ 10) in sorted order with its value
    /// in hex (empty when the key has no value).
    fn show_durable(&self) {
        let mut out = String::new();
        self.print_tree(&mut Vec::new(), 10, true, &mut out);
        print_flush(&out);
    }

    fn print_tree(&self, path: &mut Vec<String>, depth: usize, values: bool, out: &mut String) {
        let key_str = if path.is_empty() {
            String::new()
        } else {
            format!("/{}", path.join("/"))
        };
        let Ok(key) = Key::from_str_checked(&key_str) else {
            return;
        };
        let view = self.view();
        let durable = view.durable();
        if values {
            let value = durable.read_all(&key).ok().flatten().unwrap_or_default();
            out.push_str(&format!("/{}\n  {}\n", path.join("/"), hex::encode(value)));
        }
        if depth == 0 {
            return;
        }
        for sub in durable.subkeys(&key).unwrap_or_default() {
            path.push(sub);
            self.print_tree(path, depth - 1, values, out);
            path.pop();
        }
    }

    fn show_subkeys(&self, path: &str) {
        if !path.starts_with('/') {
            print_flush("Invalid path, it must start with '/'\n");
            return;
        }
        let steps: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let key_str = if steps.is_empty() {
            String::new()
        } else {
            format!("/{}", steps.join("/"))
        };
        let view = self.view();
        let durable = view.durable();
        let exists = Key::from_str_checked(&key_str)
            .ok()
            .filter(|k| durable.exists(k).unwrap_or(false) || steps.is_empty());
        match exists {
            None => print_flush(&format!(
                "The path /{} is not available in the durable storage\n",
                steps.join("/")
            )),
            Some(k) => {
                let mut out = String::new();
                for sub in durable.subkeys(&k).unwrap_or_default() {
                    out.push_str(&format!("/{sub}\n"));
                }
                print_flush(&out);
            }
        }
    }
}

/// `Status` and `Internal_status` of a state tree (`pp_input_request`, `pp_state`).
fn tree_status(t: &Tree) -> (String, String) {
    let input = match pvm_tick::reveal_request(t) {
        Ok(Some(request)) => format!("Waiting for reveal: {}", pp_reveal(&request)),
        _ if pvm_tick::is_input_state(t).unwrap_or(false) => "Waiting for input".into(),
        _ => "Evaluating".into(),
    };
    let internal = match pvm_tick::tick_tag(t) {
        Err(e) => format!("<unreadable: {e}>"),
        Ok(TickTag::Decode) => "Decode".into(),
        Ok(TickTag::Link) => "Link".into(),
        Ok(TickTag::Init) => "Init".into(),
        Ok(TickTag::Eval) => match pvm_tick::eval_end(t) {
            Ok(Some(EvalEnd::Result)) => "Evaluation succeeded".into(),
            Ok(Some(EvalEnd::Trapped(m))) => format!("Evaluation failed ({m})"),
            _ => "Eval".into(),
        },
        Ok(TickTag::Snapshot) => "Snapshot".into(),
        Ok(TickTag::Collect) => "Collect".into(),
        Ok(TickTag::Padding) => "Padding".into(),
        Ok(TickTag::Stuck) => match t
            .get_contents(&["wasm", "value"])
            .ok()
            .flatten()
            .and_then(|b| StuckError::decode(&b))
        {
            Some(e) => format!("Stuck ({})", pp_stuck(&e)),
            None => "Stuck".into(),
        },
    };
    (input, internal)
}

/// The `write_debug` messages of one tick.
#[derive(Default)]
struct Messages(Vec<Vec<u8>>);

impl DebugSink for Messages {
    fn debug(&mut self, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
    }
}

/// A profiler call a kernel makes through `write_debug` (`profiling.ml` `debug_call`).
#[derive(Debug, PartialEq, Eq)]
enum DebuggerCall {
    StartSection(Vec<u8>),
    EndSection(Vec<u8>),
}

/// The first match of Octez's `__wasm_debugger__::(\w*)\(([\x00-\xff]*)\)` in `message`
/// (anywhere in it; the data runs to the last `)`), if its name is `start_section` or
/// `end_section`.
fn debugger_call(message: &[u8]) -> Option<DebuggerCall> {
    const PREFIX: &[u8] = b"__wasm_debugger__::";
    let mut from = 0;
    while let Some(i) = find(&message[from..], PREFIX) {
        let name_start = from + i + PREFIX.len();
        let rest = &message[name_start..];
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let after = &rest[name_len..];
        if let (Some(b'('), Some(close)) = (after.first(), after.iter().rposition(|b| *b == b')'))
            && close >= 1
        {
            let data = after[1..close].to_vec();
            return match &rest[..name_len] {
                b"start_section" => Some(DebuggerCall::StartSection(data)),
                b"end_section" => Some(DebuggerCall::EndSection(data)),
                _ => None,
            };
        }
        from = name_start;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A reveal request as Octez prints it (`sc_rollup_PVM_sig.ml` `pp_reveal`).
fn pp_reveal(request: &[u8]) -> String {
    match RevealRequest::decode(request) {
        RevealRequest::RawData(hash) => {
            tezos_types::hash::RevealHash::from_slice(&hash.as_bytes()[1..])
                .map_or_else(|| hash.to_hex(), |h| h.to_b58check())
        }
        RevealRequest::Metadata => "Reveal metadata".into(),
        RevealRequest::DalPage {
            published_level,
            slot_index,
            page_index,
        } => format!(
            "DAL:(published_level: {published_level}, slot_index: {slot_index}, page_index: {page_index})"
        ),
        RevealRequest::DalParameters => "Reveal DAL parameters".into(),
        RevealRequest::Malformed => format!("malformed reveal {}", hex::encode(request)),
    }
}

/// `pp_state`: the internal tick state.
fn internal_status(state: &TickState) -> String {
    match state {
        TickState::Collect => "Collect".into(),
        TickState::Snapshot => "Snapshot".into(),
        TickState::Padding => "Padding".into(),
        TickState::Stuck(e) => format!("Stuck ({})", pp_stuck(e)),
    }
}

/// `pp_interpreter_error` (`src/lib_scoru_wasm/helpers/wasm_utils_functor.ml`).
fn pp_interp(name: &str, raw: &str, expl: &Option<String>) -> String {
    let expl = match expl {
        Some(x) => format!("Some: {x}"),
        None => "None".to_owned(),
    };
    format!("{name} {{ raw_exception: {raw}; explanation: {expl} }}")
}

/// `pp_error_state` (`wasm_utils_functor.ml`); the cause of `No_fallback_kernel` is printed
/// with `pp_fallback_cause` (`Decode_cause`, `Link_cause`, `Init_cause`).
fn pp_stuck(e: &StuckError) -> String {
    match e {
        StuckError::Decode(r, x) => pp_interp("Decode_error", r, x),
        StuckError::Link(m) => format!("Link_error {m}"),
        StuckError::Init(r, x) => pp_interp("Init_error", r, x),
        StuckError::Eval(r, x) => pp_interp("Eval_error", r, x),
        StuckError::InvalidState(m) => format!("Invalid_state ({m})"),
        StuckError::Unknown(m) => format!("Unknown_error ({m})"),
        StuckError::TooManyTicks => "Too_many_ticks".into(),
        StuckError::TooManyReboots => "Too_many_reboots".into(),
        StuckError::NoFallbackKernel(c) => {
            let cause = match c.as_ref() {
                StuckError::Decode(r, x) => pp_interp("Decode_cause", r, x),
                StuckError::Link(m) => format!("Link_cause {m}"),
                StuckError::Init(r, x) => pp_interp("Init_cause", r, x),
                other => pp_stuck(other),
            };
            format!("No_fallback_kernel ({cause})")
        }
    }
}

/// `Messages.pp_input`: inbox message pretty-printing.
fn pp_input(payload: &[u8]) -> String {
    match payload {
        [0, 1] => "Start_of_level".into(),
        [0, 2] => "End_of_level".into(),
        [0, 3, rest @ ..] if rest.len() == 40 => {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&rest[..8]);
            let mut bh = [0u8; 32];
            bh.copy_from_slice(&rest[8..]);
            format!(
                "Info_per_level {{predecessor_timestamp = {}; predecessor = {}}}",
                pp_timestamp(i64::from_be_bytes(ts)),
                BlockHash::new(bh).to_b58check()
            )
        }
        [0, 4, l0, l1, l2, l3, name @ ..]
            if usize::try_from(u32::from_be_bytes([*l0, *l1, *l2, *l3])).ok()
                == Some(name.len()) =>
        {
            format!("Protocol_migration {}", String::from_utf8_lossy(name))
        }
        [0, 0, rest @ ..] if rest.len() >= 61 => {
            let (micheline, tail) = rest.split_at(rest.len() - 61);
            let sender = ContractHash::from_slice(&tail[..20]);
            let source =
                PublicKeyHash::from_tag(tail[20], tail[21..41].try_into().unwrap_or([0; 20]));
            let dest = SmartRollupAddress::from_slice(&tail[41..]);
            match (sender, source, dest) {
                (Some(s), Some(src), Some(d)) => format!(
                    "{{ \"internal_inbox_message\":\n    {{ \"kind\": \"transfer\", \"payload\": \"0x{}\",\n      \"sender\": \"{}\", \"source\": \"{}\",\n      \"destination\": \"{}\" }} }}",
                    hex::encode(micheline),
                    s.to_b58check(),
                    src.to_b58check(),
                    d.to_b58check()
                ),
                _ => format!("Unknown encoding: {}", hex::encode(payload)),
            }
        }
        [1, rest @ ..] => hex::encode(rest),
        _ => format!("Unknown encoding: {}", hex::encode(payload)),
    }
}

/// Outbox message printing (approximation of `Sc_rollup.Outbox.Message.pp`: the
/// decoded kind and the raw bytes).
fn pp_output(msg: &[u8]) -> String {
    match msg.first() {
        Some(0) => format!("Atomic transaction batch: {}", hex::encode(msg)),
        Some(1) => format!("Atomic transaction batch typed: {}", hex::encode(msg)),
        Some(2) => format!("Whitelist update: {}", hex::encode(msg)),
        _ => format!("Unknown encoding: {}", hex::encode(msg)),
    }
}

/// RFC 3339 UTC text of Unix seconds (Tezos `Time.Protocol` printing).
pub(crate) fn pp_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debugger_calls_are_read_as_octez_s_regex_reads_them() {
        use DebuggerCall::{EndSection, StartSection};
        assert_eq!(
            debugger_call(b"__wasm_debugger__::start_section(ab)"),
            Some(StartSection(b"ab".to_vec()))
        );
        // Anywhere in the message; the data runs to the last `)`; any byte in it.
        assert_eq!(
            debugger_call(b"x __wasm_debugger__::end_section(a)\x00)b) y"),
            Some(EndSection(b"a)\x00)b".to_vec()))
        );
        assert_eq!(
            debugger_call(b"__wasm_debugger__::start_section()"),
            Some(StartSection(vec![]))
        );
        // A first occurrence without `(` does not hide a later call.
        assert_eq!(
            debugger_call(b"__wasm_debugger__::x __wasm_debugger__::end_section(1)"),
            Some(EndSection(b"1".to_vec()))
        );
        for other in [
            &b"__wasm_debugger__::other(1)"[..],
            b"__wasm_debugger__::start_section(1",
            b"__wasm_debugger__::start_section",
            b"wasm_debugger::start_section(1)",
            b"",
        ] {
            assert_eq!(debugger_call(other), None, "{other:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(pp_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(pp_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn stuck_printing_is_octez_pp_error_state() {
        assert_eq!(
            pp_stuck(&StuckError::Eval("Trap".into(), Some("unreachable".into()))),
            "Eval_error { raw_exception: Trap; explanation: Some: unreachable }"
        );
        assert_eq!(
            pp_stuck(&StuckError::Init("E".into(), None)),
            "Init_error { raw_exception: E; explanation: None }"
        );
        assert_eq!(
            pp_stuck(&StuckError::NoFallbackKernel(Box::new(StuckError::Link(
                "Unexpected import: smart_rollup_core.reveal".into()
            )))),
            "No_fallback_kernel (Link_cause Unexpected import: smart_rollup_core.reveal)"
        );
    }

    #[test]
    fn inputs_printing() {
        assert_eq!(pp_input(&[0, 1]), "Start_of_level");
        assert_eq!(pp_input(&[0, 2]), "End_of_level");
        assert_eq!(pp_input(&[1, 0xab]), "ab");
        assert!(
            pp_input(&crate::inputs::info_per_level_epoch()).starts_with(
                "Info_per_level {predecessor_timestamp = 1970-01-01T00:00:00Z; predecessor = B"
            )
        );
        assert_eq!(pp_input(&[7]), "Unknown encoding: 07");
    }
}
