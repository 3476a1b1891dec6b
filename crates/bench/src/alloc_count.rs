//! A counting global allocator (feature `alloc-count`, profiling builds
//! only): live bytes and blocks per requested size, so that `rss` can say
//! which allocations make up the resident memory (issue 15,
//! `BENCHMARKS.md` "RSS").
#![allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; it only forwards to `System` (profiling builds)"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

/// Sizes counted one by one; larger requests share the last slot.
const EXACT: usize = 4096;

/// Live blocks per requested size (`EXACT`: every larger size).
static BLOCKS: [AtomicI64; EXACT + 1] = [const { AtomicI64::new(0) }; EXACT + 1];
/// Live bytes of the larger sizes.
static BIG_BYTES: AtomicI64 = AtomicI64::new(0);

struct Counting;

fn count(size: usize, sign: i64) {
    let i = size.min(EXACT);
    BLOCKS[i].fetch_add(sign, Ordering::Relaxed);
    if i == EXACT {
        // Sizes of live allocations fit in an i64.
        BIG_BYTES.fetch_add(sign * size as i64, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size(), 1);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(l.size(), -1);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count(l.size(), 1);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(l.size(), -1);
        count(new, 1);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Print the requested sizes holding the most live bytes (`top` lines),
/// with glibc's footprint of each block (size + 8, rounded up to 16,
/// at least 32 bytes) and the totals.
pub(crate) fn report(top: usize) {
    let mut rows: Vec<(usize, i64)> = (0..EXACT)
        .map(|s| (s, BLOCKS[s].load(Ordering::Relaxed)))
        .filter(|&(_, n)| n > 0)
        .collect();
    let foot = |s: usize| ((s + 8).div_ceil(16) * 16).max(32) as i64;
    rows.sort_by_key(|&(s, n)| std::cmp::Reverse(n * foot(s)));
    let total_req: i64 =
        rows.iter().map(|&(s, n)| s as i64 * n).sum::<i64>() + BIG_BYTES.load(Ordering::Relaxed);
    let total_foot: i64 =
        rows.iter().map(|&(s, n)| foot(s) * n).sum::<i64>() + BIG_BYTES.load(Ordering::Relaxed);
    let mib = |b: i64| b as f64 / 1048576.0;
    println!(
        "  live heap: {:.1} MiB requested, {:.1} MiB with malloc overhead; larger than {EXACT} B: {} blocks, {:.1} MiB",
        mib(total_req),
        mib(total_foot),
        BLOCKS[EXACT].load(Ordering::Relaxed),
        mib(BIG_BYTES.load(Ordering::Relaxed))
    );
    for &(s, n) in rows.iter().take(top) {
        println!(
            "    {s:5} B x {n:9} blocks = {:7.1} MiB (with overhead {:7.1} MiB)",
            mib(s as i64 * n),
            mib(foot(s) * n)
        );
    }
}
