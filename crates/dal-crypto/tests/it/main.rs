//! Round trips and refusals of the DAL cryptobox with Octez's test SRS (`dal_crypto::Setup`),
//! plus timings with the mainnet parameters (printed with `--nocapture`).

use std::time::Instant;

use dal_crypto::{
    COMMITMENT_PROOF_SIZE, COMMITMENT_SIZE, Error, PAGE_PROOF_SIZE, Parameters, Prover, Setup,
    Verifier,
};

/// 16 pages of 3967 bytes (the mainnet page), 8 shards of redundancy 2:
/// max_polynomial_length = 16 · 128 = 2048.
fn medium() -> Parameters {
    Parameters {
        redundancy_factor: 2,
        page_size: 3967,
        slot_size: 16 * 3967,
        number_of_shards: 64,
    }
}

/// Octez's test mode accepts these (max_polynomial_length 4 · 128 = 512 ≤ 512).
fn octez_test_sized() -> Parameters {
    Parameters {
        redundancy_factor: 2,
        page_size: 3967,
        slot_size: 4 * 3967,
        number_of_shards: 16,
    }
}

fn slot(p: &Parameters, seed: u8) -> Vec<u8> {
    (0..p.slot_size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn sizes_and_encodings() {
    assert_eq!(
        (COMMITMENT_SIZE, COMMITMENT_PROOF_SIZE, PAGE_PROOF_SIZE),
        (48, 96, 48)
    );
    let p = octez_test_sized();
    p.check().unwrap();
    assert_eq!(p.max_polynomial_length(), 512);
    assert_eq!(Setup::mock(p.max_polynomial_length()).size(), 512);
    let prover = Prover::mock(p).unwrap();
    let (c, proof) = prover.commit_slot(&slot(&p, 1)).unwrap();
    // Compressed points: the flag bit 0x80 is set, the infinity bit 0x40 is not.
    assert_eq!(c[0] & 0xc0, 0x80);
    assert_eq!(proof[0] & 0xc0, 0x80);
    // The zero slot commits to the point at infinity (0xc0 ‖ 0…).
    let (z, zp) = prover.commit_slot(&vec![0; p.slot_size]).unwrap();
    assert_eq!(z[0], 0xc0);
    assert!(z[1..].iter().all(|b| *b == 0));
    prover.verifier().verify_commitment(&z, &zp).unwrap();
}

#[test]
fn commit_prove_verify_round_trip() {
    let p = medium();
    let prover = Prover::mock(p).unwrap();
    let s = slot(&p, 7);
    let poly = prover.polynomial_from_slot(&s).unwrap();
    let c = prover.commit(&poly);
    let v = prover.verifier();
    v.verify_commitment(&c, &prover.prove_commitment(&poly))
        .unwrap();
    for j in [0, 1, 9, 15] {
        let proof = prover.prove_page(&poly, j).unwrap();
        assert_eq!(proof, prover.prove_page_of_slot(&s, j).unwrap());
        let page = &s[j * p.page_size..(j + 1) * p.page_size];
        v.verify_page(&c, j, page, &proof).unwrap();
        // A separately built verifier (no prover SRS) agrees.
        Verifier::mock(p)
            .unwrap()
            .verify_page(&c, j, page, &proof)
            .unwrap();
    }
}

#[test]
fn tampered_inputs_are_refused() {
    let p = medium();
    let prover = Prover::mock(p).unwrap();
    let v = prover.verifier();
    let s = slot(&p, 3);
    let (c, cproof) = prover.commit_slot(&s).unwrap();
    let j = 5;
    let page = s[j * p.page_size..(j + 1) * p.page_size].to_vec();
    let proof = prover.prove_page_of_slot(&s, j).unwrap();
    v.verify_page(&c, j, &page, &proof).unwrap();

    // One byte of the page changed (the first and the last chunk).
    for at in [0, p.page_size - 1] {
        let mut bad = page.clone();
        bad[at] ^= 1;
        assert_eq!(v.verify_page(&c, j, &bad, &proof), Err(Error::InvalidPage));
    }
    // Another page's proof, another page index, another slot's commitment.
    let other = prover.prove_page_of_slot(&s, j + 1).unwrap();
    assert_eq!(v.verify_page(&c, j, &page, &other), Err(Error::InvalidPage));
    assert_eq!(
        v.verify_page(&c, j + 1, &page, &proof),
        Err(Error::InvalidPage)
    );
    let (c2, _) = prover.commit_slot(&slot(&p, 4)).unwrap();
    assert_eq!(
        v.verify_page(&c2, j, &page, &proof),
        Err(Error::InvalidPage)
    );
    // Out of range, wrong length.
    assert_eq!(
        v.verify_page(&c, 16, &page, &proof),
        Err(Error::PageIndexOutOfRange {
            index: 16,
            pages: 16
        })
    );
    assert_eq!(
        prover.prove_page_of_slot(&s, 16),
        Err(Error::PageIndexOutOfRange {
            index: 16,
            pages: 16
        })
    );
    assert_eq!(
        v.verify_page(&c, j, &page[1..], &proof),
        Err(Error::PageLengthMismatch {
            expected: 3967,
            got: 3966
        })
    );
    // Bytes that are not points.
    let mut junk = proof;
    junk[5] ^= 0xff;
    assert_eq!(
        v.verify_page(&c, j, &page, &junk),
        Err(Error::InvalidPoint("page proof"))
    );
    assert_eq!(
        v.verify_page(&[0u8; 48], j, &page, &proof),
        Err(Error::InvalidPoint("commitment"))
    );
    // Commitment proofs: another slot's, garbage.
    let (_, cproof2) = prover.commit_slot(&slot(&p, 4)).unwrap();
    v.verify_commitment(&c, &cproof).unwrap();
    assert_eq!(
        v.verify_commitment(&c, &cproof2),
        Err(Error::InvalidCommitmentProof)
    );
    let mut junk = cproof;
    junk[10] ^= 0xff;
    assert_eq!(
        v.verify_commitment(&c, &junk),
        Err(Error::InvalidPoint("commitment proof"))
    );
}

/// A polynomial of degree ≥ max_polynomial_length cannot get a degree proof: committing to
/// it with a larger box's SRS and proving with the smaller box's shift fails.
#[test]
fn forged_degree_proof_fails() {
    let small = octez_test_sized();
    let big = Parameters {
        slot_size: 8 * 3967,
        ..small
    };
    // Same τ, same SRS size (1024 points) for both boxes.
    let setup = Setup::mock(big.max_polynomial_length());
    let big_prover = Prover::new(big, &setup).unwrap();
    let small_prover = Prover::new(small, &setup).unwrap();
    let s = slot(&big, 9);
    let poly = big_prover.polynomial_from_slot(&s).unwrap();
    let c = big_prover.commit(&poly);
    // Degree < 1024 holds: the big box accepts.
    big_prover
        .verifier()
        .verify_commitment(&c, &big_prover.prove_commitment(&poly))
        .unwrap();
    // Degree < 512 does not: the big box's proof (shift 0) fails the small box's check
    // (shift 512), and so does an honest-looking small-box proof of the same commitment.
    let v = small_prover.verifier();
    assert_eq!(
        v.verify_commitment(&c, &big_prover.prove_commitment(&poly)),
        Err(Error::InvalidCommitmentProof)
    );
}

#[test]
fn invalid_and_unsupported_parameters() {
    let p = Parameters {
        slot_size: 1000,
        ..medium()
    };
    assert!(matches!(Prover::mock(p), Err(Error::InvalidParameters(_))));
    // 3 pages: max_polynomial_length 384 is not a power of two.
    let p = Parameters {
        slot_size: 3 * 3967,
        ..medium()
    };
    assert!(matches!(Verifier::mock(p), Err(Error::Unsupported(_))));
    // An SRS smaller than the polynomials.
    let big = Parameters {
        slot_size: 8 * 3967,
        ..octez_test_sized()
    };
    assert!(matches!(
        Verifier::new(big, &Setup::mock(512)),
        Err(Error::InvalidParameters(_))
    ));
}

/// Timings with the mainnet (and sandbox default) parameters: 126 944-byte slots, 32 pages
/// of 3967 bytes, max_polynomial_length 4096.
#[test]
fn mainnet_timings() {
    let p = Parameters::MAINNET;
    p.check().unwrap();
    let t = Instant::now();
    let prover = Prover::mock(p).unwrap();
    let setup_time = t.elapsed();
    let s = slot(&p, 42);
    let t = Instant::now();
    let (c, cproof) = prover.commit_slot(&s).unwrap();
    let commit_time = t.elapsed();
    let poly = prover.polynomial_from_slot(&s).unwrap();
    let t = Instant::now();
    let proof = prover.prove_page(&poly, 31).unwrap();
    let prove_time = t.elapsed();
    let v = Verifier::mock(p).unwrap();
    let t = Instant::now();
    v.verify_page(&c, 31, &s[31 * 3967..], &proof).unwrap();
    let verify_time = t.elapsed();
    let t = Instant::now();
    v.verify_commitment(&c, &cproof).unwrap();
    let verify_commitment_time = t.elapsed();
    println!(
        "mainnet parameters: prover setup {setup_time:?}, commit + commitment proof \
         {commit_time:?}, prove_page {prove_time:?}, verify_page {verify_time:?}, \
         verify_commitment {verify_commitment_time:?}"
    );
}
