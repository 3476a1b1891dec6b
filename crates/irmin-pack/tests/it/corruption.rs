//! Damaged copies of the upstream stores: each damage gives its typed error, naming the file
//! and the offset.

use std::path::Path;

use irmin_pack::{Error, ObjHash, Schema, Store};

use crate::fixtures::{C0, fixture};
use crate::sha1::irmin_test_schema;

/// Copy fixture `name` into a fresh temporary directory.
pub(crate) fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dst.path());
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// XOR one byte of a file.
pub(crate) fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn walk_c0(dir: &Path) -> Result<(), Error> {
    let store = Store::open(dir, irmin_test_schema())?;
    let c = store.commit(&ObjHash::from_hex(C0).unwrap())?;
    store.leaves(&c).map(|_| ())
}

#[test]
fn flipped_inode_hash_is_a_hash_mismatch_at_the_parent() {
    // As upstream `test_minimal`: change the stored hash of n01 (offset 54). Its parent n0
    // (offset 88) no longer hashes to its stored hash.
    let d = copy_fixture("version_3_minimal");
    flip(&d.path().join("store.0.suffix"), 54);
    let err = walk_c0(d.path()).unwrap_err();
    let Error::HashMismatch { path, offset, .. } = &err else {
        panic!("{err}")
    };
    assert!(path.ends_with("store.0.suffix"), "{err}");
    assert_eq!(*offset, 88, "{err}");
    assert!(err.to_string().contains("export it anew"), "{err}");
}

#[test]
fn flipped_contents_byte_is_a_contents_hash_mismatch() {
    // "b01" is at offset 29 + 22.
    let d = copy_fixture("version_3_minimal");
    flip(&d.path().join("store.0.suffix"), 29 + 22);
    let err = walk_c0(d.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::HashMismatch {
                what: "contents",
                offset: 29,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn flipped_commit_info_is_a_commit_hash_mismatch() {
    let d = copy_fixture("version_3_minimal");
    // The commit date of c0 (offset 122 + 20 hash + 1 kind + 1 length + 9 node + 1 parents).
    flip(&d.path().join("store.0.suffix"), 122 + 32 + 7);
    let err = walk_c0(d.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::HashMismatch {
                what: "commit",
                offset: 122,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn flipped_byte_in_a_v1_store() {
    let d = copy_fixture("version_1");
    // The contents "x" (virtual offset 0, physical 16 + 20 hash + 1 kind + 1 length).
    flip(&d.path().join("store.pack"), 16 + 22);
    let store = Store::open(d.path(), irmin_test_schema()).unwrap();
    let bar = store.branches()[0].1;
    let c = store.commit(&bar).unwrap();
    let err = store.leaves(&c).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::HashMismatch {
                what: "contents",
                offset: 16,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_suffix_is_reported_at_open() {
    let d = copy_fixture("version_3_minimal");
    let p = d.path().join("store.0.suffix");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..150]).unwrap();
    let err = Store::open(d.path(), irmin_test_schema()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Truncated {
                needed: 164,
                available: 150,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_entry_is_reported_when_read() {
    // Suffix and control cut consistently inside the commit entry at 122.
    let d = copy_fixture("version_3_minimal");
    let p = d.path().join("store.0.suffix");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..150]).unwrap();
    let c = d.path().join("store.control");
    let mut ctl = std::fs::read(&c).unwrap();
    ctl[16..24].copy_from_slice(&150u64.to_be_bytes());
    std::fs::write(&c, ctl).unwrap();
    let err = walk_c0(d.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Truncated {
                offset: 122,
                needed: 42,
                available: 28,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn wrong_control_checksum() {
    let d = copy_fixture("version_2_to_3_always");
    // dict_end_poff's last byte: payload changed, checksum kept.
    flip(&d.path().join("store.control"), 15);
    let err = Store::open(d.path(), irmin_test_schema()).unwrap_err();
    assert!(matches!(&err, Error::ControlChecksum { .. }), "{err}");
    assert!(err.to_string().contains("store.control"), "{err}");
}

#[test]
fn unknown_kind_byte() {
    let d = copy_fixture("version_3_minimal");
    // The kind byte of n01 (offset 54 + 20): 'R' becomes 'S'.
    flip(&d.path().join("store.0.suffix"), 54 + 20);
    let err = walk_c0(d.path()).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownKind { magic: b'S', .. }),
        "{err}"
    );
}

#[test]
fn missing_chunk_and_unknown_version() {
    let d = copy_fixture("version_3_minimal");
    std::fs::remove_file(d.path().join("store.0.suffix")).unwrap();
    let err = Store::open(d.path(), irmin_test_schema()).unwrap_err();
    assert!(matches!(&err, Error::MissingFile { .. }), "{err}");

    let d = copy_fixture("version_3_minimal");
    let c = d.path().join("store.control");
    let mut ctl = std::fs::read(&c).unwrap();
    ctl[7] = b'9';
    std::fs::write(&c, ctl).unwrap();
    let err = Store::open(d.path(), irmin_test_schema()).unwrap_err();
    assert!(matches!(&err, Error::UnknownVersion { .. }), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = Store::open(empty.path(), irmin_test_schema()).unwrap_err();
    assert!(matches!(&err, Error::NotAStore { .. }), "{err}");
}

#[test]
fn wrong_schema_is_refused() {
    // 32-byte hashes do not fit the 20-byte index records of a SHA-1 store.
    let err = Store::open(fixture("version_3_minimal"), Schema::tezos_binary()).unwrap_err();
    assert!(err.to_string().contains("wrong schema hash size"), "{err}");
}

#[test]
fn unknown_commit() {
    let store = Store::open(fixture("version_3_minimal"), irmin_test_schema()).unwrap();
    let err = store
        .commit(&ObjHash::from_slice(&[7; 20]).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::HashNotIndexed { what: "commit", .. }),
        "{err}"
    );
}
