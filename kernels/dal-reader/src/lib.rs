//! DAL reader kernel: takes its payloads from DAL slots, as Etherlink takes blueprints
//! (docs/reference/dal.md §5).
//!
//! An external message (inbox tag `0x01`) `"DAL" ‖ published level (int32 BE) ‖ slot index (u8)`
//! is a signal: the kernel reads the DAL parameters (`reveal_dal_parameters`), then every page of
//! that slot (`reveal_dal_page`), stopping at the first empty answer (a slot that was not
//! attested, or a page id not valid at this inbox level). It stores:
//! * `/dal/<level>/<slot>/pages`: the number of pages read (`u32` LE);
//! * `/dal/<level>/<slot>/payload`: the pages concatenated, trailing zero bytes removed
//!   (slots are padded to the slot size);
//! * `/dal/parameters`: the 32 bytes of the last parameters read (four `u64` BE).
//!
//! Other messages are ignored.

use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::OwnedPath;

/// Inbox message tag of external messages.
const EXTERNAL_TAG: u8 = 0x01;
/// Prefix of a signal's payload.
pub const SIGNAL_PREFIX: &[u8] = b"DAL";

/// A signal: the slot to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// Published level.
    pub published_level: i32,
    /// Slot index.
    pub slot_index: u8,
}

impl Signal {
    /// Decodes an external payload (`"DAL" ‖ int32 BE ‖ u8`).
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let rest = payload.strip_prefix(SIGNAL_PREFIX)?;
        match rest {
            [a, b, c, d, slot] => Some(Self {
                published_level: i32::from_be_bytes([*a, *b, *c, *d]),
                slot_index: *slot,
            }),
            _ => None,
        }
    }

    /// Encodes the signal as an external payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = SIGNAL_PREFIX.to_vec();
        v.extend_from_slice(&self.published_level.to_be_bytes());
        v.push(self.slot_index);
        v
    }
}

fn path(s: &str) -> OwnedPath {
    OwnedPath::try_from(s.to_owned()).expect("valid durable path")
}

/// Imports the slot `signal` names.
pub fn import<Host: Runtime>(host: &mut Host, signal: Signal) {
    let params = host.reveal_dal_parameters();
    let mut raw = Vec::with_capacity(32);
    for n in [
        params.number_of_slots,
        params.attestation_lag,
        params.slot_size,
        params.page_size,
    ] {
        raw.extend_from_slice(&n.to_be_bytes());
    }
    let _ = host.store_write(&path("/dal/parameters"), &raw, 0);
    let page_size = usize::try_from(params.page_size).unwrap_or(0);
    let pages = if page_size == 0 {
        0
    } else {
        params.slot_size / params.page_size
    };
    let mut payload = Vec::new();
    let mut read = 0u32;
    let mut buf = vec![0u8; page_size];
    for page in 0..pages {
        let Ok(page_index) = i16::try_from(page) else {
            break;
        };
        match host.reveal_dal_page(signal.published_level, signal.slot_index, page_index, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                payload.extend_from_slice(&buf[..n]);
                read += 1;
            }
            Err(e) => {
                host.write_debug(&format!("dal-reader: page {page_index}: {e:?}\n"));
                break;
            }
        }
    }
    while payload.last() == Some(&0) {
        payload.pop();
    }
    let base = format!("/dal/{}/{}", signal.published_level, signal.slot_index);
    let _ = host.store_write(&path(&format!("{base}/pages")), &read.to_le_bytes(), 0);
    let _ = host.store_delete(&path(&format!("{base}/payload")));
    if !payload.is_empty() {
        // Values are written in chunks of at most 2048 bytes (`store_write` limit).
        for (i, chunk) in payload.chunks(2048).enumerate() {
            let _ = host.store_write(&path(&format!("{base}/payload")), chunk, i * 2048);
        }
    }
    host.write_debug(&format!(
        "dal-reader: slot {} of level {}: {read} pages, {} bytes\n",
        signal.slot_index,
        signal.published_level,
        payload.len()
    ));
}

/// One kernel run: every signal of the inbox is imported.
pub fn run<Host: Runtime>(host: &mut Host) {
    while let Ok(Some(message)) = host.read_input() {
        let bytes = message.as_ref();
        if bytes.first() != Some(&EXTERNAL_TAG) {
            continue;
        }
        if let Some(signal) = Signal::decode(&bytes[1..]) {
            import(host, signal);
        }
    }
}

tezos_smart_rollup::kernel_entry!(run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip() {
        let s = Signal {
            published_level: 0x0102_0304,
            slot_index: 7,
        };
        assert_eq!(Signal::decode(&s.encode()), Some(s));
        assert_eq!(Signal::decode(b"DAL\x00"), None);
        assert_eq!(Signal::decode(b"XYZ\x00\x00\x00\x01\x02"), None);
    }
}
