//! Recursion kernel: recursion of a parameterised depth, to test the PVM's
//! call-stack limit (300 frames in 2.0.0, 60 000 from 2.0.0-r1).
//!
//! Depth: an external message of exactly 4 bytes (`u32` LE) sets it and is
//! stored at `/depth`; otherwise `/depth` (`u32` LE) is used; otherwise
//! [`DEFAULT_DEPTH`]. The run then recurses `depth` frames deep (a
//! non-tail-recursive function) and, when it returns, writes `/done`
//! (`u32` LE depth reached) and `/result` (`u32` LE value computed).
//! Exceeding the stack limit traps (stuck run, `/done` not updated).

use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::RefPath;

/// Durable path of the recursion depth (`u32` LE).
pub const DEPTH_PATH: RefPath = RefPath::assert_from(b"/depth");
/// Durable path of the depth reached by the last successful run.
pub const DONE_PATH: RefPath = RefPath::assert_from(b"/done");
/// Durable path of the value computed by the last successful run.
pub const RESULT_PATH: RefPath = RefPath::assert_from(b"/result");
/// Depth used when none is configured: above the 60 000-frame limit.
pub const DEFAULT_DEPTH: u32 = 100_000;

/// Recursion that LLVM cannot turn into a loop (work after the call).
#[inline(never)]
pub fn recurse(n: u32) -> u32 {
    if n == 0 {
        return 1;
    }
    let r = recurse(n - 1);
    r.wrapping_mul(31) ^ n
}

/// One kernel run.
pub fn kernel_run<Host: Runtime>(host: &mut Host) {
    let mut depth = None;
    while let Ok(Some(message)) = host.read_input() {
        let bytes = message.as_ref();
        if bytes.len() == 5 && bytes[0] == 0x01 {
            let d = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            let _ = host.store_write(&DEPTH_PATH, &d.to_le_bytes(), 0);
            depth = Some(d);
        }
    }
    let depth = depth.unwrap_or_else(|| {
        let mut buf = [0u8; 4];
        match host.store_read_slice(&DEPTH_PATH, 0, &mut buf) {
            Ok(4) => u32::from_le_bytes(buf),
            _ => DEFAULT_DEPTH,
        }
    });
    host.write_debug(&format!("recursion kernel: depth {depth}\n"));
    let result = recurse(std::hint::black_box(depth));
    let _ = host.store_write(&DONE_PATH, &depth.to_le_bytes(), 0);
    let _ = host.store_write(&RESULT_PATH, &result.to_le_bytes(), 0);
}

kernel_util::entry!(kernel_run);
