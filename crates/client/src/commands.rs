//! Command implementations.

use std::io::Write;

use serde_json::Value;
use tezos_types::micheline::BinMicheline;
use tezos_types::operation::{OperationContent, Parameters, PvmKind};
use tezos_types::{
    CommitmentHash, Contract, Curve, Micheline, Mutez, PublicKeyHash, SecretKey, Signature,
};

use crate::cli::{CommandKind, Parsed, usage};
use crate::error::ClientError;
use crate::inject::{self, Limits, Signer};
use crate::rpc::Rpc;
use crate::tez::{format_tez, parse_tez};
use crate::wallet::Wallet;

fn out_err(e: std::io::Error) -> ClientError {
    ClientError::File {
        path: "<stdout>".into(),
        msg: e.to_string(),
    }
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(p: &Parsed, out: &mut dyn Write) -> Result<(), ClientError> {
    let wallet = Wallet::new(&p.globals.base_dir);
    let rpc = Rpc::new(&p.globals.endpoint)?;
    match p.command {
        CommandKind::Help => write!(out, "{}", usage()).map_err(out_err),
        CommandKind::GenKeys => {
            let curve: Curve =
                p.opt("sig")
                    .unwrap_or("ed25519")
                    .parse()
                    .map_err(|e: tezos_types::KeyError| {
                        ClientError::Key(format!("{e}; use ed25519, secp256k1, p256 or bls"))
                    })?;
            let sk = SecretKey::generate(curve).map_err(|e| ClientError::Key(e.to_string()))?;
            if p.flag("encrypted") {
                let pw = signer::keys::passwords(&p.globals.key_options())?
                    .and_then(|l| l.into_iter().next())
                    .ok_or_else(|| {
                        ClientError::Key(
                            "--encrypted needs a password: give -f/--password-filename <file> \
                             before the command (its first line is used)"
                                .into(),
                        )
                    })?;
                let mut salt = [0u8; 8];
                getrandom::fill(&mut salt).map_err(|e| {
                    ClientError::Key(format!("no randomness for the key's salt: {e}"))
                })?;
                let uri = signer::encrypted::encrypt(&sk, &pw, salt)
                    .map_err(|e| ClientError::Key(e.to_string()))?;
                wallet.add_key_with_uri(p.param("alias"), &sk, &uri, p.flag("force"))?;
            } else {
                wallet.add_key(p.param("alias"), &sk, p.flag("force"))?;
            }
            Ok(())
        }
        CommandKind::ImportSecretKey => {
            let (alias, uri) = (p.param("alias"), p.param("uri"));
            let pkh = import_secret_key(
                &wallet,
                alias,
                uri,
                &p.globals.key_options(),
                p.flag("force"),
            )?;
            writeln!(out, "Tezos address added: {pkh}").map_err(out_err)
        }
        CommandKind::ListKnownAddresses => {
            for a in wallet.known_addresses()? {
                let extra = match (&a.sk_scheme, a.pk_known) {
                    (Some(s), _) => format!(" ({s} sk known)"),
                    (None, true) => " (public key known)".to_owned(),
                    (None, false) => String::new(),
                };
                writeln!(out, "{}: {}{extra}", a.alias, a.pkh).map_err(out_err)?;
            }
            Ok(())
        }
        CommandKind::ShowAddress => {
            let alias = p.param("alias");
            let pkh = wallet.resolve_pkh(alias)?;
            writeln!(out, "Hash: {pkh}").map_err(out_err)?;
            if let Some(pk) = wallet.public_key(alias)? {
                writeln!(out, "Public Key: {pk}").map_err(out_err)?;
            }
            if p.flag("show-secret") {
                let uri = wallet.secret_key_uri(alias)?;
                writeln!(out, "Secret Key: {uri}").map_err(out_err)?;
            }
            Ok(())
        }
        CommandKind::GetBalance => {
            let c = resolve_contract(&wallet, p.param("src"))?;
            let b = rpc.get_u64(&format!(
                "/chains/main/blocks/head/context/contracts/{}/balance",
                c.to_b58check()
            ))?;
            writeln!(out, "{} ꜩ", format_tez(b)).map_err(out_err)
        }
        CommandKind::SignBytes => {
            // Octez `sign bytes`: the bytes exactly as given, no watermark (l1-and-signer.md §5.5).
            let bytes = parse_bytes(p.param("data"))?;
            let key = signer(&wallet, p.param("src"), p)?;
            let sig = key
                .sign(&bytes)
                .map_err(|source| ClientError::RemoteSigner {
                    name: key.alias.clone(),
                    source,
                })?;
            writeln!(out, "Signature: {sig}").map_err(out_err)
        }
        CommandKind::CheckSignature => {
            // Octez `check that bytes … were signed by … to produce …`
            // (src/lib_client_commands/client_keys_commands.ml): "Signature check successful."
            // or the error "invalid signature".
            let bytes = parse_bytes(p.param("data"))?;
            let text = p.param("signature");
            let sig: Signature = text.parse().map_err(|e| {
                ClientError::BadArgument(format!(
                    "cannot parse {text:?} as a signature ({e}); give edsig…, spsig1…, p2sig…, \
                     BLsig… or sig…"
                ))
            })?;
            let src = p.param("src");
            let pk = match wallet.public_key(src.strip_prefix("alias:").unwrap_or(src))? {
                Some(pk) => pk,
                None => {
                    let key = signer(&wallet, src, p)?;
                    key.public_key()
                        .map_err(|source| ClientError::RemoteSigner {
                            name: key.alias.clone(),
                            source,
                        })?
                }
            };
            if !pk.verify_raw(&bytes, &sig.with_curve(pk.curve())) {
                return Err(ClientError::InvalidSignature);
            }
            if !p.flag("quiet") {
                writeln!(out, "Signature check successful.").map_err(out_err)?;
            }
            Ok(())
        }
        CommandKind::Transfer => {
            let amount = parse_tez(p.param("amount"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let dst_text = p.param("dst");
            let destination = resolve_destination(&wallet, dst_text)?;
            let parameters = match (p.opt("arg"), p.opt("entrypoint")) {
                (None, None) => None,
                (arg, ep) => {
                    let value = match arg {
                        Some(a) => Micheline::parse_text(a).map_err(|e| {
                            ClientError::BadArgument(format!("invalid --arg Michelson {a:?}: {e}"))
                        })?,
                        None => Micheline::unit(),
                    };
                    Some(Parameters {
                        entrypoint: ep.unwrap_or("default").to_owned(),
                        value: BinMicheline::from_micheline(&value),
                    })
                }
            };
            let content = OperationContent::Transaction {
                amount: Mutez(amount),
                destination,
                parameters,
            };
            inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            Ok(())
        }
        CommandKind::SendMessages => {
            let messages = parse_messages(p.param("messages"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let content = OperationContent::SmartRollupAddMessages { message: messages };
            inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            Ok(())
        }
        CommandKind::RecoverBond => {
            let staker = wallet.resolve_pkh(p.param("staker"))?;
            let rollup = wallet.resolve_rollup(p.param("rollup"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let content = OperationContent::SmartRollupRecoverBond { rollup, staker };
            inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            Ok(())
        }
        CommandKind::ExecuteOutboxMessage => {
            // Octez `execute outbox message of smart rollup …`
            // (src/proto_alpha/lib_client_commands/client_proto_context_commands.ml); the
            // operation of docs/reference/l1-and-signer.md §2.9.
            let rollup = wallet.resolve_rollup(p.param("rollup"))?;
            let text = p.param("commitment");
            let cemented_commitment: CommitmentHash = text.parse().map_err(|e| {
                ClientError::BadArgument(format!(
                    "cannot parse {text:?} as a commitment hash ({e}); give the src1… hash of \
                     a cemented commitment"
                ))
            })?;
            let output_proof = parse_bytes(p.param("proof"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let content = OperationContent::SmartRollupExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            };
            inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            Ok(())
        }
        CommandKind::PublishDalCommitment => {
            // Octez `publish dal commitment <commitment> from <src> for slot <index> with proof
            // <proof>` (src/proto_025_PsUshuai/lib_client_commands/
            // client_proto_context_commands.ml): the slot index is checked against the
            // constants' `dal_parametric.number_of_slots`, the proof is hex (96 bytes).
            let text = p.param("commitment");
            let commitment: tezos_types::DalCommitment = text.parse().map_err(|e| {
                ClientError::BadArgument(format!(
                    "cannot parse {text:?} as a DAL commitment ({e}); give the sh1… commitment \
                     a DAL node answered to POST /slots"
                ))
            })?;
            let slot_index = parse_slot_index(p.param("slot"))?;
            let proof_text = p.param("proof");
            let commitment_proof = tezos_types::operation::DalCommitmentProof::from_hex(
                proof_text.strip_prefix("0x").unwrap_or(proof_text),
            )
            .map_err(|e| {
                ClientError::BadArgument(format!(
                    "{e}; give the commitment_proof a DAL node answered to POST /slots"
                ))
            })?;
            let header = tezos_types::operation::DalSlotHeader {
                slot_index,
                commitment,
                commitment_proof,
            };
            publish_dal_commitment(&rpc, &wallet, p, header, out)
        }
        CommandKind::PostDalSlot | CommandKind::PostAndPublishDalSlot => {
            // Posts the data to a DAL node's `POST /slots` (Octez
            // `src/lib_dal_node_services/services.ml` `post_slot`), which pads it to the slot
            // size and answers its commitment and proof; then, with `and publish`, the
            // `publish dal commitment` of that answer.
            let data = parse_slot_data(p.param("data"))?;
            let slot_index = match p.command {
                CommandKind::PostAndPublishDalSlot => Some(parse_slot_index(p.param("slot"))?),
                _ => None,
            };
            let dal = Rpc::new(p.opt("dal-node").unwrap_or(&p.globals.endpoint))?;
            let path = match slot_index {
                Some(i) => format!("/slots?slot_index={i}"),
                None => "/slots".to_owned(),
            };
            let answer = dal.post(&path, &slot_json(&data))?;
            let header = posted_slot_header(&answer, slot_index.unwrap_or(0)).map_err(|e| {
                ClientError::Rpc(crate::rpc::RpcError::Decode {
                    url: dal.url("/slots"),
                    msg: e,
                })
            })?;
            writeln!(out, "Commitment: {}", header.commitment).map_err(out_err)?;
            writeln!(out, "Commitment proof: {}", header.commitment_proof).map_err(out_err)?;
            if slot_index.is_some() {
                publish_dal_commitment(&rpc, &wallet, p, header, out)?;
            }
            Ok(())
        }
        CommandKind::CementCommitment => {
            let rollup = wallet.resolve_rollup(p.param("rollup"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let content = OperationContent::SmartRollupCement { rollup };
            inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            Ok(())
        }
        CommandKind::ListSmartRollups => {
            // Octez `list smart rollups`: one address per line.
            let all = rpc.get("/chains/main/blocks/head/context/smart_rollups/all")?;
            let list = all.as_array().ok_or_else(|| {
                ClientError::Rpc(crate::rpc::RpcError::Decode {
                    url: rpc.url("/chains/main/blocks/head/context/smart_rollups/all"),
                    msg: format!("expected a list of addresses, got {all}"),
                })
            })?;
            for a in list {
                writeln!(out, "{}", a.as_str().unwrap_or_default()).map_err(out_err)?;
            }
            Ok(())
        }
        CommandKind::RpcGet => {
            // Octez `rpc get <url>`: the answer as Octez prints JSON, or `Command failed:` with
            // the node's errors.
            let url = p.param("url");
            let path = if url.starts_with('/') {
                url.to_owned()
            } else {
                format!("/{url}")
            };
            match rpc.get_text(&path) {
                Ok(text) => {
                    let shown =
                        crate::json::pretty(&text).map_err(|e| crate::rpc::RpcError::Decode {
                            url: rpc.url(&path),
                            msg: e.to_string(),
                        })?;
                    writeln!(out, "{shown}").map_err(out_err)
                }
                Err(crate::rpc::RpcError::Node { status: 404, .. }) => Err(ClientError::Usage(
                    "No service found at this URL".to_owned(),
                )),
                Err(crate::rpc::RpcError::Node { body, .. }) => Err(ClientError::CommandFailed(
                    crate::rpc::describe_errors(&body),
                )),
                Err(e) => Err(e.into()),
            }
        }
        CommandKind::OriginateRollup => {
            let alias = p.param("alias");
            if !p.flag("force") && wallet.resolve_rollup(alias).is_ok() {
                return Err(ClientError::BadArgument(format!(
                    "the smart rollup alias {alias} already exists; use --force to replace it"
                )));
            }
            let pvm_kind = match p.param("kind") {
                "wasm_2_0_0" => PvmKind::Wasm,
                "arith" => PvmKind::Arith,
                "riscv" => PvmKind::Riscv,
                k => {
                    return Err(ClientError::BadArgument(format!(
                        "unknown PVM kind {k:?}; use wasm_2_0_0"
                    )));
                }
            };
            let ty_text = p.param("ty");
            let ty = Micheline::parse_text(ty_text).map_err(|e| {
                ClientError::BadArgument(format!("invalid parameter type {ty_text:?}: {e}"))
            })?;
            let kernel = parse_kernel(p.param("kernel"))?;
            let src = signer(&wallet, p.param("src"), p)?;
            let content = OperationContent::SmartRollupOriginate {
                pvm_kind,
                kernel,
                parameters_ty: BinMicheline::from_micheline(&ty),
                whitelist: None,
            };
            let done = inject::run(&rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
            let address = done
                .contents
                .iter()
                .rev()
                .find(|c| c["kind"] == "smart_rollup_originate")
                .and_then(|c| c["metadata"]["operation_result"]["address"].as_str())
                .map(str::to_owned);
            match (address, done.block) {
                (Some(a), Some(_)) => {
                    let addr = a.parse().map_err(|_| {
                        ClientError::BadArgument(format!("node returned a bad address {a}"))
                    })?;
                    wallet.add_rollup(alias, &addr, true)?;
                    writeln!(out, "Smart rollup {a} memorized as \"{alias}\"").map_err(out_err)
                }
                // Without waiting, the address predicted by preapply may differ from the
                // final one (it depends on the signed operation hash): not memorized.
                _ => writeln!(
                    out,
                    "The smart rollup alias {alias} was not memorized: wait for inclusion \
                     (omit --wait none) to record it"
                )
                .map_err(out_err),
            }
        }
    }
}

fn limits(p: &Parsed) -> Result<Limits, ClientError> {
    let nat = |name: &str| -> Result<Option<u64>, ClientError> {
        p.opt(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ClientError::BadArgument(format!("--{name} expects a natural number, got {v}"))
                })
            })
            .transpose()
    };
    Ok(Limits {
        fee: p.opt("fee").map(parse_tez).transpose()?,
        gas_limit: nat("gas-limit")?,
        storage_limit: nat("storage-limit")?,
        burn_cap: p.opt("burn-cap").map(parse_tez).transpose()?.unwrap_or(0),
    })
}

/// A DAL slot index: 0 to 255 (the chain's `number_of_slots` is checked before publishing).
fn parse_slot_index(slot: &str) -> Result<u8, ClientError> {
    slot.parse().map_err(|_| {
        ClientError::BadArgument(format!(
            "cannot parse {slot:?} as a DAL slot index; give an integer from 0 to 255"
        ))
    })
}

/// The data of `post dal slot`: `hex:<bytes>`, `file:<path>`, else the text itself.
fn parse_slot_data(data: &str) -> Result<Vec<u8>, ClientError> {
    if let Some(h) = data.strip_prefix("hex:") {
        return parse_bytes(h);
    }
    if let Some(path) = data.strip_prefix("file:") {
        return std::fs::read(path).map_err(|e| ClientError::File {
            path: path.into(),
            msg: e.to_string(),
        });
    }
    Ok(data.as_bytes().to_vec())
}

/// The slot as the DAL node's JSON input (`Data_encoding.Variable.string`): a string, or
/// `{"invalid_utf8_string": [bytes]}` when it is not UTF-8.
fn slot_json(data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => serde_json::json!({ "invalid_utf8_string": data }),
    }
}

/// The slot header of a `POST /slots` answer `{"commitment": "sh1…", "commitment_proof": hex}`.
fn posted_slot_header(
    answer: &Value,
    slot_index: u8,
) -> Result<tezos_types::operation::DalSlotHeader, String> {
    let c = answer["commitment"].as_str().ok_or_else(|| {
        format!("expected {{\"commitment\", \"commitment_proof\"}}, got {answer}")
    })?;
    let commitment: tezos_types::DalCommitment = c
        .parse()
        .map_err(|e| format!("bad commitment {c:?}: {e}"))?;
    let proof = answer["commitment_proof"]
        .as_str()
        .ok_or_else(|| format!("no commitment_proof in {answer}"))?;
    Ok(tezos_types::operation::DalSlotHeader {
        slot_index,
        commitment,
        commitment_proof: tezos_types::operation::DalCommitmentProof::from_hex(proof)?,
    })
}

/// Publishes `header` on L1 from `src` (`publish dal commitment`): the slot index is checked
/// against the constants' `dal_parametric.number_of_slots` first.
fn publish_dal_commitment(
    rpc: &Rpc,
    wallet: &Wallet,
    p: &Parsed,
    header: tezos_types::operation::DalSlotHeader,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let constants = rpc.get("/chains/main/blocks/head/context/constants")?;
    let dal = &constants["dal_parametric"];
    if dal["feature_enable"] == Value::Bool(false) {
        return Err(ClientError::BadArgument(
            "the DAL is not enabled on this chain (dal_parametric.feature_enable is false)".into(),
        ));
    }
    if let Some(n) = dal["number_of_slots"].as_u64()
        && u64::from(header.slot_index) >= n
    {
        return Err(ClientError::BadArgument(format!(
            "slot index {} is out of range: this chain has {n} DAL slots (0 to {})",
            header.slot_index,
            n.saturating_sub(1)
        )));
    }
    let src = signer(wallet, p.param("src"), p)?;
    let content = OperationContent::DalPublishCommitment {
        slot_header: header,
    };
    inject::run(rpc, &src, vec![content], limits(p)?, p.globals.wait, out)?;
    Ok(())
}

fn parse_bytes(data: &str) -> Result<Vec<u8>, ClientError> {
    hex::decode(data.strip_prefix("0x").unwrap_or(data)).map_err(|e| {
        ClientError::BadArgument(format!(
            "cannot parse {data:?} as bytes ({e}); give hexadecimal bytes like 0x0a0b"
        ))
    })
}

/// `import secret key`: stores the key; returns its address. Keys held by a signer are asked
/// their public key first, and `encrypted:` keys are opened with the `-f` passwords, as
/// octez-client does (docs/reference/l1-and-signer.md §5.7).
pub fn import_secret_key(
    wallet: &Wallet,
    alias: &str,
    uri: &str,
    opts: &signer::KeyOptions,
    force: bool,
) -> Result<PublicKeyHash, ClientError> {
    let scheme = uri.split(':').next().unwrap_or_default();
    match scheme {
        "unencrypted" => {
            let sk = SecretKey::from_uri(uri)
                .map_err(|e| ClientError::Key(format!("cannot parse secret key {uri:?}: {e}")))?;
            wallet.add_key(alias, &sk, force)?;
            Ok(sk.public_key_hash())
        }
        "encrypted" => {
            let pw =
                signer::keys::passwords(opts)?.ok_or_else(|| signer::KeyError::NoPasswordFile {
                    alias: alias.to_owned(),
                })?;
            let sk = signer::encrypted::decrypt(uri, &pw).map_err(|source| {
                signer::KeyError::Encrypted {
                    alias: alias.to_owned(),
                    source,
                }
            })?;
            wallet.add_key_with_uri(alias, &sk, uri, force)?;
            Ok(sk.public_key_hash())
        }
        "remote" | "tcp" | "http" | "https" | "unix" => {
            use signer::Signer as _;
            let (location, pkh) = signer::remote::parse_key_uri(uri, opts.remote_signer.as_deref())
                .map_err(|e| ClientError::Key(e.to_string()))?;
            let auth = signer::keys::authentication_keys(wallet, opts)?;
            let r = signer::RemoteSigner::new(location, pkh, auth);
            let pk = r.public_key().map_err(|source| ClientError::RemoteSigner {
                name: alias.to_owned(),
                source,
            })?;
            if pk.hash() != pkh {
                return Err(ClientError::Key(format!(
                    "the signer answered the public key {pk} for {pkh}, which hashes to {}",
                    pk.hash()
                )));
            }
            wallet.add_remote_key(alias, uri, &pkh, Some(&pk), force)?;
            Ok(pkh)
        }
        _ => Err(ClientError::Key(format!(
            "unsupported secret key URI scheme {scheme:?}: use unencrypted:<edsk…|spsk…|p2sk…|BLsk…>, \
             encrypted:<edesk…|spesk…|p2esk…|BLesk…> (with -f/--password-filename) or \
             remote:<tz…>, tcp://…/<tz…>, unix:…?pkh=<tz…>, http(s)://…/<tz…>"
        ))),
    }
}

/// The signing key of `name` ([`signer::keys::signing_key`], with `-R` and `-f`).
fn signer(wallet: &Wallet, name: &str, p: &Parsed) -> Result<Signer, ClientError> {
    Ok(signer::keys::signing_key(
        wallet,
        name,
        &p.globals.key_options(),
    )?)
}

fn resolve_contract(wallet: &Wallet, s: &str) -> Result<Contract, ClientError> {
    if let Ok(c) = Contract::from_b58check(s) {
        return Ok(c);
    }
    Ok(Contract::Implicit(wallet.resolve_pkh(s)?))
}

fn resolve_destination(wallet: &Wallet, s: &str) -> Result<Contract, ClientError> {
    if s.starts_with("sr1") {
        return Err(ClientError::BadArgument(format!(
            "{s} is a smart rollup: the protocol forbids transfers from implicit accounts to \
             smart rollups; send tez through a bridge contract (KT1…, e.g. --entrypoint deposit \
             --arg 'Pair \"{s}\" 0x<receiver>') or use `send smart rollup message`"
        )));
    }
    if let Ok(a) = wallet.resolve_rollup(s)
        && wallet.resolve_pkh(s).is_err()
    {
        return resolve_destination(wallet, &a.to_b58check());
    }
    resolve_contract(wallet, s)
}

fn read_file(path: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::File {
        path: path.to_owned(),
        msg: e.to_string(),
    })
}

/// `text:["hello"]`, `hex:["0a0b"]` or `file:<path>` (a file holding a JSON list of strings).
pub fn parse_messages(s: &str) -> Result<Vec<Vec<u8>>, ClientError> {
    let bad = |msg: String| {
        ClientError::BadArgument(format!(
            "invalid messages {s:?}: {msg}; expected text:[\"…\",…], hex:[\"0a0b\",…] or \
             file:<path to a JSON list of strings>"
        ))
    };
    let list = |json: &str| -> Result<Vec<String>, ClientError> {
        let v: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let l = v.as_array().ok_or_else(|| bad("not a JSON list".into()))?;
        let strings: Vec<String> = l
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{e} is not a string")))
            })
            .collect::<Result<_, _>>()?;
        if strings.is_empty() {
            return Err(bad("the list is empty".into()));
        }
        Ok(strings)
    };
    if let Some(j) = s.strip_prefix("text:") {
        return Ok(list(j)?.into_iter().map(String::into_bytes).collect());
    }
    if let Some(j) = s.strip_prefix("hex:") {
        return list(j)?
            .into_iter()
            .map(|h| {
                hex::decode(h.strip_prefix("0x").unwrap_or(&h)).map_err(|e| bad(e.to_string()))
            })
            .collect();
    }
    if let Some(path) = s.strip_prefix("file:") {
        let text = read_file(path)?;
        let text = String::from_utf8(text).map_err(|e| bad(e.to_string()))?;
        return Ok(list(&text)?.into_iter().map(String::into_bytes).collect());
    }
    Err(bad("unknown format".into()))
}

/// A kernel: hexadecimal text, or `file:<path>` / a path to a `.wasm` binary or hex file.
pub fn parse_kernel(s: &str) -> Result<Vec<u8>, ClientError> {
    let hexpart = s.strip_prefix("0x").unwrap_or(s);
    if !hexpart.is_empty() && hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(hexpart).map_err(|e| {
            ClientError::BadArgument(format!("invalid hexadecimal kernel: {e} (odd length?)"))
        });
    }
    let path = s.strip_prefix("file:").unwrap_or(s);
    if !std::path::Path::new(path).exists() {
        return Err(ClientError::BadArgument(format!(
            "kernel {s:?} is neither hexadecimal nor an existing file; give the kernel as hex \
             or as file:<path>"
        )));
    }
    let bytes = read_file(path)?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    hex::decode(t).map_err(|_| {
        ClientError::BadArgument(format!(
            "kernel file {path} is neither a WebAssembly binary nor hexadecimal text"
        ))
    })
}
