//! Floats kernel: uses `f64` arithmetic, so its binary contains float
//! instructions and the PVM must refuse it at decode time (`allow_floats:
//! false`). Natively (MockHost) it runs: each run reads `/x` (`u64` LE,
//! default 2), stores `sqrt(x) * 1.5` as `f64` bits (LE) at `/sqrt`.

use tezos_smart_rollup::host::Runtime;
use tezos_smart_rollup::storage::path::RefPath;

/// Durable input.
pub const X_PATH: RefPath = RefPath::assert_from(b"/x");
/// Durable output (`f64` bits, LE).
pub const SQRT_PATH: RefPath = RefPath::assert_from(b"/sqrt");

/// One kernel run.
pub fn kernel_run<Host: Runtime>(host: &mut Host) {
    let mut buf = [0u8; 8];
    let x = match host.store_read_slice(&X_PATH, 0, &mut buf) {
        Ok(8) => u64::from_le_bytes(buf),
        _ => 2,
    };
    let y = std::hint::black_box(x as f64).sqrt() * std::hint::black_box(1.5f64);
    let _ = host.store_write(&SQRT_PATH, &y.to_bits().to_le_bytes(), 0);
}

kernel_util::entry!(kernel_run);
