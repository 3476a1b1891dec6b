//! The manager-operation workflow of `octez-client`: counter and branch, automatic reveal,
//! simulation to fill gas/storage limits, fees, burn cap, signing (watermark 0x03), preapply,
//! injection and bounded waiting for inclusion (l1-and-signer.md §1.7–§1.9).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tezos_types::operation::{ManagerOperation, OperationContent};
use tezos_types::{BinEncode, BlockHash, Mutez, PublicKeyHash, UnsignedOperation, Watermark};

use crate::error::ClientError;
use crate::receipt::{failures, format_milligas, format_receipt};
use crate::rpc::{Rpc, RpcError};
use crate::tez::format_tez;

/// Octez client defaults (`minimal_fees`, nanotez per byte, nanotez per gas unit).
const MINIMAL_FEES_MUTEZ: u64 = 100;
const NANOTEZ_PER_BYTE: u64 = 1000;
const NANOTEZ_PER_GAS: u64 = 100;
/// Gas added to simulated consumption (except reveals and transfers to implicit accounts).
const GAS_SAFETY: u64 = 100;
/// Bytes added to simulated storage when some is used.
const STORAGE_SAFETY: u64 = 20;
/// Longest wait for inclusion.
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(120);

/// The account paying for and signing operations: the shared resolution of wallet keys
/// ([`signer::keys::signing_key`]).
pub use signer::keys::SigningKey as Signer;

fn signer_error(signer: &Signer) -> impl Fn(signer::SignerError) -> ClientError + '_ {
    |source| ClientError::RemoteSigner {
        name: signer.alias.clone(),
        source,
    }
}

/// `--wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Do not wait for inclusion.
    None,
    /// Wait for inclusion and this many further blocks.
    Confirmations(u32),
}

/// Limits and fees given on the command line (apply to the main operation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// `--fee` (mutez).
    pub fee: Option<u64>,
    /// `--gas-limit`.
    pub gas_limit: Option<u64>,
    /// `--storage-limit`.
    pub storage_limit: Option<u64>,
    /// `--burn-cap` (mutez).
    pub burn_cap: u64,
}

/// Result of a successful injection.
#[derive(Debug, Clone)]
pub struct Injected {
    /// Operation hash.
    pub hash: String,
    /// Contents with metadata (from the block when waited for, else from preapply).
    pub contents: Vec<Value>,
    /// Including block, when waited for.
    pub block: Option<String>,
}

struct Constants {
    hard_gas: u64,
    hard_storage: u64,
    cost_per_byte: u64,
    origination_size: u64,
}

fn cnum(c: &Value, k: &str, default: u64) -> u64 {
    match c.get(k) {
        Some(Value::String(s)) => s.parse().unwrap_or(default),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(default),
        _ => default,
    }
}

fn vnum(v: &Value, k: &str) -> u64 {
    cnum(v, k, 0)
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Binary size of a content.
fn content_size(op: &ManagerOperation) -> u64 {
    op.to_bin().len() as u64
}

fn signature_size(pkh: &PublicKeyHash) -> u64 {
    if pkh.to_b58check().starts_with("tz4") {
        98
    } else {
        64
    }
}

/// Octez fee for one content: fixpoint of `minimal + per_byte·size + per_gas·gas`.
fn compute_fee(op: &mut ManagerOperation, extra_bytes: u64) {
    op.fee = Mutez(0);
    for _ in 0..8 {
        let size = content_size(op) + extra_bytes;
        let nanotez =
            MINIMAL_FEES_MUTEZ * 1000 + NANOTEZ_PER_BYTE * size + NANOTEZ_PER_GAS * op.gas_limit;
        let fee = ceil_div(nanotez, 1000);
        if fee == op.fee.0 {
            return;
        }
        op.fee = Mutez(fee);
    }
}

fn head_path(rest: &str) -> String {
    format!("/chains/main/blocks/head{rest}")
}

/// Builds, simulates, signs, injects and (optionally) waits for a batch of `contents` from
/// `signer`; prints Octez-style progress and the receipt to `out`.
pub fn run(
    rpc: &Rpc,
    signer: &Signer,
    contents: Vec<OperationContent>,
    limits: Limits,
    wait: Wait,
    out: &mut dyn Write,
) -> Result<Injected, ClientError> {
    let pkh_text = signer.pkh.to_b58check();
    let chain_id = rpc.get_string("/chains/main/chain_id")?;
    let c = rpc.get(&head_path("/context/constants"))?;
    let constants = Constants {
        hard_gas: cnum(&c, "hard_gas_limit_per_operation", 1_040_000),
        hard_storage: cnum(&c, "hard_storage_limit_per_operation", 60_000),
        cost_per_byte: cnum(&c, "cost_per_byte", 250),
        origination_size: cnum(&c, "origination_size", 257),
    };
    let counter = rpc.get_u64(&head_path(&format!(
        "/context/contracts/{pkh_text}/counter"
    )))?;
    let manager_key = rpc.get(&head_path(&format!(
        "/context/contracts/{pkh_text}/manager_key"
    )))?;
    let branch_text = match rpc.get_string(&head_path("~2/hash")) {
        Ok(h) => h,
        Err(_) => rpc.get_string(&head_path("/hash"))?,
    };
    let branch: BlockHash = branch_text.parse().map_err(|e| RpcError::Decode {
        url: "head~2/hash".into(),
        msg: format!("{e}"),
    })?;
    let _ = writeln!(out, "Node is bootstrapped.");

    let mut all = Vec::new();
    if manager_key.is_null() {
        let pk = signer.public_key().map_err(signer_error(signer))?;
        let proof = signer.signer.reveal_proof().map_err(signer_error(signer))?;
        all.push(OperationContent::Reveal {
            public_key: pk,
            proof,
        });
    }
    all.extend(contents);
    let n = all.len();
    let mut ops: Vec<ManagerOperation> = all
        .into_iter()
        .enumerate()
        .map(|(i, content)| ManagerOperation {
            content,
            source: signer.pkh,
            fee: Mutez(0),
            counter: counter + 1 + i as u64,
            gas_limit: constants.hard_gas,
            storage_limit: constants.hard_storage,
        })
        .collect();
    if let Some(g) = limits.gas_limit {
        ops[n - 1].gas_limit = g;
    }
    if let Some(s) = limits.storage_limit {
        ops[n - 1].storage_limit = s;
    }

    // Simulation.
    let unsigned = UnsignedOperation {
        branch,
        contents: ops.clone(),
    };
    let sim = rpc
        .post(
            &head_path("/helpers/scripts/simulate_operation"),
            &json!({"operation": serde_json::to_value(&unsigned).unwrap_or(Value::Null),
                    "chain_id": chain_id, "latency": 3}),
        )
        .map_err(|e| rejected("simulation", e))?;
    let sim_contents: Vec<Value> = sim["contents"].as_array().cloned().unwrap_or_default();
    if sim_contents.len() != n {
        return Err(RpcError::Decode {
            url: "simulate_operation".into(),
            msg: format!("expected {n} contents, got {}", sim_contents.len()),
        }
        .into());
    }
    if let Some(errors) = failures(&sim_contents) {
        return Err(ClientError::Failed {
            phase: "This simulation failed".into(),
            errors,
        });
    }

    // Limits from the simulation.
    let mut burn_bytes: u64 = 0;
    for (i, (op, sc)) in ops.iter_mut().zip(&sim_contents).enumerate() {
        let r = &sc["metadata"]["operation_result"];
        let mut milligas = vnum(r, "consumed_milligas");
        for internal in sc["metadata"]["internal_operation_results"]
            .as_array()
            .into_iter()
            .flatten()
        {
            milligas += vnum(&internal["result"], "consumed_milligas");
        }
        let safety = match &op.content {
            OperationContent::Reveal { .. } => 0,
            OperationContent::Transaction {
                destination: tezos_types::Contract::Implicit(_),
                ..
            } => 0,
            _ => GAS_SAFETY,
        };
        let mut storage = vnum(r, "paid_storage_size_diff");
        if r["allocated_destination_contract"] == json!(true) {
            storage += constants.origination_size;
        }
        if matches!(op.content, OperationContent::SmartRollupOriginate { .. }) {
            storage += vnum(r, "size");
        }
        let is_main = i == n - 1;
        if !(is_main && limits.gas_limit.is_some()) {
            op.gas_limit = (ceil_div(milligas, 1000) + safety).min(constants.hard_gas);
        }
        if !(is_main && limits.storage_limit.is_some()) {
            op.storage_limit = if storage == 0 {
                0
            } else {
                (storage + STORAGE_SAFETY).min(constants.hard_storage)
            };
        }
        burn_bytes += storage;
        {
            let _ = writeln!(
                out,
                "Estimated gas: {} units (will add {safety} for safety)",
                format_milligas(milligas)
            );
            if storage == 0 {
                let _ = writeln!(out, "Estimated storage: no bytes added");
            } else {
                let _ = writeln!(
                    out,
                    "Estimated storage: {storage} bytes added (will add {STORAGE_SAFETY} for safety)"
                );
            }
        }
    }
    let burn = burn_bytes * constants.cost_per_byte;
    if burn > limits.burn_cap {
        return Err(ClientError::BurnCap {
            burn: format_tez(burn),
            cap: format_tez(limits.burn_cap),
        });
    }
    let sig_size = signature_size(&signer.pkh);
    for (i, op) in ops.iter_mut().enumerate() {
        let extra = if i == 0 { 32 + sig_size } else { 0 };
        match limits.fee {
            Some(f) if i == n - 1 => op.fee = Mutez(f),
            _ => compute_fee(op, extra),
        }
    }

    // Sign.
    let unsigned = UnsignedOperation {
        branch,
        contents: ops,
    };
    let mut to_sign = Watermark::GenericOperation.to_bytes();
    to_sign.extend_from_slice(&unsigned.to_bin());
    let signature = signer.sign(&to_sign).map_err(signer_error(signer))?;
    let signed = unsigned.with_signature(signature);
    let hash = signed.hash().to_b58check();

    // Preapply, then inject.
    let protocol = rpc
        .get(&head_path("/protocols"))
        .ok()
        .and_then(|p| p["next_protocol"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut body = serde_json::to_value(&signed).unwrap_or(Value::Null);
    body["protocol"] = json!(protocol);
    let pre = rpc
        .post(&head_path("/helpers/preapply/operations"), &json!([body]))
        .map_err(|e| rejected("preapply", e))?;
    let pre_contents: Vec<Value> = pre[0]["contents"].as_array().cloned().unwrap_or_default();
    if let Some(errors) = failures(&pre_contents) {
        return Err(ClientError::Failed {
            phase: "The operation failed in preapply".into(),
            errors,
        });
    }
    let injected = rpc
        .post(
            "/injection/operation?chain=main",
            &json!(hex::encode(signed.to_bin())),
        )
        .map_err(|e| rejected("injection", e))?;
    let node_hash = injected.as_str().unwrap_or(&hash).to_owned();
    let _ = writeln!(out, "Operation successfully injected in the node.");
    let _ = writeln!(out, "Operation hash is '{node_hash}'");

    let Wait::Confirmations(confirmations) = wait else {
        let _ = writeln!(out, "NOT waiting for the operation to be included.");
        let _ = writeln!(out, "Use command");
        let _ = writeln!(
            out,
            "  octez-client wait for {node_hash} to be included --confirmations 1 --branch {branch_text}"
        );
        let _ = writeln!(
            out,
            "and/or an external block explorer to make sure that it has been included."
        );
        let _ = write!(out, "{}", format_receipt(&pre_contents));
        return Ok(Injected {
            hash: node_hash,
            contents: pre_contents,
            block: None,
        });
    };
    let _ = writeln!(out, "Waiting for the operation to be included...");
    let (block, level, contents) = wait_inclusion(rpc, &node_hash)?;
    let _ = writeln!(
        out,
        "Operation found in block: {block} (pass: 3, offset: {})",
        contents.1
    );
    let contents = contents.0;
    let _ = write!(out, "{}", format_receipt(&contents));
    if let Some(errors) = failures(&contents) {
        return Err(ClientError::Failed {
            phase: format!("Operation {node_hash} was included in block {block}"),
            errors,
        });
    }
    if confirmations > 0 {
        let deadline = Instant::now() + INCLUSION_TIMEOUT;
        while head_level(rpc)? < level + i64::from(confirmations) {
            if Instant::now() > deadline {
                return Err(ClientError::NotIncluded {
                    hash: node_hash,
                    seconds: INCLUSION_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    } else {
        let _ = writeln!(out, "\nThe operation has only been included 0 blocks ago.");
        let _ = writeln!(out, "We recommend to wait more.");
        let _ = writeln!(out, "Use command");
        let _ = writeln!(
            out,
            "  octez-client wait for {node_hash} to be included --confirmations 1 --branch {branch_text}"
        );
        let _ = writeln!(out, "and/or an external block explorer.");
    }
    Ok(Injected {
        hash: node_hash,
        contents,
        block: Some(block),
    })
}

fn rejected(phase: &'static str, e: RpcError) -> ClientError {
    match &e {
        RpcError::Node { body, .. } => ClientError::Rejected {
            phase,
            errors: crate::rpc::describe_errors(body),
        },
        _ => ClientError::Rpc(e),
    }
}

fn head_level(rpc: &Rpc) -> Result<i64, ClientError> {
    let h = rpc.get(&head_path("/header/shell"))?;
    Ok(h["level"].as_i64().unwrap_or(0))
}

type Found = (String, i64, (Vec<Value>, usize));

/// Polls new blocks (pass 3) until `hash` appears, at most [`INCLUSION_TIMEOUT`].
fn wait_inclusion(rpc: &Rpc, hash: &str) -> Result<Found, ClientError> {
    let start = Instant::now();
    // The operation may land in the block baked right after we read the head.
    let mut next = head_level(rpc)?;
    loop {
        let head = head_level(rpc)?;
        while next <= head {
            let hashes = rpc.get(&format!("/chains/main/blocks/{next}/operation_hashes/3"))?;
            if let Some(i) = hashes
                .as_array()
                .and_then(|l| l.iter().position(|h| h.as_str() == Some(hash)))
            {
                let ops = rpc.get(&format!(
                    "/chains/main/blocks/{next}/operations/3?metadata=always"
                ))?;
                let block = rpc.get_string(&format!("/chains/main/blocks/{next}/hash"))?;
                let contents = ops[i]["contents"].as_array().cloned().unwrap_or_default();
                return Ok((block, next, (contents, i)));
            }
            next += 1;
        }
        if start.elapsed() > INCLUSION_TIMEOUT {
            return Err(ClientError::NotIncluded {
                hash: hash.to_owned(),
                seconds: INCLUSION_TIMEOUT.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
