//! The harness' error type: what failed and what to do next.

use std::path::PathBuf;
use std::time::Duration;

/// `Result` of the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// A failure of the test harness (starting or reaching a process), not an assertion of the
/// test. `Debug` prints the same message as `Display`, so `.unwrap()` shows it verbatim.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// A workspace binary is not built.
    #[error(
        "binary {name} is not built (looked for {}); build it first with `{build}` \
         (scripts/test.sh builds every binary), or set {env} to its path",
        looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    MissingBinary {
        /// Binary name.
        name: String,
        /// Paths that were tried.
        looked: Vec<PathBuf>,
        /// The command that builds it.
        build: String,
        /// The environment variable that overrides the lookup.
        env: String,
    },
    /// A file the test needs is missing.
    #[error("{what} is missing at {}: {hint}", path.display())]
    MissingFile {
        /// What the file is.
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// How to produce it.
        hint: String,
    },
    /// A process could not be spawned.
    #[error("cannot start {what}: {error}")]
    Spawn {
        /// The process.
        what: String,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// A process exited while it was expected to run.
    #[error("{what} exited unexpectedly ({status}); the end of its output:\n{tail}")]
    Exited {
        /// The process.
        what: String,
        /// Its exit status.
        status: String,
        /// Last lines of its stdout and stderr.
        tail: String,
    },
    /// A bounded wait expired.
    #[error("timed out after {after:?} waiting for {what}{last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
        /// Extra context (e.g. the last observed value), empty or starting with a separator.
        last: String,
    },
    /// A local I/O operation failed.
    #[error("{what}: {error}")]
    Io {
        /// The operation.
        what: String,
        /// The OS error.
        #[source]
        error: std::io::Error,
    },
    /// An HTTP request got no answer (connection refused, timeout, bad body).
    #[error("{method} {url} failed: {message} (is the process still running?)")]
    Http {
        /// Method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// The client's error.
        message: String,
    },
    /// Any other harness failure, with its explanation.
    #[error("{0}")]
    Failed(String),
}

impl std::fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
