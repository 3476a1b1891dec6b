//! Upgrade kernel: replaces itself with the counter kernel and reboots.
//!
//! First run (no `/upgrade/done`): writes the embedded counter kernel bytes
//! to `/kernel/boot.wasm`, writes `/upgrade/done` (one byte `01`), marks the run for
//! reboot (`/kernel/env/reboot`) and returns without reading any input; the
//! PVM then loads the counter kernel, which processes the same inbox.
//! Later runs (only reachable natively, where the code cannot change) do
//! nothing but a debug line. The embedded kernel is empty in builds made
//! before counter.wasm existed: then the kernel only writes a debug line.

use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::RefPath;

/// The counter kernel's wasm bytes (see build.rs).
pub const COUNTER_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.wasm"));
/// Durable path of the running kernel.
pub const BOOT_PATH: RefPath = RefPath::assert_from(b"/kernel/boot.wasm");
/// Marker written by the first run.
pub const DONE_PATH: RefPath = RefPath::assert_from(b"/upgrade/done");

/// One kernel run.
pub fn kernel_run<Host: Runtime>(host: &mut Host) {
    if COUNTER_WASM.is_empty() {
        host.write_debug("upgrade kernel: built without counter.wasm\n");
        return;
    }
    if matches!(host.store_has(&DONE_PATH), Ok(Some(_))) {
        host.write_debug("upgrade kernel: already upgraded\n");
        return;
    }
    if let Err(e) = host.store_write_all(&BOOT_PATH, COUNTER_WASM) {
        host.write_debug(&format!("upgrade kernel: cannot write boot.wasm: {e:?}\n"));
        return;
    }
    let _ = host.store_write(&DONE_PATH, &[1], 0);
    let _ = host.mark_for_reboot();
    host.write_debug(&format!(
        "upgrade kernel: wrote {} bytes to /kernel/boot.wasm, rebooting\n",
        COUNTER_WASM.len()
    ));
}

kernel_util::entry!(kernel_run);
