//! Integration tests of the `snapshot` crate (one test binary): a data directory made of a
//! real SQLite store and on-disk context, exported, inspected, imported, and every
//! corruption refused with the target left as it was; Octez-layout snapshots (irmin-pack
//! context) imported.

mod corruption;
mod octez;
mod roundtrip;

use std::path::{Path, PathBuf};

use node_config::HistoryMode;
use node_store::{L2Block, Store};
use tezos_types::inbox::{Inbox, InboxHistoryCell};
use tezos_types::{
    BinEncode, BlockHash, Commitment, CommitmentHash, MerkelizedPayloadHashesHash,
    SmartRollupAddress, StateHash,
};

/// The level `v` (non-negative in the fixtures).
pub fn lv(v: i32) -> tezos_types::Level {
    tezos_types::Level::new(v).unwrap()
}

/// The rollup of the fixtures.
pub const ADDR: &str = "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf";

fn state(n: u8) -> wasm_pvm::PvmState {
    wasm_pvm::PvmState::genesis(
        wasm_pvm::PvmVersion::V6,
        &[0, b'a', b's', b'm', 1, 0, 0, 0, n],
        &wasm_pvm::GenesisParams::default(),
    )
    .unwrap()
}

/// Writes a consistent data directory in `dir`: blocks `1..=levels`, each with its own
/// committed context, inbox and messages, a commitment every 2 levels chained to the
/// previous one, finalized at `levels - 2`, `history` mode, plus a pre-image, a
/// `config.json`-like local file and an injector queue (local files).
pub fn make_data_dir(dir: &Path, levels: i32, history: HistoryMode) -> Vec<L2Block> {
    std::fs::create_dir_all(dir.join("context")).unwrap();
    std::fs::create_dir_all(dir.join("wasm_2_0_0")).unwrap();
    std::fs::create_dir_all(dir.join("injector")).unwrap();
    std::fs::write(dir.join("wasm_2_0_0").join("00aa"), b"preimage").unwrap();
    std::fs::write(dir.join("injector").join("queue"), b"local").unwrap();
    std::fs::write(dir.join("kernel.log"), b"local log").unwrap();
    std::fs::write(
        dir.join("metadata"),
        serde_json::json!({
            "rollup_address": ADDR,
            "context_version": 0,
            "kind": "wasm_2_0_0",
            "genesis_info": {"level": 0, "commitment_hash": CommitmentHash::ZERO.to_b58check()},
        })
        .to_string(),
    )
    .unwrap();
    let ctx = pvm_store::Context::open(&dir.join("context")).unwrap();
    let mut store = Store::open(&dir.join("store.sqlite")).unwrap();
    let mut prev_commitment = CommitmentHash::ZERO;
    let mut blocks = vec![];
    for l in 1..=levels {
        let byte = u8::try_from(l).unwrap();
        let c = pvm_store::context_hash(&ctx.commit(&state(byte)).unwrap());
        let witness = MerkelizedPayloadHashesHash::new([byte; 32]);
        let lv = tezos_types::Level::new(l).unwrap();
        let inbox = Inbox {
            level: lv,
            old_levels_messages: InboxHistoryCell {
                witness,
                level: lv,
                index: u64::from(byte),
                back_pointers: vec![],
            },
        };
        let commitment = (l % 2 == 0).then(|| Commitment {
            compressed_state: StateHash::new(c.0),
            inbox_level: lv,
            predecessor: prev_commitment,
            number_of_ticks: 1,
        });
        let b = L2Block {
            block_hash: BlockHash::new([byte; 32]),
            level: lv,
            predecessor: BlockHash::new([byte - 1; 32]),
            commitment_hash: commitment.as_ref().map(Commitment::hash),
            previous_commitment_hash: prev_commitment,
            context: Some(c),
            inbox_witness: witness,
            inbox_hash: inbox.hash(),
            initial_tick: tezos_types::Tick::ZERO,
            num_ticks: tezos_types::Tick::ONE,
            state_hash: Some(StateHash::new(c.0)),
            pvm_status: None,
        };
        store
            .transaction(|w| {
                w.insert_block(&b)?;
                w.set_level(lv, &b.block_hash)?;
                w.insert_inbox(&b.inbox_hash, lv, &inbox.to_bin())?;
                w.insert_messages(&witness, lv, &node_store::encode_message_list(&[]))?;
                if let (Some(c), Some(h)) = (&commitment, &b.commitment_hash) {
                    w.insert_commitment(h, c)?;
                    w.set_lpc(h, lv)?;
                }
                w.set_head(&b.block_hash, lv)
            })
            .unwrap();
        if let Some(h) = b.commitment_hash {
            prev_commitment = h;
        }
        blocks.push(b);
    }
    let fin = &blocks[usize::try_from(levels - 3).unwrap()];
    store
        .transaction(|w| {
            w.set_finalized(&fin.block_hash, fin.level)?;
            w.set_history_mode(history)
        })
        .unwrap();
    blocks
}

/// Export options of `data_dir` into `file` (head level, compressed after, checked).
pub fn export_opts(data_dir: &Path, file: &Path) -> snapshot::ExportOptions {
    snapshot::ExportOptions {
        data_dir: data_dir.to_path_buf(),
        file: Some(file.to_path_buf()),
        dest: None,
        level: snapshot::ExportLevel::Head,
        compression: snapshot::Compression::After,
        check: true,
        l1_endpoint: None,
        compact: false,
        rollup_node_endpoint: None,
    }
}

/// Import options of `file` into `data_dir` (checked, not forced).
pub fn import_opts(data_dir: &Path, file: &Path) -> snapshot::ImportOptions {
    snapshot::ImportOptions {
        data_dir: data_dir.to_path_buf(),
        source: snapshot::Source::File(file.to_path_buf()),
        force: false,
        check: true,
        l1_endpoint: None,
    }
}

/// Every file under `dir` with its content, sorted (to compare trees).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The rollup address of the fixtures.
pub fn addr() -> SmartRollupAddress {
    ADDR.parse().unwrap()
}
