//! The sizes of the blake2b pre-images hashed while recording (feature
//! `hash-trace`, for benchmarks): the least work a commit can do is hashing
//! exactly these bytes, so benchmarks compare against raw blake2b over
//! buffers of the same sizes. Every thread records while recording is on:
//! a commit hashing on helper threads ([`crate::Repo::set_commit_threads`])
//! hands their sizes over with [`flush`]. Without the feature, [`start`] and
//! [`take`] record nothing.

#[cfg(feature = "hash-trace")]
mod on {
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    pub(super) static RECORDING: AtomicBool = AtomicBool::new(false);
    /// The sizes flushed by threads, in no particular order between threads.
    pub(super) static FLUSHED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    thread_local! {
        pub(super) static SIZES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn recording() -> bool {
        RECORDING.load(Ordering::Relaxed)
    }

    pub(super) fn set(on: bool) {
        RECORDING.store(on, Ordering::Relaxed);
    }

    pub(super) fn flushed() -> std::sync::MutexGuard<'static, Vec<usize>> {
        FLUSHED.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Start recording (dropping any earlier record, this thread's and the flushed ones).
pub fn start() {
    #[cfg(feature = "hash-trace")]
    {
        on::SIZES.with_borrow_mut(Vec::clear);
        on::flushed().clear();
        on::set(true);
    }
}

/// Stop recording; the sizes recorded since [`start`]: this thread's, in
/// hashing order, then those other threads flushed.
pub fn take() -> Vec<usize> {
    #[cfg(feature = "hash-trace")]
    {
        on::set(false);
        let mut v = on::SIZES.with_borrow_mut(std::mem::take);
        v.append(&mut on::flushed());
        v
    }
    #[cfg(not(feature = "hash-trace"))]
    Vec::new()
}

/// Hand this thread's record over to [`take`] (a helper thread, before it ends).
pub(crate) fn flush() {
    #[cfg(feature = "hash-trace")]
    {
        let mut v = on::SIZES.with_borrow_mut(std::mem::take);
        if !v.is_empty() {
            on::flushed().append(&mut v);
        }
    }
}

/// Record one pre-image of `len` bytes (when recording).
#[inline]
pub(crate) fn record(len: usize) {
    #[cfg(feature = "hash-trace")]
    if on::recording() {
        on::SIZES.with_borrow_mut(|s| s.push(len));
    }
    #[cfg(not(feature = "hash-trace"))]
    let _ = len;
}
