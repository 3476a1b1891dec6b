//! Bounded polling. The bounds are guards against hangs, not timing assertions: choose them
//! generously (tens of seconds) and assert on states, never on durations.

use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// Interval between two polls of [`wait_until`] and [`wait_for`].
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `poll` every [`POLL_INTERVAL`] until it returns `true`, for at most `bound`.
///
/// # Errors
/// [`HarnessError::Timeout`] naming `what` when `bound` expires.
pub fn wait_until(what: &str, bound: Duration, mut poll: impl FnMut() -> bool) -> Result<()> {
    wait_for(what, bound, || Ok(poll().then_some(())))
}

/// Polls `poll` every [`POLL_INTERVAL`] until it returns `Ok(Some(v))`, for at most `bound`;
/// returns `v`. An `Err` from `poll` ends the wait at once (e.g. the awaited process exited).
/// `poll` is always called at least once, and once more after the bound expires.
///
/// # Errors
/// The error of `poll`, or [`HarnessError::Timeout`] naming `what`.
pub fn wait_for<T>(
    what: &str,
    bound: Duration,
    poll: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    wait_for_every(what, bound, POLL_INTERVAL, poll)
}

/// [`wait_for`] polling every `interval` instead of [`POLL_INTERVAL`] (a short interval to
/// catch a transient state, e.g. to kill a process in the middle of a task).
///
/// # Errors
/// The error of `poll`, or [`HarnessError::Timeout`] naming `what`.
pub fn wait_for_every<T>(
    what: &str,
    bound: Duration,
    interval: Duration,
    mut poll: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        let expired = start.elapsed() >= bound;
        if let Some(v) = poll()? {
            return Ok(v);
        }
        if expired {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                after: bound,
                last: String::new(),
            });
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_ready() {
        let mut n = 0;
        let v = wait_for("n to reach 3", Duration::from_secs(60), || {
            n += 1;
            Ok((n >= 3).then_some(n))
        })
        .unwrap();
        assert_eq!(v, 3);
    }

    #[test]
    fn expiry_names_what_was_awaited() {
        let e = wait_until("the impossible", Duration::ZERO, || false).unwrap_err();
        assert!(matches!(e, HarnessError::Timeout { .. }));
        assert!(e.to_string().contains("waiting for the impossible"), "{e}");
    }

    #[test]
    fn errors_of_the_poll_end_the_wait() {
        let e = wait_for::<()>("x", Duration::from_secs(60), || {
            Err(HarnessError::Failed("gone".into()))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "gone");
    }
}
