//! Locating the workspace, its binaries, the built kernels and the reference material.

use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// The workspace root (two levels above this crate's manifest).
#[must_use]
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The environment variable overriding the lookup of binary `name`: upper case, `-` → `_`
/// (`smart-rollup-sandbox` → `SMART_ROLLUP_SANDBOX`).
#[must_use]
pub fn binary_env_var(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// The package building binary `name` (for the error message).
fn package_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "smart-rollup-sandbox" => "sandbox",
        "smart-rollup-node" => "rollup-node",
        "smart-rollup-client" => "client",
        "smart-rollup-wasm-debugger" => "wasm-debugger",
        "smart-rollup-bench" => "bench",
        "smart-rollup-signer" => "signer",
        _ => return None,
    })
}

/// The path of workspace binary `name`, built by cargo beforehand. Builds nothing.
///
/// Looked up in order: the environment variable [`binary_env_var`]`(name)`; the target
/// directory of the running test (`target/<profile>/`, the parent of `deps/`); the workspace's
/// `target/debug/`. Inside the binary's own package prefer `env!("CARGO_BIN_EXE_<name>")`,
/// which cargo always builds; other packages' binaries are not built by `cargo test -p`.
///
/// # Errors
/// [`HarnessError::MissingBinary`] with the `cargo build` command to run.
pub fn binary(name: &str) -> Result<PathBuf> {
    let env = binary_env_var(name);
    if let Some(p) = std::env::var_os(&env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(HarnessError::MissingFile {
                what: format!("binary {name} (from {env})"),
                path: p,
                hint: format!("fix or unset {env}"),
            })
        };
    }
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let mut looked = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
        for dir in exe.ancestors().skip(1).take(2) {
            looked.push(dir.join(&file));
        }
    }
    looked.push(workspace_root().join("target/debug").join(&file));
    if let Some(found) = looked.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let build = match package_of(name) {
        Some(pkg) => format!("cargo build -p {pkg} --bin {name}"),
        None => format!("cargo build --bin {name}"),
    };
    Err(HarnessError::MissingBinary {
        name: name.to_owned(),
        looked,
        build,
        env,
    })
}

/// The reference data the tests use (`testdata/` in the repository), or
/// `$SMART_ROLLUP_REFERENCE_DIR`.
#[must_use]
pub fn reference_dir() -> PathBuf {
    std::env::var_os("SMART_ROLLUP_REFERENCE_DIR")
        .map_or_else(|| workspace_root().join("testdata"), PathBuf::from)
}

/// The text of `relative` inside [`reference_dir`].
///
/// # Errors
/// [`HarnessError::MissingFile`] when it cannot be read.
pub fn reference_file(relative: &str) -> Result<String> {
    let path = reference_dir().join(relative);
    std::fs::read_to_string(&path).map_err(|e| HarnessError::MissingFile {
        what: format!("reference file {relative}"),
        path,
        hint: format!(
            "{e}; the reference data lives in testdata/ in the repository \
             (or set SMART_ROLLUP_REFERENCE_DIR)"
        ),
    })
}

/// `kernels/target`, where `scripts/build-kernels.sh` puts the built kernels.
#[must_use]
pub fn kernels_dir() -> PathBuf {
    workspace_root().join("kernels/target")
}

/// `kernels/target/installer` (the counter installer kernel, its root hash and pre-images).
///
/// # Errors
/// [`HarnessError::MissingFile`] when the kernels are not built.
pub fn installer_dir() -> Result<PathBuf> {
    let dir = kernels_dir().join("installer");
    if dir.join("counter-installer.hex").is_file() && dir.join("counter-preimages").is_dir() {
        Ok(dir)
    } else {
        Err(HarnessError::MissingFile {
            what: "the counter installer kernel and its pre-images".into(),
            path: dir,
            hint: "build the kernels with scripts/build-kernels.sh".into(),
        })
    }
}

/// A fresh temporary directory named `<label>-XXXXXX`, deleted when dropped.
///
/// # Errors
/// [`HarnessError::Io`] when it cannot be created.
pub fn temp_dir(label: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{label}-"))
        .tempdir()
        .map_err(|error| HarnessError::Io {
            what: format!("creating a temporary directory for {label}"),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let m = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(m.contains("[workspace]"));
    }

    #[test]
    fn missing_binary_says_how_to_build_it() {
        let e = binary("smart-rollup-no-such-binary")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cargo build --bin smart-rollup-no-such-binary"),
            "{e}"
        );
        assert!(e.contains("SMART_ROLLUP_NO_SUCH_BINARY"), "{e}");
        assert_eq!(binary_env_var("smart-rollup-node"), "SMART_ROLLUP_NODE");
    }

    #[test]
    fn temp_dirs_are_labelled_and_removed() {
        let d = temp_dir("label").unwrap();
        let p = d.path().to_path_buf();
        assert!(
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("label-")
        );
        drop(d);
        assert!(!p.exists());
    }

    #[test]
    fn missing_reference_file_is_explained() {
        let e = reference_file("no/such/file.md").unwrap_err().to_string();
        assert!(e.contains("testdata/"), "{e}");
    }
}
