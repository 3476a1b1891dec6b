//! Host functions called by the small-step interpreter (`Inv_start` of a `HostFunc`,
//! `docs/reference/wasm-ticks.md` §1.5): they run in that one tick on the durable storage and
//! the input buffer of the state tree and on memory 0 (a chunked byte vector), and return
//! their results and their tick cost (`host_funcs.ml` `*_ticks`, `docs/reference/wasm-pvm.md`
//! §1.4–1.5: 42 per byte read or written, 1 per tree access, 0 when the result is an error).
//!
//! `read_input` works on the tree's input buffer (`value/pvm/buffers/input`, a `ZVector`: the
//! dequeued binding is removed, `length` − 1, `head` + 1, as `Lazy_vector.pop` re-encodes);
//! the `store_*` functions are `wasm_pvm::HostState`'s (the fast path's, checked against
//! Octez) on the tree's durable storage; `write_output` appends to the tree's current outbox.
//! The reveal functions and the `nds_*` functions are not here yet
//! ([`crate::Error::Unsupported`]).

use crate::codec::Tree;
use context_hash::data_encoding::{read_z, write_z};
use durable_tree::durable::Durable;
use wasm_pvm::{GuestMemory, HostState, InputBuffer, OutOfBounds, OutputBuffer, PvmVersion};

use crate::codec::{self, Error, Result};
use crate::exec::Host;
use crate::instance::{MemoryInst, Value};
use crate::lazy::CHUNK;

/// Memory 0 seen by `wasm_pvm`'s host functions.
struct Mem<'a>(&'a mut MemoryInst);

impl GuestMemory for Mem<'_> {
    fn size(&self) -> u64 {
        self.0.chunks.length() as u64
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<(), OutOfBounds> {
        let end = addr.checked_add(buf.len() as u64).ok_or(OutOfBounds)?;
        if end > self.size() {
            return Err(OutOfBounds);
        }
        // `load_byte` needs `&mut` (it records loaded chunks); reading a clone gives the
        // same bytes, and a read never changes the tree.
        let mut c = self.0.chunks.clone();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = c
                .load_byte(addr.saturating_add(i as u64) as i64)
                .map_err(|_| OutOfBounds)?;
        }
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> std::result::Result<(), OutOfBounds> {
        let end = addr.checked_add(data.len() as u64).ok_or(OutOfBounds)?;
        if end > self.size() {
            return Err(OutOfBounds);
        }
        for (i, b) in data.iter().enumerate() {
            self.0
                .chunks
                .store_byte(addr.saturating_add(i as u64) as i64, *b)
                .map_err(|_| OutOfBounds)?;
        }
        Ok(())
    }
}

struct NoReveal;

impl wasm_pvm::RevealHandler for NoReveal {
    fn reveal(&mut self, _request: &[u8]) -> std::result::Result<Vec<u8>, wasm_pvm::RevealError> {
        Err(wasm_pvm::RevealError(
            "no reveal in a store function".into(),
        ))
    }
}

/// The host functions of one tick, on a working copy of the state tree (whose `durable` and
/// `value/pvm/buffers` subtrees the tick then keeps).
pub struct TreeHost {
    /// The working tree.
    pub root: Tree,
    /// PVM version.
    pub version: PvmVersion,
}

fn p(steps: &[&str]) -> Vec<String> {
    steps.iter().map(|s| (*s).to_owned()).collect()
}

fn z(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_z(&mut out, false, v);
    out
}

fn get_z(t: &Tree, path: &[String]) -> Result<u128> {
    let b = codec::need(t, path, "missing z")?;
    match read_z(&b) {
        Ok((false, v, n)) if n == b.len() => Ok(v),
        _ => Err(Error::Malformed(codec::show(path), "bad z")),
    }
}

fn i32_arg(args: &[Value], i: usize) -> Result<i32> {
    match args.get(i) {
        Some(Value::I32(x)) => Ok(*x),
        _ => Err(Error::Exception("Bad_input".into())),
    }
}

fn i64_arg(args: &[Value], i: usize) -> Result<i64> {
    match args.get(i) {
        Some(Value::I64(x)) => Ok(*x),
        _ => Err(Error::Exception("Bad_input".into())),
    }
}

/// `with_error result (fun () -> ticks)`.
fn cost(result: i32, ticks: i64) -> u128 {
    if result < 0 { 0 } else { ticks.max(0) as u128 }
}

fn per_byte(n: i32) -> i64 {
    i64::from(n).saturating_mul(42)
}

impl TreeHost {
    /// `check_address`: `address + length < size` (strict).
    fn check(mem: &MemoryInst, addr: i32, len: i32) -> bool {
        len >= 0 && i64::from(addr as u32).saturating_add(i64::from(len)) < mem.chunks.length()
    }

    /// `Aux.read_input`.
    fn read_input(&mut self, mem: &mut MemoryInst, info: i32, dst: i32, max: i32) -> Result<i32> {
        if !Self::check(mem, info, 8) {
            return Ok(wasm_pvm::code::MEMORY_INVALID_ACCESS);
        }
        let max = max.min(wasm_pvm::INPUT_OUTPUT_MAX_SIZE);
        if !Self::check(mem, dst, max) {
            return Ok(wasm_pvm::code::MEMORY_INVALID_ACCESS);
        }
        let base = p(&["value", "pvm", "buffers", "input"]);
        let len = get_z(&self.root, &codec::join(&base, &["length"]))?;
        if len == 0 {
            return Ok(0);
        }
        let head = get_z(&self.root, &codec::join(&base, &["head"]))?;
        let entry = codec::join(&base, &["contents", &head.to_string()]);
        let level = i32::from_be_bytes(
            codec::need(
                &self.root,
                &codec::join(&entry, &["raw-level"]),
                "raw-level",
            )?
            .try_into()
            .map_err(|_| Error::Malformed(codec::show(&entry), "raw-level"))?,
        );
        let counter = get_z(&self.root, &codec::join(&entry, &["message-counter"]))?;
        let plen = codec::need(&self.root, &codec::join(&entry, &["length"]), "length")?;
        let plen = i64::from_be_bytes(
            plen.try_into()
                .map_err(|_| Error::Malformed(codec::show(&entry), "payload length"))?,
        );
        let mut payload = Vec::new();
        let nchunks = plen
            .saturating_add(CHUNK as i64)
            .saturating_sub(1)
            .div_euclid(CHUNK as i64);
        for i in 0..nchunks {
            let c = codec::read(
                &self.root,
                &codec::join(&entry, &["contents", &i.to_string()]),
            )?;
            let mut c = c.unwrap_or_default();
            c.resize(CHUNK, 0);
            payload.extend(c);
        }
        payload.truncate(usize::try_from(plen).unwrap_or(0));
        // `Vector.pop`: the binding is removed, `head` + 1, `length` − 1.
        codec::remove(&mut self.root, &entry)?;
        codec::write(
            &mut self.root,
            &codec::join(&base, &["length"]),
            z(len.saturating_sub(1)),
        )?;
        codec::write(
            &mut self.root,
            &codec::join(&base, &["head"]),
            z(head.saturating_add(1)),
        )?;
        let n = payload.len().min(max as usize);
        let mut m = Mem(mem);
        let counter = i32::try_from(counter)
            .map_err(|_| Error::Exception("Z.to_int32 message counter".into()))?;
        let mut info_b = level.to_le_bytes().to_vec();
        info_b.extend(counter.to_le_bytes());
        if m.write(u64::from(dst as u32), &payload[..n]).is_err()
            || m.write(u64::from(info as u32), &info_b).is_err()
        {
            return Ok(wasm_pvm::code::GENERIC_INVALID_ACCESS);
        }
        Ok(n as i32)
    }

    /// `Aux.write_output`: append the bytes to the outbox of `last_level`
    /// (`value/pvm/buffers/output/1/outboxes/<level>/{contents/<i>, length, head}`, a
    /// `ZVector` of `Data_encoding.bytes`).
    fn write_output(&mut self, mem: &mut MemoryInst, src: i32, n: i32) -> Result<i32> {
        use wasm_pvm::code::{
            FULL_OUTBOX, GENERIC_INVALID_ACCESS, INPUT_OUTPUT_TOO_LARGE, MEMORY_INVALID_ACCESS,
        };
        if n > wasm_pvm::INPUT_OUTPUT_MAX_SIZE {
            return Ok(INPUT_OUTPUT_TOO_LARGE);
        }
        let Ok(len) = usize::try_from(n) else {
            // `Bytes.create` of a negative size: `Invalid_argument`, a generic error.
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let mut payload = vec![0; len];
        if Mem(mem).read(u64::from(src as u32), &mut payload).is_err() {
            return Ok(MEMORY_INVALID_ACCESS);
        }
        let base = p(&["value", "pvm", "buffers", "output"]);
        let Some(level) = codec::read(&self.root, &codec::join(&base, &["2", "last_level"]))?
        else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let level = i32::from_be_bytes(
            level
                .try_into()
                .map_err(|_| Error::Malformed(codec::show(&base), "last_level"))?,
        );
        let limit = get_z(&self.root, &codec::join(&base, &["4", "message_limit"]))?;
        let ob = codec::join(&base, &["1", "outboxes", &level.to_string()]);
        if codec::subtree(&self.root, &ob)?.is_none() {
            return Ok(GENERIC_INVALID_ACCESS);
        }
        let count = get_z(&self.root, &codec::join(&ob, &["length"]))?;
        let head = get_z(&self.root, &codec::join(&ob, &["head"]))?;
        if count >= limit {
            return Ok(FULL_OUTBOX);
        }
        let key = head.saturating_add(count).to_string();
        let mut blob = (payload.len() as u32).to_be_bytes().to_vec();
        blob.extend(payload);
        codec::write(&mut self.root, &codec::join(&ob, &["contents", &key]), blob)?;
        codec::write(
            &mut self.root,
            &codec::join(&ob, &["length"]),
            z(count.saturating_add(1)),
        )?;
        Ok(0)
    }

    /// A `store_*` function of `wasm_pvm::HostState` on the tree's durable storage.
    fn store<T>(
        &mut self,
        mem: &mut MemoryInst,
        f: impl FnOnce(&mut HostState<'_>, &mut Mem<'_>) -> std::result::Result<T, wasm_pvm::HostFatal>,
    ) -> Result<T> {
        let mut durable = match codec::subtree_steps(&self.root, &["durable"])?.unwrap_or_default()
        {
            Tree::Plain(t) => Durable::new(t),
            Tree::Step(_) => {
                return Err(Error::Unsupported(
                    "host functions on durable storage of a partial tree (one-tick proof)".into(),
                ));
            }
        };
        let (mut input, mut output) = (InputBuffer::new(), OutputBuffer::new(0, 0));
        let mut reveal = NoReveal;
        let r = {
            let mut hs = HostState::new(
                self.version,
                &mut durable,
                &mut input,
                &mut output,
                &mut reveal,
                None,
            );
            let r = f(&mut hs, &mut Mem(mem));
            hs.flush()
                .map_err(|e| Error::Unsupported(format!("durable storage: {e}")))?;
            r
        };
        let r = r.map_err(|e| Error::Unsupported(format!("host function: {e}")))?;
        codec::attach_steps(
            &mut self.root,
            &["durable"],
            Tree::Plain(durable.into_tree()),
        )?;
        Ok(r)
    }
}

impl Host for TreeHost {
    fn call(
        &mut self,
        name: &[u8],
        args: &[Value],
        memory: Option<&mut MemoryInst>,
    ) -> Result<(Vec<Value>, u128)> {
        let Some(mem) = memory else {
            // `retrieve_memory` on `No_memories_during_init`.
            return Err(Error::Exception("No_memories_during_init".into()));
        };
        let a = |i| i32_arg(args, i);
        let one = |r: i32, t: u128| Ok((vec![Value::I32(r)], t));
        match name {
            b"tezos_read_input" => {
                let r = self.read_input(mem, a(0)?, a(1)?, a(2)?)?;
                one(r, cost(r, per_byte(r)))
            }
            b"tezos_write_debug" => Ok((vec![], 0)),
            b"tezos_write_output" => {
                // `write_output_ticks` is computed from the result code: 0 on success.
                let r = self.write_output(mem, a(0)?, a(1)?)?;
                one(r, cost(r, per_byte(r)))
            }
            b"tezos_write_read" => {
                // store_write(key, len, offset, src, num_bytes)
                let (k, kl, off, src, n) = (a(0)?, a(1)?, a(2)?, a(3)?, a(4)?);
                let r = self.store(mem, |h, m| h.store_write(m, k, kl, off, src, n))?;
                one(
                    r,
                    cost(
                        r,
                        per_byte(kl).saturating_add(1).saturating_add(per_byte(n)),
                    ),
                )
            }
            b"tezos_store_has"
            | b"tezos_store_exists"
            | b"tezos_store_delete"
            | b"tezos_store_delete_value"
            | b"tezos_store_create" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = match name {
                    b"tezos_store_has" => self.store(mem, |h, m| h.store_has(m, k, kl))?,
                    b"tezos_store_exists" => self.store(mem, |h, m| h.store_exists(m, k, kl))?,
                    b"tezos_store_delete" => self.store(mem, |h, m| h.store_delete(m, k, kl))?,
                    b"tezos_store_delete_value" => {
                        self.store(mem, |h, m| h.store_delete_value(m, k, kl))?
                    }
                    _ => {
                        let size = a(2)?;
                        self.store(mem, |h, m| h.store_create(m, k, kl, size))?
                    }
                };
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_store_read" => {
                let (k, kl, off, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?, a(4)?);
                let r = self.store(mem, |h, m| h.store_read(m, k, kl, off, dst, max))?;
                one(
                    r,
                    cost(
                        r,
                        per_byte(kl).saturating_add(1).saturating_add(per_byte(r)),
                    ),
                )
            }
            b"tezos_store_value_size" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = self.store(mem, |h, m| h.store_value_size(m, k, kl))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_store_copy" | b"tezos_store_move" => {
                let (f, fl, t, tl) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let r = if name == b"tezos_store_copy" {
                    self.store(mem, |h, m| h.store_copy(m, f, fl, t, tl))?
                } else {
                    self.store(mem, |h, m| h.store_move(m, f, fl, t, tl))?
                };
                one(
                    r,
                    cost(
                        r,
                        per_byte(fl).saturating_add(per_byte(tl)).saturating_add(1),
                    ),
                )
            }
            b"tezos_store_list_size" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = self.store(mem, |h, m| h.store_list_size(m, k, kl))?;
                let t = if r < 0 {
                    0
                } else {
                    per_byte(kl).saturating_add(1).max(0) as u128
                };
                Ok((vec![Value::I64(r)], t))
            }
            b"tezos_store_get_nth_key_list" => {
                let (k, kl) = (a(0)?, a(1)?);
                let index = i64_arg(args, 2)?;
                let (dst, max) = (a(3)?, a(4)?);
                let r = self.store(mem, |h, m| h.store_get_nth_key(m, k, kl, index, dst, max))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_internal_store_get_hash" => {
                let (k, kl, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let r = self.store(mem, |h, m| h.store_get_hash(m, k, kl, dst, max))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            _ => Err(Error::Unsupported(format!(
                "host function {} in the small-step interpreter",
                String::from_utf8_lossy(name)
            ))),
        }
    }
}
