//! Randomized exponential backoff and the heads-stream stall rule (l1-and-signer.md §1.1,
//! §1.2; Octez `layer_1.ml`, `connect`).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delay before attempt `n` (`n ≥ 1` counts failures so far): `d = min(base·1.5^(n−1), cap)`,
/// then randomised by ±50% as `d·(0.5 + r)` with `r ∈ [0, 1)`. `n = 0` gives no delay.
pub fn backoff_delay(base: Duration, n: u32, cap: Duration, r: f64) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let exp = i32::try_from(n - 1).unwrap_or(i32::MAX);
    let d = (base.as_secs_f64() * 1.5_f64.powi(exp)).min(cap.as_secs_f64());
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.5
    };
    Duration::try_from_secs_f64(d * (0.5 + r)).unwrap_or(cap)
}

/// Stall timeout of the heads stream: `initial` until an inter-arrival time is known, then
/// `factor ×` the last inter-arrival time, never below `min`.
pub fn stall_timeout(
    last_interval: Option<Duration>,
    initial: Duration,
    factor: u32,
    min: Duration,
) -> Duration {
    match last_interval {
        None => initial,
        Some(i) => i.checked_mul(factor).unwrap_or(Duration::MAX).max(min),
    }
}

/// A uniform random number in `[0, 1)` from the standard library's per-instance random keys.
pub(crate) fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    // 53 random bits → [0, 1).
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S2: Duration = Duration::from_secs(2);
    const S30: Duration = Duration::from_secs(30);

    #[test]
    fn exponential_with_jitter_bounds() {
        assert_eq!(backoff_delay(S2, 0, S30, 0.3), Duration::ZERO);
        assert_eq!(backoff_delay(S2, 1, S30, 0.5), S2);
        assert_eq!(backoff_delay(S2, 1, S30, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(S2, 2, S30, 0.5), Duration::from_secs(3));
        assert_eq!(backoff_delay(S2, 3, S30, 0.5), Duration::from_millis(4500));
        // Capped before randomisation: 2·1.5^19 ≫ 30.
        assert_eq!(backoff_delay(S2, 20, S30, 0.5), S30);
        assert_eq!(backoff_delay(S2, 20, S30, 0.0), Duration::from_secs(15));
        assert!(backoff_delay(S2, u32::MAX, S30, 0.999) < Duration::from_secs(45));
        assert_eq!(backoff_delay(S2, 1, S30, f64::NAN), S2);
    }

    #[test]
    fn random_unit_in_range() {
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    #[test]
    fn stall_rule() {
        let init = Duration::from_secs(300);
        let min = Duration::from_secs(10);
        assert_eq!(stall_timeout(None, init, 10, min), init);
        assert_eq!(
            stall_timeout(Some(Duration::from_secs(6)), init, 10, min),
            Duration::from_secs(60)
        );
        assert_eq!(
            stall_timeout(Some(Duration::from_millis(200)), init, 10, min),
            min
        );
        assert_eq!(
            stall_timeout(Some(Duration::MAX), init, 10, min),
            Duration::MAX
        );
    }
}
