//! Helpers shared by the test kernels.
//!
//! The SDK 0.2.2 `panic-hook` feature does not compile with Rust >= 1.81
//! (its hook takes `&PanicInfo` instead of `&PanicHookInfo`), so the kernels
//! disable it and install [`install_panic_hook`] instead, which does what the
//! SDK hook does: write `Kernel panic <message> at <location>` to the debug
//! output, then abort (a wasm `unreachable` trap).

/// Installs the panic hook (wasm32 only; natively the default hook stays so
/// that MockHost runs report panics normally).
pub fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        let message = if let Some(m) = info.payload().downcast_ref::<String>() {
            format!("Kernel panic {:?} at {:?}\n", m, info.location())
        } else {
            let m = info.payload().downcast_ref::<&str>();
            format!("Kernel panic {:?} at {:?}\n", m, info.location())
        };
        // SAFETY: the pointer/length pair describes a live byte buffer.
        unsafe {
            tezos_smart_rollup::core_unsafe::smart_rollup_core::write_debug(
                message.as_ptr(),
                message.len(),
            );
        }
        std::process::abort()
    }));
}

/// Defines the wasm `kernel_run` export calling `$run` (a function of the
/// calling module, generic over `Runtime` or `SmartRollupCore`) after installing the panic hook.
#[macro_export]
macro_rules! entry {
    ($run:ident) => {
        #[cfg(target_arch = "wasm32")]
        mod __kernel_util_entry {
            fn entry(host: &mut tezos_smart_rollup::core_unsafe::rollup_host::RollupHost) {
                $crate::install_panic_hook();
                super::$run(host)
            }
            tezos_smart_rollup::kernel_entry!(entry);
        }
    };
}
