//! The `smart-rollup-sandbox` L1 as a process on a free loopback port.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tezos_types::operation::{ManagerOperation, OperationContent, PvmKind, UnsignedOperation};
use tezos_types::{
    BinEncode, BinMicheline, BlockHash, Commitment, Micheline, Mutez, PublicKeyHash, SecretKey,
};

use crate::error::{HarnessError, Result};
use crate::http::JsonClient;
use crate::process::ChildGuard;
use crate::wait::wait_for;
use crate::{binary, free_port};

/// Bound of the wait for the sandbox's RPC server at start.
const START_BOUND: Duration = Duration::from_secs(120);

/// The Octez sandbox bootstrap secret keys (the sandbox's `accounts::BOOTSTRAP_SECRET_KEYS`),
/// `bootstrap1` first.
pub const BOOTSTRAP_SECRET_KEYS: [&str; 5] = [
    "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh",
    "edsk39qAm1fiMjgmPkw1EgQYkMzkJezLNewd7PLNHTkr6w9XA2zdfo",
    "edsk4ArLQgBTLWG5FJmnGnT689VKoqhXwmDPBuGx3z4cvwU9MmrPZZ",
    "edsk2uqQB9AY4FvioK2YMdfmyMrer5R8mGFyuaLLFfSRo8EoyNdht3",
    "edsk4QLrcijEffxV31gGdN2HU7UpyJjA8drFoNcmnB28n89YjPNRFm",
];

/// The secret key of bootstrap account `n` (1 to 5, as the aliases `bootstrapN`).
///
/// # Panics
/// When `n` is not in `1..=5`.
#[must_use]
pub fn bootstrap_key(n: usize) -> SecretKey {
    let i = n
        .checked_sub(1)
        .filter(|i| *i < BOOTSTRAP_SECRET_KEYS.len())
        .unwrap_or_else(|| panic!("there are bootstrap accounts 1 to 5, not {n}"));
    SecretKey::from_b58check(BOOTSTRAP_SECRET_KEYS[i]).expect("valid bootstrap key")
}

/// How to start a [`Sandbox`]: by default `--test-constants --block-time 0` (manual baking
/// with `POST /sandbox/bake`).
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    data_dir: PathBuf,
    binary: Option<PathBuf>,
    test_constants: bool,
    block_time: Option<String>,
    args: Vec<String>,
}

impl SandboxBuilder {
    /// Uses this binary instead of [`binary`]`("smart-rollup-sandbox")`.
    #[must_use]
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Whether to pass `--test-constants` (small commitment period and challenge window).
    #[must_use]
    pub fn test_constants(mut self, yes: bool) -> Self {
        self.test_constants = yes;
        self
    }

    /// `--block-time <seconds>` (`"0"`: manual baking); `None` passes no `--block-time`.
    #[must_use]
    pub fn block_time(mut self, seconds: Option<&str>) -> Self {
        self.block_time = seconds.map(str::to_owned);
        self
    }

    /// Extra arguments of `smart-rollup-sandbox run`.
    #[must_use]
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Starts the sandbox on a free port and waits for its RPC server.
    ///
    /// # Errors
    /// A missing binary, a failed spawn, an early exit or a start timeout.
    pub fn start(self) -> Result<Sandbox> {
        let binary = match &self.binary {
            Some(b) => b.clone(),
            None => binary("smart-rollup-sandbox")?,
        };
        let port = free_port()?;
        let mut args = vec![
            "run".to_owned(),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--rpc-addr".to_owned(),
            format!("127.0.0.1:{port}"),
        ];
        if self.test_constants {
            args.push("--test-constants".to_owned());
        }
        if let Some(t) = &self.block_time {
            args.extend(["--block-time".to_owned(), t.clone()]);
        }
        args.extend(self.args.iter().cloned());
        let rpc = JsonClient::new(&format!("http://127.0.0.1:{port}"));
        let proc = spawn_and_wait(&binary, &args, &rpc)?;
        Ok(Sandbox {
            proc: Some(proc),
            port,
            binary,
            args,
            data_dir: self.data_dir,
            rpc,
        })
    }
}

fn spawn_and_wait(binary: &Path, args: &[String], rpc: &JsonClient) -> Result<ChildGuard> {
    let name = format!("smart-rollup-sandbox on {}", rpc.base());
    let mut proc = ChildGuard::spawn(&name, Command::new(binary).args(args))?;
    wait_for(&format!("{name} to answer RPCs"), START_BOUND, || {
        proc.check_running()?;
        Ok(rpc
            .try_get("/chains/main/chain_id")
            .ok()
            .filter(|(s, _)| *s == 200))
    })?;
    Ok(proc)
}

/// A running `smart-rollup-sandbox`, killed (SIGKILL) on drop. Dereferences to its
/// [`JsonClient`] (`get`, `post`…); the helpers below sign with the bootstrap keys.
#[derive(Debug)]
pub struct Sandbox {
    proc: Option<ChildGuard>,
    port: u16,
    binary: PathBuf,
    args: Vec<String>,
    data_dir: PathBuf,
    rpc: JsonClient,
}

impl Deref for Sandbox {
    type Target = JsonClient;
    fn deref(&self) -> &JsonClient {
        &self.rpc
    }
}

impl Sandbox {
    /// The default start options for `data_dir` (created by the sandbox if missing).
    #[must_use]
    pub fn builder(data_dir: &Path) -> SandboxBuilder {
        SandboxBuilder {
            data_dir: data_dir.to_path_buf(),
            binary: None,
            test_constants: true,
            block_time: Some("0".to_owned()),
            args: Vec::new(),
        }
    }

    /// Starts with the default options (test constants, manual baking).
    ///
    /// # Errors
    /// See [`SandboxBuilder::start`].
    pub fn start(data_dir: &Path) -> Result<Self> {
        Self::builder(data_dir).start()
    }

    /// The RPC port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RPC endpoint, `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.rpc.base()
    }

    /// The data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process' output so far (empty when killed).
    #[must_use]
    pub fn output(&self) -> String {
        self.proc
            .as_ref()
            .map(ChildGuard::output)
            .unwrap_or_default()
    }

    /// Kills the process (SIGKILL: no clean shutdown). [`Self::restart`] starts it again.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Kills the process if running, then starts it again with the same data directory,
    /// arguments and port, and waits for its RPC server.
    ///
    /// # Errors
    /// See [`SandboxBuilder::start`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.proc = Some(spawn_and_wait(&self.binary, &self.args, &self.rpc)?);
        Ok(())
    }

    /// `Ok` while the process runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] (or `Failed` when killed).
    pub fn check_running(&mut self) -> Result<()> {
        match &mut self.proc {
            Some(p) => p.check_running(),
            None => Err(HarnessError::Failed(
                "the sandbox was killed; call restart() first".into(),
            )),
        }
    }

    /// Bakes one block (`POST /sandbox/bake`); returns the new head.
    ///
    /// # Panics
    /// When the sandbox does not answer `200`.
    pub fn bake(&self) -> Value {
        let (s, v) = self.post("/sandbox/bake", &Value::Null);
        assert_eq!(s, 200, "POST /sandbox/bake: {v}");
        v
    }

    /// The head's level.
    ///
    /// # Panics
    /// When the RPC fails.
    #[must_use]
    pub fn level(&self) -> i64 {
        self.get("/chains/main/blocks/head/header/shell")["level"]
            .as_i64()
            .expect("level is a number")
    }

    /// The counter of `pkh`.
    ///
    /// # Panics
    /// When the RPC fails.
    #[must_use]
    pub fn counter(&self, pkh: &PublicKeyHash) -> u64 {
        self.number(&format!(
            "/chains/main/blocks/head/context/contracts/{pkh}/counter"
        ))
    }

    /// The balance of `pkh` in mutez.
    ///
    /// # Panics
    /// When the RPC fails.
    #[must_use]
    pub fn balance(&self, pkh: &PublicKeyHash) -> u64 {
        self.number(&format!(
            "/chains/main/blocks/head/context/contracts/{pkh}/balance"
        ))
    }

    fn number(&self, path: &str) -> u64 {
        let v = self.get(path);
        v.as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("GET {path}: not a decimal string: {v}"))
    }

    /// Signs a batch of `contents` from `sk`'s account (fee 1000 mutez, gas 100 000, storage
    /// 60 000 each), branch `head~1`, a reveal prepended when the key is not revealed yet.
    ///
    /// # Panics
    /// When an RPC fails.
    #[must_use]
    pub fn sign(
        &self,
        sk: &SecretKey,
        contents: Vec<OperationContent>,
    ) -> tezos_types::operation::SignedOperation {
        let pkh = sk.public_key_hash();
        let revealed = !self
            .get(&format!(
                "/chains/main/blocks/head/context/contracts/{pkh}/manager_key"
            ))
            .is_null();
        let mut counter = self.counter(&pkh);
        let reveal = (!revealed).then(|| OperationContent::Reveal {
            public_key: sk.public_key(),
            proof: None,
        });
        let contents = reveal
            .into_iter()
            .chain(contents)
            .map(|content| {
                counter = counter.checked_add(1).expect("counter overflow");
                ManagerOperation {
                    source: pkh,
                    fee: Mutez(1000),
                    counter,
                    gas_limit: 100_000,
                    storage_limit: 60_000,
                    content,
                }
            })
            .collect();
        let branch: BlockHash = self
            .get("/chains/main/blocks/head~1/hash")
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a block hash");
        UnsignedOperation { branch, contents }.sign(sk)
    }

    /// Injects signed operation bytes (`POST /injection/operation`) → `(status, body)`.
    ///
    /// # Panics
    /// When there is no answer.
    pub fn inject_bytes(&self, signed: &[u8]) -> (u16, Value) {
        self.post("/injection/operation", &json!(hex::encode(signed)))
    }

    /// Signs and injects `contents` from `sk` (see [`Self::sign`]); returns the operation hash.
    ///
    /// # Panics
    /// When the injection is refused.
    pub fn inject(&self, sk: &SecretKey, contents: Vec<OperationContent>) -> String {
        let op = self.sign(sk, contents);
        let (s, v) = self.inject_bytes(&op.to_bin());
        assert_eq!(s, 200, "injection refused: {v}");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Originates a `wasm_2_0_0` rollup of type `bytes` with boot sector `kernel` (from
    /// bootstrap1), bakes, and returns its `sr1…` address.
    ///
    /// # Panics
    /// When the origination is not applied.
    pub fn originate_wasm(&self, kernel: &[u8]) -> String {
        self.originate_wasm_private(kernel, None)
    }

    /// [`Self::originate_wasm`] of a private rollup when `whitelist` is `Some` (only its
    /// keys may stake).
    ///
    /// # Panics
    /// When the origination is not applied.
    pub fn originate_wasm_private(
        &self,
        kernel: &[u8],
        whitelist: Option<Vec<tezos_types::PublicKeyHash>>,
    ) -> String {
        let ty = Micheline::parse_text("bytes").expect("valid type");
        self.inject(
            &bootstrap_key(1),
            vec![OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Wasm,
                kernel: kernel.to_vec(),
                parameters_ty: BinMicheline::from_micheline(&ty),
                whitelist,
            }],
        );
        self.bake();
        let block = self.get("/chains/main/blocks/head?metadata=always");
        let contents = block["operations"][3]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|op| op["contents"].as_array().into_iter().flatten());
        for c in contents {
            if c["kind"] == "smart_rollup_originate" {
                let r = &c["metadata"]["operation_result"];
                assert_eq!(r["status"], "applied", "origination: {r}");
                return r["address"].as_str().expect("an address").to_owned();
            }
        }
        panic!("no smart_rollup_originate in the baked block {block}");
    }

    /// Publishes `commitment` of rollup `addr` from `sk` and bakes the block carrying it.
    ///
    /// # Panics
    /// When `addr` is not a rollup address or the injection is refused.
    pub fn publish(&self, sk: &SecretKey, addr: &str, commitment: Commitment) {
        self.inject(
            sk,
            vec![OperationContent::SmartRollupPublish {
                rollup: addr.parse().expect("a rollup address"),
                commitment,
            }],
        );
        self.bake();
    }

    /// Cements the oldest commitment of rollup `addr` from `sk` and bakes the block carrying it.
    ///
    /// # Panics
    /// When `addr` is not a rollup address or the injection is refused.
    pub fn cement(&self, sk: &SecretKey, addr: &str) {
        self.inject(
            sk,
            vec![OperationContent::SmartRollupCement {
                rollup: addr.parse().expect("a rollup address"),
            }],
        );
        self.bake();
    }

    /// Sends external messages (from bootstrap2) and bakes the block carrying them.
    ///
    /// # Panics
    /// When the injection is refused.
    pub fn send_messages(&self, messages: &[&[u8]]) {
        self.inject(
            &bootstrap_key(2),
            vec![OperationContent::SmartRollupAddMessages {
                message: messages.iter().map(|m| m.to_vec()).collect(),
            }],
        );
        self.bake();
    }
}
