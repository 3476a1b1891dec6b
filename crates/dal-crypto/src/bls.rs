//! Safe wrappers over the few `blst` primitives the cryptobox needs: the scalar field Fr, the
//! groups G1 and G2 (compressed encodings of 48 and 96 bytes, as Octez's `Bls12_381`, which
//! binds the same library), multi-scalar multiplication (Pippenger) and the pairing check.
#![allow(
    unsafe_code,
    reason = "blst exposes Fr and point arithmetic only as C functions; every call below \
              passes pointers to live, initialised values of the declared types"
)]

use blst::{
    BLST_ERROR, blst_fp12, blst_fr, blst_p1, blst_p1_affine, blst_p2, blst_p2_affine, blst_scalar,
};

/// An element of Fr (the scalar field of BLS12-381), in blst's Montgomery form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fr(blst_fr);

impl Fr {
    pub(crate) const ZERO: Fr = Fr(blst_fr { l: [0; 4] });

    pub(crate) fn one() -> Fr {
        Fr::from_u64(1)
    }

    pub(crate) fn from_u64(v: u64) -> Fr {
        let a = [v, 0, 0, 0];
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_from_uint64(&mut out, a.as_ptr()) };
        Fr(out)
    }

    /// Little-endian bytes (at most 32, zero-padded, as `Bls12_381.Fr.of_bytes_opt`); `None`
    /// when the value is not below the field order.
    pub(crate) fn from_le_bytes(b: &[u8]) -> Option<Fr> {
        if b.len() > 32 {
            return None;
        }
        let mut buf = [0u8; 32];
        buf[..b.len()].copy_from_slice(b);
        let mut s = blst_scalar::default();
        let mut out = blst_fr::default();
        unsafe {
            blst::blst_scalar_from_lendian(&mut s, buf.as_ptr());
            if !blst::blst_scalar_fr_check(&s) && buf != [0u8; 32] {
                return None;
            }
            blst::blst_fr_from_scalar(&mut out, &s);
        }
        Some(Fr(out))
    }

    /// Canonical little-endian bytes.
    pub(crate) fn to_le_bytes(self) -> [u8; 32] {
        let mut s = blst_scalar::default();
        let mut out = [0u8; 32];
        unsafe {
            blst::blst_scalar_from_fr(&mut s, &self.0);
            blst::blst_lendian_from_scalar(out.as_mut_ptr(), &s);
        }
        out
    }

    pub(crate) fn add(self, o: Fr) -> Fr {
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_add(&mut out, &self.0, &o.0) };
        Fr(out)
    }

    pub(crate) fn sub(self, o: Fr) -> Fr {
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_sub(&mut out, &self.0, &o.0) };
        Fr(out)
    }

    pub(crate) fn mul(self, o: Fr) -> Fr {
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_mul(&mut out, &self.0, &o.0) };
        Fr(out)
    }

    #[cfg(test)]
    pub(crate) fn neg(self) -> Fr {
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_cneg(&mut out, &self.0, true) };
        Fr(out)
    }

    /// The inverse (0 for 0, never used on 0 here).
    pub(crate) fn inverse(self) -> Fr {
        let mut out = blst_fr::default();
        unsafe { blst::blst_fr_inverse(&mut out, &self.0) };
        Fr(out)
    }

    /// `self^e`, `e` as little-endian bytes.
    pub(crate) fn pow_le(self, e: &[u8]) -> Fr {
        let mut acc = Fr::one();
        for byte in e.iter().rev() {
            for bit in (0..8).rev() {
                acc = acc.mul(acc);
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }

    pub(crate) fn pow(self, e: u64) -> Fr {
        self.pow_le(&e.to_le_bytes())
    }
}

/// A point of G1 (Jacobian coordinates: equality compares points, not coordinates).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct G1(blst_p1);

impl PartialEq for G1 {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: both pointers are to live, initialised points.
        unsafe { blst::blst_p1_is_equal(&self.0, &other.0) }
    }
}
impl Eq for G1 {}

impl G1 {
    pub(crate) fn generator() -> G1 {
        G1(unsafe { *blst::blst_p1_generator() })
    }

    pub(crate) fn identity() -> G1 {
        G1(blst_p1::default())
    }

    pub(crate) fn mul(&self, s: Fr) -> G1 {
        let b = s.to_le_bytes();
        let mut out = blst_p1::default();
        unsafe { blst::blst_p1_mult(&mut out, &self.0, b.as_ptr(), 255) };
        G1(out)
    }

    pub(crate) fn add(&self, o: &G1) -> G1 {
        let mut out = blst_p1::default();
        unsafe { blst::blst_p1_add_or_double(&mut out, &self.0, &o.0) };
        G1(out)
    }

    pub(crate) fn neg(&self) -> G1 {
        let mut out = self.0;
        unsafe { blst::blst_p1_cneg(&mut out, true) };
        G1(out)
    }

    pub(crate) fn is_identity(&self) -> bool {
        unsafe { blst::blst_p1_is_inf(&self.0) }
    }

    pub(crate) fn to_affine(self) -> blst_p1_affine {
        let mut out = blst_p1_affine::default();
        unsafe { blst::blst_p1_to_affine(&mut out, &self.0) };
        out
    }

    /// The 48-byte compressed encoding.
    pub(crate) fn compress(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        unsafe { blst::blst_p1_compress(out.as_mut_ptr(), &self.0) };
        out
    }

    /// Decodes a compressed point, refusing points off the curve or outside the subgroup.
    pub(crate) fn uncompress(b: &[u8; 48]) -> Option<G1> {
        let mut a = blst_p1_affine::default();
        let mut out = blst_p1::default();
        unsafe {
            if blst::blst_p1_uncompress(&mut a, b.as_ptr()) != BLST_ERROR::BLST_SUCCESS
                || !blst::blst_p1_affine_in_g1(&a)
            {
                return None;
            }
            blst::blst_p1_from_affine(&mut out, &a);
        }
        Some(G1(out))
    }
}

/// A point of G2 (Jacobian coordinates: equality compares points, not coordinates).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct G2(blst_p2);

impl PartialEq for G2 {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: both pointers are to live, initialised points.
        unsafe { blst::blst_p2_is_equal(&self.0, &other.0) }
    }
}
impl Eq for G2 {}

impl G2 {
    pub(crate) fn generator() -> G2 {
        G2(unsafe { *blst::blst_p2_generator() })
    }

    pub(crate) fn mul(&self, s: Fr) -> G2 {
        let b = s.to_le_bytes();
        let mut out = blst_p2::default();
        unsafe { blst::blst_p2_mult(&mut out, &self.0, b.as_ptr(), 255) };
        G2(out)
    }

    pub(crate) fn add(&self, o: &G2) -> G2 {
        let mut out = blst_p2::default();
        unsafe { blst::blst_p2_add_or_double(&mut out, &self.0, &o.0) };
        G2(out)
    }

    pub(crate) fn neg(&self) -> G2 {
        let mut out = self.0;
        unsafe { blst::blst_p2_cneg(&mut out, true) };
        G2(out)
    }

    pub(crate) fn is_identity(&self) -> bool {
        unsafe { blst::blst_p2_is_inf(&self.0) }
    }

    pub(crate) fn to_affine(self) -> blst_p2_affine {
        let mut out = blst_p2_affine::default();
        unsafe { blst::blst_p2_to_affine(&mut out, &self.0) };
        out
    }

    /// The 96-byte compressed encoding.
    pub(crate) fn compress(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        unsafe { blst::blst_p2_compress(out.as_mut_ptr(), &self.0) };
        out
    }

    /// Decodes a compressed point, refusing points off the curve or outside the subgroup.
    pub(crate) fn uncompress(b: &[u8; 96]) -> Option<G2> {
        let mut a = blst_p2_affine::default();
        let mut out = blst_p2::default();
        unsafe {
            if blst::blst_p2_uncompress(&mut a, b.as_ptr()) != BLST_ERROR::BLST_SUCCESS
                || !blst::blst_p2_affine_in_g2(&a)
            {
                return None;
            }
            blst::blst_p2_from_affine(&mut out, &a);
        }
        Some(G2(out))
    }
}

fn scalar_bytes(scalars: &[Fr]) -> Vec<u8> {
    scalars.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Points of G1 in affine form, ready for multi-scalar multiplication.
pub(crate) struct G1Points(blst::p1_affines);

impl G1Points {
    pub(crate) fn new(points: &[G1]) -> G1Points {
        let raw: Vec<blst_p1> = points.iter().map(|p| p.0).collect();
        G1Points(blst::p1_affines::from(&raw))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_slice().len()
    }

    /// `Σ scalars[i] · points[i]` over the first `scalars.len()` points (Pippenger);
    /// requires `scalars.len() <= self.len()`.
    pub(crate) fn msm(&self, scalars: &[Fr]) -> G1 {
        let n = scalars.len().min(self.len());
        if n == 0 {
            return G1::identity();
        }
        let bytes = scalar_bytes(&scalars[..n]);
        G1(blst::MultiPoint::mult(&self.0.as_slice()[..n], &bytes, 255))
    }
}

/// Points of G2 in affine form, ready for multi-scalar multiplication.
pub(crate) struct G2Points(blst::p2_affines);

impl G2Points {
    pub(crate) fn new(points: &[G2]) -> G2Points {
        let raw: Vec<blst_p2> = points.iter().map(|p| p.0).collect();
        G2Points(blst::p2_affines::from(&raw))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_slice().len()
    }

    /// `Σ scalars[i] · points[i]` (see [`G1Points::msm`]).
    pub(crate) fn msm(&self, scalars: &[Fr]) -> G2 {
        let n = scalars.len().min(self.len());
        if n == 0 {
            return G2(blst_p2::default());
        }
        let bytes = scalar_bytes(&scalars[..n]);
        G2(blst::MultiPoint::mult(&self.0.as_slice()[..n], &bytes, 255))
    }
}

/// `Pairing.pairing_check`: whether `Π e(g1_i, g2_i) = 1` in GT (pairs with a point at
/// infinity contribute 1).
pub(crate) fn pairing_check(pairs: &[(G1, G2)]) -> bool {
    let pairs: Vec<&(G1, G2)> = pairs
        .iter()
        .filter(|(a, b)| !a.is_identity() && !b.is_identity())
        .collect();
    if pairs.is_empty() {
        return true;
    }
    let p: Vec<blst_p1_affine> = pairs.iter().map(|(a, _)| a.to_affine()).collect();
    let q: Vec<blst_p2_affine> = pairs.iter().map(|(_, b)| b.to_affine()).collect();
    let ml = blst_fp12::miller_loop_n(&q, &p);
    ml.final_exp() == unsafe { *blst::blst_fp12_one() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic() {
        let a = Fr::from_u64(6);
        let b = Fr::from_u64(7);
        assert_eq!(a.mul(b), Fr::from_u64(42));
        assert_eq!(b.sub(a), Fr::one());
        assert_eq!(a.add(a.neg()), Fr::ZERO);
        assert_eq!(a.mul(a.inverse()), Fr::one());
        assert_eq!(Fr::from_u64(3).pow(5), Fr::from_u64(243));
        let bytes = Fr::from_u64(0x0102).to_le_bytes();
        assert_eq!(&bytes[..3], &[2, 1, 0]);
        assert_eq!(Fr::from_le_bytes(&[2, 1]), Some(Fr::from_u64(0x0102)));
        // r itself is not canonical.
        let mut r = [0u8; 32];
        r.copy_from_slice(
            &(0..32)
                .map(|i| {
                    u8::from_str_radix(
                        &"73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001"
                            [62 - 2 * i..64 - 2 * i],
                        16,
                    )
                    .unwrap()
                })
                .collect::<Vec<u8>>(),
        );
        assert_eq!(Fr::from_le_bytes(&r), None);
    }

    #[test]
    fn points_and_pairing() {
        let g1 = G1::generator();
        let g2 = G2::generator();
        let a = Fr::from_u64(5);
        let b = Fr::from_u64(11);
        assert_eq!(G1::uncompress(&g1.mul(a).compress()), Some(g1.mul(a)));
        assert_eq!(G2::uncompress(&g2.mul(b).compress()), Some(g2.mul(b)));
        assert!(pairing_check(&[
            (g1.mul(a), g2.mul(b)),
            (g1.mul(a.mul(b)).neg(), g2)
        ]));
        assert!(!pairing_check(&[(g1.mul(a), g2.mul(b)), (g1.neg(), g2)]));
        assert!(pairing_check(&[
            (G1::identity(), g2),
            (g1, g2.mul(Fr::ZERO))
        ]));
        assert!(!pairing_check(&[(G1::identity(), g2), (g1, g2)]));
        let pts = G1Points::new(&[g1, g1.mul(a), g1.mul(b)]);
        assert_eq!(
            pts.msm(&[Fr::one(), Fr::from_u64(2), Fr::from_u64(3)])
                .compress(),
            g1.mul(Fr::from_u64(1 + 10 + 33)).compress()
        );
        assert_eq!(G1::identity().compress()[0], 0xc0);
        assert_eq!(G1::uncompress(&[0u8; 48]), None);
    }
}
