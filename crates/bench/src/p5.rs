//! P5: snapshot export and import throughput (`crates/snapshot`) against `tar | gzip` and
//! `gzip -d | tar -x` of the same data directory, run side by side (alternating rounds, the
//! median of each reported). The data directory is generated: an on-disk context holding
//! `keys` random durable values, a store whose head points at it, and 4 KiB pre-images.
//! Snapshot checks are off (`--no-check`): P5 measures the container, not the checks.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use durable_tree::Tree;
use node_config::HistoryMode;
use node_store::{L2Block, Store};
use tezos_types::{
    BlockHash, CommitmentHash, InboxHash, MerkelizedPayloadHashesHash, SmartRollupContextHash,
    StateHash,
};

use crate::rng::Rng;
use crate::util::{median, ms, timed};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes the generated data directory; returns its size in bytes.
fn make_data_dir(dir: &Path, keys: usize) -> Result<u64, String> {
    std::fs::create_dir_all(dir.join("context")).map_err(err)?;
    std::fs::create_dir_all(dir.join("wasm_2_0_0")).map_err(err)?;
    let mut rng = Rng::new(5);
    let repo = pack_store::open_repo(dir.join("context").join("store")).map_err(err)?;
    let mut t = Tree::empty();
    for i in 0..keys {
        let a = format!("{:02x}", i % 251);
        let b = format!("{i:x}");
        let len = rng.range(32, 512);
        t.set_contents(&["durable", &a, &b], rng.bytes(len))
            .map_err(err)?;
    }
    let root = repo.commit(&t).map_err(err)?;
    drop(repo);
    for i in 0..(keys / 50).max(1) {
        std::fs::write(
            dir.join("wasm_2_0_0").join(format!("{i:066x}")),
            rng.bytes(4096),
        )
        .map_err(err)?;
    }
    std::fs::write(
        dir.join("metadata"),
        r#"{"rollup_address":"sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf","context_version":0,"kind":"wasm_2_0_0","genesis_info":{"level":0,"commitment_hash":"src12UJzB8mg7yU6nWPzicH7ofJbFjyJEbHvwtZdfRXi8DQHNp1LY8"}}"#,
    )
    .map_err(err)?;
    let mut store = Store::open(&dir.join("store.sqlite")).map_err(err)?;
    let b = L2Block {
        block_hash: BlockHash::new([1; 32]),
        level: tezos_types::Level::from(1u8),
        predecessor: BlockHash::new([0; 32]),
        commitment_hash: None,
        previous_commitment_hash: CommitmentHash::ZERO,
        context: Some(SmartRollupContextHash::new(root.0)),
        inbox_witness: MerkelizedPayloadHashesHash::new([1; 32]),
        inbox_hash: InboxHash::new([1; 32]),
        initial_tick: tezos_types::Tick::ZERO,
        num_ticks: tezos_types::Tick::ONE,
        state_hash: Some(StateHash::new(root.0)),
        pvm_status: None,
    };
    store
        .transaction(|w| {
            w.insert_block(&b)?;
            w.set_level(b.level, &b.block_hash)?;
            w.set_head(&b.block_hash, b.level)?;
            w.set_history_mode(HistoryMode::Full)
        })
        .map_err(err)?;
    drop(store);
    dir_size(dir)
}

fn dir_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0u64;
    for e in std::fs::read_dir(dir).map_err(err)? {
        let e = e.map_err(err)?;
        let m = e.metadata().map_err(err)?;
        total = total.saturating_add(if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        });
    }
    Ok(total)
}

fn sh(script: &str) -> Result<Duration, String> {
    let (st, t) = timed(|| Command::new("sh").arg("-c").arg(script).status());
    let st = st.map_err(err)?;
    if st.success() {
        Ok(t)
    } else {
        Err(format!("`{script}` failed: {st}"))
    }
}

fn export_opts(
    data: &Path,
    file: &Path,
    compression: snapshot::Compression,
) -> snapshot::ExportOptions {
    snapshot::ExportOptions {
        data_dir: data.to_path_buf(),
        file: Some(file.to_path_buf()),
        dest: None,
        level: snapshot::ExportLevel::Head,
        compression,
        check: false,
        l1_endpoint: None,
        compact: false,
        rollup_node_endpoint: None,
    }
}

fn import(file: &Path, dst: &Path) -> Result<Duration, String> {
    let _ = std::fs::remove_dir_all(dst);
    let opts = snapshot::ImportOptions {
        data_dir: dst.to_path_buf(),
        source: snapshot::Source::File(file.to_path_buf()),
        force: false,
        check: false,
        l1_endpoint: None,
    };
    let (r, t) = timed(|| snapshot::import(&opts));
    r.map_err(err)?;
    Ok(t)
}

fn report(what: &str, bytes: u64, ours: &mut [Duration], base: &mut [Duration], base_name: &str) {
    let (o, b) = (median(ours), median(base));
    let mbs = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "  {what:<28} ours {:8.1} ms ({:6.1} MB/s)  {base_name:<16} {:8.1} ms ({:6.1} MB/s)  RATIO = {:.2}x (goal >= 0.8x)",
        ms(o),
        mbs(o),
        ms(b),
        mbs(b),
        b.as_secs_f64() / o.as_secs_f64()
    );
}

/// Run P5 with `keys` durable values, `rounds` alternating rounds.
pub(crate) fn run(keys: usize, rounds: usize) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(err)?;
    let data = tmp.path().join("data");
    let size = make_data_dir(&data, keys)?;
    println!(
        "P5: snapshot export/import of a {:.1} MB data directory ({keys} durable values), {rounds} rounds",
        size as f64 / 1e6
    );
    let d = data.display();
    let members = "store.sqlite metadata context wasm_2_0_0";
    let snap_gz = tmp.path().join("snap.gz");
    let snap_raw = tmp.path().join("snap.raw");
    let base_gz = tmp.path().join("base.tar.gz");
    let base_raw = tmp.path().join("base.tar");
    let dst = tmp.path().join("dst");
    let base_dst = tmp.path().join("base_dst");
    let (mut e_gz, mut b_gz, mut e_raw, mut b_raw) = (vec![], vec![], vec![], vec![]);
    let (mut i_gz, mut bi_gz, mut i_raw, mut bi_raw) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (r, t) = timed(|| {
            snapshot::export(&export_opts(
                &data,
                &snap_gz,
                snapshot::Compression::OnTheFly,
            ))
        });
        r.map_err(err)?;
        e_gz.push(t);
        b_gz.push(sh(&format!(
            "tar -cf - -C {d} {members} | gzip -6 > {}",
            base_gz.display()
        ))?);
        let (r, t) =
            timed(|| snapshot::export(&export_opts(&data, &snap_raw, snapshot::Compression::No)));
        r.map_err(err)?;
        e_raw.push(t);
        b_raw.push(sh(&format!(
            "tar -cf {} -C {d} {members}",
            base_raw.display()
        ))?);

        i_gz.push(import(&snap_gz, &dst)?);
        let bd = base_dst.display();
        bi_gz.push(sh(&format!(
            "rm -rf {bd} && mkdir {bd} && gzip -dc {} | tar -xf - -C {bd}",
            base_gz.display()
        ))?);
        i_raw.push(import(&snap_raw, &dst)?);
        bi_raw.push(sh(&format!(
            "rm -rf {bd} && mkdir {bd} && tar -xf {} -C {bd}",
            base_raw.display()
        ))?);
    }
    report(
        "export (gzip on the fly)",
        size,
        &mut e_gz,
        &mut b_gz,
        "tar | gzip",
    );
    report(
        "export (uncompressed)",
        size,
        &mut e_raw,
        &mut b_raw,
        "tar -c",
    );
    report(
        "import (gzip)",
        size,
        &mut i_gz,
        &mut bi_gz,
        "gzip -d | tar -x",
    );
    report(
        "import (uncompressed)",
        size,
        &mut i_raw,
        &mut bi_raw,
        "tar -x",
    );
    Ok(())
}
