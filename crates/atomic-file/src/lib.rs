//! The one way to replace a file in this workspace (config.json, wallets, the signer's high
//! watermarks, pre-images, the node's metadata, the sandbox's config, compiled kernels): after a
//! crash or a power loss at any point, `path` holds either its old contents or the new ones,
//! whole, never a mix or a truncated file.
//!
//! Steps: write a temporary file in the same directory (so the rename does not cross file
//! systems), `fsync` it, rename it over `path` (atomic on POSIX), then `fsync` the directory so
//! that the rename itself is durable. A temporary file left by a crash is never read; [`write`]
//! names each one after the process, so a later run can recognise and remove it
//! ([`is_temporary`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker in temporary file names: `.<name>.atomic-tmp-<pid>-<n>`.
const MARKER: &str = ".atomic-tmp-";

/// Replaces the contents of `path` with `bytes`, durably and atomically (see the crate
/// documentation). The parent directory must exist. An existing file keeps its permissions; a
/// new one gets the default (0o666 less the umask).
///
/// # Errors
/// Any I/O error. When it comes from the final directory sync, `path` already holds the new
/// contents (the rename may not be durable yet); otherwise `path` is unchanged and the
/// temporary file removed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_mode(path, bytes, 0o666)
}

/// [`write`] for secrets (a wallet's `secret_keys`): a new file is readable by its owner only
/// (0o600); an existing file keeps the permissions its owner gave it.
///
/// # Errors
/// As [`write`].
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_mode(path, bytes, 0o600)
}

fn write_mode(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    let tmp = temporary_path(path)?;
    let r = write_synced(&tmp, bytes, new_mode)
        .and_then(|()| match std::fs::metadata(path) {
            Ok(m) => std::fs::set_permissions(&tmp, m.permissions()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Whether `path` names a temporary file [`write`] makes (one a crash may leave behind).
#[must_use]
pub fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.contains(MARKER))
}

/// `fsync`s the directory holding `path`, so that a rename or a creation in it is durable.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// A fresh name beside `path`: `.<file name>.atomic-tmp-<pid>-<n>`.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!("{MARKER}{}-{n}", std::process::id()));
    Ok(path.with_file_name(tmp))
}

fn write_synced(tmp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        write(&p, b"one").unwrap();
        write(&p, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn secrets_are_private_and_permissions_are_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let secret = dir.path().join("secret_keys");
        write_private(&secret, b"[]").unwrap();
        assert_eq!(mode(&secret), 0o600);
        // An operator's chmod survives every later write.
        let p = dir.path().join("config.json");
        write(&p, b"{}").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, b"{ }").unwrap();
        assert_eq!(mode(&p), 0o640);
        write_private(&secret, b"[ ]").unwrap();
        assert_eq!(mode(&secret), 0o600);
    }

    #[test]
    fn temporary_names_are_recognised() {
        let p = temporary_path(Path::new("/d/secret_keys")).unwrap();
        assert!(is_temporary(&p), "{}", p.display());
        assert_eq!(p.parent(), Some(Path::new("/d")));
        assert!(!is_temporary(Path::new("/d/secret_keys")));
        assert!(temporary_path(Path::new("/")).is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"old").unwrap();
        // The target is a directory: the rename fails, the file is untouched.
        let d = dir.path().join("sub");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("x"), b"").unwrap();
        assert!(write(&d, b"new").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| is_temporary(p))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
