//! Output proofs: a Merkle proof that the PVM state of a given hash holds an outbox message
//! (protocol `sc_rollup_wasm.ml` `output_proof_encoding`, `produce_output_proof`,
//! `verify_output_proof`; `lib_scoru_wasm` `get_output`; `docs/reference/wasm-pvm.md` §4.2,
//! §7.2, §7.4).
//!
//! Bytes: the tree proof (`Merkle_proof_encoding.V2.Tree2`, see `durable_tree::proof`), then
//! the output: `outbox_level` (`int32`), `message_index` (`n`), the outbox message bytes (to
//! the end). The state hash is the proof's `before` hash.
//!
//! `get_output` reads what Octez's `decode_buffers` and `Output_buffer.get_message` read:
//! the option tag of the buffers (root `tag` = `Some`; the buffers are under
//! `value/pvm/buffers`, see `PvmState::to_tree`), the lengths and heads of the input and
//! output buffers, `last_level`, `validity_period`, `message_limit`, then
//! `outboxes/<level>/{length, head, contents/<head + index>}`; the level must lie in
//! `[last_level - validity_period + 1, last_level]` and the index below the outbox length,
//! else there is no output.

use context_hash::Hash;
use context_hash::data_encoding::{read_n, write_n};
use durable_tree::Tree;
use durable_tree::proof::{self, ProofError, TreeRead};

use crate::enc;

/// One output of the PVM: a message of an outbox level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The outbox level (the inbox level during which the message was written).
    pub outbox_level: u32,
    /// Index of the message in its outbox.
    pub message_index: u64,
    /// The outbox message (`Sc_rollup_outbox_message_repr` bytes).
    pub message: Vec<u8>,
}

/// An output shown to be held by the PVM state of hash `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenOutput {
    /// The PVM state hash the proof starts from (compare with a commitment's
    /// `compressed_state`).
    pub state: Hash,
    /// The output.
    pub output: Output,
}

/// Errors of output proofs (`smart_rollup_wasm_output_proof_production_failed` /
/// `…_verification_failed` in the protocol).
#[derive(Debug, thiserror::Error)]
pub enum OutputProofError {
    /// The state holds no message at that level and index (outside the outbox window, index
    /// past the outbox's end, or no outbox at all).
    #[error("the PVM state holds no outbox message at level {level}, index {index}")]
    NoSuchOutput {
        /// Outbox level asked.
        level: u32,
        /// Message index asked.
        index: u64,
    },
    /// The tree proof is malformed or does not hold what `get_output` reads.
    #[error("output proof: {0}")]
    Proof(#[from] ProofError),
    /// The output part after the tree proof is malformed.
    #[error("output proof: malformed output ({0})")]
    Output(&'static str),
    /// The proof's state does not hold the message the proof claims.
    #[error("output proof: the state holds a different message at level {level}, index {index}")]
    MessageMismatch {
        /// Outbox level.
        level: u32,
        /// Message index.
        index: u64,
    },
}

/// Where the buffers option keeps its tag, and its value.
const BUFFERS_TAG: [&str; 1] = ["tag"];
const INPUT: [&str; 4] = ["value", "pvm", "buffers", "input"];
const OUTPUT: [&str; 4] = ["value", "pvm", "buffers", "output"];

fn path<'a>(prefix: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    prefix.iter().chain(rest).copied().collect()
}

fn z_at(r: &dyn TreeRead, p: &[&str]) -> Result<Option<u128>, ProofError> {
    Ok(r.read_value(p)?.and_then(|b| enc::de_z(&b)))
}

fn i32_at(r: &dyn TreeRead, p: &[&str]) -> Result<Option<i32>, ProofError> {
    Ok(r.read_value(p)?.and_then(|b| enc::de_i32(&b)))
}

/// The message at (`level`, `index`) of the state read by `r`, `None` when there is none
/// (Octez `get_output`, which answers `None` on any failure).
pub fn get_output(r: &dyn TreeRead, level: u32, index: u64) -> Result<Option<Vec<u8>>, ProofError> {
    // `decode_buffers`: the option tag, both lazy vectors' lengths and heads, the output
    // scalars.
    let tag = r.read_value(&BUFFERS_TAG)?;
    if tag.as_deref().and_then(enc::de_string) != Some(b"Some".as_slice()) {
        return Ok(None);
    }
    z_at(r, &path(&INPUT, &["length"]))?;
    z_at(r, &path(&INPUT, &["head"]))?;
    let last_level = i32_at(r, &path(&OUTPUT, &["2", "last_level"]))?;
    let period = i32_at(r, &path(&OUTPUT, &["3", "validity_period"]))?;
    z_at(r, &path(&OUTPUT, &["4", "message_limit"]))?;
    let (Some(last), Some(period)) = (last_level, period) else {
        return Ok(None);
    };
    // first_level = last - period + 1, in i64 (int32 in Octez, never near its bounds here).
    let first = i64::from(last)
        .checked_sub(i64::from(period))
        .and_then(|x| x.checked_add(1));
    let Some(first) = first else {
        return Ok(None);
    };
    if i64::from(level) > i64::from(last) || i64::from(level) < first {
        return Ok(None);
    }
    let lvl = level.to_string();
    let outbox = path(&OUTPUT, &["1", "outboxes", &lvl]);
    let (Some(length), Some(head)) = (
        z_at(r, &path(&outbox, &["length"]))?,
        z_at(r, &path(&outbox, &["head"]))?,
    ) else {
        return Ok(None);
    };
    if u128::from(index) >= length {
        return Ok(None);
    }
    let Some(key) = head.checked_add(u128::from(index)) else {
        return Ok(None);
    };
    let key = key.to_string();
    let bytes = r.read_value(&path(&outbox, &["contents", &key]))?;
    Ok(bytes.and_then(|b| enc::de_string(&b).map(<[u8]>::to_vec)))
}

fn encode_output(out: &mut Vec<u8>, o: &Output) {
    out.extend_from_slice(&o.outbox_level.to_be_bytes());
    write_n(out, u128::from(o.message_index));
    out.extend_from_slice(&o.message);
}

/// The output proof of message `index` of outbox `level` in `state` (a PVM state tree).
pub fn produce_output_proof(
    state: &Tree,
    level: u32,
    index: u64,
) -> Result<Vec<u8>, OutputProofError> {
    let (tree_proof, message) = proof::produce_proof(state, |r| get_output(r, level, index))?;
    let message = message.ok_or(OutputProofError::NoSuchOutput { level, index })?;
    let mut out = proof::encoding::encode(&tree_proof)?;
    encode_output(
        &mut out,
        &Output {
            outbox_level: level,
            message_index: index,
            message,
        },
    );
    Ok(out)
}

/// Check an output proof: decode it, check its tree proof and that the state it starts from
/// holds the claimed message; returns that state's hash and the output.
pub fn verify_output_proof(bytes: &[u8]) -> Result<ProvenOutput, OutputProofError> {
    let (tree_proof, used) = proof::encoding::decode_prefix(bytes)?;
    let rest = &bytes[used..];
    let (level, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(OutputProofError::Output("outbox level missing"))?;
    let level = i32::from_be_bytes(*level);
    let level = u32::try_from(level).map_err(|_| OutputProofError::Output("negative level"))?;
    let (index, n) = read_n(rest).map_err(|_| OutputProofError::Output("bad message index"))?;
    let index =
        u64::try_from(index).map_err(|_| OutputProofError::Output("message index too large"))?;
    let message = rest
        .get(n..)
        .filter(|m| !m.is_empty())
        .ok_or(OutputProofError::Output("message missing"))?
        .to_vec();
    let held = proof::verify_proof(&tree_proof, |r| get_output(r, level, index))?;
    if held.as_deref() != Some(message.as_slice()) {
        return Err(OutputProofError::MessageMismatch { level, index });
    }
    Ok(ProvenOutput {
        state: tree_proof.before.hash(),
        output: Output {
            outbox_level: level,
            message_index: index,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state whose output buffer holds `msgs` at level 10 (window 5..=10), laid out as
    /// `state.rs` encodes it, plus an input buffer and unrelated durable data.
    fn state(msgs: &[&[u8]]) -> Tree {
        let mut t = Tree::empty();
        let o = |p: &[&'static str]| -> Vec<&'static str> { path(&OUTPUT, p) };
        for (i, m) in msgs.iter().enumerate() {
            let i = i.to_string();
            t.set_contents(
                &path(&o(&["1", "outboxes", "10", "contents"]), &[&i]),
                enc::string(m),
            )
            .unwrap();
        }
        t.set_contents(
            &o(&["1", "outboxes", "10", "length"]),
            enc::z(msgs.len() as u128),
        )
        .unwrap();
        t.set_contents(&o(&["1", "outboxes", "10", "head"]), enc::z(0))
            .unwrap();
        t.set_contents(&o(&["1", "outboxes", "9", "length"]), enc::z(0))
            .unwrap();
        t.set_contents(&o(&["1", "outboxes", "9", "head"]), enc::z(0))
            .unwrap();
        t.set_contents(&o(&["2", "last_level"]), 10i32.to_be_bytes().to_vec())
            .unwrap();
        t.set_contents(&o(&["3", "validity_period"]), 6i32.to_be_bytes().to_vec())
            .unwrap();
        t.set_contents(&o(&["4", "message_limit"]), enc::z(100))
            .unwrap();
        t.set_contents(&path(&INPUT, &["length"]), enc::z(0))
            .unwrap();
        t.set_contents(&path(&INPUT, &["head"]), enc::z(0)).unwrap();
        t.set_contents(&BUFFERS_TAG, enc::string(b"Some")).unwrap();
        for i in 0..50 {
            t.set_contents(&["durable", "k", &i.to_string()], vec![i])
                .unwrap();
        }
        t
    }

    #[test]
    fn produce_then_verify() {
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![0, i, i]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let t = state(&refs);
        for index in [0u64, 7, 39] {
            let bytes = produce_output_proof(&t, 10, index).unwrap();
            let got = verify_output_proof(&bytes).unwrap();
            assert_eq!(got.state, t.hash().unwrap());
            assert_eq!(got.output.outbox_level, 10);
            assert_eq!(got.output.message_index, index);
            assert_eq!(got.output.message, msgs[index as usize]);
        }
    }

    #[test]
    fn proves_the_outbox_of_a_real_pvm_state() {
        let mut st = crate::PvmState::genesis(
            crate::PvmVersion::V6,
            b"\0asm\x01\0\0\0",
            &crate::GenesisParams::default(),
        )
        .unwrap();
        st.output.start_level(3).unwrap();
        st.output.push(b"\x00msg".to_vec()).unwrap();
        let tree = st.to_tree().unwrap();
        let bytes = produce_output_proof(&tree, 3, 0).unwrap();
        let got = verify_output_proof(&bytes).unwrap();
        assert_eq!(got.state, st.hash().unwrap());
        assert_eq!(got.output.message, b"\x00msg");
    }

    #[test]
    fn absent_outputs_have_no_proof() {
        let t = state(&[b"\x00ab"]);
        for (level, index) in [(10, 1), (9, 0), (4, 0), (11, 0)] {
            assert!(matches!(
                produce_output_proof(&t, level, index),
                Err(OutputProofError::NoSuchOutput { .. })
            ));
        }
    }

    #[test]
    fn forged_message_or_index_is_refused() {
        let t = state(&[b"\x00first", b"\x00second"]);
        let bytes = produce_output_proof(&t, 10, 1).unwrap();
        // Change the last byte of the message.
        let mut forged = bytes.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert!(matches!(
            verify_output_proof(&forged),
            Err(OutputProofError::MessageMismatch { .. })
        ));
        // Claim the message is at index 0: that message is blinded in the proof.
        let (_, used) = durable_tree::proof::encoding::decode_prefix(&bytes).unwrap();
        let mut other = bytes[..used].to_vec();
        encode_output(
            &mut other,
            &Output {
                outbox_level: 10,
                message_index: 0,
                message: b"\x00second".to_vec(),
            },
        );
        assert!(matches!(
            verify_output_proof(&other),
            Err(OutputProofError::Proof(ProofError::Blinded { .. }))
        ));
        // Tamper the proof's state.
        let mut bad = bytes;
        bad[40] ^= 1;
        assert!(verify_output_proof(&bad).is_err());
    }
}
