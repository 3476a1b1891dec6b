//! The sizes of the blake2b pre-images hashed by this thread (feature
//! `hash-trace`, for benchmarks): the least work a commit can do is hashing
//! exactly these bytes, so benchmarks compare against raw blake2b over
//! buffers of the same sizes. Without the feature, [`start`] and [`take`]
//! record nothing.

#[cfg(feature = "hash-trace")]
thread_local! {
    static SIZES: std::cell::RefCell<Option<Vec<usize>>> = const { std::cell::RefCell::new(None) };
}

/// Start recording this thread's pre-image sizes (dropping any earlier record).
pub fn start() {
    #[cfg(feature = "hash-trace")]
    SIZES.with_borrow_mut(|s| *s = Some(Vec::new()));
}

/// Stop recording; the sizes recorded since [`start`], in hashing order.
pub fn take() -> Vec<usize> {
    #[cfg(feature = "hash-trace")]
    return SIZES.with_borrow_mut(|s| s.take()).unwrap_or_default();
    #[cfg(not(feature = "hash-trace"))]
    Vec::new()
}

/// Record one pre-image of `len` bytes (when recording).
#[inline]
pub(crate) fn record(len: usize) {
    #[cfg(feature = "hash-trace")]
    SIZES.with_borrow_mut(|s| {
        if let Some(v) = s {
            v.push(len);
        }
    });
    #[cfg(not(feature = "hash-trace"))]
    let _ = len;
}
