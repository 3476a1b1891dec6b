//! A child process killed (SIGKILL) when its guard is dropped, with its output kept in memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{HarnessError, Result};

/// Number of output lines shown when a process exits unexpectedly.
const TAIL_LINES: usize = 60;

/// A running child process. Dropping the guard kills it (SIGKILL) and reaps it, so a failing
/// test never leaves processes behind. Its stdout and stderr are captured line by line into
/// memory ([`ChildGuard::output`]) so that tests can assert on logs and errors can show them.
pub struct ChildGuard {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl ChildGuard {
    /// Spawns `cmd` (stdin closed, stdout and stderr captured); `name` describes it in errors.
    ///
    /// # Errors
    /// [`HarnessError::Spawn`] when the process cannot be started.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        Self::spawn_logged(name, cmd, None)
    }

    /// [`Self::spawn`], also appending each output line to the file `log` (created if
    /// missing) when given: a log that outlives the process, e.g. across restarts.
    ///
    /// # Errors
    /// [`HarnessError::Io`] when `log` cannot be opened, [`HarnessError::Spawn`] when the
    /// process cannot be started.
    pub fn spawn_logged(name: &str, cmd: &mut Command, log: Option<&Path>) -> Result<Self> {
        let file = log
            .map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(|f| Arc::new(Mutex::new(f)))
                    .map_err(|error| HarnessError::Io {
                        what: format!("opening the log file {}", path.display()),
                        error,
                    })
            })
            .transpose()?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| HarnessError::Spawn {
                what: format!("{name} ({cmd:?})"),
                error,
            })?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let sink = Arc::clone(&output);
            let file: Option<Arc<Mutex<File>>> = file.clone();
            // Ends at EOF, i.e. when the process (and any child holding the pipe) is gone.
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&line);
                    if let Some(f) = &file {
                        // Best effort: a failed write loses log lines, not the test.
                        let _ = f
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .write_all(&line);
                    }
                    line.clear();
                }
            });
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            output,
        })
    }

    /// The description given at spawn.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout and stderr interleaved by lines).
    #[must_use]
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    /// The last lines of [`Self::output`].
    #[must_use]
    pub fn output_tail(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    }

    /// `Ok` while the process runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its exit status and the end of its output once it exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(&status.to_string())),
            Err(error) => Err(HarnessError::Io {
                what: format!("checking whether {} still runs", self.name),
                error,
            }),
        }
    }

    /// The exit status once the process exited (`None` while it runs), after giving the reader
    /// threads a moment to drain its output.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten()?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        Some(status)
    }

    fn exited(&self, status: &str) -> HarnessError {
        // Give the reader threads a moment to drain the pipes: the last lines explain the exit.
        std::thread::sleep(std::time::Duration::from_millis(200));
        HarnessError::Exited {
            what: self.name.clone(),
            status: status.to_owned(),
            tail: self.output_tail(),
        }
    }

    /// Sends SIGTERM (with the `kill` command) and waits at most `bound` for the exit.
    ///
    /// # Errors
    /// [`HarnessError::Io`] when the signal cannot be sent, [`HarnessError::Timeout`] when the
    /// process is still running after `bound`.
    pub fn terminate(&mut self, bound: Duration) -> Result<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|error| HarnessError::Io {
                what: format!("sending SIGTERM to {}", self.name),
                error,
            })?;
        if !sent.success() {
            return Err(HarnessError::Failed(format!(
                "kill -TERM {pid} ({}) failed: {sent}",
                self.name
            )));
        }
        let what = format!("{} to exit after SIGTERM", self.name);
        let child = &mut self.child;
        crate::wait::wait_for(&what, bound, || {
            child.try_wait().map_err(|error| HarnessError::Io {
                what: "waiting for a child process".into(),
                error,
            })
        })
    }

    /// Kills the process (SIGKILL, no clean shutdown) and reaps it. Idempotent.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::wait_until;
    use std::time::Duration;

    #[test]
    fn captures_output_and_reports_the_exit() {
        let mut g = ChildGuard::spawn(
            "sh",
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        )
        .unwrap();
        wait_until("sh to exit", Duration::from_secs(60), || {
            g.check_running().is_err()
        })
        .unwrap();
        let e = g.check_running().unwrap_err().to_string();
        assert!(e.contains("sh exited unexpectedly"), "{e}");
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.contains("out") && e.contains("err"), "{e}");
    }

    #[test]
    fn drop_kills_the_process() {
        let g = ChildGuard::spawn("sleep", Command::new("sleep").arg("600")).unwrap();
        let pid = g.pid();
        drop(g);
        // Reaped: no such process (a zombie would still have a /proc entry).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn log_file_accumulates_the_output_of_successive_processes() {
        let dir = crate::temp_dir("log").unwrap();
        let log = dir.path().join("out.log");
        for word in ["first", "second"] {
            let mut g = ChildGuard::spawn_logged(
                "sh",
                Command::new("sh").args(["-c", &format!("echo {word}; echo {word}-err >&2")]),
                Some(&log),
            )
            .unwrap();
            wait_until("sh to exit", Duration::from_secs(60), || {
                g.check_running().is_err()
            })
            .unwrap();
            // The reader threads end at EOF; wait until they wrote everything.
            wait_until("the log lines", Duration::from_secs(60), || {
                std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&format!("{word}-err")))
            })
            .unwrap();
        }
        let text = std::fs::read_to_string(&log).unwrap();
        for line in ["first", "first-err", "second", "second-err"] {
            assert!(text.lines().any(|l| l == line), "{text}");
        }
    }

    #[test]
    fn terminate_sends_sigterm_and_returns_the_status() {
        let mut g = ChildGuard::spawn(
            "sh",
            Command::new("sh").args(["-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done"]),
        )
        .unwrap();
        // Give the shell time to install its trap.
        std::thread::sleep(Duration::from_millis(300));
        let st = g.terminate(Duration::from_secs(60)).unwrap();
        assert_eq!(st.code(), Some(7));
    }

    #[test]
    fn spawn_failure_is_typed() {
        let e = ChildGuard::spawn("nothing", &mut Command::new("/nonexistent/binary")).unwrap_err();
        assert!(matches!(e, HarnessError::Spawn { .. }), "{e}");
    }
}
