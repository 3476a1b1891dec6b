//! One PVM tick of the `Snapshot`, `Decode` and `Link` states on the state tree
//! (`src/lib_scoru_wasm/wasm_vm.ml` `compute_step_with_host_functions`;
//! `docs/reference/wasm-ticks.md` §1.1): the tick state is read from `wasm/tag` and
//! `wasm/value`, stepped, and written back as `Tree_state` does (`remove wasm`, then every
//! field); `wasm/current_tick` + 1; on `Failing` (a new stuck state) `wasm/reboot_counter` is
//! reset to `maximum_reboots_per_input + 1` (the durable patches of `Failing` are no-ops).

use context_hash::data_encoding::{read_n, write_n};
use durable_tree::Tree;
use durable_tree::durable::{Durable, Key};
use wasm_pvm::{KERNEL_KEY, PvmVersion, StuckError, VERSION_KEY};

use crate::codec::{self, Blob, Codec, Error, Result, join, read_tag};
use crate::decode::{DecodeState, StepError};
use crate::link::{LinkOutcome, LinkState};

/// The tick states this crate steps, read from the tree.
enum State {
    Snapshot,
    Decode(Box<DecodeState>),
    Link(Box<LinkState>),
}

/// The state after one tick.
enum Next {
    Decode(Box<DecodeState>),
    Link(Box<LinkState>),
    Stuck(StuckError),
}

fn wasm(k: &str) -> Vec<String> {
    vec!["wasm".into(), k.into()]
}

fn read_nat(root: &Tree, p: &[String]) -> Result<u128> {
    let b = codec::need(root, p, "missing natural")?;
    match read_n(&b) {
        Ok((v, n)) if n == b.len() => Ok(v),
        _ => Err(Error::Malformed(codec::show(p), "bad natural")),
    }
}

fn nat(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_n(&mut out, v);
    out
}

fn durable_value(root: &Tree, key: &str) -> Result<Option<Vec<u8>>> {
    let durable = Durable::new(root.get(&["durable"])?.unwrap_or_default());
    let key = Key::from_str_checked(key)
        .map_err(|_| Error::Malformed(key.to_owned(), "bad durable key"))?;
    Ok(durable.read_all(&key)?)
}

/// Octez's rendering of a decoder exception (`Error(_, "<msg>")`, the form
/// `wasm_pvm::StuckError::interpreter_eval_error` documents) [D: not checked against Octez].
fn decode_error(msg: &str) -> StuckError {
    StuckError::Decode(format!("Error(_, {msg:?})"), Some(msg.to_owned()))
}

/// Perform one tick of a PVM whose state is `Snapshot`, `Decode` or `Link`, returning the new
/// state tree. Other states give [`Error::Unsupported`].
pub fn step(root: &Tree) -> Result<Tree> {
    let tag = read_tag(root, &["wasm".to_owned()])?;
    let state = match tag.as_str() {
        "snapshot" => State::Snapshot,
        "decode" => State::Decode(Box::new(DecodeState::decode(root, &wasm("value"))?)),
        "link" => State::Link(Box::new(LinkState::decode(root, &wasm("value"))?)),
        other => return Err(Error::Unsupported(format!("tick state {other}"))),
    };
    let version_bytes = durable_value(root, VERSION_KEY)?
        .ok_or_else(|| Error::Malformed(VERSION_KEY.into(), "no PVM version"))?;
    let version = PvmVersion::parse(&version_bytes)
        .ok_or_else(|| Error::Malformed(VERSION_KEY.into(), "unknown PVM version"))?;

    let current_tick = read_nat(root, &wasm("current_tick"))?;
    let last_call = read_nat(root, &["pvm".into(), "last_top_level_call".into()])?;
    let max_ticks = read_nat(root, &["pvm".into(), "max_nb_ticks".into()])?;
    // `ticks_to_snapshot = max_nb_ticks - 1 - (current_tick - last_top_level_call)`.
    let elapsed = current_tick.checked_sub(last_call).ok_or(Error::Malformed(
        "wasm/current_tick".into(),
        "before last_top_level_call",
    ))?;
    let window_over = max_ticks.saturating_sub(1) <= elapsed;

    let next = match state {
        State::Snapshot => Next::Decode(Box::new(DecodeState::initial("main"))),
        _ if window_over => Next::Stuck(StuckError::TooManyTicks),
        State::Decode(mut d) => match d.stopped() {
            Some(m) => Next::Link(Box::new(LinkState::new(m.clone()))),
            None => {
                let kernel = durable_value(root, KERNEL_KEY)?
                    .ok_or_else(|| Error::Malformed(KERNEL_KEY.into(), "no kernel"))?;
                match d.module_step(&kernel) {
                    Ok(()) => Next::Decode(d),
                    Err(StepError::Fail(f)) => Next::Stuck(decode_error(&f.msg)),
                    Err(StepError::Internal(e)) => return Err(e),
                }
            }
        },
        State::Link(mut l) => match l.step(version)? {
            LinkOutcome::Link => Next::Link(l),
            LinkOutcome::Error(msg) => Next::Stuck(StuckError::Link(msg)),
            LinkOutcome::Finished => {
                return Err(Error::Unsupported(
                    "Link → Init (init is not implemented)".into(),
                ));
            }
        },
    };

    let mut out = root.clone();
    codec::remove(&mut out, &wasm("tag"))?;
    codec::remove(&mut out, &wasm("value"))?;
    let (tag, failing) = match &next {
        Next::Decode(d) => {
            d.encode(&mut out, &wasm("value"))?;
            ("decode", false)
        }
        Next::Link(l) => {
            l.encode(&mut out, &wasm("value"))?;
            ("link", false)
        }
        Next::Stuck(e) => {
            codec::write(&mut out, &wasm("value"), e.encode())?;
            ("stuck", true)
        }
    };
    codec::write(
        &mut out,
        &wasm("tag"),
        codec::Str(tag.as_bytes().to_vec()).to_bytes(),
    )?;
    let tick = current_tick
        .checked_add(1)
        .ok_or(Error::Overflow("current tick"))?;
    codec::write(&mut out, &wasm("current_tick"), nat(tick))?;
    if failing {
        let max = read_nat(
            root,
            &join(&["pvm".to_owned()], &["maximum_reboots_per_input"]),
        )?;
        let counter = max
            .checked_add(1)
            .ok_or(Error::Overflow("reboot counter"))?;
        codec::write(&mut out, &wasm("reboot_counter"), nat(counter))?;
    }
    Ok(out)
}
