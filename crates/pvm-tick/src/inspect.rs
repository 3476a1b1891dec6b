//! Reading the interpreter's state in the tree, for tools (the debugger's `show status`,
//! `step result`, `show memory`): the encodings of `src/lib_scoru_wasm/wasm_encoding.ml`
//! (`docs/reference/wasm-ticks.md` §2.4, §2.7).

use durable_tree::Tree;

use crate::state::{TickTag, malformed, string_of};
use crate::{TickError, tick_tag};

/// Chunk size of chunked byte vectors (`Chunk.size`).
const CHUNK: u64 = 512;

/// How an `Eval` state's evaluation ended, if it did (`step_kont` = `SK_Result` or
/// `SK_Trapped`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalEnd {
    /// `SK_Result`: `kernel_run` returned.
    Result,
    /// `SK_Trapped msg`.
    Trapped(String),
}

/// `Some` when the state is `Eval` and its evaluation ended (`wasm/value/config/step_kont`).
pub fn eval_end(tree: &Tree) -> Result<Option<EvalEnd>, TickError> {
    if tick_tag(tree)? != TickTag::Eval {
        return Ok(None);
    }
    let tp = ["wasm", "value", "config", "step_kont", "tag"];
    let tag = get(tree, &tp)?.ok_or_else(|| malformed(&tp, "missing value"))?;
    Ok(match string_of(&tp, &tag)? {
        b"SK_Result" => Some(EvalEnd::Result),
        b"SK_Trapped" => {
            let vp = ["wasm", "value", "config", "step_kont", "value"];
            let v = get(tree, &vp)?.ok_or_else(|| malformed(&vp, "missing value"))?;
            Some(EvalEnd::Trapped(
                String::from_utf8_lossy(string_of(&vp, &v)?).into_owned(),
            ))
        }
        _ => None,
    })
}

/// Why memory cannot be read (the debugger prints Octez's messages for these).
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Not in `Init` or `Eval`: no module instance.
    #[error("no module instance in this tick state")]
    NoInstance,
    /// The instance has no memory 0 (`Eval.Missing_memory_0_export`).
    #[error("Tezos_webassembly_interpreter.Eval.Missing_memory_0_export")]
    NoMemory,
    /// Out of the memory's bounds (`Memory.Bounds`).
    #[error("Tezos_webassembly_interpreter.Memory.Bounds")]
    Bounds,
    /// The state tree is not what Octez writes.
    #[error(transparent)]
    Tick(#[from] TickError),
}

/// `length` bytes at `address` of memory 0 of the module instance `main`, in the `Init` or
/// `Eval` state (`wasm/value/modules/main/4/memories/contents/<head>/3/chunks/…`: a chunked
/// byte vector of 512-byte chunks; an absent chunk reads as zeros).
pub fn read_memory(tree: &Tree, address: i64, length: u64) -> Result<Vec<u8>, MemoryError> {
    if !matches!(tick_tag(tree)?, TickTag::Init | TickTag::Eval) {
        return Err(MemoryError::NoInstance);
    }
    let base = ["wasm", "value", "modules", "main", "4", "memories"];
    let at = |rest: &[&str]| -> Vec<String> {
        base.iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
    };
    let read = |p: Vec<String>| -> Result<Option<Vec<u8>>, TickError> {
        let steps: Vec<&str> = p.iter().map(String::as_str).collect();
        get(tree, &steps)
    };
    let int32 = |b: Option<Vec<u8>>| -> Option<i32> {
        b.and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(i32::from_be_bytes)
    };
    let count = int32(read(at(&["length"]))?).unwrap_or(0);
    if count < 1 {
        return Err(MemoryError::NoMemory);
    }
    let head = int32(read(at(&["head"]))?).unwrap_or(0);
    let slot = head.to_string();
    let chunks = |rest: &[&str]| at(&[&["contents", slot.as_str(), "3", "chunks"], rest].concat());
    let len = read(chunks(&["length"]))?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes)
        .ok_or(MemoryError::NoMemory)?;
    let start = u64::try_from(address).map_err(|_| MemoryError::Bounds)?;
    let end = start.checked_add(length).ok_or(MemoryError::Bounds)?;
    if end > len {
        return Err(MemoryError::Bounds);
    }
    let mut out = Vec::with_capacity(usize::try_from(length).map_err(|_| MemoryError::Bounds)?);
    let mut pos = start;
    while pos < end {
        let index = pos / CHUNK;
        let offset = usize::try_from(pos % CHUNK).map_err(|_| MemoryError::Bounds)?;
        let take = (CHUNK - pos % CHUNK).min(end - pos);
        let take_us = usize::try_from(take).map_err(|_| MemoryError::Bounds)?;
        let idx = index.to_string();
        match read(chunks(&["contents", idx.as_str()]))? {
            Some(c) => {
                let stop = offset.checked_add(take_us).ok_or(MemoryError::Bounds)?;
                let part = c.get(offset..stop).ok_or_else(|| {
                    MemoryError::Tick(malformed(
                        &["wasm", "value", "modules"],
                        "short memory chunk",
                    ))
                })?;
                out.extend_from_slice(part);
            }
            None => out.resize(out.len().saturating_add(take_us), 0),
        }
        pos += take;
    }
    Ok(out)
}

fn get(tree: &Tree, p: &[&str]) -> Result<Option<Vec<u8>>, TickError> {
    tree.get_contents(p).map_err(|e| TickError::Proof(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::string_bytes;

    fn eval_tree() -> Tree {
        let mut t = Tree::empty();
        t.set_contents(&["wasm", "tag"], string_bytes(b"eval"))
            .unwrap();
        t.set_contents(
            &["wasm", "value", "config", "step_kont", "tag"],
            string_bytes(b"SK_Trapped"),
        )
        .unwrap();
        t.set_contents(
            &["wasm", "value", "config", "step_kont", "value"],
            string_bytes(b"unreachable executed"),
        )
        .unwrap();
        let m = ["wasm", "value", "modules", "main", "4", "memories"];
        t.set_contents(&[&m[..], &["length"]].concat(), 1i32.to_be_bytes().to_vec())
            .unwrap();
        t.set_contents(&[&m[..], &["head"]].concat(), 0i32.to_be_bytes().to_vec())
            .unwrap();
        let c = [&m[..], &["contents", "0", "3", "chunks"]].concat();
        t.set_contents(
            &[&c[..], &["length"]].concat(),
            65536u64.to_be_bytes().to_vec(),
        )
        .unwrap();
        let mut chunk1 = vec![0u8; 512];
        chunk1[0] = 0xaa;
        chunk1[511] = 0xbb;
        t.set_contents(&[&c[..], &["contents", "1"]].concat(), chunk1)
            .unwrap();
        t
    }

    #[test]
    fn eval_end_and_memory_reads() {
        let t = eval_tree();
        assert_eq!(
            eval_end(&t).unwrap(),
            Some(EvalEnd::Trapped("unreachable executed".into()))
        );
        // Across the boundary of an absent chunk 0 and chunk 1.
        assert_eq!(read_memory(&t, 510, 4).unwrap(), [0, 0, 0xaa, 0]);
        assert_eq!(read_memory(&t, 1023, 2).unwrap(), [0xbb, 0]);
        assert!(matches!(
            read_memory(&t, 65535, 2),
            Err(MemoryError::Bounds)
        ));
        assert!(matches!(read_memory(&t, -1, 1), Err(MemoryError::Bounds)));
        let mut p = t;
        p.set_contents(&["wasm", "tag"], string_bytes(b"padding"))
            .unwrap();
        assert!(matches!(
            read_memory(&p, 0, 1),
            Err(MemoryError::NoInstance)
        ));
        assert_eq!(eval_end(&p).unwrap(), None);
    }
}
