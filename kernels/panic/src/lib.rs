//! Panic kernel: exercises the panic path (panic hook → trap).
//!
//! Each run writes `/before_panic` (`u32` LE run count, to check that writes
//! made before a trap persist: the PVM has no rollback) and a debug line,
//! then panics. On the PVM the hook writes `Kernel panic ...` to the debug
//! output and aborts (`unreachable` trap), so the PVM marks the run stuck
//! (`/readonly/kernel/env/stuck`) and goes on with the next level.

use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::RefPath;

/// Durable path written before panicking.
pub const BEFORE_PANIC_PATH: RefPath = RefPath::assert_from(b"/before_panic");

/// One kernel run: always panics.
pub fn kernel_run<Host: Runtime>(host: &mut Host) {
    let mut buf = [0u8; 4];
    let runs = match host.store_read_slice(&BEFORE_PANIC_PATH, 0, &mut buf) {
        Ok(4) => u32::from_le_bytes(buf),
        _ => 0,
    } + 1;
    let _ = host.store_write(&BEFORE_PANIC_PATH, &runs.to_le_bytes(), 0);
    host.write_debug("panic kernel: about to panic\n");
    panic!("deliberate panic number {runs}");
}

kernel_util::entry!(kernel_run);
