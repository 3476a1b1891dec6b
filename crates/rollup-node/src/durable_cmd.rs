//! `dump durable storage into <file.json|yaml> [--data-dir D] [-b/--block B]`
//! (octez-rollup-node.md §1.3, Octez `wasm_2_0_0_utilities.ml` `dump_durable_storage`): every
//! durable value of a block's PVM state as the installer's `set` instructions, the format
//! `smart-rollup-installer` and the debugger read back. Values under `/readonly` and the
//! kernel (`/kernel/boot.wasm`) are left out, as Octez leaves them out.
//!
//! `patch durable storage at <key> with <hex|file:path> [--data-dir D] --force` (Octez
//! `patch_durable_storage`, unsafe, for debugging): sets a value in the head's state, commits
//! it and points the head block at the new context; refused when the head carries a
//! commitment (Octez `Patch_durable_storage_on_commitment`).
//!
//! Both open the context as the node opens it: the node must be stopped.

use std::fmt::Write as _;
use std::path::Path;

use durable_tree::durable::{Durable, Key};
use node_store::{L2Block, Store};
use tezos_types::Level;

/// Which block's state (`-b/--block`: `head`, `head~N`, a level or an L2 block hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockArg {
    /// The head, or `n` levels below it.
    Head(u32),
    /// A level.
    Level(Level),
    /// A block hash.
    Hash(tezos_types::BlockHash),
}

impl BlockArg {
    /// Parses Octez's block argument.
    ///
    /// # Errors
    /// What is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("Invalid block {s:?}: give head, head~<n>, a level or a block hash (B…).");
        if s == "head" {
            return Ok(Self::Head(0));
        }
        if let Some(n) = s.strip_prefix("head~") {
            return n.parse().map(Self::Head).map_err(|_| bad());
        }
        if let Ok(l) = s.parse::<i32>() {
            return Level::new(l).map(Self::Level).ok_or_else(bad);
        }
        s.parse().map(Self::Hash).map_err(|_| bad())
    }
}

/// `set` instructions of a durable storage, sorted by key.
fn instructions(durable: &Durable) -> Result<Vec<(String, Vec<u8>)>, String> {
    let err = |e: durable_tree::TreeError| format!("Cannot read the durable storage: {e}");
    let mut out = Vec::new();
    let mut stack = vec![Key::root()];
    while let Some(k) = stack.pop() {
        let skipped = k.as_str().starts_with("/readonly") || k.as_str() == "/kernel/boot.wasm";
        if !skipped
            && k.as_str() != "/"
            && let Some(v) = durable.read_all(&k).map_err(err)?
        {
            out.push((k.as_str().to_owned(), v));
        }
        for s in durable.subkeys(&k).map_err(err)?.into_iter().rev() {
            let child = if k.as_str() == "/" {
                format!("/{s}")
            } else {
                format!("{}/{s}", k.as_str())
            };
            stack.push(
                Key::from_str_checked(&child)
                    .map_err(|e| format!("Malformed durable key {child}: {e:?}"))?,
            );
        }
    }
    out.sort();
    Ok(out)
}

/// The instructions in the installer's format: YAML (`instructions:` / `- set:`) unless the
/// file name ends in `.json`.
fn render(instrs: &[(String, Vec<u8>)], json: bool) -> String {
    if json {
        let list: Vec<serde_json::Value> = instrs
            .iter()
            .map(|(k, v)| serde_json::json!({"set": {"value": hex::encode(v), "to": k}}))
            .collect();
        let mut s = serde_json::json!({ "instructions": list }).to_string();
        s.push('\n');
        return s;
    }
    let mut s = String::from("instructions:\n");
    for (k, v) in instrs {
        // Quoted: a hex value of digits only must stay a string.
        let _ = write!(
            s,
            "- set:\n    value: \"{}\"\n    to: \"{k}\"\n",
            hex::encode(v)
        );
    }
    s
}

fn block(store: &Store, arg: &BlockArg) -> Result<L2Block, String> {
    let err = |e| format!("Cannot read the store: {e}");
    let head = || {
        store
            .head()
            .map_err(err)?
            .ok_or_else(|| "Processed L2 head not found in the rollup node storage.".to_owned())
    };
    let at = |l: Level| {
        store.block_by_level(l).map_err(err)?.ok_or_else(|| {
            format!("Block hash for level {l} not found in the rollup node storage.")
        })
    };
    match arg {
        BlockArg::Head(0) => head(),
        BlockArg::Head(n) => {
            let h = head()?;
            let l = h
                .level
                .checked_sub(*n)
                .ok_or_else(|| format!("head~{n} is below level 0"))?;
            at(l)
        }
        BlockArg::Level(l) => at(*l),
        BlockArg::Hash(h) => store
            .block_by_hash(h)
            .map_err(err)?
            .ok_or_else(|| format!("Block with hash {h} not found in the rollup node storage.")),
    }
}

/// Runs the command; returns the number of values written.
///
/// # Errors
/// A message saying what is wrong and what to do.
pub fn dump(data_dir: &Path, arg: &BlockArg, file: &Path) -> Result<usize, String> {
    let (context, store) = crate::offline::open(data_dir)?;
    let b = block(&store, arg)?;
    let state = context.state_of(&b).map_err(|e| {
        format!(
            "No PVM state for block {} at level {} ({e}).",
            b.block_hash, b.level
        )
    })?;
    let instrs = instructions(state.durable())?;
    let json = file.extension().is_some_and(|e| e == "json");
    atomic_file::write(file, render(&instrs, json).as_bytes())
        .map_err(|e| format!("Cannot write {}: {e}", file.display()))?;
    Ok(instrs.len())
}

/// The value of `patch durable storage … with <value>`: hex bytes, or `file:<path>`.
///
/// # Errors
/// What is accepted.
pub fn patch_value(v: &str) -> Result<Vec<u8>, String> {
    if let Some(path) = v.strip_prefix("file:") {
        return std::fs::read(path).map_err(|e| format!("Cannot read {path}: {e}"));
    }
    hex::decode(v.strip_prefix("0x").unwrap_or(v))
        .map_err(|_| format!("Invalid value {v:?}: give hex bytes or file:<path>."))
}

/// Runs `patch durable storage`; returns the new context hash.
///
/// # Errors
/// A message saying what is wrong and what to do.
pub fn patch(data_dir: &Path, key: &str, value: &[u8]) -> Result<String, String> {
    let k = Key::from_str_checked(key)
        .map_err(|e| format!("Invalid durable key {key:?} ({e:?}): give a key like /a/b."))?;
    if k.is_readonly() {
        return Err(format!(
            "{key} is read-only: the PVM writes it, a patch may not."
        ));
    }
    let (context, mut store) = crate::offline::open(data_dir)?;
    let mut head = block(&store, &BlockArg::Head(0))?;
    if head.commitment_hash.is_some() {
        return Err(format!(
            "Cannot patch the durable storage at level {}: its block carries a commitment. \
             Patch when the head is not at a commitment level.",
            head.level
        ));
    }
    let mut state = context
        .state_of(&head)
        .map_err(|e| format!("No PVM state for the head (level {}): {e}", head.level))?;
    state
        .durable_mut()
        .set(&k, value)
        .map_err(|e| format!("Cannot write {key}: {e}"))?;
    let hash = context
        .commit(&state)
        .map_err(|e| format!("Cannot commit the patched state: {e}"))?;
    let ctx = pvm_store::context_hash(&hash);
    head.context = Some(ctx);
    head.state_hash = Some(tezos_types::StateHash(hash.0));
    store
        .transaction(|w| w.insert_block(&head))
        .map_err(|e| format!("Cannot write the store: {e}"))?;
    Ok(ctx.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_arguments() {
        assert_eq!(BlockArg::parse("head"), Ok(BlockArg::Head(0)));
        assert_eq!(BlockArg::parse("head~3"), Ok(BlockArg::Head(3)));
        assert_eq!(
            BlockArg::parse("12"),
            Ok(BlockArg::Level(Level::from(12u8)))
        );
        assert!(BlockArg::parse("-1").is_err());
        assert!(BlockArg::parse("genesis").is_err());
    }

    #[test]
    fn values_are_dumped_except_readonly_and_the_kernel() {
        let mut d = Durable::new(durable_tree::Tree::empty());
        for (k, v) in [
            ("/a", &b"1"[..]),
            ("/a/b", b"22"),
            ("/kernel/boot.wasm", b"\0asm"),
            ("/kernel/env", b"x"),
            ("/readonly/wasm_version", b"2.0.0"),
        ] {
            d.set(&Key::from_str_checked(k).unwrap(), v).unwrap();
        }
        let instrs = instructions(&d).unwrap();
        let keys: Vec<&str> = instrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["/a", "/a/b", "/kernel/env"]);
        let yaml = render(&instrs, false);
        assert!(
            yaml.starts_with("instructions:\n- set:\n    value: \"31\"\n    to: \"/a\"\n"),
            "{yaml}"
        );
        let json: serde_json::Value = serde_json::from_str(&render(&instrs, true)).unwrap();
        assert_eq!(json["instructions"][1]["set"]["value"], "3232");
        assert_eq!(json["instructions"][1]["set"]["to"], "/a/b");
    }
}
