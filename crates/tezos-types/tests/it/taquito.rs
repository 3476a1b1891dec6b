//! Cross-check of forging and signing against Taquito (`@taquito/local-forging`,
//! `@taquito/signer`; l1-and-signer.md §6), run through `scripts/taquito-crosscheck`.
//!
//! Needs Node.js and `npm ci` in `scripts/taquito-crosscheck` (`scripts/test.sh` runs it first).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tezos_types::encoding::Mutez;
use tezos_types::operation::{ManagerOperation, OperationContent, Parameters, PvmKind};
use tezos_types::{BinEncode, Micheline, SecretKey, UnsignedOperation};

/// A small deterministic generator (xorshift64*), so failures are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
    /// Values spread over several Zarith sizes.
    fn amount(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(128),
            1 => self.below(1 << 14),
            2 => self.below(1 << 32),
            _ => self.below(1 << 62),
        }
    }
}

const KEYS: &[&str] = &[
    "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh",
    "spsk1XYsTqUsd7LaLs9a8qpmCvLVJeLEZEXkeAZS5dwcKgUZhv3cYw",
    "p2sk2rUMnnnFPQCB7DBozkCZrFhiZ87ddrpAHbRcww7dwU2WHYUbci",
];

fn content(rng: &mut Rng, sk: &SecretKey) -> OperationContent {
    match rng.below(7) {
        0 => OperationContent::Reveal {
            public_key: sk.public_key(),
            proof: None,
        },
        1 => OperationContent::Transaction {
            amount: Mutez(rng.amount()),
            destination: "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN".parse().unwrap(),
            parameters: None,
        },
        2 => OperationContent::Transaction {
            amount: Mutez(rng.amount()),
            destination: "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi".parse().unwrap(),
            parameters: Some(Parameters {
                entrypoint: ["default", "do", "mint", "deposit"][rng.below(4) as usize].into(),
                value: (&Micheline::pair(
                    Micheline::int(rng.amount()),
                    Micheline::bytes(rng.bytes(8)),
                ))
                    .into(),
            }),
        },
        3 => OperationContent::SmartRollupOriginate {
            pvm_kind: PvmKind::Wasm,
            kernel: rng.bytes(40),
            parameters_ty: (&Micheline::prim(tezos_types::Prim::T_BYTES, vec![])).into(),
            whitelist: None,
        },
        4 => OperationContent::SmartRollupAddMessages {
            message: (0..=rng.below(3)).map(|_| rng.bytes(30)).collect(),
        },
        5 => OperationContent::DalPublishCommitment {
            slot_header: tezos_types::operation::DalSlotHeader {
                slot_index: rng.below(32) as u8,
                commitment: tezos_types::DalCommitment(std::array::from_fn(|_| rng.next() as u8)),
                commitment_proof: tezos_types::operation::DalCommitmentProof(std::array::from_fn(
                    |_| rng.next() as u8,
                )),
            },
        },
        _ => OperationContent::SmartRollupExecuteOutboxMessage {
            rollup: "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap(),
            cemented_commitment: tezos_types::CommitmentHash::hash_bytes(&rng.bytes(8)),
            output_proof: rng.bytes(40),
        },
    }
}

#[test]
fn taquito_forge_and_sign() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/taquito-crosscheck");
    assert!(
        dir.join("node_modules/@taquito/local-forging").is_dir(),
        "Taquito is not installed: run `npm ci` in {}",
        dir.display()
    );
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut ops = Vec::new();
    let mut cases = Vec::new();
    for i in 0..60 {
        let sk: SecretKey = KEYS[i % KEYS.len()].parse().unwrap();
        let n = 1 + rng.below(3);
        let contents = (0..n)
            .map(|k| ManagerOperation {
                content: content(&mut rng, &sk),
                source: sk.public_key_hash(),
                fee: Mutez(rng.amount()),
                counter: rng.amount() + k,
                gas_limit: rng.below(1_040_000),
                storage_limit: rng.below(60_000),
            })
            .collect();
        let op = UnsignedOperation {
            branch: tezos_types::BlockHash::hash_bytes(&[i as u8]),
            contents,
        };
        cases.push(serde_json::json!({ "op": op, "sk": KEYS[i % KEYS.len()] }));
        ops.push((op, sk));
    }
    let input = serde_json::json!({ "cases": cases }).to_string();
    let mut child = Command::new("node")
        .arg("crosscheck.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot run `node` (install Node.js)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "crosscheck.mjs failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), ops.len());
    for ((op, sk), res) in ops.iter().zip(results) {
        let ours = hex::encode(op.to_bin());
        assert_eq!(
            res["forged"].as_str().unwrap(),
            ours,
            "forging differs for {}",
            serde_json::to_string(op).unwrap()
        );
        let sig = sk.sign_operation(&op.to_bin());
        assert_eq!(
            res["signature"].as_str().unwrap(),
            sig.to_string(),
            "signature differs ({:?})",
            sk.curve()
        );
        let parsed: UnsignedOperation = serde_json::from_value(res["parsed"].clone())
            .unwrap_or_else(|e| panic!("cannot read Taquito's JSON {}: {e}", res["parsed"]));
        assert_eq!(&parsed, op);
    }
}
