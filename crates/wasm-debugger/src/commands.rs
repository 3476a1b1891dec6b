//! REPL command syntax, help text and value printing, as in Octez
//! `src/lib_wasm_debugger/commands.ml` and `repl_helpers.ml` (`wasm-pvm.md` §10.1).

/// How far a `step` command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// One tick.
    Tick,
    /// Up to the end of `kernel_run` (memory not flushed yet).
    Result,
    /// Up to the end of the current `kernel_run` window.
    KernelRun,
    /// Until input is requested (loads the next inbox first if waiting for input).
    Inbox,
    /// `step <n> ticks` (not in Octez): `n` ticks, stopping early where input is required.
    Ticks(u64),
}

/// `profile` options (`parse_profile_options`; default: not collapsed, with time, whole
/// inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileOptions {
    /// `--collapsed`: identical stacks merged in the flamegraph file.
    pub collapsed: bool,
    /// Not `--without-time`: wall-clock time recorded per call.
    pub with_time: bool,
    /// `--no-reboot`: one `kernel_run` window only.
    pub no_reboot: bool,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        Self {
            collapsed: false,
            with_time: true,
            no_reboot: false,
        }
    }
}

fn parse_profile_options(opts: &[&str]) -> Option<ProfileOptions> {
    opts.iter()
        .try_fold(ProfileOptions::default(), |o, opt| match *opt {
            "--collapsed" => Some(ProfileOptions {
                collapsed: true,
                ..o
            }),
            "--without-time" => Some(ProfileOptions {
                with_time: false,
                ..o
            }),
            "--no-reboot" => Some(ProfileOptions {
                no_reboot: true,
                ..o
            }),
            _ => None,
        })
}

/// How a value is printed by `show key` / `show memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Lowercase hex.
    Hex,
    /// Raw bytes as text.
    String,
    /// Little-endian unsigned integer of 2 bytes.
    U16,
    /// Little-endian unsigned integer of 4 bytes (Octez prints it unsigned).
    I32,
    /// Little-endian unsigned integer of 8 bytes (Octez prints it unsigned).
    I64,
    /// Little-endian unsigned integer of 16 bytes.
    U128,
    /// Little-endian unsigned integer of 32 bytes.
    U256,
}

impl ValueKind {
    fn integer_of_str(s: &str) -> Option<Self> {
        Some(match s {
            "uint16" | "u16" => Self::U16,
            "int32" | "i32" => Self::I32,
            "int64" | "i64" => Self::I64,
            "uint128" | "u128" => Self::U128,
            "uint256" | "u256" => Self::U256,
            _ => return None,
        })
    }

    fn of_str(s: &str) -> Option<Self> {
        match s {
            "hex" => Some(Self::Hex),
            "string" => Some(Self::String),
            k => Self::integer_of_str(k),
        }
    }

    /// Byte length of an integer kind.
    #[must_use]
    pub fn length(self) -> Option<usize> {
        Some(match self {
            Self::U16 => 2,
            Self::I32 => 4,
            Self::I64 => 8,
            Self::U128 => 16,
            Self::U256 => 32,
            Self::Hex | Self::String => return None,
        })
    }

    fn short_name(self) -> &'static str {
        match self {
            Self::U16 => "u16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::U128 => "u128",
            Self::U256 => "u256",
            Self::Hex => "hex",
            Self::String => "string",
        }
    }
}

/// A REPL command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `time <command>`.
    Time(Box<Command>),
    /// `show inbox`.
    ShowInbox,
    /// `show outbox at level <level>`.
    ShowOutbox(i32),
    /// `show status`.
    ShowStatus,
    /// `show durable storage`.
    ShowDurableStorage,
    /// `show subkeys [path]` / `ls [path]`.
    ShowSubkeys(String),
    /// `show key <key> [as <kind>]`.
    ShowKey(String, ValueKind),
    /// `show memory at <address> for <length> bytes [as string]` / `… as <kind>`.
    ShowMemory(i32, usize, ValueKind),
    /// `dump function symbols`.
    DumpFunctionSymbols,
    /// `step <kind>`.
    Step(StepKind),
    /// `load inputs`.
    LoadInputs,
    /// `reveal preimage [<hex>]`.
    RevealPreimage(Option<String>),
    /// `reveal metadata`.
    RevealMetadata,
    /// `profile [options]`.
    Profile(ProfileOptions),
    /// Anything else (the raw line).
    Unknown(String),
    /// `help` / `man`.
    Help,
    /// `stop`.
    Stop,
}

/// `Int32.of_string_opt`: decimal or `0x`/`0o`/`0b` prefixed, optional sign, `_` allowed.
fn parse_i32(s: &str) -> Option<i32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = match body.get(..2) {
        Some("0x" | "0X") => (16, &body[2..]),
        Some("0o" | "0O") => (8, &body[2..]),
        Some("0b" | "0B") => (2, &body[2..]),
        _ => (10, body),
    };
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    let v = i64::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i32::try_from(v).ok()
}

fn parse_step(s: &str) -> Option<StepKind> {
    Some(match s {
        "tick" => StepKind::Tick,
        "result" => StepKind::Result,
        "kernel_run" => StepKind::KernelRun,
        "inbox" => StepKind::Inbox,
        _ => return None,
    })
}

fn parse_words(words: &[&str]) -> Option<Command> {
    use Command as C;
    Some(match words {
        ["time", rest @ ..] => C::Time(Box::new(parse_words(rest)?)),
        ["show", "inbox"] => C::ShowInbox,
        ["show", "outbox", "at", "level", l] => C::ShowOutbox(parse_i32(l)?),
        ["show", "status"] => C::ShowStatus,
        ["show", "durable", "storage"] => C::ShowDurableStorage,
        ["show", "subkeys", p] | ["ls", p] => C::ShowSubkeys((*p).to_owned()),
        ["show", "subkeys"] | ["ls"] => C::ShowSubkeys("/".to_owned()),
        ["show", "key", k] => C::ShowKey((*k).to_owned(), ValueKind::Hex),
        ["show", "key", k, "as", kind] => C::ShowKey((*k).to_owned(), ValueKind::of_str(kind)?),
        ["dump", "function", "symbols"] => C::DumpFunctionSymbols,
        ["step", s] => C::Step(parse_step(s)?),
        ["step", n, "ticks"] => C::Step(StepKind::Ticks(n.parse().ok().filter(|n| *n > 0)?)),
        ["load", "inputs"] => C::LoadInputs,
        ["reveal", "preimage"] => C::RevealPreimage(None),
        ["reveal", "preimage", h] => C::RevealPreimage(Some((*h).to_owned())),
        ["reveal", "metadata"] => C::RevealMetadata,
        ["stop"] => C::Stop,
        ["profile", opts @ ..] => C::Profile(parse_profile_options(opts)?),
        ["show", "memory", "at", a, "for", n, "bytes"] => {
            C::ShowMemory(parse_i32(a)?, n.parse().ok()?, ValueKind::Hex)
        }
        ["show", "memory", "at", a, "for", n, "bytes", "as", "string"] => {
            C::ShowMemory(parse_i32(a)?, n.parse().ok()?, ValueKind::String)
        }
        ["show", "memory", "at", a, "as", kind] => {
            let k = ValueKind::integer_of_str(kind)?;
            C::ShowMemory(parse_i32(a)?, k.length()?, k)
        }
        ["help"] | ["man"] => C::Help,
        _ => return None,
    })
}

/// Parses one input line (words separated by spaces, empty words ignored).
#[must_use]
pub fn parse_command(line: &str) -> Command {
    let words: Vec<&str> = line.trim().split(' ').filter(|w| !w.is_empty()).collect();
    parse_words(&words).unwrap_or_else(|| Command::Unknown(line.to_owned()))
}

/// The `help` output: one documentation entry per command, each prefixed by two spaces.
pub const HELP: &[&str] = &[
    "time <command>: Executes <command> and returns the time required for its execution.",
    "show inbox: Prints the current input buffer and the number of messages it contains.",
    "show outbox at level <level>: Prints the outbox messages for <level>.",
    "show status: Shows the state of the PVM.",
    "show durable storage: Prints the durable storage from the root of the tree.",
    "show subkeys [<path>] | ls [<path>]: Prints the direct subkeys under <path> (default '/')",
    "show key <key> [as <kind>]: Looks for given <key> in durable storage and prints its value in <kind> format. Prints errors if <key> is invalid or not existing.",
    "dump function symbols: Pretty-prints the parsed functions custom section. The result will be empty if the kernel is in `wast` format or has been stripped of its custom sections.",
    "step <eval_step>: Depending on <eval_step>:\n          - tick: Run for a tick.\n          - result: Run up to the end of `kernel_run` but before rebooting of waiting for reboot, before the memory is flushed.\n          - kernel_run: Run up to the end of the current `kernel_run` with padding up to the maximum ticks per reboot for the current version of the PVM.\n          - inbox: Run until the next inbox level. Loads the next inbox if the interpreter is waiting for inputs.",
    "step <n> ticks: Run for <n> ticks (one at a time, as `step tick`), stopping early when the PVM waits for input.",
    "load inputs: If the kernel is waiting for inputs, go the the next level and load the next inbox.",
    "reveal preimage [<hex_encoded_preimage>]: Checks the current state is waiting for a preimage, parses <hex_encoded_preimage> as an hexadecimal representation of the data or uses the builtin if none is given, and does a reveal step.",
    "reveal metadata: While in a reveal step, print the current metadata from PVM.",
    "stop: Stops the execution of the current session.",
    "profile <option>: Profiles the execution of a full inbox and outputs a flamegraph compatible stack fill in the temporary directory of the system. \nOptions:\n - `--collapsed`: reduces the size of the resulting file by merging the identical stacks, at the cost of not being able to track the call stack on a time basis.\n - `--without-time`: does not profile the time (can have an impact on performance if the kernel does too many function calls).\n - `--no-reboot`: profile a single `kernel_run`, not a full inbox.",
    "show memory at <address> for <length> bytes [as string] | show memory at <address> as <kind>: Loads the <length> bytes at <address> in the memory, and prints it in its hexadecimal (or string) representation.\nThe command is only available if the memory hasn't been flushed and during the evaluation of the kernel, i.e. after `step result` or `step tick`.",
    "help: Provide documentation about the available commands.",
];

/// Decimal text of a little-endian unsigned integer (`Z.of_bits`).
fn le_unsigned_decimal(bytes: &[u8]) -> String {
    num_bigint::BigUint::from_bytes_le(bytes).to_string()
}

/// Prints a value in `kind` (`print_wasm_encoded_value` + `show_value`): integer kinds
/// of the wrong length fall back to hex with an error line.
#[must_use]
pub fn show_value(kind: ValueKind, value: &[u8]) -> String {
    match kind {
        ValueKind::Hex => hex::encode(value),
        ValueKind::String => String::from_utf8_lossy(value).into_owned(),
        k => {
            let len = k.length().unwrap_or(0);
            if value.len() == len {
                le_unsigned_decimal(value)
            } else {
                format!(
                    "Error: {} values must be {len} bytes long. Defaulting to hexadecimal value\n{}",
                    k.short_name(),
                    hex::encode(value)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_octez_commands() {
        use Command as C;
        let cases = [
            ("show inbox", C::ShowInbox),
            ("  show   status  ", C::ShowStatus),
            ("show outbox at level 3", C::ShowOutbox(3)),
            ("show outbox at level 0x10", C::ShowOutbox(16)),
            ("show durable storage", C::ShowDurableStorage),
            ("ls", C::ShowSubkeys("/".into())),
            ("ls /kernel", C::ShowSubkeys("/kernel".into())),
            ("show subkeys /a", C::ShowSubkeys("/a".into())),
            ("show key /a", C::ShowKey("/a".into(), ValueKind::Hex)),
            (
                "show key /a as string",
                C::ShowKey("/a".into(), ValueKind::String),
            ),
            (
                "show key /a as u256",
                C::ShowKey("/a".into(), ValueKind::U256),
            ),
            ("step inbox", C::Step(StepKind::Inbox)),
            ("step kernel_run", C::Step(StepKind::KernelRun)),
            ("step result", C::Step(StepKind::Result)),
            ("step tick", C::Step(StepKind::Tick)),
            ("step 200 ticks", C::Step(StepKind::Ticks(200))),
            ("load inputs", C::LoadInputs),
            ("reveal preimage", C::RevealPreimage(None)),
            (
                "reveal preimage 00ab",
                C::RevealPreimage(Some("00ab".into())),
            ),
            ("reveal metadata", C::RevealMetadata),
            ("help", C::Help),
            ("man", C::Help),
            ("stop", C::Stop),
            (
                "time step inbox",
                C::Time(Box::new(C::Step(StepKind::Inbox))),
            ),
            (
                "show memory at 16 for 4 bytes",
                C::ShowMemory(16, 4, ValueKind::Hex),
            ),
            (
                "show memory at 16 as i64",
                C::ShowMemory(16, 8, ValueKind::I64),
            ),
            (
                "profile --collapsed",
                C::Profile(ProfileOptions {
                    collapsed: true,
                    ..ProfileOptions::default()
                }),
            ),
            ("profile", C::Profile(ProfileOptions::default())),
            (
                "profile --no-reboot --without-time",
                C::Profile(ProfileOptions {
                    collapsed: false,
                    with_time: false,
                    no_reboot: true,
                }),
            ),
            ("dump function symbols", C::DumpFunctionSymbols),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_command(line), expected, "{line:?}");
        }
        for bad in [
            "",
            "step",
            "step forever",
            "step 0 ticks",
            "step -1 ticks",
            "step x ticks",
            "show key /a as weird",
            "show outbox at level x",
            "time",
            "profile --x",
        ] {
            assert_eq!(parse_command(bad), C::Unknown(bad.into()), "{bad:?}");
        }
    }

    #[test]
    fn value_printing() {
        assert_eq!(show_value(ValueKind::Hex, &[0xab, 1]), "ab01");
        assert_eq!(show_value(ValueKind::String, b"hi"), "hi");
        assert_eq!(show_value(ValueKind::I32, &[1, 0, 0, 0]), "1");
        assert_eq!(show_value(ValueKind::I32, &[0xff; 4]), "4294967295");
        assert_eq!(
            show_value(ValueKind::U256, &[0xff; 32]),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
        assert_eq!(
            show_value(ValueKind::U16, &[1, 2, 3]),
            "Error: u16 values must be 2 bytes long. Defaulting to hexadecimal value\n010203"
        );
    }

    #[test]
    fn i32_literals() {
        assert_eq!(parse_i32("-5"), Some(-5));
        assert_eq!(parse_i32("1_000"), Some(1000));
        assert_eq!(parse_i32("0b101"), Some(5));
        assert_eq!(parse_i32("2147483648"), None);
        assert_eq!(parse_i32(""), None);
    }
}
