//! Evaluation domains and radix-2 FFTs over Fr (Octez `src/lib_bls12_381_polynomial/domain.ml`,
//! `fr_carray.ml`): the domain of size n is `[1, ω, …, ω^{n-1}]` with ω = 7^((r-1)/n), 7
//! being the generator Octez uses (`Fr_carray.generator`). Only powers of two up to 2^32 (the
//! 2-adicity of r − 1) are supported here.

use crate::bls::Fr;

/// `r − 1` in little-endian 64-bit limbs (r: the order of Fr).
const R_MINUS_ONE: [u64; 4] = [
    0xffff_ffff_0000_0000,
    0x53bd_a402_fffe_5bfe,
    0x3339_d808_09a1_d805,
    0x73ed_a753_299d_7d48,
];

/// Whether `n` is a power of two (`Kzg.Utils.is_power_of_two`).
pub(crate) fn is_power_of_two(n: usize) -> bool {
    n != 0 && n & (n - 1) == 0
}

/// A primitive `n`-th root of unity, `7^((r-1)/n)` (`Fr_carray.primitive_root_of_unity`);
/// `None` unless `n` is a power of two dividing `r − 1`.
pub(crate) fn primitive_root_of_unity(n: usize) -> Option<Fr> {
    if !is_power_of_two(n) {
        return None;
    }
    let log = n.trailing_zeros();
    if log > 32 {
        return None;
    }
    // (r-1) >> log, as little-endian bytes.
    let mut e = [0u64; 4];
    for (i, limb) in e.iter_mut().enumerate() {
        let lo = R_MINUS_ONE[i] >> log;
        let hi = if log == 0 {
            0
        } else {
            R_MINUS_ONE.get(i + 1).map_or(0, |h| h << (64 - log))
        };
        *limb = lo | hi;
    }
    let bytes: Vec<u8> = e.iter().flat_map(|l| l.to_le_bytes()).collect();
    Some(Fr::from_u64(7).pow_le(&bytes))
}

/// A domain of size n, a power of two: the powers of its primitive root.
#[derive(Debug, Clone)]
pub(crate) struct Domain {
    powers: Vec<Fr>,
}

impl Domain {
    /// `Domain.build n`; `None` when `n` is not a power of two in [2, 2^32].
    pub(crate) fn build(n: usize) -> Option<Domain> {
        if n < 2 {
            return None;
        }
        let w = primitive_root_of_unity(n)?;
        let mut powers = Vec::with_capacity(n);
        let mut x = Fr::one();
        for _ in 0..n {
            powers.push(x);
            x = x.mul(w);
        }
        Some(Domain { powers })
    }

    pub(crate) fn len(&self) -> usize {
        self.powers.len()
    }

    /// `Domain.get d i` = ω^i (i taken modulo n).
    pub(crate) fn get(&self, i: usize) -> Fr {
        self.powers[i % self.powers.len()]
    }

    /// In-place FFT: coefficients (length n) → evaluations at ω^0 … ω^{n−1}.
    pub(crate) fn fft(&self, a: &mut [Fr]) {
        self.transform(a, false);
    }

    /// In-place inverse FFT: evaluations at ω^i → coefficients.
    pub(crate) fn ifft(&self, a: &mut [Fr]) {
        self.transform(a, true);
        let n = u64::try_from(a.len()).unwrap_or(u64::MAX);
        let n_inv = Fr::from_u64(n).inverse();
        for x in a.iter_mut() {
            *x = x.mul(n_inv);
        }
    }

    /// Iterative Cooley–Tukey (bit-reversal, then butterflies); `inverse` uses ω^{-1}.
    fn transform(&self, a: &mut [Fr], inverse: bool) {
        let n = self.powers.len();
        assert_eq!(a.len(), n, "FFT input length must equal the domain size");
        let bits = n.trailing_zeros();
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if i < j {
                a.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let idx = if inverse {
                        (n - k * step) % n
                    } else {
                        k * step
                    };
                    let w = self.powers[idx];
                    let u = a[start + k];
                    let v = a[start + k + len / 2].mul(w);
                    a[start + k] = u.add(v);
                    a[start + k + len / 2] = u.sub(v);
                }
            }
            len *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_have_the_right_order() {
        for log in [1u32, 2, 7, 12, 32] {
            let n = 1usize << log;
            let w = primitive_root_of_unity(n).unwrap();
            // w^n = 1 and w^(n/2) = -1 (primitive).
            let mut x = w;
            for _ in 0..log {
                x = x.mul(x);
            }
            assert_eq!(x, Fr::one());
            let half = w.pow_le(&((n / 2) as u64).to_le_bytes());
            assert_eq!(half, Fr::one().neg());
        }
        assert!(primitive_root_of_unity(12).is_none());
        assert!(primitive_root_of_unity(1 << 33).is_none());
        // Subgroup consistency: the root of n/2 is the square of the root of n.
        let w8 = primitive_root_of_unity(8).unwrap();
        assert_eq!(w8.mul(w8), primitive_root_of_unity(4).unwrap());
    }

    #[test]
    fn fft_matches_naive_evaluation_and_inverts() {
        let d = Domain::build(8).unwrap();
        let coeffs: Vec<Fr> = (1..=8).map(Fr::from_u64).collect();
        let mut evals = coeffs.clone();
        d.fft(&mut evals);
        for (i, e) in evals.iter().enumerate() {
            let x = d.get(i);
            let naive = coeffs
                .iter()
                .rev()
                .fold(Fr::ZERO, |acc, c| acc.mul(x).add(*c));
            assert_eq!(*e, naive, "evaluation {i}");
        }
        d.ifft(&mut evals);
        assert_eq!(evals, coeffs);
    }
}
