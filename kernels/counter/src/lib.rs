//! Counter/echo kernel, the project's example kernel.
//!
//! On every `kernel_run` (one per inbox level, plus reboots, none requested):
//! * reads all inputs; every external message (inbox tag `0x01`) is echoed
//!   into the outbox as an atomic transaction batch of one transaction to
//!   [`ECHO_DESTINATION`] (default entrypoint) whose parameter is the payload
//!   as Michelson bytes;
//! * increments the `u64` little-endian counter at `/counter` (absent = 0);
//! * stores the last external payload of the run at `/last_message`;
//! * writes debug lines.
//!
//! Errors of `write_output` (full outbox, message too large) are reported
//! with `write_debug` and otherwise ignored.

use tezos_crypto_rs::hash::ContractKt1Hash;
use tezos_data_encoding::enc::BinWriter;
use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::RefPath;
use tezos_smart_rollup_encoding::contract::Contract;
use tezos_smart_rollup_encoding::entrypoint::Entrypoint;
use tezos_smart_rollup_encoding::michelson::MichelsonBytes;
use tezos_smart_rollup_encoding::outbox::{OutboxMessage, OutboxMessageTransaction};

/// Durable path of the run counter (`u64` LE).
pub const COUNTER_PATH: RefPath = RefPath::assert_from(b"/counter");
/// Durable path of the last external message payload.
pub const LAST_MESSAGE_PATH: RefPath = RefPath::assert_from(b"/last_message");
/// Destination of the echo outbox messages: the KT1 whose 20-byte hash is
/// all `0x42`, i.e. [`ECHO_DESTINATION_B58`].
pub const ECHO_DESTINATION: [u8; 20] = [0x42; 20];
/// [`ECHO_DESTINATION`] in base58check.
pub const ECHO_DESTINATION_B58: &str = "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL";

/// Inbox message tag of external messages.
const EXTERNAL_TAG: u8 = 0x01;

/// Encodes `payload` as an outbox message: `AtomicTransactionBatch` (tag 0)
/// with one transaction `{ parameters = Bytes payload; destination =
/// ECHO_DESTINATION; entrypoint = "default" }`.
pub fn echo_outbox_message(payload: &[u8]) -> Vec<u8> {
    let destination = Contract::Originated(ContractKt1Hash(ECHO_DESTINATION.to_vec()));
    let transaction = OutboxMessageTransaction {
        parameters: MichelsonBytes(payload.to_vec()),
        destination,
        entrypoint: Entrypoint::default(),
    };
    let message = OutboxMessage::AtomicTransactionBatch(vec![transaction].into());
    let mut out = Vec::new();
    message
        .bin_write(&mut out)
        .expect("outbox message encoding cannot fail");
    out
}

/// Reads the counter (0 when absent or malformed).
pub fn read_counter<Host: Runtime>(host: &Host) -> u64 {
    let mut buf = [0u8; 8];
    match host.store_read_slice(&COUNTER_PATH, 0, &mut buf) {
        Ok(8) => u64::from_le_bytes(buf),
        _ => 0,
    }
}

/// One kernel run.
pub fn kernel_run<Host: Runtime>(host: &mut Host) {
    let counter = read_counter(host) + 1;
    if let Err(e) = host.store_write(&COUNTER_PATH, &counter.to_le_bytes(), 0) {
        host.write_debug(&format!("counter: cannot write /counter: {e:?}\n"));
    }

    let mut externals = 0u32;
    let mut last: Option<Vec<u8>> = None;
    loop {
        match host.read_input() {
            Ok(Some(message)) => {
                let bytes = message.as_ref();
                if bytes.first() == Some(&EXTERNAL_TAG) {
                    let payload = &bytes[1..];
                    externals += 1;
                    let out = echo_outbox_message(payload);
                    if let Err(e) = host.write_output(&out) {
                        host.write_debug(&format!(
                            "counter: write_output failed at level {} id {}: {e:?}\n",
                            message.level, message.id
                        ));
                    }
                    last = Some(payload.to_vec());
                }
            }
            Ok(None) => break,
            Err(e) => {
                host.write_debug(&format!("counter: read_input failed: {e:?}\n"));
                break;
            }
        }
    }

    if let Some(last) = last {
        if let Err(e) = host.store_write_all(&LAST_MESSAGE_PATH, &last) {
            host.write_debug(&format!("counter: cannot write /last_message: {e:?}\n"));
        }
    }
    host.write_debug(&format!(
        "counter: run {counter}, {externals} external message(s)\n"
    ));
}

kernel_util::entry!(kernel_run);

#[cfg(test)]
mod tests {
    use super::*;
    use tezos_smart_rollup_mock::MockHost;

    #[test]
    fn counts_runs_and_echoes() {
        let mut host = MockHost::default();
        let level = host.run_level(kernel_run);
        assert_eq!(read_counter(&host), 1);
        assert!(host.outbox_at(level).is_empty());
        host.add_external(tezos_data_encoding::types::Zarith(1u8.into()));
        let level = host.run_level(kernel_run);
        assert_eq!(read_counter(&host), 2);
        assert_eq!(host.outbox_at(level).len(), 1);
        assert!(host.store_has(&LAST_MESSAGE_PATH).unwrap().is_some());
    }

    #[test]
    fn destination_b58() {
        let c = Contract::Originated(ContractKt1Hash(ECHO_DESTINATION.to_vec()));
        assert_eq!(c.to_b58check(), ECHO_DESTINATION_B58);
    }

    #[test]
    fn outbox_encoding() {
        let out = echo_outbox_message(&[0xca, 0xfe]);
        // tag 0, list of 40 bytes (length 4 bytes BE), then Micheline bytes `0a 00000002 cafe`.
        assert_eq!(&out[..10], &[0, 0, 0, 0, 0x28, 0x0a, 0, 0, 0, 2]);
    }
}
