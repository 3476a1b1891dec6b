//! DAL cryptobox parameters and the sizes derived from them (Octez
//! `src/lib_crypto_dal/parameters_check.ml`, `dal_config/dal_config.ml`, `cryptobox.ml` `make`).

use crate::Error;
use crate::fft::is_power_of_two;

/// Bytes of slot data per scalar (`Parameters_check.scalar_bytes_amount` =
/// `Scalar.size_in_bytes − 1`): 31 bytes always encode a value below the order of Fr.
pub const SCALAR_BYTES: usize = 31;

/// `Dal_config.parameters` (the `dal_parametric` fields the cryptobox depends on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Parameters {
    /// `redundancy_factor` (a power of two, at least 2).
    pub redundancy_factor: usize,
    /// `page_size` in bytes.
    pub page_size: usize,
    /// `slot_size` in bytes (a multiple of `page_size`).
    pub slot_size: usize,
    /// `number_of_shards`.
    pub number_of_shards: usize,
}

/// `Kzg.Utils.FFT.select_fft_domain`: the smallest `2^k · Π S` ≥ `size` over the subsets S
/// of {3, 11, 19} (2 for a size of 1).
pub fn select_fft_domain(size: usize) -> usize {
    if size <= 1 {
        return 2;
    }
    let mut best = usize::MAX;
    for mask in 0u8..8 {
        let mut prod: usize = 1;
        for (bit, f) in [3usize, 11, 19].into_iter().enumerate() {
            if mask & (1 << bit) != 0 {
                prod *= f;
            }
        }
        let mut n = prod;
        while n < size {
            n = n.saturating_mul(2);
        }
        best = best.min(n);
    }
    best
}

impl Parameters {
    /// Octez's mainnet (and the sandbox's default) values: 126 944-byte slots of 32 pages of
    /// 3967 bytes, redundancy 8, 512 shards.
    pub const MAINNET: Parameters = Parameters {
        redundancy_factor: 8,
        page_size: 3967,
        slot_size: 126_944,
        number_of_shards: 512,
    };

    /// `pages_per_slot` = `slot_size / page_size`.
    pub fn pages_per_slot(&self) -> usize {
        self.slot_size.checked_div(self.page_size).unwrap_or(0)
    }

    /// `Parameters_check.page_length` = `page_size / 31 + 1`: scalars per page.
    pub fn page_length(&self) -> usize {
        self.page_size / SCALAR_BYTES + 1
    }

    /// `page_length_domain`: `select_fft_domain page_length`.
    pub fn page_length_domain(&self) -> usize {
        select_fft_domain(self.page_length())
    }

    /// `remaining_bytes` = `page_size mod 31`: bytes of a page's last scalar.
    pub fn remaining_bytes(&self) -> usize {
        self.page_size % SCALAR_BYTES
    }

    /// `max_polynomial_length` = `pages_per_slot · page_length_domain`
    /// (`slot_as_polynomial_length`).
    pub fn max_polynomial_length(&self) -> usize {
        self.pages_per_slot()
            .saturating_mul(self.page_length_domain())
    }

    /// `erasure_encoded_polynomial_length` = `redundancy_factor · max_polynomial_length`.
    pub fn erasure_encoded_polynomial_length(&self) -> usize {
        self.redundancy_factor
            .saturating_mul(self.max_polynomial_length())
    }

    /// `shard_length` = `erasure_encoded_polynomial_length / number_of_shards`.
    pub fn shard_length(&self) -> usize {
        self.erasure_encoded_polynomial_length()
            .checked_div(self.number_of_shards)
            .unwrap_or(0)
    }

    /// What commitments and page proofs need (a subset of [`Parameters::check`], which the
    /// constructors of [`crate::Verifier`] and [`crate::Prover`] apply): a positive page size
    /// dividing the slot size and power-of-two domains. Octez's other conditions concern
    /// shards (not computed here) and the page size's minimum of 32 bytes.
    pub fn check_page_layout(&self) -> Result<(), Error> {
        if self.page_size == 0
            || self.slot_size == 0
            || !self.slot_size.is_multiple_of(self.page_size)
        {
            return Err(Error::InvalidParameters(format!(
                "The slot size ({}) must be a positive multiple of the page size ({})",
                self.slot_size, self.page_size
            )));
        }
        let k = self.max_polynomial_length();
        if !is_power_of_two(self.page_length_domain()) || !is_power_of_two(k) || k > 1 << 32 {
            return Err(Error::Unsupported(format!(
                "page_length_domain {} and max_polynomial_length {k} must be powers of two \
                 (this cryptobox has a radix-2 FFT only)",
                self.page_length_domain()
            )));
        }
        Ok(())
    }

    /// `Parameters_check.ensure_validity_without_srs`, with Octez's conditions in its order,
    /// plus this crate's restriction to power-of-two domains (radix-2 FFT only): Octez also
    /// accepts page domains with factors 3, 11 or 19.
    pub fn check(&self) -> Result<(), Error> {
        let fail = |m: String| Err(Error::InvalidParameters(m));
        if self.number_of_shards == 0 {
            return fail(format!(
                "The number of shards must be a strictly positive integer. Given: {}",
                self.number_of_shards
            ));
        }
        if self.page_size == 0 || !self.slot_size.is_multiple_of(self.page_size) {
            return fail(format!(
                "The slot size ({}) must be a multiple of the page size ({})",
                self.slot_size, self.page_size
            ));
        }
        if !(is_power_of_two(self.redundancy_factor) && self.redundancy_factor >= 2) {
            return fail(format!(
                "Redundancy factor is expected to be a power of 2 and greater than 2. Given: {}",
                self.redundancy_factor
            ));
        }
        if !(self.page_size >= 32 && self.page_size < self.slot_size) {
            return fail(format!(
                "Page size is expected to be greater than '32' and strictly less than the \
                 slot_size '{}'. Got: {}",
                self.slot_size, self.page_size
            ));
        }
        let n = self.erasure_encoded_polynomial_length();
        let k = self.max_polynomial_length();
        if n == 0 || n.trailing_zeros() > 32 {
            return fail(format!(
                "Slot size ({}) and/or redundancy factor ({}) is/are too high: expected \
                 2-adicity of erasure_encoded_polynomial_length ({n}) to be at most 2^32",
                self.slot_size, self.redundancy_factor
            ));
        }
        if !(n.is_multiple_of(self.number_of_shards) && self.number_of_shards < n) {
            return fail(format!(
                "The number of shards must divide, and not be equal to {n}. For the given \
                 parameter, the maximum number of shards is {}. Got: {}.",
                n / 2,
                self.number_of_shards
            ));
        }
        let shard_length = self.shard_length();
        if shard_length >= k {
            return fail(format!(
                "For the given parameters, the minimum number of shards is {}. Got {}.",
                self.redundancy_factor * 2,
                self.number_of_shards
            ));
        }
        let domain_length = 2 * k / shard_length.max(1);
        if !is_power_of_two(domain_length) {
            return fail(format!(
                "The ratio (2 * number of shards / redundancy factor) must be a power of two. \
                 Got 2 * {} / {} = {domain_length}",
                self.number_of_shards, self.redundancy_factor
            ));
        }
        if shard_length == 0 || !k.is_multiple_of(shard_length) {
            return fail(format!(
                "The length of a shard must divide {k}. Got {shard_length}"
            ));
        }
        if !is_power_of_two(self.page_length_domain()) || !is_power_of_two(k) {
            return Err(Error::Unsupported(format!(
                "page_length_domain {} and max_polynomial_length {k} must be powers of two \
                 (this cryptobox has a radix-2 FFT only)",
                self.page_length_domain()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_sizes() {
        let p = Parameters::MAINNET;
        assert_eq!(p.pages_per_slot(), 32);
        assert_eq!(p.page_length(), 128);
        assert_eq!(p.page_length_domain(), 128);
        assert_eq!(p.remaining_bytes(), 30);
        assert_eq!(p.max_polynomial_length(), 4096);
        assert_eq!(p.erasure_encoded_polynomial_length(), 32768);
        assert_eq!(p.shard_length(), 64);
        p.check().unwrap();
    }

    #[test]
    fn fft_domain_selection() {
        assert_eq!(select_fft_domain(1), 2);
        assert_eq!(select_fft_domain(128), 128);
        assert_eq!(select_fft_domain(129), 132); // 3 · 11 · 4
        assert_eq!(select_fft_domain(5), 6);
        assert_eq!(select_fft_domain(33), 33);
    }

    #[test]
    fn octez_checks() {
        let ok = Parameters {
            redundancy_factor: 2,
            page_size: 120,
            slot_size: 960,
            number_of_shards: 16,
        };
        ok.check().unwrap();
        assert_eq!((ok.page_length(), ok.max_polynomial_length()), (4, 32));
        let bad = |p: Parameters| p.check().unwrap_err().to_string();
        assert!(
            bad(Parameters {
                number_of_shards: 0,
                ..ok
            })
            .contains("strictly positive")
        );
        assert!(
            bad(Parameters {
                redundancy_factor: 3,
                ..ok
            })
            .contains("power of 2")
        );
        assert!(
            bad(Parameters {
                redundancy_factor: 1,
                ..ok
            })
            .contains("power of 2")
        );
        assert!(
            bad(Parameters {
                page_size: 960,
                ..ok
            })
            .contains("strictly less")
        );
        assert!(
            bad(Parameters {
                slot_size: 1000,
                ..ok
            })
            .contains("multiple")
        );
        assert!(
            bad(Parameters {
                number_of_shards: 2,
                ..ok
            })
            .contains("minimum number")
        );
        assert!(
            bad(Parameters {
                number_of_shards: 6,
                ..ok
            })
            .contains("must divide")
        );
        // page_length 32/31+1 = 2 → 2; 3 pages → k = 6 is not a power of two.
        let odd = Parameters {
            redundancy_factor: 2,
            page_size: 32,
            slot_size: 96,
            number_of_shards: 4,
        };
        assert!(matches!(odd.check(), Err(Error::Unsupported(_))));
    }
}
