//! The profiler's call graph and its outputs, as Octez's `src/lib_wasm_debugger/profiling.ml`
//! builds and prints them (`profile`): pure; the session feeds it one event per tick state.
//!
//! Rules: a call opens a node at the current tick; the caller's own ticks stop counting
//! until the callee ends; an end closes the current node (its ticks are its own ticks, not
//! its callees') and resumes the caller; an end at the top level does nothing. The phases of
//! a `kernel_run` window are top-level nodes `%interpreter(decode)`, `%interpreter(link)`,
//! `%interpreter(init)` and `kernel_run`. At each `Snapshot` or `Collect` the top level is
//! closed as one `kernel_run` result (`None`, "inconsistent", when a call is still open).
//! Time (wall clock, optional) is attributed the same way as ticks.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::symbols::Symbols;

/// What a node stands for (`function_call`, printed by `pp_call`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A named function (a symbol, or `kernel_run`).
    Function(String),
    /// `call x` of a function without symbol: `function[x]`.
    Direct(i32),
    /// `call_indirect x …`: `function_ref[x]`.
    Ref(i32),
    /// A phase of the PVM: `%interpreter(<phase>)`.
    Internal(&'static str),
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Function(s) => write!(f, "{s}"),
            Call::Direct(i) => write!(f, "function[{i}]"),
            Call::Ref(i) => write!(f, "function_ref[{i}]"),
            Call::Internal(s) => write!(f, "%interpreter({s})"),
        }
    }
}

/// A finished call: its own ticks and time, and its callees in call order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The call.
    pub call: Call,
    /// Ticks spent in the call itself.
    pub ticks: u128,
    /// Time spent in the call itself (`None` without time).
    pub time: Option<Duration>,
    /// Callees.
    pub children: Vec<Node>,
}

/// A call still running.
#[derive(Debug)]
struct Open {
    call: Call,
    ticks: u128,
    time: Option<Duration>,
    resumed_tick: u128,
    resumed_time: Option<Duration>,
    children: Vec<Node>,
}

impl Open {
    fn pause(&mut self, tick: u128, time: Option<Duration>) {
        self.ticks = self
            .ticks
            .saturating_add(tick.saturating_sub(self.resumed_tick));
        self.time = add_time(self.time, sub_time(time, self.resumed_time));
    }
}

fn sub_time(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    Some(a?.saturating_sub(b?))
}

fn add_time(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    Some(a?.saturating_add(b?))
}

/// One `kernel_run` window's top-level nodes, or `None` when its graph is inconsistent.
pub type Run = Option<Vec<Node>>;

/// The profiler state (`Profiling.State`).
#[derive(Debug)]
pub struct Profiler {
    symbols: Symbols,
    with_time: bool,
    top: Vec<Node>,
    stack: Vec<Open>,
    runs: Vec<Run>,
}

/// An event of a tick state, as [`wasm_interp::CallEvent`] plus the window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call-stack change.
    Call(wasm_interp::CallEvent),
    /// A `Snapshot` or `Collect` state: the window's graph is complete.
    WindowEnd,
}

impl Profiler {
    /// A profiler naming functions with `symbols`; time is recorded when `with_time`.
    #[must_use]
    pub fn new(symbols: Symbols, with_time: bool) -> Self {
        Self {
            symbols,
            with_time,
            top: Vec::new(),
            stack: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn open(&mut self, call: Call, tick: u128, time: Option<Duration>) {
        if let Some(cur) = self.stack.last_mut() {
            cur.pause(tick, time);
        }
        self.stack.push(Open {
            call,
            ticks: 0,
            time: time.map(|_| Duration::ZERO),
            resumed_tick: tick,
            resumed_time: time,
            children: Vec::new(),
        });
    }

    fn close(&mut self, tick: u128, time: Option<Duration>) {
        let Some(mut cur) = self.stack.pop() else {
            return;
        };
        cur.pause(tick, time);
        let node = Node {
            call: cur.call,
            ticks: cur.ticks,
            time: cur.time,
            children: cur.children,
        };
        match self.stack.last_mut() {
            Some(parent) => {
                parent.resumed_tick = tick;
                parent.resumed_time = time;
                parent.children.push(node);
            }
            None => self.top.push(node),
        }
    }

    /// Applies the event of the state reached at `tick`, `time` (since any fixed origin; ignored
    /// without time).
    pub fn on_event(&mut self, event: Event, tick: u128, time: Duration) {
        let time = self.with_time.then_some(time);
        use wasm_interp::CallEvent as E;
        match event {
            Event::Call(E::DecodeStart) => self.open(Call::Internal("decode"), tick, time),
            Event::Call(E::DecodeStop) => {
                self.close(tick, time);
                self.open(Call::Internal("link"), tick, time);
            }
            Event::Call(E::LinkDone) => {
                self.close(tick, time);
                self.open(Call::Internal("init"), tick, time);
            }
            Event::Call(E::InitStop) => {
                self.close(tick, time);
                self.open(Call::Function("kernel_run".into()), tick, time);
            }
            Event::Call(E::Call(x)) => {
                let call = match self.symbols.get(&x) {
                    Some(s) => Call::Function(s.clone()),
                    None => Call::Direct(x),
                };
                self.open(call, tick, time);
            }
            Event::Call(E::CallIndirect(x)) => self.open(Call::Ref(x), tick, time),
            Event::Call(E::FrameEnd | E::HostEnd) => self.close(tick, time),
            Event::WindowEnd => {
                let top = std::mem::take(&mut self.top);
                if self.stack.is_empty() {
                    self.runs.push(Some(top));
                } else {
                    self.stack.clear();
                    self.runs.push(None);
                }
            }
        }
    }

    /// The finished `kernel_run` windows, in order.
    #[must_use]
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }
}

/// Nodes deeper than this are left out of the flamegraph (Octez's `max_depth:100`).
pub const MAX_DEPTH: usize = 100;

fn flame_lines(prefix: &str, depth: usize, nodes: &[Node], out: &mut Vec<(String, u128)>) {
    if depth > MAX_DEPTH {
        return;
    }
    for n in nodes {
        let name = if prefix.is_empty() {
            n.call.to_string()
        } else {
            format!("{prefix};{}", n.call)
        };
        out.push((name.clone(), n.ticks));
        flame_lines(&name, depth.saturating_add(1), &n.children, out);
    }
}

/// The flamegraph file (`produce_flamegraph`): per consistent window, one `stack ticks` line
/// per node in call order (each line ends with a newline); collapsed, the ticks of identical
/// stacks summed, sorted by stack, the lines separated by newlines with none after the last
/// one. Deviation: Octez prints consecutive collapsed windows without separator (the last
/// line of one and the first of the next on the same line); a newline separates them here,
/// so that the file stays in the flamegraph format.
#[must_use]
pub fn flamegraph(runs: &[Run], collapsed: bool) -> String {
    let mut out = String::new();
    for run in runs.iter().flatten() {
        if collapsed && !out.is_empty() && !run.is_empty() {
            out.push('\n');
        }
        let mut lines = Vec::new();
        flame_lines("", 0, run, &mut lines);
        if collapsed {
            let mut merged: BTreeMap<String, u128> = BTreeMap::new();
            for (k, t) in lines {
                let e = merged.entry(k).or_insert(0);
                *e = e.saturating_add(t);
            }
            let text: Vec<String> = merged.iter().map(|(k, t)| format!("{k} {t}")).collect();
            out.push_str(&text.join("\n"));
        } else {
            for (k, t) in lines {
                out.push_str(&format!("{k} {t}\n"));
            }
        }
    }
    out
}

fn total(node: &Node) -> (u128, Option<Duration>) {
    node.children
        .iter()
        .fold((node.ticks, node.time), |(t, d), c| {
            let (ct, cd) = total(c);
            (t.saturating_add(ct), add_time(d, cd))
        })
}

/// `Ptime.Span.pp`-like rendering of a duration (approximation: three significant digits in
/// the largest unit among ns, μs, ms, s; minutes, hours and days above a minute).
#[must_use]
pub fn pp_span(d: Duration) -> String {
    let ns = d.as_nanos();
    let sig = |v: f64, unit: &str| {
        let s = if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
        format!("{s}{unit}")
    };
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let f = ns as f64;
    let secs = d.as_secs();
    if ns == 0 {
        "0s".to_owned()
    } else if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        sig(f / 1e3, "μs")
    } else if ns < 1_000_000_000 {
        sig(f / 1e6, "ms")
    } else if secs < 60 {
        sig(f / 1e9, "s")
    } else if secs < 3600 {
        format!("{}min{}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h{}min", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d{}h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

fn pp_time(t: Option<Duration>) -> String {
    t.map(|d| format!(" ({})", pp_span(d))).unwrap_or_default()
}

/// The summary of one window (`profiling_results`): each top-level phase with the ticks (and
/// time) of its whole subtree, then their sum.
#[must_use]
pub fn run_summary(run: &Run) -> String {
    let Some(nodes) = run else {
        return "----------------------\nThe resulting call graph is inconsistent for this \
                specific `kernel_run`, please open an issue.\n"
            .to_owned();
    };
    let mut lines = Vec::new();
    let (mut all_ticks, mut all_time) = (0u128, Some(Duration::ZERO));
    for n in nodes {
        let (t, d) = total(n);
        lines.push(format!("{}: {t} ticks{}", n.call, pp_time(d)));
        all_ticks = all_ticks.saturating_add(t);
        all_time = add_time(all_time, d);
    }
    format!(
        "----------------------\nDetailed results for a `kernel_run`:\n{}\n\nFull execution: \
         {all_ticks} ticks{}\n",
        lines.join("\n"),
        pp_time(all_time)
    )
}

/// The flamegraph file name (`wasm-debugger-profiling-<RFC 3339 time, ms, -00:00>.out`).
#[must_use]
pub fn file_name(unix: Duration) -> String {
    let secs = i64::try_from(unix.as_secs()).unwrap_or(i64::MAX);
    let stamp = crate::session::pp_timestamp(secs);
    let stamp = stamp.trim_end_matches('Z');
    format!(
        "wasm-debugger-profiling-{stamp}.{:03}-00:00.out",
        unix.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_interp::CallEvent as E;

    /// Octez's example (`profiling.ml` prelude): f calls g at 10, g calls h at 30, h ends at
    /// 60, g ends at 100, f ends at 160 → f 70, g 60, h 30.
    #[test]
    fn nested_calls_count_own_ticks() {
        let mut symbols = Symbols::new();
        symbols.insert(0, "f".into());
        symbols.insert(1, "g".into());
        let mut p = Profiler::new(symbols, false);
        let z = Duration::ZERO;
        p.on_event(Event::Call(E::Call(0)), 0, z);
        p.on_event(Event::Call(E::Call(1)), 10, z);
        p.on_event(Event::Call(E::Call(2)), 30, z);
        p.on_event(Event::Call(E::HostEnd), 60, z);
        p.on_event(Event::Call(E::FrameEnd), 100, z);
        p.on_event(Event::Call(E::FrameEnd), 160, z);
        p.on_event(Event::Call(E::FrameEnd), 170, z); // top level: no effect
        p.on_event(Event::WindowEnd, 200, z);
        let runs = p.runs().to_vec();
        assert_eq!(
            flamegraph(&runs, false),
            "f 70\nf;g 60\nf;g;function[2] 30\n"
        );
        assert_eq!(
            run_summary(&runs[0]),
            "----------------------\nDetailed results for a `kernel_run`:\nf: 160 ticks\n\n\
             Full execution: 160 ticks\n"
        );
        // An open call at the window end: inconsistent.
        p.on_event(Event::Call(E::CallIndirect(0)), 0, z);
        p.on_event(Event::WindowEnd, 5, z);
        assert_eq!(p.runs()[1], None);
        assert!(run_summary(&p.runs()[1]).contains("inconsistent"));
    }

    #[test]
    fn phases_and_collapsing() {
        let mut p = Profiler::new(Symbols::new(), true);
        let ms = Duration::from_millis;
        p.on_event(Event::Call(E::DecodeStart), 1, ms(0));
        p.on_event(Event::Call(E::DecodeStop), 11, ms(1));
        p.on_event(Event::Call(E::LinkDone), 13, ms(2));
        p.on_event(Event::Call(E::InitStop), 20, ms(3));
        p.on_event(Event::Call(E::Call(3)), 25, ms(4));
        p.on_event(Event::Call(E::HostEnd), 27, ms(5));
        p.on_event(Event::Call(E::Call(3)), 30, ms(6));
        p.on_event(Event::Call(E::HostEnd), 31, ms(7));
        p.on_event(Event::Call(E::FrameEnd), 40, ms(8));
        p.on_event(Event::WindowEnd, 50, ms(9));
        let runs = p.runs().to_vec();
        let one = "%interpreter(decode) 10\n%interpreter(init) 7\n%interpreter(link) 2\n\
                   kernel_run 17\nkernel_run;function[3] 3";
        assert_eq!(flamegraph(&runs, true), one);
        let empty = Some(Vec::new());
        let three = [runs[0].clone(), empty, None, runs[0].clone()];
        assert_eq!(flamegraph(&three, true), format!("{one}\n{one}"));
        assert_eq!(flamegraph(&three[1..3], false), "");
        let s = run_summary(&runs[0]);
        assert!(s.contains("%interpreter(decode): 10 ticks (1ms)\n"), "{s}");
        assert!(s.contains("kernel_run: 20 ticks (5ms)\n"), "{s}");
        assert!(s.ends_with("Full execution: 39 ticks (8ms)\n"), "{s}");
    }

    #[test]
    fn spans_and_file_name() {
        assert_eq!(pp_span(Duration::from_nanos(999)), "999ns");
        assert_eq!(pp_span(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(pp_span(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(pp_span(Duration::from_secs(61)), "1min1s");
        assert_eq!(
            file_name(Duration::from_millis(1_700_000_000_123)),
            "wasm-debugger-profiling-2023-11-14T22:13:20.123-00:00.out"
        );
    }
}
