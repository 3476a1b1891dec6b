//! Block headers: shell header + Tenderbake protocol data, their binary encoding, hash and
//! JSON (l1-and-signer.md §1.2, §1.3, §5.6 for the byte layout).

use serde_json::{Value, json};
use tezos_types::{
    BinEncode, BlockHash, BlockPayloadHash, ChainId, ContextHash, OperationHash, OperationListHash,
    OperationListListHash, SecretKey, Signature, Watermark, Writer,
};

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Level.
    pub level: i32,
    /// Protocol level (`proto`).
    pub proto: u8,
    /// Predecessor hash.
    pub predecessor: BlockHash,
    /// Timestamp (seconds since the epoch).
    pub timestamp: i64,
    /// Number of validation passes.
    pub validation_pass: u8,
    /// Hash of the operation hashes per pass.
    pub operations_hash: OperationListListHash,
    /// Tenderbake fitness.
    pub fitness: Vec<Vec<u8>>,
    /// Context hash.
    pub context: ContextHash,
    /// Payload hash.
    pub payload_hash: BlockPayloadHash,
    /// Payload round.
    pub payload_round: i32,
    /// Proof-of-work nonce.
    pub proof_of_work_nonce: [u8; 8],
    /// Baker signature (absent on the genesis block).
    pub signature: Option<Signature>,
}

/// Tenderbake fitness `[02, level, locked_round (empty), 0xffffffff − predecessor_round, round]`.
pub fn fitness(level: i32, predecessor_round: i32, round: i32) -> Vec<Vec<u8>> {
    vec![
        vec![2],
        level.to_be_bytes().to_vec(),
        vec![],
        (-1i32)
            .wrapping_sub(predecessor_round)
            .to_be_bytes()
            .to_vec(),
        round.to_be_bytes().to_vec(),
    ]
}

/// Merkle root of a list (`Blake2B.Make_merkle_tree`): empty → Blake2b of nothing; one
/// element → its leaf; otherwise leaves (`H(x)`) are paired level by level, the last leaf
/// padding the array and an odd level count being completed with a duplicate of its last node.
fn merkle(xs: &[[u8; 32]]) -> [u8; 32] {
    use tezos_types::hash::blake2b;
    let leaf = |x: &[u8; 32]| blake2b::<32>(&[x]);
    let node = |l: &[u8; 32], r: &[u8; 32]| blake2b::<32>(&[l, r]);
    let Some(last) = xs.last() else {
        return blake2b::<32>(&[]);
    };
    if xs.len() == 1 {
        return leaf(last);
    }
    let mut a: Vec<[u8; 32]> = xs.iter().map(leaf).collect();
    a.push(leaf(last));
    let mut n = xs.len();
    loop {
        let m = n.div_ceil(2);
        for i in 0..m {
            a[i] = node(&a[2 * i], &a[2 * i + 1]);
        }
        a[m] = node(&a[n], &a[n]);
        if m == 1 {
            return a[0];
        }
        if m.is_multiple_of(2) {
            n = m;
        } else {
            a[m + 1] = a[m];
            n = m + 1;
        }
    }
}

/// `operations_hash` of the four validation passes where only pass 3 (managers) is used
/// (`Operation_list_list_hash.compute` of the per-pass `Operation_list_hash.compute`).
pub fn operations_hash(manager_ops: &[OperationHash]) -> OperationListListHash {
    let empty = OperationListHash(merkle(&[]));
    let managers = OperationListHash(merkle(&manager_ops.iter().map(|h| h.0).collect::<Vec<_>>()));
    OperationListListHash(merkle(&[empty.0, empty.0, empty.0, managers.0]))
}

/// `operations_hash` of a block without validation passes (genesis).
pub fn empty_operations_hash() -> OperationListListHash {
    OperationListListHash(merkle(&[]))
}

impl Header {
    /// Shell header bytes (`Block_header.shell_header_encoding`).
    pub fn shell_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.i32(self.level);
        w.u8(self.proto);
        self.predecessor.bin_write(&mut w);
        w.i64(self.timestamp);
        w.u8(self.validation_pass);
        self.operations_hash.bin_write(&mut w);
        w.dynamic(|w| {
            for f in &self.fitness {
                w.dyn_bytes(f);
            }
        });
        self.context.bin_write(&mut w);
        w.into_bytes()
    }

    /// Protocol data without the signature: payload hash, payload round, PoW nonce, no seed
    /// nonce hash, per-block votes (`pass`/`pass` = 0x0a).
    fn protocol_data_unsigned(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.payload_hash.bin_write(&mut w);
        w.i32(self.payload_round);
        w.bytes(&self.proof_of_work_nonce);
        w.u8(0);
        w.u8(0x0a);
        w.into_bytes()
    }

    /// Full protocol data (with the 64-byte signature).
    pub fn protocol_data(&self) -> Vec<u8> {
        let mut b = self.protocol_data_unsigned();
        match &self.signature {
            Some(s) => b.extend_from_slice(s.as_bytes()),
            None => b.extend_from_slice(&[0; 64]),
        }
        b
    }

    /// Signs the header with the block watermark `0x11 ‖ chain_id` (§5.5).
    pub fn sign(&mut self, chain_id: &ChainId, baker: &SecretKey) {
        let mut data = self.shell_bytes();
        data.extend_from_slice(&self.protocol_data_unsigned());
        let mut wm = vec![0x11];
        wm.extend_from_slice(&chain_id.0);
        self.signature = Some(baker.sign(Some(&Watermark::Custom(wm)), &data));
    }

    /// Block hash: Blake2b-256 of the whole header (shell ‖ protocol data).
    pub fn hash(&self) -> BlockHash {
        BlockHash::hash_parts(&[&self.shell_bytes(), &self.protocol_data()])
    }

    /// The shell-header JSON fields.
    pub fn shell_json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("level".into(), json!(self.level));
        m.insert("proto".into(), json!(self.proto));
        m.insert("predecessor".into(), json!(self.predecessor.to_b58check()));
        m.insert("timestamp".into(), json!(rfc3339(self.timestamp)));
        m.insert("validation_pass".into(), json!(self.validation_pass));
        m.insert(
            "operations_hash".into(),
            json!(self.operations_hash.to_b58check()),
        );
        m.insert(
            "fitness".into(),
            Value::Array(self.fitness.iter().map(|f| json!(hex::encode(f))).collect()),
        );
        m.insert("context".into(), json!(self.context.to_b58check()));
        m
    }

    /// Monitor-heads element: hash merged with the raw block header (§1.2).
    pub fn raw_json(&self, hash: &BlockHash) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("hash".into(), json!(hash.to_b58check()));
        m.extend(self.shell_json());
        m.insert(
            "protocol_data".into(),
            json!(hex::encode(self.protocol_data())),
        );
        Value::Object(m)
    }

    /// `/header` JSON: protocol, chain id, hash, shell fields and decoded protocol data.
    pub fn full_json(&self, hash: &BlockHash, protocol: &str, chain_id: &ChainId) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("protocol".into(), json!(protocol));
        m.insert("chain_id".into(), json!(chain_id.to_b58check()));
        m.insert("hash".into(), json!(hash.to_b58check()));
        m.extend(self.shell_json());
        if self.level > 0 {
            m.insert(
                "payload_hash".into(),
                json!(self.payload_hash.to_b58check()),
            );
            m.insert("payload_round".into(), json!(self.payload_round));
            m.insert(
                "proof_of_work_nonce".into(),
                json!(hex::encode(self.proof_of_work_nonce)),
            );
            m.insert("liquidity_baking_toggle_vote".into(), json!("pass"));
            m.insert("adaptive_issuance_vote".into(), json!("pass"));
            if let Some(s) = &self.signature {
                m.insert("signature".into(), json!(s.to_b58check()));
            }
        }
        Value::Object(m)
    }
}

/// RFC 3339 UTC timestamp (`2025-06-01T12:00:08Z`) of Unix seconds.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_748_779_208), "2025-06-01T12:00:08Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn merkle_anchors() {
        // `Operation_list_list_hash.empty`, as in every Octez genesis header.
        assert_eq!(
            empty_operations_hash().to_b58check(),
            "LLoZS2LW3rEi7KYU4ouBQtorua37aWWCtpDmv1n2x3xoKi6sVXLWp"
        );
        use tezos_types::hash::blake2b;
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let l = |x: &[u8; 32]| blake2b::<32>(&[x]);
        let n = |x: &[u8; 32], y: &[u8; 32]| blake2b::<32>(&[x, y]);
        assert_eq!(merkle(&[a]), l(&a));
        assert_eq!(merkle(&[a, b]), n(&l(&a), &l(&b)));
        // Three leaves: the last one pads the second pair.
        assert_eq!(
            merkle(&[a, b, c]),
            n(&n(&l(&a), &l(&b)), &n(&l(&c), &l(&c)))
        );
    }

    #[test]
    fn fitness_layout() {
        let f = fitness(5, 0, 1);
        assert_eq!(
            f.iter().map(hex::encode).collect::<Vec<_>>(),
            ["02", "00000005", "", "ffffffff", "00000001"]
        );
    }

    #[test]
    fn header_hash_changes_with_round_and_layout() {
        let h = Header {
            level: 3,
            proto: 1,
            predecessor: BlockHash::ZERO,
            timestamp: 10,
            validation_pass: 4,
            operations_hash: operations_hash(&[]),
            fitness: fitness(3, 0, 0),
            context: ContextHash::ZERO,
            payload_hash: BlockPayloadHash::ZERO,
            payload_round: 0,
            proof_of_work_nonce: [0; 8],
            signature: None,
        };
        let shell = h.shell_bytes();
        // level(4) proto(1) pred(32) ts(8) vp(1) ops(32) fitness(4 + 5 + 8 + 4 + 8 + 8) ctx(32)
        assert_eq!(shell.len(), 4 + 1 + 32 + 8 + 1 + 32 + 37 + 32);
        assert_eq!(&shell[78..82], &[0, 0, 0, 33]);
        let mut h2 = h.clone();
        h2.fitness = fitness(3, 0, 1);
        assert_ne!(h.hash(), h2.hash());
        let baker = crate::accounts::bootstrap_accounts().remove(0).secret_key;
        let mut s = h.clone();
        s.sign(&ChainId::ZERO, &baker);
        assert_eq!(s.protocol_data().len(), 32 + 4 + 8 + 1 + 1 + 64);
        assert_ne!(s.hash(), h.hash());
    }
}
