//! Decoders of pack entries (irmin `src/irmin-pack/pack_value.ml`, `inode.ml` `Compress`,
//! `Commit_direct`), in the `repr` binary encoding: `int` is a LEB128 varint, `int63`/`int64`
//! 8 bytes big-endian, strings a varint length then the bytes, lists a varint count, variants a
//! varint tag, hashes their raw bytes.
//!
//! An entry is `hash ‖ kind byte ‖ body`. Kinds `D`, `P`, `R`, `O` have a varint length header
//! before the body; contents (`B`) are a length-prefixed string; v1 kinds (`C`, `I`, `N`) have
//! no length and are decoded to find their end.

use context_hash::data_encoding::{VarIntError, read_n_u64};

use crate::schema::{CommitInfo, EntryType, ObjHash};

/// The kind byte of an entry (`Pack_value.Kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `C`: a commit of irmin-pack v1 (parents and node by hash).
    CommitV1,
    /// `D`: a commit of irmin-pack v2+ (node and parents by offset or hash).
    CommitV2,
    /// `B`: a contents value.
    Contents,
    /// `I`: a v1 inode that does not hash as a plain node.
    InodeV1Unstable,
    /// `N`: a v1 inode that hashes as a plain node.
    InodeV1Stable,
    /// `R`: a v2 root inode (a directory).
    InodeV2Root,
    /// `O`: a v2 inner inode.
    InodeV2Nonroot,
    /// `P`: a commit whose parents were removed by a GC (stored by hash).
    DanglingParentCommit,
}

impl Kind {
    /// The kind of a magic byte.
    pub fn of_magic(m: u8) -> Option<Kind> {
        Some(match m {
            b'C' => Kind::CommitV1,
            b'D' => Kind::CommitV2,
            b'B' => Kind::Contents,
            b'I' => Kind::InodeV1Unstable,
            b'N' => Kind::InodeV1Stable,
            b'R' => Kind::InodeV2Root,
            b'O' => Kind::InodeV2Nonroot,
            b'P' => Kind::DanglingParentCommit,
            _ => return None,
        })
    }

    /// The magic byte.
    pub fn magic(self) -> u8 {
        match self {
            Kind::CommitV1 => b'C',
            Kind::CommitV2 => b'D',
            Kind::Contents => b'B',
            Kind::InodeV1Unstable => b'I',
            Kind::InodeV1Stable => b'N',
            Kind::InodeV2Root => b'R',
            Kind::InodeV2Nonroot => b'O',
            Kind::DanglingParentCommit => b'P',
        }
    }

    /// Human name for errors.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CommitV1 => "a v1 commit (C)",
            Kind::CommitV2 => "a commit (D)",
            Kind::Contents => "a contents (B)",
            Kind::InodeV1Unstable => "a v1 inode (I)",
            Kind::InodeV1Stable => "a v1 node (N)",
            Kind::InodeV2Root => "a root inode (R)",
            Kind::InodeV2Nonroot => "an inner inode (O)",
            Kind::DanglingParentCommit => "a commit with dangling parents (P)",
        }
    }

    /// Whether the entry is a commit.
    pub fn is_commit(self) -> bool {
        matches!(
            self,
            Kind::CommitV1 | Kind::CommitV2 | Kind::DanglingParentCommit
        )
    }

    /// Whether the entry is an inode (a node or part of one).
    pub fn is_inode(self) -> bool {
        matches!(
            self,
            Kind::InodeV1Unstable | Kind::InodeV1Stable | Kind::InodeV2Root | Kind::InodeV2Nonroot
        )
    }

    /// Whether a varint length follows the kind byte.
    fn has_length_header(self) -> bool {
        matches!(
            self,
            Kind::CommitV2 | Kind::DanglingParentCommit | Kind::InodeV2Root | Kind::InodeV2Nonroot
        )
    }
}

/// Where an object is: a global pack offset, or a hash to look up in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// Global offset of the entry.
    Offset(u64),
    /// Hash of the entry (resolved through the index).
    Hash(ObjHash),
}

/// A step name: inline, or a key of `store.dict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Name {
    /// Index into the dict.
    Dict(u64),
    /// The name itself.
    Direct(Vec<u8>),
}

/// One entry of a `Values` inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InodeValue {
    /// Step name.
    pub name: Name,
    /// Node or contents.
    pub kind: EntryType,
    /// Where the child is.
    pub address: Address,
}

/// The body of an inode (`Compress.v`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InodeBody {
    /// Up to `entries` directory entries.
    Values(Vec<InodeValue>),
    /// Children inodes by index.
    Tree {
        /// Depth of this inode (0 for a root).
        depth: u64,
        /// Number of directory entries below.
        length: u64,
        /// `(index, child)` pointers.
        pointers: Vec<(u64, Address)>,
    },
}

/// A decoded entry body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// Contents bytes.
    Contents(Vec<u8>),
    /// An inode.
    Inode(InodeBody),
    /// A commit.
    Commit {
        /// Root node.
        node: Address,
        /// Parents.
        parents: Vec<Address>,
        /// Date, author, message.
        info: CommitInfo,
    },
}

/// A decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Hash stored at the start of the entry.
    pub hash: ObjHash,
    /// Its kind.
    pub kind: Kind,
    /// Total length in bytes (hash, kind, header, body).
    pub len: u64,
    /// The body.
    pub body: Body,
}

/// Why bytes did not decode (positions relative to the start of the buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The buffer ended: `needed` bytes from its start are required (at least).
    Short {
        /// Bytes needed from the start of the buffer.
        needed: u64,
        /// What was being read.
        what: &'static str,
    },
    /// The kind byte is unknown.
    UnknownKind(u8),
    /// A value is invalid.
    Malformed {
        /// Position in the buffer.
        pos: u64,
        /// What was read.
        what: &'static str,
        /// What was expected.
        expected: String,
    },
}

fn pos64(p: usize) -> u64 {
    u64::try_from(p).unwrap_or(u64::MAX)
}

/// A reading position in a buffer.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Malformed {
            pos: pos64(self.pos),
            what,
            expected: "a length that fits in memory".into(),
        })?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Short {
            needed: pos64(end),
            what,
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        match read_n_u64(rest) {
            Ok((v, n)) => {
                self.pos = self.pos.saturating_add(n);
                Ok(v)
            }
            Err(VarIntError::Truncated) => Err(DecodeError::Short {
                needed: pos64(self.buf.len()).saturating_add(1),
                what,
            }),
            Err(VarIntError::Overflow) => Err(DecodeError::Malformed {
                pos: pos64(self.pos),
                what,
                expected: "a varint below 2^64".into(),
            }),
        }
    }

    /// A length that must fit `usize`.
    fn len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let v = self.varint(what)?;
        usize::try_from(v).map_err(|_| DecodeError::Malformed {
            pos: pos64(at),
            what,
            expected: "a length that fits in memory".into(),
        })
    }

    fn int63(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let at = self.pos;
        let raw: [u8; 8] = self.take(8, what)?.try_into().unwrap_or([0; 8]);
        let v = i64::from_be_bytes(raw);
        u64::try_from(v).map_err(|_| DecodeError::Malformed {
            pos: pos64(at),
            what,
            expected: "a non-negative 63-bit integer".into(),
        })
    }

    fn int64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let raw: [u8; 8] = self.take(8, what)?.try_into().unwrap_or([0; 8]);
        Ok(i64::from_be_bytes(raw))
    }

    fn string(&mut self, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = self.len(what)?;
        Ok(self.take(n, what)?.to_vec())
    }

    fn hash(&mut self, size: usize, what: &'static str) -> Result<ObjHash, DecodeError> {
        let at = self.pos;
        let raw = self.take(size, what)?;
        ObjHash::from_slice(raw).ok_or(DecodeError::Malformed {
            pos: pos64(at),
            what,
            expected: "a hash of 1 to 32 bytes".into(),
        })
    }

    fn tag(&mut self, max: u64, what: &'static str) -> Result<u64, DecodeError> {
        let at = self.pos;
        let t = self.varint(what)?;
        if t > max {
            return Err(DecodeError::Malformed {
                pos: pos64(at),
                what,
                expected: format!("a tag from 0 to {max}, found {t}"),
            });
        }
        Ok(t)
    }

    /// A list count, bounded by the bytes left (each element takes at least `min` bytes), so
    /// a hostile count cannot make us allocate.
    fn count(&mut self, min: usize, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.len(what)?;
        let left = self.buf.len().saturating_sub(self.pos);
        if n.saturating_mul(min.max(1)) > left {
            return Err(DecodeError::Short {
                needed: pos64(self.pos).saturating_add(pos64(n.saturating_mul(min.max(1)))),
                what,
            });
        }
        Ok(n)
    }

    fn address(&mut self, hash_size: usize, what: &'static str) -> Result<Address, DecodeError> {
        match self.tag(1, what)? {
            0 => Ok(Address::Offset(self.int63(what)?)),
            _ => Ok(Address::Hash(self.hash(hash_size, what)?)),
        }
    }

    fn info(&mut self) -> Result<CommitInfo, DecodeError> {
        Ok(CommitInfo {
            date: self.int64("commit date")?,
            author: self.string("commit author")?,
            message: self.string("commit message")?,
        })
    }
}

/// Decode the inode body `Compress.v`.
fn inode_body(c: &mut Cursor<'_>, hash_size: usize) -> Result<InodeBody, DecodeError> {
    match c.tag(1, "inode tag")? {
        0 => {
            let n = c.count(2, "inode values")?;
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                // Tags in `Compress.value_t` order: {contents, contents-x, node} ×
                // {indirect+offset, indirect+hash, direct+offset, direct+hash}. Metadata is
                // `Metadata.None` (no bytes), so the `-x` cases carry nothing more.
                let tag = c.tag(11, "inode value tag")?;
                let kind = if tag % 3 == 2 {
                    EntryType::Node
                } else {
                    EntryType::Contents
                };
                let name = if tag < 6 {
                    Name::Dict(c.varint("dict key")?)
                } else {
                    Name::Direct(c.string("step name")?)
                };
                let address = if (tag / 3) % 2 == 0 {
                    Address::Offset(c.int63("child offset")?)
                } else {
                    Address::Hash(c.hash(hash_size, "child hash")?)
                };
                values.push(InodeValue {
                    name,
                    kind,
                    address,
                });
            }
            Ok(InodeBody::Values(values))
        }
        _ => {
            let depth = c.varint("inode depth")?;
            let length = c.varint("inode length")?;
            let n = c.count(2, "inode pointers")?;
            let mut pointers = Vec::with_capacity(n);
            for _ in 0..n {
                let index = c.varint("pointer index")?;
                pointers.push((index, c.address(hash_size, "pointer address")?));
            }
            Ok(InodeBody::Tree {
                depth,
                length,
                pointers,
            })
        }
    }
}

/// Decode the entry at the start of `buf`. `DecodeError::Short` says how many bytes to read
/// to try again.
pub(crate) fn decode_entry(buf: &[u8], hash_size: usize) -> Result<Decoded, DecodeError> {
    let mut c = Cursor { buf, pos: 0 };
    let hash = c.hash(hash_size, "entry hash")?;
    let magic = c.u8("entry kind")?;
    let kind = Kind::of_magic(magic).ok_or(DecodeError::UnknownKind(magic))?;
    let body_end = if kind.has_length_header() {
        let n = c.len("entry length header")?;
        let end = c.pos.checked_add(n).ok_or(DecodeError::Malformed {
            pos: pos64(c.pos),
            what: "entry length header",
            expected: "a length that fits in memory".into(),
        })?;
        if end > buf.len() {
            return Err(DecodeError::Short {
                needed: pos64(end),
                what: "entry body",
            });
        }
        Some(end)
    } else {
        None
    };
    let body = match kind {
        Kind::Contents => Body::Contents(c.string("contents")?),
        Kind::InodeV1Stable | Kind::InodeV1Unstable | Kind::InodeV2Root | Kind::InodeV2Nonroot => {
            Body::Inode(inode_body(&mut c, hash_size)?)
        }
        Kind::CommitV1 => {
            let node = Address::Hash(c.hash(hash_size, "commit node")?);
            let n = c.count(hash_size, "commit parents")?;
            let mut parents = Vec::with_capacity(n);
            for _ in 0..n {
                parents.push(Address::Hash(c.hash(hash_size, "commit parent")?));
            }
            let info = c.info()?;
            Body::Commit {
                node,
                parents,
                info,
            }
        }
        Kind::CommitV2 | Kind::DanglingParentCommit => {
            let node = c.address(hash_size, "commit node")?;
            let n = c.count(2, "commit parents")?;
            let mut parents = Vec::with_capacity(n);
            for _ in 0..n {
                parents.push(c.address(hash_size, "commit parent")?);
            }
            let info = c.info()?;
            Body::Commit {
                node,
                parents,
                info,
            }
        }
    };
    if let Some(end) = body_end
        && c.pos != end
    {
        return Err(DecodeError::Malformed {
            pos: pos64(c.pos),
            what: "entry body",
            expected: format!(
                "a body ending where its length header says (byte {end}), decoded up to byte {}",
                c.pos
            ),
        });
    }
    Ok(Decoded {
        hash,
        kind,
        len: pos64(c.pos),
        body,
    })
}

/// Bytes to read first for an entry: enough for every length-headered entry header.
pub(crate) fn header_len(hash_size: usize) -> usize {
    hash_size.saturating_add(1).saturating_add(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> Vec<u8> {
        vec![i; 20]
    }

    #[test]
    fn contents_entry() {
        let mut b = h(1);
        b.push(b'B');
        b.extend([3, b'a', b'b', b'c']);
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(d.kind, Kind::Contents);
        assert_eq!(d.len, 25);
        assert_eq!(d.body, Body::Contents(b"abc".to_vec()));
        // Truncated: asks for the full length.
        assert_eq!(
            decode_entry(&b[..23], 20),
            Err(DecodeError::Short {
                needed: 25,
                what: "contents"
            })
        );
    }

    #[test]
    fn unknown_kind() {
        let mut b = h(1);
        b.push(b'Z');
        assert_eq!(decode_entry(&b, 20), Err(DecodeError::UnknownKind(b'Z')));
    }

    #[test]
    fn v2_root_inode_with_dict_and_offsets() {
        // Bytes of `version_3_minimal` at offset 54 (irmin test data): Values [contents-io
        // (dict 0, offset 29)].
        let mut b = h(2);
        b.extend([b'R', 12, 0, 1, 0, 0]);
        b.extend(29u64.to_be_bytes());
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(d.len, 34);
        assert_eq!(
            d.body,
            Body::Inode(InodeBody::Values(vec![InodeValue {
                name: Name::Dict(0),
                kind: EntryType::Contents,
                address: Address::Offset(29),
            }]))
        );
    }

    #[test]
    fn length_header_must_match_body() {
        let mut b = h(2);
        b.extend([b'R', 13, 0, 1, 0, 0]);
        b.extend(29u64.to_be_bytes());
        b.push(0);
        assert!(matches!(
            decode_entry(&b, 20),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn tree_inode_and_direct_names() {
        let mut b = h(3);
        b.push(b'O');
        let mut body = vec![1, 2, 9, 2, 0, 0];
        body.extend(100u64.to_be_bytes());
        body.extend([1, 1]);
        body.extend(h(7));
        b.push(u8::try_from(body.len()).unwrap());
        b.extend(body);
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(
            d.body,
            Body::Inode(InodeBody::Tree {
                depth: 2,
                length: 9,
                pointers: vec![
                    (0, Address::Offset(100)),
                    (1, Address::Hash(ObjHash::from_slice(&h(7)).unwrap()))
                ]
            })
        );
        // node-dh: direct name and hash.
        let mut b = h(3);
        b.extend([b'N', 0, 1, 11, 1, b'x']);
        b.extend(h(8));
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(
            d.body,
            Body::Inode(InodeBody::Values(vec![InodeValue {
                name: Name::Direct(b"x".to_vec()),
                kind: EntryType::Node,
                address: Address::Hash(ObjHash::from_slice(&h(8)).unwrap()),
            }]))
        );
        // A v1 inode without length: truncation is reported as Short.
        assert!(matches!(
            decode_entry(&b[..b.len() - 1], 20),
            Err(DecodeError::Short { .. })
        ));
    }

    #[test]
    fn commits() {
        // v2 commit (`version_3_minimal` at offset 122): node at offset 88, no parent.
        let mut b = h(4);
        b.extend([b'D', 20, 0]);
        b.extend(88u64.to_be_bytes());
        b.push(0);
        b.extend([0; 8]);
        b.extend([0, 0]);
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(d.len, 42);
        assert_eq!(
            d.body,
            Body::Commit {
                node: Address::Offset(88),
                parents: vec![],
                info: CommitInfo::default()
            }
        );
        // v1 commit: node hash, one parent hash, info.
        let mut b = h(5);
        b.push(b'C');
        b.extend(h(6));
        b.push(1);
        b.extend(h(7));
        b.extend(5i64.to_be_bytes());
        b.extend([1, b'a', 2, b'm', b'n']);
        let d = decode_entry(&b, 20).unwrap();
        assert_eq!(d.kind, Kind::CommitV1);
        assert_eq!(d.len, u64::try_from(b.len()).unwrap());
        let Body::Commit { info, parents, .. } = d.body else {
            panic!("not a commit")
        };
        assert_eq!(parents.len(), 1);
        assert_eq!(info.date, 5);
        assert_eq!(info.message, b"mn");
    }

    #[test]
    fn negative_offset_is_malformed() {
        let mut b = h(4);
        b.extend([b'D', 20, 0]);
        b.extend((-1i64).to_be_bytes());
        b.push(0);
        b.extend([0; 10]);
        assert!(matches!(
            decode_entry(&b, 20),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn hostile_counts_do_not_allocate() {
        let mut b = h(4);
        b.extend([b'I', 0]);
        b.extend([0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode_entry(&b, 20),
            Err(DecodeError::Short { .. })
        ));
    }
}
