//! The structured reference string: `[τ^i]_1` and `[τ^i]_2` for a secret τ.
//!
//! Octez's test mode (`Cryptobox.Internal_for_tests.parameters_initialisation`, used by the
//! DAL node's `use_mock_srs_for_testing`) builds its SRS insecurely from a fixed secret
//! (`src/lib_crypto_dal/srs.ml`, `Internal_for_tests.fake_srs_seed`) with
//! `Srs_g1.generate_insecure` (`[τ^i]_1 = τ^i · g1`, `src/lib_bls12_381_polynomial/srs.ml`)
//! and 2^9 = 512 points (`Internal_for_tests.max_srs_size`); the verifier's G2 points are
//! `τ^i · g2` for any `i` (`Internal_for_tests.get_srs2`). [`Setup::mock`] is that setup, so
//! commitments and proofs match Octez's test ones bit for bit whenever Octez's test mode
//! accepts the parameters (`max_polynomial_length` ≤ 512). For larger slots (Octez's test mode
//! refuses them) the same τ is used with `max_polynomial_length` points, which changes only
//! the commitment proofs' shift (`max_srs_size − max_polynomial_length`, here 0).
//!
//! Anyone knowing τ can forge every proof: this is for sandboxes and tests only. Octez's real
//! setup (the ZCash powers of tau, 2^21 points, `zcash_srs.ml`, `trusted_setup.ml`) is not
//! supported.

use crate::Error;
use crate::bls::{Fr, G1, G2};

/// Octez's test secret τ (`Srs.Internal_for_tests.fake_srs_seed`), in decimal.
pub const MOCK_SRS_SECRET: &str =
    "20812168509434597367146703229805575690060615791308155437936410982393987532344";

/// [`MOCK_SRS_SECRET`] as 32 little-endian bytes.
const MOCK_SRS_SECRET_LE: [u8; 32] = [
    0x38, 0x06, 0x51, 0xba, 0xa9, 0x97, 0x54, 0xb8, 0x04, 0x91, 0x47, 0x0b, 0xa5, 0x00, 0xe1, 0x68,
    0x9d, 0x7e, 0x87, 0x76, 0x38, 0x06, 0x0b, 0xd0, 0x6f, 0x44, 0x81, 0x71, 0x1a, 0x45, 0x03, 0x2e,
];

/// Size of Octez's test SRS (`Srs.Internal_for_tests.max_srs_size` = 2^9).
pub const OCTEZ_TEST_SRS_SIZE: usize = 1 << 9;

/// An insecure setup: the secret τ and the SRS size (`max_srs_size`, which fixes the degree
/// proofs' shift).
#[derive(Clone, PartialEq, Eq)]
pub struct Setup {
    pub(crate) secret: Fr,
    pub(crate) size: usize,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// Octez's test setup for slots whose polynomials have `max_polynomial_length`
    /// coefficients: τ = [`MOCK_SRS_SECRET`], size max(512, `max_polynomial_length`) (see the
    /// module documentation).
    pub fn mock(max_polynomial_length: usize) -> Setup {
        Setup {
            secret: Fr::from_le_bytes(&MOCK_SRS_SECRET_LE).unwrap_or(Fr::ZERO),
            size: OCTEZ_TEST_SRS_SIZE.max(max_polynomial_length),
        }
    }

    /// A setup from a secret (32 little-endian bytes, below the order of Fr) and a size.
    pub fn insecure(secret_le: &[u8; 32], size: usize) -> Result<Setup, Error> {
        let secret = Fr::from_le_bytes(secret_le)
            .ok_or_else(|| Error::InvalidParameters("the SRS secret is not below r".into()))?;
        Ok(Setup { secret, size })
    }

    /// `max_srs_size`: the number of points of the SRS.
    pub fn size(&self) -> usize {
        self.size
    }

    /// `[τ^i]_1` for `i` in `from .. from + count`.
    pub(crate) fn g1_points(&self, from: usize, count: usize) -> Vec<G1> {
        self.powers_times(from, count, |x| G1::generator().mul(x))
    }

    /// `[τ^i]_2` for `i` in `from .. from + count`.
    pub(crate) fn g2_points(&self, from: usize, count: usize) -> Vec<G2> {
        self.powers_times(from, count, |x| G2::generator().mul(x))
    }

    /// `f(τ^i)` for `i` in `from .. from + count`, on up to 4 threads (one scalar
    /// multiplication per point dominates building a prover).
    fn powers_times<T: Send>(
        &self,
        from: usize,
        count: usize,
        f: impl Fn(Fr) -> T + Sync,
    ) -> Vec<T> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let chunk = count.div_ceil(threads).max(1);
        let f = &f;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|start| {
                    let len = chunk.min(count - start);
                    scope.spawn(move || {
                        let mut x = self.secret.pow((from + start) as u64);
                        (0..len)
                            .map(|_| {
                                let p = f(x);
                                x = x.mul(self.secret);
                                p
                            })
                            .collect::<Vec<T>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// `[τ^i]_2` (`Internal_for_tests.get_srs2 i`).
    pub(crate) fn g2_point(&self, i: usize) -> G2 {
        G2::generator().mul(self.secret.pow(i as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_secret_bytes_match_the_decimal() {
        let n: num_bigint::BigUint = MOCK_SRS_SECRET.parse().unwrap();
        let mut le = n.to_bytes_le();
        le.resize(32, 0);
        assert_eq!(le, MOCK_SRS_SECRET_LE);
        let s = Setup::mock(64);
        assert_eq!(s.size(), 512);
        assert_eq!(s.secret.to_le_bytes(), MOCK_SRS_SECRET_LE);
        assert_eq!(Setup::mock(4096).size(), 4096);
    }

    #[test]
    fn points_are_powers_of_the_secret() {
        let s = Setup::insecure(
            &{
                let mut b = [0u8; 32];
                b[0] = 3;
                b
            },
            8,
        )
        .unwrap();
        let g1 = s.g1_points(1, 3);
        assert_eq!(g1[2], G1::generator().mul(Fr::from_u64(27)));
        assert_eq!(s.g2_points(2, 1)[0], s.g2_point(2));
        assert_eq!(s.g2_point(2), G2::generator().mul(Fr::from_u64(9)));
        assert!(Setup::insecure(&[0xff; 32], 8).is_err());
    }
}
