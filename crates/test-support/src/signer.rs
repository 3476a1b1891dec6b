//! A `smart-rollup-signer` process for the end-to-end tests: `launch <transport> signer` on a
//! loopback port (or a Unix socket), ready once it prints `Accepting … requests`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::Result;
use crate::process::ChildGuard;

/// A running signer; killed when dropped.
#[derive(Debug)]
pub struct SignerProcess {
    child: ChildGuard,
    binary: PathBuf,
    base_dir: PathBuf,
    args: Vec<String>,
}

impl SignerProcess {
    /// Runs `smart-rollup-signer -d <base_dir> <args>` and waits until it accepts requests.
    /// `binary` overrides the located `smart-rollup-signer`.
    ///
    /// # Errors
    /// A missing binary, a process that exits, or no `Accepting` line within 30 s.
    pub fn launch(binary: Option<&Path>, base_dir: &Path, args: &[&str]) -> Result<Self> {
        let binary = match binary {
            Some(b) => b.to_owned(),
            None => crate::paths::binary("smart-rollup-signer")?,
        };
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let child = Self::spawn(&binary, base_dir, &args)?;
        Ok(Self {
            child,
            binary,
            base_dir: base_dir.to_owned(),
            args,
        })
    }

    fn spawn(binary: &Path, base_dir: &Path, args: &[String]) -> Result<ChildGuard> {
        let mut cmd = Command::new(binary);
        cmd.arg("-d").arg(base_dir).args(args);
        let mut child = ChildGuard::spawn("smart-rollup-signer", &mut cmd)?;
        crate::wait::wait_for(
            "the signer to accept requests",
            Duration::from_secs(30),
            || {
                child.check_running()?;
                Ok(child.output().contains("Accepting").then_some(()))
            },
        )?;
        Ok(child)
    }

    /// Kills the signer (SIGKILL).
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// Kills and starts the signer again with the same arguments.
    ///
    /// # Errors
    /// As [`Self::launch`].
    pub fn restart(&mut self) -> Result<()> {
        self.child.kill();
        self.child = Self::spawn(&self.binary, &self.base_dir, &self.args)?;
        Ok(())
    }

    /// Everything the signer printed (its request log).
    #[must_use]
    pub fn output(&self) -> String {
        self.child.output()
    }
}

/// Writes a fresh test CA and a certificate for `127.0.0.1`/`localhost` signed by it, as PEM
/// files in `dir`: returns (CA file for `SSL_CERT_FILE`, certificate, private key), the files
/// `launch https signer <cert> <key>` takes.
///
/// # Errors
/// When the certificates cannot be made or written.
pub fn write_test_certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let failed = |e: rcgen::Error| {
        crate::error::HarnessError::Failed(format!("generating the test certificates: {e}"))
    };
    let ca_key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "smart-rollup signer test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed)?;
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(failed)?;
    let leaf = params.signed_by(&key, &ca).map_err(failed)?;
    let files = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    for (path, text) in [
        (&files.0, ca.pem()),
        (&files.1, leaf.pem()),
        (&files.2, key.serialize_pem()),
    ] {
        std::fs::write(path, text).map_err(|error| crate::error::HarnessError::Io {
            what: format!("writing {}", path.display()),
            error,
        })?;
    }
    Ok(files)
}
