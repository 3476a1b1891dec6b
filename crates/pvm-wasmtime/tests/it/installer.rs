//! The SDK installer kernel (`tezos-smart-rollup-installer` 0.2.2, built by
//! `scripts/build-kernels.sh` as `kernels/target/installer/counter-installer.wasm`) as the boot
//! sector of an originated rollup (`wasm-pvm.md` §6): it reveals the counter kernel from the
//! preimages directory (the node's `wasm_2_0_0/`), installs it and reboots into it.
//!
//! Corrupted preimages: the node verifies every preimage against its hash before use
//! (§5.3, crate `preimages`); a wrong file makes the reveal unanswerable, which is an
//! operational error of the level (the PVM state is left as before it), never an answer
//! given to the kernel.

use std::path::{Path, PathBuf};

use wasm_pvm::{KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmVersion, STUCK_FLAG_KEY};

use crate::kernels::{Rollup, artifact, counter_echo, kernel_wasm, revealer};

/// First inbox level after origination.
const FIRST: u32 = 100;

fn installer_wasm() -> Vec<u8> {
    let p = artifact("installer/counter-installer.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn preimages_dir() -> PathBuf {
    artifact("installer/counter-preimages")
}

fn root_hash() -> String {
    let p = artifact("installer/counter-root-hash.hex");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A copy of the preimages directory that a test may corrupt.
fn copy_preimages(to: &Path) {
    for e in std::fs::read_dir(preimages_dir()).expect("preimages dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy preimage");
    }
}

fn originate(dir: &Path) -> Rollup {
    Rollup::new(
        PvmVersion::V6,
        &installer_wasm(),
        Box::new(revealer(dir)),
        FIRST,
    )
}

fn counter_value(r: &Rollup) -> Option<u64> {
    r.get("/counter")
        .map(|v| u64::from_le_bytes(v.try_into().expect("8-byte counter")))
}

/// After the first level the counter kernel is installed and has processed that level's
/// inputs (it runs after the installer's reboot, in the same level).
fn assert_installed(r: &Rollup, first_level: u32) {
    let counter = kernel_wasm("counter");
    assert_eq!(
        r.get(KERNEL_KEY),
        Some(counter.clone()),
        "/kernel/boot.wasm is counter.wasm"
    );
    assert_eq!(r.get(KERNEL_FALLBACK_KEY), Some(counter));
    assert_eq!(r.get("/installer/kernel/boot.wasm"), None, "staging moved");
    assert_eq!(
        r.get("/__installer_kernel/auxiliary/kernel/boot.wasm"),
        None,
        "auxiliary copy deleted"
    );
    assert_eq!(r.get(STUCK_FLAG_KEY), None);
    assert_eq!(counter_value(r), Some(1));
    assert_eq!(r.get("/last_message"), Some(b"during install".to_vec()));
    assert_eq!(r.outbox(first_level), vec![counter_echo(b"during install")]);
}

#[test]
fn installer_reveals_and_installs_counter() {
    let installer = installer_wasm();
    assert!(
        installer.len() < 32 * 1024,
        "fits in an origination operation"
    );
    let root = root_hash();
    assert!(
        preimages_dir().join(&root).is_file(),
        "root page {root} in the preimages dir"
    );
    // The installer's `config` section reveals exactly that root hash.
    let root_bytes = hex::decode(&root).expect("hex root hash");
    assert!(
        installer.windows(root_bytes.len()).any(|w| w == root_bytes),
        "the installer's config names the root hash {root}"
    );
    let mut r = originate(&preimages_dir());
    assert_eq!(r.get(KERNEL_KEY), Some(installer));

    let l1 = r.level(&[b"during install"]);
    assert_installed(&r, l1);

    // The next level is processed by the counter kernel.
    let l2 = r.level(&[b"next", b"level"]);
    assert_eq!(counter_value(&r), Some(2));
    assert_eq!(r.get("/last_message"), Some(b"level".to_vec()));
    assert_eq!(
        r.outbox(l2),
        vec![counter_echo(b"next"), counter_echo(b"level")]
    );
    assert!(
        r.debug_text()
            .contains("counter: run 2, 2 external message(s)")
    );
}

/// Overwrite the preimage file `name` with bytes that do not hash to `name`, run the first
/// level: it must fail operationally and leave the state untouched; once the file is
/// repaired the same level succeeds.
fn corrupted_preimage_is_refused(name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_preimages(dir.path());
    let file = dir.path().join(name);
    let good = std::fs::read(&file).expect("preimage");
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0xff;
    std::fs::write(&file, &bad).expect("corrupt preimage");

    let mut r = originate(dir.path());
    let before = r.state.hash().expect("hash");
    let err = r
        .try_level(&[b"during install"])
        .expect_err("a preimage that does not match its hash must not be used");
    assert!(
        err.to_string().contains(name),
        "the error names the preimage {name}: {err}"
    );
    // Nothing of the run is kept: no partial install, the installer is still the kernel.
    assert_eq!(r.state.hash().expect("hash"), before);
    assert_eq!(r.get(KERNEL_KEY), Some(installer_wasm()));
    assert_eq!(r.get("/installer/kernel/boot.wasm"), None);
    assert_eq!(r.get("/counter"), None);
    assert_eq!(r.next_level, FIRST, "the level was not consumed");
    // The node never cached or kept anything else under the name.
    assert_eq!(std::fs::read(&file).expect("preimage"), bad);

    // Repaired by the operator: the same level now installs the counter.
    std::fs::write(&file, &good).expect("repair preimage");
    let l1 = r.level(&[b"during install"]);
    assert_installed(&r, l1);
}

#[test]
fn corrupted_root_page_is_refused() {
    corrupted_preimage_is_refused(&root_hash());
}

#[test]
fn corrupted_content_page_is_refused() {
    let root = root_hash();
    let mut names: Vec<String> = std::fs::read_dir(preimages_dir())
        .expect("preimages dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| *n != root)
        .collect();
    names.sort();
    let last = names.pop().expect("the counter kernel spans several pages");
    corrupted_preimage_is_refused(&last);
}
