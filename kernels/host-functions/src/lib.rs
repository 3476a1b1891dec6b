//! Host-functions kernel: calls every host function of the wasm PVM
//! (`smart_rollup_core`) on success and error paths and records each
//! observed result under `/results/<name>` as an `i64` little-endian
//! (i32 results are sign-extended). The expected values are in README.md.
//!
//! * First run (no `/results/done`): the main suite, then `/results/done`.
//! * Every run: external messages are commands (`reveal-missing`,
//!   `reveal-bad-hash`, see README.md); others are only counted.
//!
//! Calls whose native (MockHost) behaviour differs from the PVM, that need
//! out-of-bounds guest memory, or that use host functions the SDK 0.2.2 does
//! not declare (`store_exists`, `store_create`, `store_get_nth_key`,
//! `__internal_store_get_hash`, `reveal`, imported raw in [`raw`]) only run
//! in the wasm32 build; natively their results are absent. So a MockHost run
//! records a subset of the keys, with the same values as the PVM.

use tezos_smart_rollup::core_unsafe::smart_rollup_core::{ReadInputMessageInfo, SmartRollupCore};

/// Content of the preimage the kernel reveals (1560 bytes, 4 chunks).
pub const KNOWN_PREIMAGE: &[u8] = include_bytes!("../preimages/known-preimage.txt");
/// Its reveal hash: `00 ‖ blake2b-256(KNOWN_PREIMAGE)`.
pub const KNOWN_PREIMAGE_HASH: [u8; 33] = [
    0x00, 0x3e, 0x2c, 0x8e, 0x3d, 0x71, 0x17, 0xa6, 0x78, 0x51, 0x60, 0x85, 0x0e, 0x73, 0x5b, 0x04,
    0x56, 0x2d, 0xb8, 0x91, 0xbc, 0xa2, 0x2c, 0xf1, 0x39, 0x21, 0x96, 0x55, 0x1f, 0x62, 0x62, 0x06,
    0x30,
];
/// A reveal hash whose preimage nobody has.
pub const MISSING_PREIMAGE_HASH: [u8; 33] = [0x00; 33];

/// Raw imports not declared by SDK 0.2.2 (wasm32 only; signatures from
/// wasm-pvm.md §1.2). They need PVM >= 2.0.0-r3 to link.
#[cfg(target_arch = "wasm32")]
pub mod raw {
    #[link(wasm_import_module = "smart_rollup_core")]
    extern "C" {
        /// 1 if a value or subtree exists at key, else 0 (V2+).
        pub fn store_exists(path: *const u8, path_len: usize) -> i32;
        /// Creates a zero-filled value of `size` bytes (V1+).
        pub fn store_create(path: *const u8, path_len: usize, size: usize) -> i32;
        /// Name of the `index`-th child (deprecated, V0).
        pub fn store_get_nth_key(
            path: *const u8,
            path_len: usize,
            index: i64,
            dst: *mut u8,
            max_size: usize,
        ) -> i32;
        /// Irmin hash of the subtree at key (V1+).
        pub fn __internal_store_get_hash(
            path: *const u8,
            path_len: usize,
            dst: *mut u8,
            max_size: usize,
        ) -> i32;
        /// Generic reveal (V3+).
        pub fn reveal(
            payload: *const u8,
            payload_len: usize,
            dst: *mut u8,
            max_bytes: usize,
        ) -> i32;
    }
}

/// A guest address beyond the end of memory (wasm32 only).
#[cfg(target_arch = "wasm32")]
const OOB: usize = 0xFFFF_0000;

/// Thin wrapper: raw host calls on slices, and result recording.
struct H<'a, Host: SmartRollupCore>(&'a Host);

impl<Host: SmartRollupCore> H<'_, Host> {
    fn rec(&self, name: &str, v: i64) {
        let key = format!("/results/{name}");
        let v = v.to_le_bytes();
        // SAFETY (all raw calls below): pointers come from live slices.
        let r = unsafe {
            self.0
                .store_write(key.as_ptr(), key.len(), 0, v.as_ptr(), 8)
        };
        if r != 0 {
            self.debug(&format!("host-functions: cannot record {name}: {r}\n"));
        }
    }
    fn debug(&self, s: &str) {
        unsafe { self.0.write_debug(s.as_ptr(), s.len()) }
    }
    fn has(&self, k: &[u8]) -> i32 {
        unsafe { self.0.store_has(k.as_ptr(), k.len()) }
    }
    fn write(&self, k: &[u8], off: usize, v: &[u8]) -> i32 {
        unsafe {
            self.0
                .store_write(k.as_ptr(), k.len(), off, v.as_ptr(), v.len())
        }
    }
    fn read(&self, k: &[u8], off: usize, dst: &mut [u8]) -> i32 {
        unsafe {
            self.0
                .store_read(k.as_ptr(), k.len(), off, dst.as_mut_ptr(), dst.len())
        }
    }
    fn size(&self, k: &[u8]) -> i32 {
        unsafe { self.0.store_value_size(k.as_ptr(), k.len()) }
    }
    fn delete(&self, k: &[u8]) -> i32 {
        unsafe { self.0.store_delete(k.as_ptr(), k.len()) }
    }
    fn delete_value(&self, k: &[u8]) -> i32 {
        unsafe { self.0.store_delete_value(k.as_ptr(), k.len()) }
    }
    fn list_size(&self, k: &[u8]) -> i64 {
        unsafe { self.0.store_list_size(k.as_ptr(), k.len()) }
    }
    fn copy(&self, a: &[u8], b: &[u8]) -> i32 {
        unsafe { self.0.store_copy(a.as_ptr(), a.len(), b.as_ptr(), b.len()) }
    }
    fn mv(&self, a: &[u8], b: &[u8]) -> i32 {
        unsafe { self.0.store_move(a.as_ptr(), a.len(), b.as_ptr(), b.len()) }
    }
    fn output(&self, m: &[u8]) -> i32 {
        unsafe { self.0.write_output(m.as_ptr(), m.len()) }
    }
    fn reveal_preimage(&self, hash: &[u8], dst: &mut [u8]) -> i32 {
        unsafe {
            self.0
                .reveal_preimage(hash.as_ptr(), hash.len(), dst.as_mut_ptr(), dst.len())
        }
    }
    fn read_input(&self, dst: &mut [u8]) -> (i32, ReadInputMessageInfo) {
        let mut info = ReadInputMessageInfo { level: -1, id: -1 };
        let r = unsafe { self.0.read_input(&mut info, dst.as_mut_ptr(), dst.len()) };
        (r, info)
    }
}

fn b(x: bool) -> i64 {
    x as i64
}

/// Deterministic content for the large-value test.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// One kernel run.
pub fn kernel_run<Host: SmartRollupCore>(host: &mut Host) {
    let h = H(&*host);
    let first = h.has(b"/results/done") == 0;
    if first {
        h.debug("host-functions: main suite\n");
        outputs(&h);
        storage(&h);
        large_values(&h);
        subtrees(&h);
        reveals(&h);
        #[cfg(target_arch = "wasm32")]
        wasm_only(&h);
    }
    inputs(&h, first);
    if first {
        h.rec("done", 1);
    }
}

/// `read_input`; external messages are commands.
fn inputs<Host: SmartRollupCore>(h: &H<Host>, first: bool) {
    let mut buf = [0u8; 4096];
    let mut externals = 0i64;
    if first {
        #[cfg(target_arch = "wasm32")]
        {
            let mut info = ReadInputMessageInfo { level: 0, id: 0 };
            let r = unsafe { h.0.read_input(&mut info, OOB as *mut u8, 16) };
            h.rec("read_input_dst_oob", r as i64);
        }
        // The first message truncated to 1 byte (the PVM's first message is
        // StartOfLevel; MockHost's first level has none, so count it if
        // external).
        let (r, info) = h.read_input(&mut buf[..1]);
        h.rec("read_input_truncated", r as i64);
        h.rec("read_input_info_id", info.id as i64);
        if r == 1 && buf[0] == 0x01 {
            externals += 1;
        }
    }
    loop {
        let (r, _) = h.read_input(&mut buf);
        if r <= 0 {
            if first {
                h.rec("read_input_end", r as i64);
            }
            break;
        }
        let msg = &buf[..r as usize];
        if msg[0] != 0x01 {
            continue;
        }
        externals += 1;
        let cmd = &msg[1..];
        let mut dst = [0u8; 64];
        match cmd {
            b"reveal-missing" => {
                // Blocks a rollup node that lacks this preimage: on request only.
                #[cfg(target_arch = "wasm32")]
                h.rec(
                    "reveal_missing",
                    h.reveal_preimage(&MISSING_PREIMAGE_HASH, &mut dst) as i64,
                );
            }
            b"reveal-bad-hash" => {
                // 10 bytes: undecodable request, L1 answers the empty preimage.
                #[cfg(target_arch = "wasm32")]
                h.rec(
                    "reveal_bad_hash",
                    h.reveal_preimage(&[0u8; 10], &mut dst) as i64,
                );
            }
            _ => {}
        }
        let _ = &mut dst;
    }
    let mut prev = [0u8; 8];
    let before = if h.read(b"/results/externals", 0, &mut prev) == 8 {
        i64::from_le_bytes(prev)
    } else {
        0
    };
    h.rec("externals", before + externals);
}

/// `write_output`, `write_debug`.
fn outputs<Host: SmartRollupCore>(h: &H<Host>) {
    h.debug("host-functions: write_debug works\n");
    h.rec("output_ok", h.output(b"hello outbox") as i64);
    h.rec("output_too_large", h.output(&[0u8; 4097]) as i64);
    h.rec("output_max_size", h.output(&[7u8; 4096]) as i64);
    #[cfg(target_arch = "wasm32")]
    {
        let r = unsafe { h.0.write_output(OOB as *const u8, 16) };
        h.rec("output_src_oob", r as i64);
        // write_debug never checks its range.
        unsafe { h.0.write_debug(OOB as *const u8, 16) };
        h.rec("debug_oob_survived", 1);
    }
    // 2 messages so far: 98 more fill the level (100), the 101st fails.
    let mut ok = 0;
    for i in 0..98u32 {
        if h.output(&i.to_le_bytes()) == 0 {
            ok += 1;
        }
    }
    h.rec("output_fill_ok", ok);
    h.rec("output_101st", h.output(b"one too many") as i64);
    h.rec("output_too_large_when_full", h.output(&[0u8; 4097]) as i64);
}

/// `store_has`, `store_write`, `store_read`, `store_value_size`,
/// `store_delete`, `store_delete_value`, key errors.
fn storage<Host: SmartRollupCore>(h: &H<Host>) {
    let long = [b'a'; 300];
    let mut long_key = vec![b'/'];
    long_key.extend_from_slice(&long[..299]);
    let mut buf = [0u8; 64];

    h.rec("write_ok", h.write(b"/hf/v", 0, b"0123456789") as i64);
    h.rec("write_append", h.write(b"/hf/v", 10, b"ab") as i64);
    h.rec("write_overwrite", h.write(b"/hf/v", 2, b"XY") as i64);
    h.rec("write_gap", h.write(b"/hf/v", 13, b"z") as i64);
    h.rec(
        "write_too_large",
        h.write(b"/hf/big", 0, &[1u8; 2049]) as i64,
    );
    h.rec(
        "write_max_chunk",
        h.write(b"/hf/max", 0, &[1u8; 2048]) as i64,
    );
    h.rec("write_new_at_offset", h.write(b"/hf/new", 1, b"x") as i64);
    h.rec("write_key_300", h.write(&long_key, 0, b"x") as i64);
    h.rec("write_key_invalid", h.write(b"/hf//v", 0, b"x") as i64);
    h.rec("write_key_trailing_slash", h.write(b"/hf/", 0, b"x") as i64);
    h.rec("write_key_bad_char", h.write(b"/hf/a@b", 0, b"x") as i64);
    h.rec("write_key_no_slash", h.write(b"hf", 0, b"x") as i64);

    h.rec("value_size", h.size(b"/hf/v") as i64);
    h.rec("value_size_missing", h.size(b"/hf/missing") as i64);
    h.rec("value_size_subtree_only", h.size(b"/hf") as i64);
    h.rec("value_size_key_invalid", h.size(b"/hf//v") as i64);
    h.rec("value_size_key_300", h.size(&long_key) as i64);

    let r = h.read(b"/hf/v", 0, &mut buf[..12]);
    h.rec("read_ok", r as i64);
    h.rec("read_ok_content", b(&buf[..12] == b"01XY456789ab"));
    h.rec("read_truncated", h.read(b"/hf/v", 0, &mut buf[..3]) as i64);
    h.rec("read_offset", h.read(b"/hf/v", 10, &mut buf[..10]) as i64);
    h.rec("read_missing", h.read(b"/hf/missing", 0, &mut buf) as i64);
    h.rec(
        "read_offset_past_end",
        h.read(b"/hf/v", 13, &mut buf) as i64,
    );
    h.rec("read_key_invalid", h.read(b"/hf//v", 0, &mut buf) as i64);
    h.rec("read_key_300", h.read(&long_key, 0, &mut buf) as i64);

    h.rec("has_none", h.has(b"/hf/none") as i64);
    h.rec("has_value", h.has(b"/hf/v") as i64);
    h.rec("has_subtree", h.has(b"/hf") as i64);
    h.rec("has_key_invalid", h.has(b"/hf//v") as i64);
    h.rec("has_key_300", h.has(&long_key) as i64);

    h.write(b"/hf/d/x", 0, b"1");
    h.write(b"/hf/d/y", 0, b"2");
    h.rec("delete_ok", h.delete(b"/hf/d") as i64);
    h.rec("delete_gone", h.has(b"/hf/d/x") as i64);
    h.rec("delete_missing", h.delete(b"/hf/nothing/here") as i64);
    h.rec("delete_key_invalid", h.delete(b"/hf//d") as i64);
    h.write(b"/hf/dv", 0, b"v");
    h.write(b"/hf/dv/child", 0, b"c");
    h.rec("delete_value_ok", h.delete_value(b"/hf/dv") as i64);
    h.rec("delete_value_then_has", h.has(b"/hf/dv") as i64);
    h.rec("delete_value_missing", h.delete_value(b"/hf/dv") as i64);

    #[cfg(target_arch = "wasm32")]
    {
        // PVM-only semantics (MockHost differs) and guest-memory errors.
        let mut key_241 = vec![b'/'];
        key_241.extend_from_slice(&long[..240]);
        let mut key_240 = vec![b'/'];
        key_240.extend_from_slice(&long[..239]);
        h.rec("write_key_240", h.write(&key_240, 0, b"x") as i64);
        h.rec("write_key_241", h.write(&key_241, 0, b"x") as i64);
        h.rec("has_key_241", h.has(&key_241) as i64);
        h.rec("write_readonly", h.write(b"/readonly/x", 0, b"x") as i64);
        h.rec("write_root", h.write(b"", 0, b"x") as i64);
        h.rec("read_offset_at_end", h.read(b"/hf/v", 12, &mut buf) as i64);
        h.rec(
            "read_max_2049",
            h.read(b"/hf/v", 0, &mut [0u8; 2049]) as i64,
        );
        h.rec("write_empty_new", h.write(b"/hf/empty", 0, b"") as i64);
        h.rec("value_size_empty", h.size(b"/hf/empty") as i64);
        h.rec("read_empty", h.read(b"/hf/empty", 0, &mut buf) as i64);
        h.write(b"/hf/both", 0, b"v");
        h.write(b"/hf/both/c", 0, b"c");
        h.rec("has_both", h.has(b"/hf/both") as i64);
        h.rec("has_readonly", h.has(b"/readonly") as i64);
        h.rec("has_root", h.has(b"") as i64);
        h.rec(
            "read_wasm_version_size",
            h.size(b"/readonly/wasm_version") as i64,
        );
        h.rec(
            "delete_readonly",
            h.delete(b"/readonly/wasm_version") as i64,
        );
        h.rec("delete_root", h.delete(b"") as i64);
        h.rec(
            "delete_value_readonly",
            h.delete_value(b"/readonly/wasm_version") as i64,
        );
        unsafe {
            let k = b"/hf/v";
            let r = h.0.store_read(k.as_ptr(), k.len(), 0, OOB as *mut u8, 8);
            h.rec("read_dst_oob", r as i64);
            let r = h.0.store_write(k.as_ptr(), k.len(), 0, OOB as *const u8, 8);
            h.rec("write_src_oob", r as i64);
            h.rec("has_key_oob", h.0.store_has(OOB as *const u8, 8) as i64);
            // key_len > 240 is checked before the memory access.
            h.rec(
                "has_key_oob_300",
                h.0.store_has(OOB as *const u8, 300) as i64,
            );
        }
    }
}

/// Values spanning several 512-byte chunks and several 2048-byte writes.
fn large_values<Host: SmartRollupCore>(h: &H<Host>) {
    let data = pattern(5000);
    let mut ok = 1;
    for (i, chunk) in data.chunks(2048).enumerate() {
        if h.write(b"/hf/large", i * 2048, chunk) != 0 {
            ok = 0;
        }
    }
    h.rec("large_write_ok", ok);
    h.rec("large_size", h.size(b"/hf/large") as i64);
    // Reads crossing chunk boundaries.
    let mut all = true;
    for (off, len) in [
        (500usize, 30usize),
        (1020, 10),
        (2040, 20),
        (4090, 910),
        (0, 2048),
    ] {
        let mut buf = vec![0u8; len];
        let r = h.read(b"/hf/large", off, &mut buf);
        all &= r as usize == len && buf == data[off..off + len];
    }
    h.rec("large_read_ok", b(all));
    let mut tail = [0u8; 100];
    h.rec(
        "large_read_tail",
        h.read(b"/hf/large", 4950, &mut tail) as i64,
    );
    // Overwrite across the 1024 boundary, then read back.
    h.rec(
        "large_overwrite",
        h.write(b"/hf/large", 1020, &[0xEE; 10]) as i64,
    );
    let mut buf = [0u8; 12];
    h.read(b"/hf/large", 1019, &mut buf);
    let expect = buf[0] == data[1019] && buf[1..11] == [0xEE; 10] && buf[11] == data[1030];
    h.rec("large_overwrite_ok", b(expect));
    h.rec("large_size_after", h.size(b"/hf/large") as i64);
}

/// `store_list_size`, `store_copy`, `store_move`.
fn subtrees<Host: SmartRollupCore>(h: &H<Host>) {
    h.write(b"/hf/t/a", 0, b"A");
    h.write(b"/hf/t/b", 0, b"B");
    h.write(b"/hf/t/c/d", 0, b"D");
    h.rec("list_size_3", h.list_size(b"/hf/t"));
    h.rec("list_size_key_invalid", h.list_size(b"/hf//t"));
    h.rec("list_size_leaf", h.list_size(b"/hf/t/c"));

    h.write(b"/hf/dst/old", 0, b"old");
    h.rec("copy_ok", h.copy(b"/hf/t", b"/hf/dst") as i64);
    h.rec("copy_replaced_old", h.has(b"/hf/dst/old") as i64);
    h.rec("copy_dst_list_size", h.list_size(b"/hf/dst"));
    let mut buf = [0u8; 4];
    h.rec("copy_dst_read", h.read(b"/hf/dst/c/d", 0, &mut buf) as i64);
    h.rec("copy_src_kept", h.has(b"/hf/t/a") as i64);
    h.rec("copy_missing", h.copy(b"/hf/nope", b"/hf/dst2") as i64);
    h.rec("copy_key_invalid", h.copy(b"/hf//t", b"/hf/dst2") as i64);

    h.rec("move_ok", h.mv(b"/hf/dst", b"/hf/moved") as i64);
    h.rec("move_src_gone", h.has(b"/hf/dst") as i64);
    h.rec("move_dst_list_size", h.list_size(b"/hf/moved"));
    h.rec("move_missing", h.mv(b"/hf/nope", b"/hf/moved2") as i64);
    h.rec("move_key_invalid", h.mv(b"/hf/moved", b"/hf//x") as i64);

    #[cfg(target_arch = "wasm32")]
    {
        h.write(b"/hf/lv", 0, b"v");
        h.write(b"/hf/lv/a", 0, b"a");
        h.rec("list_size_value_and_child", h.list_size(b"/hf/lv"));
        h.rec("list_size_missing", h.list_size(b"/hf/missing"));
        h.rec("copy_to_readonly", h.copy(b"/hf/t", b"/readonly/t") as i64);
        h.rec(
            "copy_from_readonly",
            h.copy(b"/readonly/wasm_version", b"/hf/version") as i64,
        );
        h.rec(
            "move_from_readonly",
            h.mv(b"/readonly/wasm_version", b"/hf/v2") as i64,
        );
        h.rec("move_to_readonly", h.mv(b"/hf/t", b"/readonly/t") as i64);
        h.rec("move_into_own_subtree", h.mv(b"/hf/t", b"/hf/t/sub") as i64);
        h.rec(
            "move_into_own_subtree_read",
            h.read(b"/hf/t/sub/a", 0, &mut buf) as i64,
        );
    }
}

/// `reveal_preimage`, `reveal_metadata`.
fn reveals<Host: SmartRollupCore>(h: &H<Host>) {
    let mut buf = vec![0u8; 4096];
    let r = h.reveal_preimage(&KNOWN_PREIMAGE_HASH, &mut buf);
    h.rec("reveal_known", r as i64);
    h.rec(
        "reveal_known_ok",
        b(r >= 0 && &buf[..r as usize] == KNOWN_PREIMAGE),
    );
    let r = h.reveal_preimage(&KNOWN_PREIMAGE_HASH, &mut buf[..10]);
    h.rec("reveal_known_truncated", r as i64);
    let r = unsafe { h.0.reveal_metadata(buf.as_mut_ptr(), 24) };
    h.rec("reveal_metadata", r as i64);

    #[cfg(target_arch = "wasm32")]
    unsafe {
        // Raw 24 bytes: rollup address (20) ‖ origination level (i32 BE).
        h.write(b"/results/metadata_bytes", 0, &buf[..24]);
        let r = h.0.reveal_metadata(buf.as_mut_ptr(), 10);
        h.rec("reveal_metadata_truncated", r as i64);
        let r = h.0.reveal_metadata(OOB as *mut u8, 24);
        h.rec("reveal_metadata_dst_oob", r as i64);
        let big = vec![0u8; 4097];
        let r =
            h.0.reveal_preimage(big.as_ptr(), big.len(), buf.as_mut_ptr(), 64);
        h.rec("reveal_hash_too_large", r as i64);
        let r =
            h.0.reveal_preimage(OOB as *const u8, 33, buf.as_mut_ptr(), 64);
        h.rec("reveal_hash_oob", r as i64);
        // Generic reveal of the metadata (request tag 01).
        let r = raw::reveal([1u8].as_ptr(), 1, buf.as_mut_ptr(), 64);
        h.rec("reveal_generic_metadata", r as i64);
        let mut req = vec![0u8];
        req.extend_from_slice(&KNOWN_PREIMAGE_HASH);
        let r = raw::reveal(req.as_ptr(), req.len(), buf.as_mut_ptr(), 4096);
        h.rec("reveal_generic_preimage", r as i64);
    }
}

/// Host functions the SDK does not declare (raw imports).
#[cfg(target_arch = "wasm32")]
fn wasm_only<Host: SmartRollupCore>(h: &H<Host>) {
    let mut buf = [0u8; 64];
    unsafe {
        let e = |k: &[u8]| raw::store_exists(k.as_ptr(), k.len()) as i64;
        h.rec("exists_value", e(b"/hf/v"));
        h.rec("exists_subtree", e(b"/hf"));
        h.rec("exists_missing", e(b"/hf/missing"));
        h.rec("exists_key_invalid", e(b"/hf//v"));

        let c = |k: &[u8], n: usize| raw::store_create(k.as_ptr(), k.len(), n) as i64;
        h.rec("create_ok", c(b"/hf/created", 1000));
        h.rec("create_size", h.size(b"/hf/created") as i64);
        let r = h.read(b"/hf/created", 600, &mut buf);
        h.rec("create_read", r as i64);
        h.rec("create_read_zeros", b(buf.iter().all(|&x| x == 0)));
        h.rec("create_exists", c(b"/hf/created", 10));
        h.rec("create_negative", c(b"/hf/neg", usize::MAX));
        h.rec("create_readonly", c(b"/readonly/c", 10));
        h.rec("create_zero", c(b"/hf/created0", 0));

        let n = |k: &[u8], i: i64, dst: &mut [u8]| {
            raw::store_get_nth_key(k.as_ptr(), k.len(), i, dst.as_mut_ptr(), dst.len()) as i64
        };
        h.write(b"/hf/nth/only", 0, b"x");
        h.rec("nth_key_0", n(b"/hf/nth", 0, &mut buf));
        h.rec("nth_key_0_is_only", b(&buf[..4] == b"only"));
        h.rec("nth_key_truncated", n(b"/hf/nth", 0, &mut buf[..2]));
        h.rec("nth_key_out_of_range", n(b"/hf/nth", 1, &mut buf));
        h.rec("nth_key_missing", n(b"/hf/missing", 0, &mut buf));

        let g = |k: &[u8], dst: &mut [u8]| {
            raw::__internal_store_get_hash(k.as_ptr(), k.len(), dst.as_mut_ptr(), dst.len()) as i64
        };
        h.rec("get_hash", g(b"/hf/v", &mut buf));
        h.write(b"/results/hash_of_hf_v", 0, &buf[..32]);
        h.rec("get_hash_truncated", g(b"/hf/v", &mut buf[..10]));
        h.rec("get_hash_missing", g(b"/hf/missing", &mut buf));
    }
}

kernel_util::entry!(kernel_run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hash() {
        let h =
            tezos_smart_rollup_encoding::dac::pages::make_preimage_hash(KNOWN_PREIMAGE).unwrap();
        assert_eq!(h, KNOWN_PREIMAGE_HASH);
    }
}
