//! Integration tests of `smart-rollup-signer`: the real binary on loopback, spoken to byte for
//! byte (docs/reference/l1-and-signer.md §5.2, §5.3) and through the client side
//! ([`signer::RemoteSigner`]); authentication, magic bytes, high watermark across a restart,
//! and bounded fuzzing of both servers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use signer::protocol::{AnswerKind, Request, decode_answer};
use signer::remote::{Location, parse_key_uri};
use signer::{RemoteSigner, Signer, SignerError};
use test_support::SignerProcess;
use tezos_types::{PublicKeyHash, SecretKey, Signature};

const B1_SK: &str = "unencrypted:edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh";
const B1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
/// `octez-client sign bytes 0x03 for bootstrap1` (§5.5).
const SIG_03: &str = "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7";
/// The add_messages operation of §6.1 and its Taquito signature with watermark 0x03.
const OP: &str = "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00bc90002298c03ed7d454a101eb7022bc95f7e5f41ac78910301cc08000000000f0000000548656c6c6f0000000200ff";
const OP_SIG: &str = "edsigtkVb5NTpu9qZXb82AG4UE1p8FzYN3M5Yzfa2KGy9sDmpfTs6D2eHaoPnh2VVWLxTErsZtiNdqpMF44EGUEVCxsive3uszA";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smart-rollup-signer")
}

fn cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new(bin())
        .arg("-d")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn import_b1(dir: &Path) {
    let (ok, out) = cli(dir, &["import", "secret", "key", "b1", B1_SK]);
    assert!(ok && out.contains(B1), "{out}");
}

fn launch(dir: &Path, transport: &str, extra: &[&str]) -> (SignerProcess, u16) {
    let port = test_support::free_port().unwrap();
    let p = port.to_string();
    let mut args = vec!["launch", transport, "signer", "-a", "127.0.0.1", "-p", &p];
    args.extend_from_slice(extra);
    (
        SignerProcess::launch(Some(Path::new(bin())), dir, &args).unwrap(),
        port,
    )
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends raw frame bytes, returns the answer frame (length included).
fn exchange(s: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    s.write_all(bytes).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).unwrap();
    [len.to_vec(), body].concat()
}

fn remote(port: u16, pkh: &str, auth: Vec<SecretKey>) -> RemoteSigner {
    let (loc, pkh) = parse_key_uri(&format!("tcp://127.0.0.1:{port}/{pkh}"), None).unwrap();
    RemoteSigner::new(loc, pkh, auth)
}

#[test]
fn socket_protocol_is_byte_exact_on_the_reference_frames() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (_s, port) = launch(d.path(), "socket", &[]);
    let mut c = tcp(port);
    // §5.2: Authorized_keys, then Public_key, on one connection.
    assert_eq!(
        hex::encode(exchange(&mut c, &hex::decode("000102").unwrap())),
        "00020000"
    );
    let pk = exchange(
        &mut c,
        &hex::decode("0016010002298c03ed7d454a101eb7022bc95f7e5f41ac78").unwrap(),
    );
    assert_eq!(
        hex::encode(pk),
        "002200004798d2cc98473d7e250c898885718afd2e4efbcb1a1595ab9730761ed830de0f"
    );
    // Sign 03 ‖ op (80 bytes), no authentication: the raw Taquito signature.
    let op = hex::decode(OP).unwrap();
    let mut req = hex::decode("006b000002298c03ed7d454a101eb7022bc95f7e5f41ac7800000050").unwrap();
    req.push(3);
    req.extend(&op);
    req.push(0);
    assert_eq!(req.len(), 2 + 0x6b);
    let ans = exchange(&mut c, &req);
    let want: Signature = OP_SIG.parse().unwrap();
    assert_eq!(ans[..3], [0x00, 0x41, 0x00]);
    assert_eq!(&ans[3..], want.as_bytes());
}

#[test]
fn signatures_of_every_curve_verify_over_tcp_unix_and_http() {
    let d = tempfile::tempdir().unwrap();
    let mut pkhs = vec![];
    for curve in ["ed25519", "secp256k1", "p256", "bls"] {
        let (ok, out) = cli(d.path(), &["gen", "keys", curve, "--sig", curve]);
        assert!(ok, "{out}");
        let (ok, out) = cli(d.path(), &["show", "address", curve]);
        assert!(ok, "{out}");
        let pkh = out
            .lines()
            .next()
            .unwrap()
            .strip_prefix("Hash: ")
            .unwrap()
            .to_owned();
        pkhs.push(pkh);
    }
    let (_tcp, port) = launch(d.path(), "socket", &[]);
    let (_http, hport) = launch(d.path(), "http", &[]);
    let sock = d.path().join("signer.sock");
    let sock_s = sock.to_str().unwrap().to_owned();
    let _unix = SignerProcess::launch(
        Some(Path::new(bin())),
        d.path(),
        &["launch", "local", "signer", "-s", &sock_s],
    )
    .unwrap();
    let data = b"\x03some operation bytes".to_vec();
    for pkh in &pkhs {
        for uri in [
            format!("tcp://127.0.0.1:{port}/{pkh}"),
            format!("http://127.0.0.1:{hport}/{pkh}"),
            format!("unix:{sock_s}?pkh={pkh}"),
        ] {
            let (loc, p) = parse_key_uri(&uri, None).unwrap();
            let r = RemoteSigner::new(loc, p, vec![]);
            let pk = r.public_key().unwrap();
            assert_eq!(pk.hash().to_b58check(), *pkh);
            let sig = r.sign(&data).unwrap();
            assert!(pk.verify_raw(&data, &sig), "{uri}: {sig}");
            assert!(!pk.verify_raw(b"\x03other", &sig), "{uri}");
        }
    }
}

#[test]
fn http_api_answers_as_octez() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (_s, port) = launch(d.path(), "http", &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:{port}");
    let get = |p: &str| {
        let mut r = agent.get(format!("{base}{p}")).call().unwrap();
        let st = r.status().as_u16();
        (st, r.body_mut().read_to_string().unwrap())
    };
    let post = |p: &str, body: &str| {
        let mut r = agent
            .post(format!("{base}{p}"))
            .header("content-type", "application/json")
            .send(body.to_owned())
            .unwrap();
        let st = r.status().as_u16();
        (st, r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(
        get(&format!("/keys/{B1}")),
        (
            200,
            format!(
                "{{\"public_key\":\"{}\"}}",
                SecretKey::from_uri(B1_SK).unwrap().public_key()
            )
        )
    );
    assert_eq!(
        post(&format!("/keys/{B1}"), "\"03\""),
        (200, format!("{{\"signature\":\"{SIG_03}\"}}"))
    );
    assert_eq!(get("/authorized_keys"), (200, "{}".to_owned()));
    let (st, body) = get("/keys/tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU");
    assert_eq!(st, 404, "{body}");
    let (st, body) = post(&format!("/keys/{B1}"), "not json");
    assert_eq!(st, 400, "{body}");
    let (st, body) = get("/known_keys");
    assert_eq!(st, 500, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["kind"], "generic");
}

#[test]
fn authentication_refuses_unknown_keys_and_accepts_authorized_ones() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let auth = SecretKey::generate(tezos_types::Curve::Ed25519).unwrap();
    let stranger = SecretKey::generate(tezos_types::Curve::P256).unwrap();
    let (ok, out) = cli(
        d.path(),
        &[
            "add",
            "authorized",
            "key",
            &auth.public_key().to_b58check(),
            "--name",
            "op",
        ],
    );
    assert!(ok, "{out}");
    let (s, port) = launch(d.path(), "socket", &["-A"]);
    let (_h, hport) = {
        let port = test_support::free_port().unwrap();
        let p = port.to_string();
        (
            SignerProcess::launch(
                Some(Path::new(bin())),
                d.path(),
                &[
                    "-A",
                    "launch",
                    "http",
                    "signer",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &p,
                ],
            )
            .unwrap(),
            port,
        )
    };
    let data = b"\x03abc".to_vec();
    // No authorized key in the client's hands: refused before sending.
    let e = remote(port, B1, vec![stranger.clone()])
        .sign(&data)
        .unwrap_err();
    assert!(matches!(e, SignerError::NoAuthorizedKey { .. }), "{e}");
    // Authorized: accepted on both transports.
    let sig = remote(port, B1, vec![stranger, auth.clone()])
        .sign(&data)
        .unwrap();
    assert!(
        SecretKey::from_uri(B1_SK)
            .unwrap()
            .public_key()
            .verify_raw(&data, &sig)
    );
    let (loc, pkh) = parse_key_uri(&format!("http://127.0.0.1:{hport}/{B1}"), None).unwrap();
    assert!(matches!(loc, Location::Http(_)));
    RemoteSigner::new(loc, pkh, vec![auth]).sign(&data).unwrap();
    // Raw requests: missing, then forged, authentication.
    let b1: PublicKeyHash = B1.parse().unwrap();
    let mut c = tcp(port);
    for (signature, want) in [
        (None, "missing authentication signature field"),
        (
            Some(Signature::Generic([1; 64])),
            "invalid authentication signature",
        ),
    ] {
        let req = Request::Sign(signer::protocol::AuthenticatedRequest {
            pkh: b1,
            data: data.clone(),
            signature,
            version: None,
        });
        let ans = exchange(&mut c, &signer::protocol::frame(&req.encode()).unwrap());
        let errs = decode_answer(AnswerKind::Signature, &ans[2..])
            .unwrap()
            .unwrap_err();
        assert_eq!(errs[0]["error"], want);
    }
    // The log is read from the process asynchronously: wait for the line.
    test_support::wait_until("the refusal in the log", Duration::from_secs(10), || {
        s.output()
            .contains("refused: invalid authentication signature")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
}

#[test]
fn magic_bytes_filter_refuses_other_first_bytes() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (_s, port) = launch(d.path(), "socket", &["-M", "0x11,0x12,0x13"]);
    let e = remote(port, B1, vec![]).sign(b"\x03abc").unwrap_err();
    assert!(e.to_string().contains("magic byte 0x03 not allowed"), "{e}");
    // An allowed magic byte is signed (no -W: no high watermark check).
    remote(port, B1, vec![]).sign(b"\x11abcdefghijkl").unwrap();
}

fn attestation(level: i32, round: i32, salt: u8) -> Vec<u8> {
    let mut d = vec![0x13, 0x7a, 0x06, 0xa7, 0x70];
    d.extend([salt; 32]);
    d.push(21);
    d.extend([0, 0]);
    d.extend(level.to_be_bytes());
    d.extend(round.to_be_bytes());
    d.extend([0u8; 32]);
    d
}

#[test]
fn high_watermark_refuses_replays_and_survives_a_restart() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (mut s, port) = launch(d.path(), "socket", &["-W"]);
    let r = remote(port, B1, vec![]);
    let first = r.sign(&attestation(10, 0, 1)).unwrap();
    let e = r.sign(&attestation(9, 3, 1)).unwrap_err();
    assert!(
        e.to_string().contains("not above the high watermark"),
        "{e}"
    );
    s.restart().unwrap();
    // Same data again: the stored signature; different data at the same mark: refused.
    assert_eq!(r.sign(&attestation(10, 0, 1)).unwrap(), first);
    let e = r.sign(&attestation(10, 0, 2)).unwrap_err();
    assert!(e.to_string().contains("different data"), "{e}");
    r.sign(&attestation(10, 1, 2)).unwrap();
    let marks = std::fs::read_to_string(d.path().join("attestation_high_watermark")).unwrap();
    let v: Value = serde_json::from_str(&marks).unwrap();
    assert_eq!(v["NetXdQprcVkpaWU"][B1]["round"], 1, "{marks}");
}

/// The shared resolution (`signer::keys`) of a `remote:` wallet key, as the node uses it: a
/// signer that is down is a retryable error, and the same key signs again once it is back,
/// from another thread.
#[test]
fn a_resolved_remote_key_is_retryable_while_the_signer_is_down() {
    let sd = tempfile::tempdir().unwrap();
    import_b1(sd.path());
    let (mut s, port) = launch(sd.path(), "socket", &[]);
    let wd = tempfile::tempdir().unwrap();
    let wallet = signer::wallet::Wallet::new(wd.path());
    let pkh: PublicKeyHash = B1.parse().unwrap();
    wallet
        .add_remote_key("op", &format!("remote:{B1}"), &pkh, None, false)
        .unwrap();
    let opts = signer::KeyOptions {
        remote_signer: Some(format!("tcp://127.0.0.1:{port}")),
        password_file: None,
    };
    let key = signer::signing_key(&wallet, B1, &opts).unwrap();
    assert_eq!(key.alias, "op");
    assert_eq!(key.public_key().unwrap().hash(), pkh);
    assert_eq!(key.sign(&[3]).unwrap().to_string(), SIG_03);
    s.kill();
    let e = key.sign(&[3]).unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert!(
        e.to_string().contains("cannot reach the remote signer"),
        "{e}"
    );
    s.restart().unwrap();
    let sig = std::thread::spawn(move || key.sign(&[3]))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(sig.to_string(), SIG_03);
    // A refusal is not retryable: a key the signer does not hold.
    let other =
        SecretKey::from_uri("unencrypted:edsk39qAm1fiMjgmPkw1EgQYkMzkJezLNewd7PLNHTkr6w9XA2zdfo")
            .unwrap()
            .public_key_hash();
    wallet
        .add_remote_key("x", &format!("remote:{other}"), &other, None, false)
        .unwrap();
    let e = signer::signing_key(&wallet, "x", &opts)
        .unwrap()
        .sign(&[3])
        .unwrap_err();
    assert!(matches!(e, SignerError::Refused { .. }), "{e:?}");
    assert!(!e.is_retryable());
}

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.next() % max;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn fuzzed_frames_and_http_requests_get_error_answers_and_never_stop_the_servers() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (mut s, port) = launch(d.path(), "socket", &[]);
    let (mut h, hport) = launch(d.path(), "http", &[]);
    let mut g = Lcg(42);
    let valid = Request::PublicKey(B1.parse().unwrap()).encode();
    let mut c = tcp(port);
    for i in 0..300 {
        let mut payload = if i % 3 == 0 {
            // Mutations of a valid request.
            let mut v = valid.clone();
            let at = usize::try_from(g.next()).unwrap() % v.len();
            v[at] ^= (g.next() as u8) | 1;
            v.truncate(at + usize::try_from(g.next() % 4).unwrap());
            v
        } else {
            g.bytes(120)
        };
        if i % 7 == 0 {
            payload.insert(0, u8::try_from(g.next() % 8).unwrap());
        }
        let ans = exchange(&mut c, &signer::protocol::frame(&payload).unwrap());
        // Every answer is a well-formed result (errors carry BSON traces).
        assert!(ans[2] == 0 || ans[2] == 1, "{}", hex::encode(&ans));
        if ans[2] == 1 {
            decode_answer(AnswerKind::Signature, &ans[2..])
                .unwrap()
                .unwrap_err();
        }
    }
    // Truncated frames: the connection closes, the server goes on.
    for _ in 0..20 {
        let mut t = tcp(port);
        t.write_all(&[0x10, 0x00, 1, 2]).unwrap();
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for i in 0..150 {
        let junk: String = g
            .bytes(40)
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        let path = match i % 4 {
            0 => format!("/keys/{junk}"),
            1 => format!("/keys/{B1}?authentication={junk}&version={}", g.next() % 9),
            2 => format!("/{junk}"),
            _ => format!("/keys/{B1}"),
        };
        let body = String::from_utf8_lossy(&g.bytes(60)).into_owned();
        let r = agent
            .post(format!("http://127.0.0.1:{hport}{path}"))
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        let st = r.status().as_u16();
        assert!((400..=500).contains(&st) || st == 200, "{path}: {st}");
    }
    s.check_alive();
    h.check_alive();
    remote(port, B1, vec![]).sign(b"\x03ok").unwrap();
    test_support::wait_until("the refusal in the log", Duration::from_secs(10), || {
        s.output().contains("malformed request refused")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
}

trait Alive {
    fn check_alive(&mut self);
}
impl Alive for SignerProcess {
    fn check_alive(&mut self) {
        assert!(!self.output().contains("panicked"), "{}", self.output());
    }
}

#[test]
fn wallet_commands_as_octez_signer() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (ok, out) = cli(d.path(), &["list", "known", "addresses"]);
    assert!(ok);
    assert_eq!(out, format!("b1: {B1} (unencrypted sk known)\n"));
    let (ok, out) = cli(d.path(), &["show", "address", "b1", "-S"]);
    assert!(ok && out.contains(&format!("Secret Key: {B1_SK}")), "{out}");
    let (ok, out) = cli(d.path(), &["import", "secret", "key", "b1", B1_SK]);
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = cli(d.path(), &["gen", "keys", "x", "--sig", "rsa"]);
    assert!(!ok && out.contains("--sig"), "{out}");
    let (ok, out) = cli(d.path(), &["launch", "socket", "signer", "-M", "0xzz"]);
    assert!(!ok && out.contains("-M/--magic-bytes"), "{out}");
}

#[test]
fn encrypted_keys_are_opened_with_the_password_file() {
    let d = tempfile::tempdir().unwrap();
    let pw = d.path().join("passwords");
    std::fs::write(&pw, "wrong\nsecret\n").unwrap();
    let pw_s = pw.to_str().unwrap();
    // An Octez vector (src/lib_signer_backends/test/test_encrypted.ml), password "ahThie5H".
    let octez = "encrypted:edesk1oGXxunJ5FTGpQ6o1xdop8VGKdT36Fj7LwWF9HLjzEqaCC4V6tdRVN1jaeJTfCHS8bYf7U2YhMK2yW6jSUy";
    let (ok, out) = cli(d.path(), &["import", "secret", "key", "o", octez]);
    assert!(!ok && out.contains("-f/--password-filename"), "{out}");
    std::fs::write(&pw, "wrong\nsecret\nahThie5H\n").unwrap();
    let (ok, out) = cli(
        d.path(),
        &["-f", pw_s, "import", "secret", "key", "o", octez],
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(
        d.path(),
        &[
            "-f",
            pw_s,
            "gen",
            "keys",
            "e",
            "--encrypted",
            "--sig",
            "p256",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(d.path(), &["list", "known", "addresses"]);
    assert!(ok && out.contains("(encrypted sk known)"), "{out}");
    let (_, show) = cli(d.path(), &["show", "address", "e"]);
    let pkh = show
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Hash: ")
        .unwrap()
        .to_owned();
    let port = test_support::free_port().unwrap().to_string();
    let launch_args = ["launch", "socket", "signer", "-a", "127.0.0.1", "-p", &port];
    let e = SignerProcess::launch(Some(Path::new(bin())), d.path(), &launch_args).unwrap_err();
    assert!(e.to_string().contains("-f/--password-filename"), "{e}");
    let mut args = vec!["-f", pw_s];
    args.extend(launch_args);
    let _s = SignerProcess::launch(Some(Path::new(bin())), d.path(), &args).unwrap();
    let r = remote(port.parse().unwrap(), &pkh, vec![]);
    let sig = r.sign(b"\x03data").unwrap();
    assert!(r.public_key().unwrap().verify_raw(b"\x03data", &sig));
}

#[test]
fn bls_proofs_of_possession_only_when_allowed() {
    let d = tempfile::tempdir().unwrap();
    let (ok, out) = cli(d.path(), &["gen", "keys", "b", "--sig", "bls"]);
    assert!(ok, "{out}");
    let (_, show) = cli(d.path(), &["show", "address", "b"]);
    let pkh = show
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Hash: ")
        .unwrap()
        .to_owned();
    let (_s, port) = launch(d.path(), "socket", &["--allow-to-prove-possession"]);
    let (_h, hport) = launch(d.path(), "http", &[]);
    let r = remote(port, &pkh, vec![]);
    let pk = r.public_key().unwrap();
    assert!(pk.verify_bls_pop(&r.bls_proof_of_possession().unwrap()));
    let (loc, p) = parse_key_uri(&format!("http://127.0.0.1:{hport}/{pkh}"), None).unwrap();
    let e = RemoteSigner::new(loc, p, vec![])
        .bls_proof_of_possession()
        .unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
}

/// Signatures of the signer equal Taquito's `InMemorySigner` ones (deterministic for the four
/// curves, BLS included) on operations Taquito forged, and Taquito's `RemoteSigner` signs the same
/// bytes through the signer's HTTP API with the same result (ed25519, secp256k1, p256: its last
/// release refuses BLS answers), which also verifies against the `tezos-types` public key
/// (`scripts/taquito-crosscheck`, l1-and-signer.md §5.3, §6).
#[test]
fn signatures_equal_taquito_in_memory_signer() {
    use std::process::Stdio;
    use tezos_types::encoding::Mutez;
    use tezos_types::operation::{ManagerOperation, OperationContent};
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/taquito-crosscheck");
    assert!(
        dir.join("node_modules/@taquito/signer").is_dir(),
        "Taquito is not installed: run `npm ci` in {}",
        dir.display()
    );
    let keys = [
        "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh",
        "spsk1XYsTqUsd7LaLs9a8qpmCvLVJeLEZEXkeAZS5dwcKgUZhv3cYw",
        "p2sk2rUMnnnFPQCB7DBozkCZrFhiZ87ddrpAHbRcww7dwU2WHYUbci",
        "BLsk1XMDG3iepYGj15mBWc7dYjrkpVVM4VH3y5DyBCN9iAGrELwRbY",
    ];
    let d = tempfile::tempdir().unwrap();
    let mut cases = vec![];
    let mut pkhs = vec![];
    for (i, k) in keys.iter().enumerate() {
        let (ok, out) = cli(
            d.path(),
            &[
                "import",
                "secret",
                "key",
                &format!("k{i}"),
                &format!("unencrypted:{k}"),
            ],
        );
        assert!(ok, "{out}");
        let sk: SecretKey = k.parse().unwrap();
        let op = tezos_types::UnsignedOperation {
            branch: tezos_types::BlockHash::hash_bytes(&[u8::try_from(i).unwrap()]),
            contents: vec![ManagerOperation {
                content: OperationContent::Transaction {
                    amount: Mutez(1_000_000 + u64::try_from(i).unwrap()),
                    destination: B1.parse().unwrap(),
                    parameters: None,
                },
                source: sk.public_key_hash(),
                fee: Mutez(1000),
                counter: 7,
                gas_limit: 1500,
                storage_limit: 0,
            }],
        };
        cases.push(serde_json::json!({"op": op, "sk": k}));
        pkhs.push(sk.public_key_hash().to_b58check());
    }
    let (_s, port) = launch(d.path(), "socket", &[]);
    let (_h, hport) = launch(d.path(), "http", &[]);
    let mut child = std::process::Command::new("node")
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
        .write_all(
            serde_json::json!({ "cases": cases, "remote": format!("http://127.0.0.1:{hport}") })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "crosscheck.mjs failed");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for ((pkh, k), res) in pkhs.iter().zip(keys).zip(v["results"].as_array().unwrap()) {
        let mut data = vec![3u8];
        data.extend(hex::decode(res["forged"].as_str().unwrap()).unwrap());
        // Taquito's RemoteSigner went through our HTTP server: same bytes, same signature
        // (tz4: RemoteSigner 21.0.0 refuses `BLsig` answers, InMemorySigner is the oracle).
        let theirs = if pkh.starts_with("tz4") {
            assert_eq!(res["remote_signature"], Value::Null);
            res["signature"].as_str().unwrap()
        } else {
            res["remote_signature"].as_str().unwrap()
        };
        assert_eq!(theirs, res["signature"].as_str().unwrap(), "{pkh}");
        let pk = k.parse::<SecretKey>().unwrap().public_key();
        let sig: Signature = theirs.parse().unwrap();
        assert!(pk.verify_raw(&data, &sig), "{pkh}: {theirs}");
        for uri in [
            format!("tcp://127.0.0.1:{port}/{pkh}"),
            format!("http://127.0.0.1:{hport}/{pkh}"),
        ] {
            let (loc, p) = parse_key_uri(&uri, None).unwrap();
            let sig = RemoteSigner::new(loc, p, vec![]).sign(&data).unwrap();
            assert_eq!(
                sig.to_b58check(),
                res["signature"].as_str().unwrap(),
                "{uri}"
            );
        }
    }
}

/// Concurrent clients are served (issue 11): eight threads, each with its own `RemoteSigner`,
/// sign at the same time over TCP and HTTP; every signature verifies.
#[test]
fn concurrent_clients_are_served() {
    let d = tempfile::tempdir().unwrap();
    import_b1(d.path());
    let (_s, port) = launch(d.path(), "socket", &[]);
    let (_h, hport) = launch(d.path(), "http", &[]);
    let pk = B1_SK
        .strip_prefix("unencrypted:")
        .unwrap()
        .parse::<SecretKey>()
        .unwrap()
        .public_key();
    let sigs: Vec<(Vec<u8>, Signature)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0u8..8)
            .map(|i| {
                sc.spawn(move || {
                    let uri = if i % 2 == 0 {
                        format!("tcp://127.0.0.1:{port}/{B1}")
                    } else {
                        format!("http://127.0.0.1:{hport}/{B1}")
                    };
                    let (loc, p) = parse_key_uri(&uri, None).unwrap();
                    let r = RemoteSigner::new(loc, p, vec![]);
                    (0u8..5)
                        .map(|j| {
                            let data = vec![3, i, j];
                            let sig = r.sign(&data).unwrap();
                            (data, sig)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sigs.len(), 40);
    for (data, sig) in &sigs {
        assert!(pk.verify_raw(data, sig), "{data:?}");
    }
}
