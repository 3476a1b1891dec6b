//! Slots as polynomials, KZG commitments, degree proofs and page proofs (Octez
//! `src/lib_crypto_dal/cryptobox.ml`: `polynomial_from_slot`, `commit`, `prove_commitment`,
//! `verify_commitment`, `prove_page`, `verify_page`; `src/lib_kzg/degree_check.ml`,
//! `kate_amortized.ml` `verify`).
//!
//! Layout: a slot is cut into pages, a page into `page_length − 1` chunks of 31 bytes and a
//! last chunk of `remaining_bytes`, each read as a little-endian scalar. Chunk `i` of page `j`
//! is the evaluation at ω^(i·pages_per_slot + j), ω the primitive `max_polynomial_length`-th
//! root of unity, so page `j` is the coset ω^j·⟨ω^pages_per_slot⟩ (the other points of the
//! coset, up to `page_length_domain`, evaluate to 0). The slot's polynomial P interpolates
//! these evaluations.
//! - commitment: `[P(τ)]_1` (48 bytes compressed, the `sh1…` of the protocol);
//! - commitment proof: `[P(τ)·τ^s]_2` with s = `max_srs_size − max_polynomial_length`
//!   (96 bytes compressed), checked by e(C, [τ^s]_2) = e(g1, proof), which proves
//!   deg P < `max_polynomial_length`;
//! - page proof of page j: `[Q(τ)]_1` where P = Q·(X^l − ω^(j·l)) + R, l =
//!   `page_length_domain`; the verifier interpolates R from the page and checks
//!   e(C − [R(τ)]_1, g2) = e(π, [τ^l]_2 − ω^(j·l)·g2).

use crate::Error;
use crate::bls::{Fr, G1, G1Points, G2, G2Points, pairing_check};
use crate::fft::{Domain, primitive_root_of_unity};
use crate::parameters::{Parameters, SCALAR_BYTES};
use crate::srs::Setup;

/// Size of a commitment (compressed G1 point).
pub const COMMITMENT_SIZE: usize = 48;
/// Size of a commitment proof (compressed G2 point).
pub const COMMITMENT_PROOF_SIZE: usize = 96;
/// Size of a page proof (compressed G1 point).
pub const PAGE_PROOF_SIZE: usize = 48;

/// A slot's polynomial: its `max_polynomial_length` coefficients, lowest degree first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polynomial(Vec<Fr>);

/// Reads a scalar from up to 31 little-endian bytes (`Scalar.of_bytes_exn`, always below r).
fn scalar(bytes: &[u8]) -> Fr {
    Fr::from_le_bytes(bytes).unwrap_or(Fr::ZERO)
}

/// The verifier's side: checks commitment proofs and page proofs. Cheap to build
/// (`page_length_domain` points of G1, two of G2).
pub struct Verifier {
    params: Parameters,
    /// ω, the primitive `max_polynomial_length`-th root of unity.
    slot_root: Fr,
    page_domain: Domain,
    /// `[τ^i]_1`, i < `page_length_domain`.
    srs_g1_pages: G1Points,
    /// `[τ^page_length_domain]_2` (`srs_verifier.pages`).
    srs_g2_pages: G2,
    /// `[τ^(max_srs_size − max_polynomial_length)]_2` (`srs_verifier.commitment`).
    srs_g2_commitment: G2,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `params` with `setup` (see [`Parameters::check_page_layout`]; the setup
    /// must have at least `max_polynomial_length` points).
    pub fn new(params: Parameters, setup: &Setup) -> Result<Verifier, Error> {
        params.check_page_layout()?;
        let k = params.max_polynomial_length();
        let l = params.page_length_domain();
        if setup.size < k {
            return Err(Error::InvalidParameters(format!(
                "The size of the SRS is too small. Expected more than {k}. Got {}.",
                setup.size
            )));
        }
        let unsupported = || Error::Unsupported(format!("no FFT domain of size {k} or {l}"));
        let slot_root = primitive_root_of_unity(k).ok_or_else(unsupported)?;
        let page_domain = Domain::build(l).ok_or_else(unsupported)?;
        Ok(Verifier {
            params,
            slot_root,
            page_domain,
            srs_g1_pages: G1Points::new(&setup.g1_points(0, l)),
            srs_g2_pages: setup.g2_point(l),
            srs_g2_commitment: setup.g2_point(setup.size - k),
        })
    }

    /// [`Verifier::new`] with [`Setup::mock`] (Octez's test SRS).
    pub fn mock(params: Parameters) -> Result<Verifier, Error> {
        Verifier::new(params, &Setup::mock(params.max_polynomial_length()))
    }

    /// The parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// `verify_commitment`: whether `proof` shows that the polynomial committed to by
    /// `commitment` has degree < `max_polynomial_length` (`Degree_check.verify`:
    /// e(−C, [τ^s]_2)·e(g1, proof) = 1).
    pub fn verify_commitment(
        &self,
        commitment: &[u8; COMMITMENT_SIZE],
        proof: &[u8; COMMITMENT_PROOF_SIZE],
    ) -> Result<(), Error> {
        let c = G1::uncompress(commitment).ok_or(Error::InvalidPoint("commitment"))?;
        let p = G2::uncompress(proof).ok_or(Error::InvalidPoint("commitment proof"))?;
        if pairing_check(&[(c.neg(), self.srs_g2_commitment), (G1::generator(), p)]) {
            Ok(())
        } else {
            Err(Error::InvalidCommitmentProof)
        }
    }

    /// `verify_page`: whether `page` (exactly `page_size` bytes) is page `page_index` of the
    /// slot committed to by `commitment`, given its `proof`.
    pub fn verify_page(
        &self,
        commitment: &[u8; COMMITMENT_SIZE],
        page_index: usize,
        page: &[u8],
        proof: &[u8; PAGE_PROOF_SIZE],
    ) -> Result<(), Error> {
        let p = &self.params;
        let pages = p.pages_per_slot();
        if page_index >= pages {
            return Err(Error::PageIndexOutOfRange {
                index: page_index,
                pages,
            });
        }
        if page.len() != p.page_size {
            return Err(Error::PageLengthMismatch {
                expected: p.page_size,
                got: page.len(),
            });
        }
        let c = G1::uncompress(commitment).ok_or(Error::InvalidPoint("commitment"))?;
        let pi = G1::uncompress(proof).ok_or(Error::InvalidPoint("page proof"))?;
        let l = self.page_domain.len();
        let page_length = p.page_length();
        let mut evals = vec![Fr::ZERO; l];
        for (i, e) in evals.iter_mut().enumerate().take(page_length) {
            let start = i * SCALAR_BYTES;
            let len = if i + 1 < page_length {
                SCALAR_BYTES
            } else {
                p.remaining_bytes()
            };
            *e = scalar(&page[start..start + len]);
        }
        // R(root·z^i) = evals[i]: interpolate on ⟨z⟩, then rescale by root^-k.
        self.page_domain.ifft(&mut evals);
        let root = self.slot_root.pow(page_index as u64);
        let root_inv = root.inverse();
        let mut f = Fr::one();
        for c in evals.iter_mut() {
            *c = c.mul(f);
            f = f.mul(root_inv);
        }
        let remainder = self.srs_g1_pages.msm(&evals);
        let root_pow = root.pow(l as u64);
        let divisor = self.srs_g2_pages.add(&G2::generator().mul(root_pow).neg());
        if pairing_check(&[(remainder.add(&c.neg()), G2::generator()), (pi, divisor)]) {
            Ok(())
        } else {
            Err(Error::InvalidPage)
        }
    }
}

/// The prover's side (the DAL node's): slots to polynomials, commitments, proofs. Building
/// one computes `max_polynomial_length` points of G1 and of G2.
pub struct Prover {
    verifier: Verifier,
    slot_domain: Domain,
    /// `[τ^i]_1`, i < `max_polynomial_length`.
    srs_g1: G1Points,
    /// `[τ^(s+i)]_2`, i < `max_polynomial_length`, s the degree proofs' shift.
    srs_g2: G2Points,
}

impl std::fmt::Debug for Prover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prover")
            .field("params", &self.verifier.params)
            .finish_non_exhaustive()
    }
}

impl Prover {
    /// A prover for `params` with `setup` (see [`Verifier::new`]).
    pub fn new(params: Parameters, setup: &Setup) -> Result<Prover, Error> {
        let verifier = Verifier::new(params, setup)?;
        let k = params.max_polynomial_length();
        let slot_domain = Domain::build(k)
            .ok_or_else(|| Error::Unsupported(format!("no FFT domain of size {k}")))?;
        Ok(Prover {
            verifier,
            slot_domain,
            srs_g1: G1Points::new(&setup.g1_points(0, k)),
            srs_g2: G2Points::new(&setup.g2_points(setup.size - k, k)),
        })
    }

    /// [`Prover::new`] with [`Setup::mock`] (Octez's test SRS).
    pub fn mock(params: Parameters) -> Result<Prover, Error> {
        Prover::new(params, &Setup::mock(params.max_polynomial_length()))
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.verifier.params
    }

    /// `polynomial_from_slot`: the slot (exactly `slot_size` bytes) as a polynomial (see the
    /// module documentation for the layout).
    pub fn polynomial_from_slot(&self, slot: &[u8]) -> Result<Polynomial, Error> {
        let p = &self.verifier.params;
        if slot.len() != p.slot_size {
            return Err(Error::SlotWrongSize {
                expected: p.slot_size,
                got: slot.len(),
            });
        }
        let pages = p.pages_per_slot();
        let page_length = p.page_length();
        let mut evals = vec![Fr::ZERO; p.max_polynomial_length()];
        for (j, page) in slot.chunks(p.page_size).enumerate() {
            for i in 0..page_length {
                let start = i * SCALAR_BYTES;
                let len = if i + 1 < page_length {
                    SCALAR_BYTES
                } else {
                    p.remaining_bytes()
                };
                evals[i * pages + j] = scalar(&page[start..start + len]);
            }
        }
        self.slot_domain.ifft(&mut evals);
        Ok(Polynomial(evals))
    }

    /// `polynomial_to_slot`: the inverse of [`Prover::polynomial_from_slot`].
    pub fn polynomial_to_slot(&self, poly: &Polynomial) -> Vec<u8> {
        let p = &self.verifier.params;
        let mut evals = poly.0.clone();
        evals.resize(p.max_polynomial_length(), Fr::ZERO);
        self.slot_domain.fft(&mut evals);
        let pages = p.pages_per_slot();
        let page_length = p.page_length();
        let mut slot = Vec::with_capacity(p.slot_size);
        for j in 0..pages {
            for i in 0..page_length {
                let len = if i + 1 < page_length {
                    SCALAR_BYTES
                } else {
                    p.remaining_bytes()
                };
                slot.extend_from_slice(&evals[i * pages + j].to_le_bytes()[..len]);
            }
        }
        slot
    }

    /// `commit`: `[P(τ)]_1`, compressed.
    pub fn commit(&self, poly: &Polynomial) -> [u8; COMMITMENT_SIZE] {
        self.srs_g1.msm(&poly.0).compress()
    }

    /// `prove_commitment`: `[P(τ)·τ^s]_2`, compressed (`Degree_check.prove`).
    pub fn prove_commitment(&self, poly: &Polynomial) -> [u8; COMMITMENT_PROOF_SIZE] {
        self.srs_g2.msm(&poly.0).compress()
    }

    /// `prove_page`: the commitment to the quotient of P by X^l − ω^(j·l), j = `page_index`,
    /// l = `page_length_domain`.
    pub fn prove_page(
        &self,
        poly: &Polynomial,
        page_index: usize,
    ) -> Result<[u8; PAGE_PROOF_SIZE], Error> {
        let pages = self.verifier.params.pages_per_slot();
        if page_index >= pages {
            return Err(Error::PageIndexOutOfRange {
                index: page_index,
                pages,
            });
        }
        let l = self.verifier.page_domain.len();
        let a = self.slot_domain.get(page_index).pow(l as u64);
        let mut rem = poly.0.clone();
        let m = rem.len();
        let mut quotient = vec![Fr::ZERO; m.saturating_sub(l)];
        for k in (l..m).rev() {
            let q = rem[k];
            quotient[k - l] = q;
            rem[k - l] = rem[k - l].add(a.mul(q));
        }
        Ok(self.srs_g1.msm(&quotient).compress())
    }

    /// The commitment and commitment proof of a slot (what the DAL node's `POST /slots`
    /// returns).
    pub fn commit_slot(
        &self,
        slot: &[u8],
    ) -> Result<([u8; COMMITMENT_SIZE], [u8; COMMITMENT_PROOF_SIZE]), Error> {
        let poly = self.polynomial_from_slot(slot)?;
        Ok((self.commit(&poly), self.prove_commitment(&poly)))
    }

    /// The proof of page `page_index` of a slot (`polynomial_from_slot` then `prove_page`).
    pub fn prove_page_of_slot(
        &self,
        slot: &[u8],
        page_index: usize,
    ) -> Result<[u8; PAGE_PROOF_SIZE], Error> {
        let poly = self.polynomial_from_slot(slot)?;
        self.prove_page(&poly, page_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 pages of 120 bytes: page_length 4 (3 chunks of 31 bytes and one of 27),
    /// max_polynomial_length 32.
    fn small() -> Parameters {
        Parameters {
            redundancy_factor: 2,
            page_size: 120,
            slot_size: 960,
            number_of_shards: 16,
        }
    }

    fn slot(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn slot_round_trips_through_its_polynomial() {
        let prover = Prover::mock(small()).unwrap();
        let s = slot(960);
        let poly = prover.polynomial_from_slot(&s).unwrap();
        assert_eq!(prover.polynomial_to_slot(&poly), s);
        assert!(matches!(
            prover.polynomial_from_slot(&s[1..]),
            Err(Error::SlotWrongSize {
                expected: 960,
                got: 959
            })
        ));
    }

    /// Commitment = [P(τ)]_1 computed directly from τ, and the proof's shift is 512 − 32.
    #[test]
    fn commitment_is_the_evaluation_at_tau() {
        let params = small();
        let setup = Setup::mock(params.max_polynomial_length());
        let prover = Prover::new(params, &setup).unwrap();
        let poly = prover.polynomial_from_slot(&slot(960)).unwrap();
        let at_tau = poly
            .0
            .iter()
            .rev()
            .fold(Fr::ZERO, |acc, c| acc.mul(setup.secret).add(*c));
        assert_eq!(prover.commit(&poly), G1::generator().mul(at_tau).compress());
        let shifted = at_tau.mul(setup.secret.pow(512 - 32));
        assert_eq!(
            prover.prove_commitment(&poly),
            G2::generator().mul(shifted).compress()
        );
    }

    /// The quotient times the divisor plus the remainder gives back P.
    #[test]
    fn page_proof_quotient_is_exact() {
        let prover = Prover::mock(small()).unwrap();
        let s = slot(960);
        let poly = prover.polynomial_from_slot(&s).unwrap();
        for j in [0, 3, 7] {
            let proof = prover.prove_page(&poly, j).unwrap();
            let c = prover.commit(&poly);
            let page = &s[j * 120..(j + 1) * 120];
            prover.verifier().verify_page(&c, j, page, &proof).unwrap();
        }
    }
}
