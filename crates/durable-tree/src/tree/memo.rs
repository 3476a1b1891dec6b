//! [`Memo`]: a memoised hash, cheaper than `OnceLock<Hash>` on the commit
//! path (issue 15: the `Once` state machine's two atomic read-modify-writes
//! per hash were ~4% of a commit; see `BENCHMARKS.md`).

use std::sync::atomic::{AtomicU64, Ordering};

use context_hash::Hash;

/// A hash computed at most once per immutable value, shared between
/// threads. Every [`Memo::set`] of one memo must store the same hash (the
/// hash of the value it belongs to): two threads racing to set it then
/// write identical words, so a reader that sees `set` (acquire) reads the
/// whole hash, whichever writer it synchronised with.
///
/// The same word as the "set" flag holds the owner's persisted mark (the
/// id of the store handle the value is known to be stored in, 0: none;
/// `tree::load`), which saves 8 bytes per tree node (issue 15, RSS:
/// `BENCHMARKS.md`; a compact durable value, which has no mark of its own,
/// keeps its length there: `tree::value`). The flag and the mark are
/// updated with plain stores:
/// a racing update may drop the other's (the flag or the mark), which only
/// costs a recomputation of the same hash or a second write of the same
/// object, never a wrong answer (the words always hold the one hash).
pub(crate) struct Memo {
    words: [AtomicU64; 4],
    /// Bit 0: the hash is set; bits 1–63: the persisted mark.
    state: AtomicU64,
}

/// Bit of [`Memo::state`] telling that the hash is set.
const SET: u64 = 1;

impl Memo {
    /// An empty memo, or one holding `h`.
    pub(crate) fn new(h: Option<Hash>) -> Memo {
        let m = Memo {
            words: [const { AtomicU64::new(0) }; 4],
            state: AtomicU64::new(0),
        };
        if let Some(h) = h {
            m.set(h);
        }
        m
    }

    /// A memo holding `h` (if any) and the persisted mark `id`.
    pub(crate) fn new_marked(h: Option<Hash>, id: u64) -> Memo {
        let m = Memo::new(h);
        m.set_mark(id);
        m
    }

    /// The memoised hash, if set.
    #[inline]
    pub(crate) fn get(&self) -> Option<Hash> {
        if self.state.load(Ordering::Acquire) & SET == 0 {
            return None;
        }
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(8).zip(&self.words) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        Some(Hash(out))
    }

    /// Whether a hash is memoised.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.state.load(Ordering::Relaxed) & SET != 0
    }

    /// Memoise `h` (the hash of the value: see the type's contract).
    #[inline]
    pub(crate) fn set(&self, h: Hash) {
        for (chunk, w) in h.0.chunks_exact(8).zip(&self.words) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        let s = self.state.load(Ordering::Relaxed);
        self.state.store(s | SET, Ordering::Release);
    }

    /// The persisted mark (0: none).
    #[inline]
    pub(crate) fn mark(&self) -> u64 {
        self.state.load(Ordering::Relaxed) >> 1
    }

    /// Record the persisted mark `id` (ids are below 2^63: a counter).
    #[inline]
    pub(crate) fn set_mark(&self, id: u64) {
        let s = self.state.load(Ordering::Relaxed);
        self.state.store((id << 1) | (s & SET), Ordering::Release);
    }

    /// The memoised hash, computing and memoising it with `f` if unset.
    #[inline]
    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> Hash) -> Hash {
        if let Some(h) = self.get() {
            return h;
        }
        let h = f();
        self.set(h);
        h
    }

    /// Forget the hash and the persisted mark (the value is being
    /// mutated: exclusive access).
    #[inline]
    pub(crate) fn clear(&mut self) {
        *self.state.get_mut() = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear() {
        let mut m = Memo::new(None);
        assert!(m.get().is_none());
        let h = Hash(std::array::from_fn(|i| i as u8 * 7 + 1));
        assert_eq!(m.get_or_init(|| h), h);
        assert_eq!(m.get(), Some(h));
        // Set: `f` is not called again.
        assert_eq!(m.get_or_init(Hash::default), h);
        m.clear();
        assert!(m.get().is_none());
        assert_eq!(Memo::new(Some(h)).get(), Some(h));
    }

    #[test]
    fn mark_and_hash_are_independent() {
        let mut m = Memo::new(None);
        assert_eq!(m.mark(), 0);
        m.set_mark(42);
        assert_eq!(m.mark(), 42);
        assert!(m.get().is_none());
        let h = Hash([9; 32]);
        m.set(h);
        assert_eq!((m.mark(), m.get()), (42, Some(h)));
        m.set_mark(7);
        assert_eq!((m.mark(), m.get()), (7, Some(h)));
        m.clear();
        assert_eq!((m.mark(), m.get()), (0, None));
    }

    #[test]
    fn racing_setters_of_one_hash_are_consistent() {
        let h = Hash(std::array::from_fn(|i| 255 - i as u8));
        for _ in 0..50 {
            let m = Memo::new(None);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let got = m.get_or_init(|| h);
                        assert_eq!(got, h);
                        if let Some(seen) = m.get() {
                            assert_eq!(seen, h);
                        }
                    });
                }
            });
        }
    }
}
