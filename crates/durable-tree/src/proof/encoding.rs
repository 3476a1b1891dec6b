//! Binary encoding of tree proofs: `Merkle_proof_encoding.V2.Tree2.tree_proof_encoding`
//! (`src/lib_context/merkle_proof_encoding/merkle_proof_encoding.ml`, built with
//! `Data_encoding.Compact`; `docs/developer/merkle-proof-formats/v2-tree2.rst` in Octez;
//! `docs/reference/wasm-pvm.md` §7.4).
//!
//! Layout (all integers big-endian):
//! * proof: tag byte `0b000000ab` (`b` = before is a node, `a` = after is a node), version
//!   `int16`, before hash, after hash (32 bytes each), tree;
//! * tree tag byte: `000000ll` Inode, `100000nn` Node, `110000vv` Value, `11001000`
//!   Blinded_value, `11010000` Blinded_node, `110110ll` Extender;
//! * inode-tree tag byte: `000000ll` Inode_tree, `100000nn` Inode_values, `11000000`
//!   Blinded_inode, `110100ll` Inode_extender;
//! * `ll`: the length (a compact `int64`) is 1, 2, 4 or 8 bytes (`00`..`11`), each size
//!   used only for values that do not fit the smaller ones;
//! * `nn`: 0, 1 or 2 entries follow directly; `11`: a `uint30` byte length, then entries;
//!   an entry is a step (`uint8` length, bytes) then a tree;
//! * `vv`: value length as `uint8` (`00`, < 256 bytes), `uint16` (`01`, 256..65535) or
//!   `uint30` (`11`, larger);
//! * Inode / Inode_tree: length, then the child of index 0 and of index 1, each an
//!   inode-tree or `11100000` (none); Extender / Inode_extender: length, segments (`uint8`
//!   byte length, one bit per index MSB first, closed by a `1` bit and zero padding), the
//!   inode-tree at the end.

use context_hash::{HASH_SIZE, Hash};

use super::{ExtenderProof, InodeProof, InodeTree, KindedHash, ProofError, ProofTree, TreeProof};

const TAG_NONE: u8 = 0xE0;
const TAG_VALUE: u8 = 0xC0;
const TAG_BLINDED_VALUE: u8 = 0xC8;
const TAG_BLINDED_NODE: u8 = 0xD0;
const TAG_EXTENDER: u8 = 0xD8;
const TAG_NODE: u8 = 0x80;
const TAG_BLINDED_INODE: u8 = 0xC0;
const TAG_INODE_EXTENDER: u8 = 0xD0;
/// Largest `uint30`.
const MAX_UINT30: usize = (1 << 30) - 1;
/// Deepest nesting of trees accepted when decoding (the step hash has 256 bits per node;
/// paths of the PVM state are far shorter).
const MAX_NESTING: usize = 4096;

/// Encode a tree proof.
pub fn encode(p: &TreeProof) -> Result<Vec<u8>, ProofError> {
    let mut out = Vec::new();
    let kind_bit = |k: &KindedHash| u8::from(matches!(k, KindedHash::Node(_)));
    out.push(kind_bit(&p.before) | (kind_bit(&p.after) << 1));
    out.extend_from_slice(&p.version.to_be_bytes());
    out.extend_from_slice(&p.before.hash().0);
    out.extend_from_slice(&p.after.hash().0);
    write_tree(&mut out, &p.state)?;
    Ok(out)
}

/// Decode a tree proof that must span all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<TreeProof, ProofError> {
    let mut r = Reader { bytes, pos: 0 };
    let p = read_proof(&mut r)?;
    if r.pos != bytes.len() {
        return Err(r.err("trailing bytes after the proof"));
    }
    Ok(p)
}

/// Decode a tree proof at the start of `bytes`; returns it and the number of bytes read
/// (the proof is self-delimiting: an output proof continues after it).
pub fn decode_prefix(bytes: &[u8]) -> Result<(TreeProof, usize), ProofError> {
    let mut r = Reader { bytes, pos: 0 };
    let p = read_proof(&mut r)?;
    Ok((p, r.pos))
}

fn read_proof(r: &mut Reader<'_>) -> Result<TreeProof, ProofError> {
    let tag = r.u8()?;
    if tag > 3 {
        return Err(r.err_at(r.pos.saturating_sub(1), "unknown proof tag"));
    }
    let version = u16::from_be_bytes(r.array()?);
    let kinded = |node: bool, h: Hash| {
        if node {
            KindedHash::Node(h)
        } else {
            KindedHash::Value(h)
        }
    };
    let before = kinded(tag & 1 == 1, r.hash()?);
    let after = kinded(tag & 2 == 2, r.hash()?);
    let state = read_tree(r, 0)?;
    Ok(TreeProof {
        version,
        before,
        after,
        state,
    })
}

/// Tag bits and bytes of a compact `int64` holding a non-negative length.
fn length_tag(n: u64) -> u8 {
    if n <= 0xff {
        0
    } else if n <= 0xffff {
        1
    } else if n <= 0xffff_ffff {
        2
    } else {
        3
    }
}

fn write_length(out: &mut Vec<u8>, n: u64) -> Result<(), ProofError> {
    match length_tag(n) {
        0 => out.push(n as u8),
        1 => out.extend_from_slice(&(n as u16).to_be_bytes()),
        2 => out.extend_from_slice(&(n as u32).to_be_bytes()),
        _ => {
            let v = i64::try_from(n).map_err(|_| ProofError::Invalid("length above int64"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    Ok(())
}

fn write_step(out: &mut Vec<u8>, step: &str) -> Result<(), ProofError> {
    let len = u8::try_from(step.len()).map_err(|_| ProofError::Invalid("step longer than 255"))?;
    out.push(len);
    out.extend_from_slice(step.as_bytes());
    Ok(())
}

fn write_entries(
    out: &mut Vec<u8>,
    base_tag: u8,
    entries: &[(String, ProofTree)],
) -> Result<(), ProofError> {
    if entries.len() < 3 {
        // 0..=2: fits the 2 tag bits.
        out.push(base_tag | entries.len() as u8);
        for (step, t) in entries {
            write_step(out, step)?;
            write_tree(out, t)?;
        }
    } else {
        out.push(base_tag | 3);
        let mut body = Vec::new();
        for (step, t) in entries {
            write_step(&mut body, step)?;
            write_tree(&mut body, t)?;
        }
        write_uint30(out, body.len())?;
        out.extend_from_slice(&body);
    }
    Ok(())
}

fn write_uint30(out: &mut Vec<u8>, n: usize) -> Result<(), ProofError> {
    if n > MAX_UINT30 {
        return Err(ProofError::Invalid("size above uint30"));
    }
    out.extend_from_slice(&(n as u32).to_be_bytes());
    Ok(())
}

fn write_tree(out: &mut Vec<u8>, t: &ProofTree) -> Result<(), ProofError> {
    match t {
        ProofTree::Value(v) => {
            if v.len() < 256 {
                out.push(TAG_VALUE);
                out.push(v.len() as u8);
            } else if v.len() < 65536 {
                out.push(TAG_VALUE | 1);
                out.extend_from_slice(&(v.len() as u16).to_be_bytes());
            } else {
                out.push(TAG_VALUE | 3);
                write_uint30(out, v.len())?;
            }
            out.extend_from_slice(v);
        }
        ProofTree::BlindedValue(h) => {
            out.push(TAG_BLINDED_VALUE);
            out.extend_from_slice(&h.0);
        }
        ProofTree::Node(entries) => write_entries(out, TAG_NODE, entries)?,
        ProofTree::BlindedNode(h) => {
            out.push(TAG_BLINDED_NODE);
            out.extend_from_slice(&h.0);
        }
        ProofTree::Inode(i) => write_inode(out, 0, i)?,
        ProofTree::Extender(e) => write_extender(out, TAG_EXTENDER, e)?,
    }
    Ok(())
}

fn write_inode(out: &mut Vec<u8>, base_tag: u8, i: &InodeProof) -> Result<(), ProofError> {
    if i.left.is_none() && i.right.is_none() {
        return Err(ProofError::Invalid(
            "cannot encode an inode without children",
        ));
    }
    out.push(base_tag | length_tag(i.length));
    write_length(out, i.length)?;
    for child in [&i.left, &i.right] {
        match child {
            None => out.push(TAG_NONE),
            Some(c) => write_inode_tree(out, c)?,
        }
    }
    Ok(())
}

fn write_extender(out: &mut Vec<u8>, base_tag: u8, e: &ExtenderProof) -> Result<(), ProofError> {
    out.push(base_tag | length_tag(e.length));
    write_length(out, e.length)?;
    let seg = encode_segments(&e.segments)?;
    let len = u8::try_from(seg.len()).map_err(|_| ProofError::Invalid("segment too long"))?;
    out.push(len);
    out.extend_from_slice(&seg);
    write_inode_tree(out, &e.proof)
}

fn write_inode_tree(out: &mut Vec<u8>, t: &InodeTree) -> Result<(), ProofError> {
    match t {
        InodeTree::Blinded(h) => {
            out.push(TAG_BLINDED_INODE);
            out.extend_from_slice(&h.0);
            Ok(())
        }
        InodeTree::Values(entries) => write_entries(out, TAG_NODE, entries),
        InodeTree::Tree(i) => write_inode(out, 0, i),
        InodeTree::Extender(e) => write_extender(out, TAG_INODE_EXTENDER, e),
    }
}

/// One bit per segment, MSB first, then a `1` bit, then zero padding to the byte.
fn encode_segments(segments: &[u8]) -> Result<Vec<u8>, ProofError> {
    let nbits = segments
        .len()
        .checked_add(1)
        .ok_or(ProofError::Invalid("segment"))?;
    let mut out = vec![0u8; nbits.div_ceil(8)];
    for (i, s) in segments.iter().chain(std::iter::once(&1u8)).enumerate() {
        if *s > 1 {
            return Err(ProofError::Invalid("extender segment not 0 or 1"));
        }
        if *s == 1 {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    Ok(out)
}

fn decode_segments(bytes: &[u8]) -> Option<Vec<u8>> {
    let last = *bytes.last()?;
    if last == 0 {
        return None;
    }
    // Bits after the last segment: the closing 1 and the zero padding.
    let trailing = last.trailing_zeros() as usize + 1;
    let nbits = bytes.len().checked_mul(8)?.checked_sub(trailing)?;
    Some(
        (0..nbits)
            .map(|i| (bytes[i / 8] >> (7 - i % 8)) & 1)
            .collect(),
    )
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn err(&self, reason: &'static str) -> ProofError {
        self.err_at(self.pos, reason)
    }

    fn err_at(&self, offset: usize, reason: &'static str) -> ProofError {
        ProofError::Decode { offset, reason }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], ProofError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.err("unexpected end of the proof"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ProofError> {
        Ok(self.array::<1>()?[0])
    }

    fn hash(&mut self) -> Result<Hash, ProofError> {
        Ok(Hash(self.array::<HASH_SIZE>()?))
    }

    fn uint30(&mut self) -> Result<usize, ProofError> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array()?);
        if n > MAX_UINT30 as u32 {
            return Err(self.err_at(at, "size above uint30"));
        }
        usize::try_from(n).map_err(|_| self.err_at(at, "size"))
    }

    /// A compact `int64` length of tag `ll`, refusing sizes used for small values and
    /// negative values (an OCaml `int` length).
    fn length(&mut self, ll: u8) -> Result<u64, ProofError> {
        let at = self.pos;
        let (n, min) = match ll {
            0 => (u64::from(self.u8()?), 0),
            1 => (u64::from(u16::from_be_bytes(self.array()?)), 0x100),
            2 => (u64::from(u32::from_be_bytes(self.array()?)), 0x1_0000),
            _ => {
                let v = i64::from_be_bytes(self.array()?);
                let v = u64::try_from(v).map_err(|_| self.err_at(at, "negative length"))?;
                (v, 0x1_0000_0000)
            }
        };
        if n < min {
            return Err(self.err_at(at, "length in a larger size than needed"));
        }
        Ok(n)
    }

    fn step(&mut self) -> Result<String, ProofError> {
        let at = self.pos;
        // `Bounded.string' Hex 255`: a `uint8` length.
        let len = usize::from(self.u8()?);
        let b = self.take(len)?.to_vec();
        String::from_utf8(b).map_err(|_| self.err_at(at, "step is not UTF-8"))
    }
}

fn read_entries(
    r: &mut Reader<'_>,
    nn: u8,
    nesting: usize,
) -> Result<Vec<(String, ProofTree)>, ProofError> {
    let mut entries = Vec::new();
    if nn < 3 {
        for _ in 0..nn {
            let s = r.step()?;
            entries.push((s, read_tree(r, nesting)?));
        }
    } else {
        let size = r.uint30()?;
        let end = r
            .pos
            .checked_add(size)
            .filter(|e| *e <= r.bytes.len())
            .ok_or_else(|| r.err("entry list longer than the proof"))?;
        while r.pos < end {
            let s = r.step()?;
            entries.push((s, read_tree(r, nesting)?));
        }
        if r.pos != end {
            return Err(r.err("entry list overruns its size"));
        }
    }
    Ok(entries)
}

fn read_tree(r: &mut Reader<'_>, nesting: usize) -> Result<ProofTree, ProofError> {
    let nesting = nesting
        .checked_add(1)
        .filter(|n| *n <= MAX_NESTING)
        .ok_or_else(|| r.err("proof nested too deeply"))?;
    let at = r.pos;
    let tag = r.u8()?;
    Ok(match tag {
        0x00..=0x03 => ProofTree::Inode(read_inode(r, tag & 3, nesting)?),
        0x80..=0x83 => ProofTree::Node(read_entries(r, tag & 3, nesting)?),
        0xC0 => {
            let n = usize::from(r.u8()?);
            ProofTree::Value(r.take(n)?.to_vec())
        }
        0xC1 => {
            let n = usize::from(u16::from_be_bytes(r.array()?));
            if n < 256 {
                return Err(r.err_at(at, "medium value shorter than 256 bytes"));
            }
            ProofTree::Value(r.take(n)?.to_vec())
        }
        0xC3 => {
            let n = r.uint30()?;
            if n < 65536 {
                return Err(r.err_at(at, "long value shorter than 65536 bytes"));
            }
            ProofTree::Value(r.take(n)?.to_vec())
        }
        TAG_BLINDED_VALUE => ProofTree::BlindedValue(r.hash()?),
        TAG_BLINDED_NODE => ProofTree::BlindedNode(r.hash()?),
        0xD8..=0xDB => ProofTree::Extender(read_extender(r, tag & 3, nesting)?),
        TAG_NONE => return Err(r.err_at(at, "ill-formed Merkle proof (none where a tree is due)")),
        _ => return Err(r.err_at(at, "unknown tree tag")),
    })
}

fn read_inode(r: &mut Reader<'_>, ll: u8, nesting: usize) -> Result<InodeProof, ProofError> {
    let at = r.pos;
    let length = r.length(ll)?;
    let left = read_option_inode_tree(r, nesting)?.map(Box::new);
    let right = read_option_inode_tree(r, nesting)?.map(Box::new);
    if left.is_none() && right.is_none() {
        return Err(r.err_at(at, "ill-formed Merkle proof (inode without children)"));
    }
    Ok(InodeProof {
        length,
        left,
        right,
    })
}

fn read_extender(r: &mut Reader<'_>, ll: u8, nesting: usize) -> Result<ExtenderProof, ProofError> {
    let length = r.length(ll)?;
    let at = r.pos;
    let n = usize::from(r.u8()?);
    let segments =
        decode_segments(r.take(n)?).ok_or_else(|| r.err_at(at, "invalid binary list"))?;
    let proof = read_option_inode_tree(r, nesting)?
        .ok_or_else(|| r.err_at(at, "ill-formed Merkle proof (extender to none)"))?;
    Ok(ExtenderProof {
        length,
        segments,
        proof: Box::new(proof),
    })
}

fn read_option_inode_tree(
    r: &mut Reader<'_>,
    nesting: usize,
) -> Result<Option<InodeTree>, ProofError> {
    let nesting = nesting
        .checked_add(1)
        .filter(|n| *n <= MAX_NESTING)
        .ok_or_else(|| r.err("proof nested too deeply"))?;
    let at = r.pos;
    let tag = r.u8()?;
    Ok(Some(match tag {
        0x00..=0x03 => InodeTree::Tree(read_inode(r, tag & 3, nesting)?),
        0x80..=0x83 => InodeTree::Values(read_entries(r, tag & 3, nesting)?),
        TAG_BLINDED_INODE => InodeTree::Blinded(r.hash()?),
        0xD0..=0xD3 => InodeTree::Extender(read_extender(r, tag & 3, nesting)?),
        TAG_NONE => return Ok(None),
        _ => return Err(r.err_at(at, "unknown inode tag")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_and_layout() {
        // [1;0;1] → 101 then the closing 1: 1011_0000.
        assert_eq!(encode_segments(&[1, 0, 1]).unwrap(), vec![0b1011_0000]);
        // 7 segments → the closing bit is the last bit of the byte.
        assert_eq!(encode_segments(&[0; 7]).unwrap(), vec![0b0000_0001]);
        // 8 segments need a second byte.
        assert_eq!(encode_segments(&[1; 8]).unwrap(), vec![0xff, 0x80]);
        for n in 0..40usize {
            let segs: Vec<u8> = (0..n).map(|i| u8::from(i % 3 == 0)).collect();
            assert_eq!(
                decode_segments(&encode_segments(&segs).unwrap()),
                Some(segs)
            );
        }
        assert_eq!(decode_segments(&[0]), None);
        assert_eq!(decode_segments(&[]), None);
    }

    #[test]
    fn lengths_use_the_smallest_size() {
        for (n, bytes) in [
            (5u64, vec![5u8]),
            (300, vec![1, 44]),
            (70_000, vec![0, 1, 0x11, 0x70]),
            (1 << 33, vec![0, 0, 0, 2, 0, 0, 0, 0]),
        ] {
            let mut out = Vec::new();
            write_length(&mut out, n).unwrap();
            assert_eq!(out, bytes, "{n}");
            let mut r = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(r.length(length_tag(n)).unwrap(), n);
        }
        // 5 written on two bytes is refused.
        let mut r = Reader {
            bytes: &[0, 5],
            pos: 0,
        };
        assert!(r.length(1).is_err());
    }
}
