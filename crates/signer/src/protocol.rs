//! The octez-signer binary protocol of the socket and Unix transports, byte for byte
//! (docs/reference/l1-and-signer.md §5.2; Octez `src/lib_signer_services/signer_messages.ml`).
//!
//! * Framing: 2-byte big-endian length ‖ payload (payload < 65536 bytes).
//! * Requests: 1-byte tag (0 Sign, 1 Public_key, 2 Authorized_keys, 3 Deterministic_nonce,
//!   4 Deterministic_nonce_hash, 5 Supports_deterministic_nonces, 6 Known_keys,
//!   7 Bls_prove_possession).
//! * Sign addresses its key with a private union: tags 0/1/2 are tz1/tz2/tz3 + 20 bytes, tag 3
//!   (tz4) is `03 ‖ 03 ‖ 20 bytes ‖ signature version byte`.
//! * Answers: `00 ‖ value` or `01 ‖ error trace` (4-byte length list of 4-byte length + BSON
//!   JSON error).

use serde_json::{Value, json};
use tezos_types::{BinDecode, BinEncode, PublicKey, PublicKeyHash, Signature};

use crate::bson;

/// Largest payload of a frame.
pub const MAX_FRAME: usize = 65535;

/// Decoding failures of a request or an answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// Fewer bytes than the encoding needs.
    #[error("message truncated at byte {0}")]
    Truncated(usize),
    /// An unknown union tag.
    #[error("unknown {what} tag {tag} at byte {at}")]
    BadTag {
        /// Which union.
        what: &'static str,
        /// The tag.
        tag: u8,
        /// Offset.
        at: usize,
    },
    /// Bytes left after the message.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A key, hash or signature that does not decode.
    #[error("invalid {what}: {msg}")]
    Invalid {
        /// What.
        what: &'static str,
        /// Cause.
        msg: String,
    },
    /// A payload that does not fit a frame.
    #[error("message of {0} bytes does not fit a frame (at most {MAX_FRAME} bytes)")]
    TooLarge(usize),
}

/// An authenticated request (Sign and the deterministic nonces): the key, the data, and an
/// optional signature of `04 ‖ 01 ‖ signer pkh ‖ data` by an authorized key (§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedRequest {
    /// The key asked to sign.
    pub pkh: PublicKeyHash,
    /// The bytes to sign (watermark included).
    pub data: Vec<u8>,
    /// The authentication signature.
    pub signature: Option<Signature>,
    /// The tz4 signature version byte of a Sign request (`None` for other curves).
    pub version: Option<u8>,
}

/// A request of the binary protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Tag 0.
    Sign(AuthenticatedRequest),
    /// Tag 1.
    PublicKey(PublicKeyHash),
    /// Tag 2.
    AuthorizedKeys,
    /// Tag 3.
    DeterministicNonce(AuthenticatedRequest),
    /// Tag 4.
    DeterministicNonceHash(AuthenticatedRequest),
    /// Tag 5.
    SupportsDeterministicNonces(PublicKeyHash),
    /// Tag 6.
    KnownKeys,
    /// Tag 7: the key and an optional overriding BLS public key.
    BlsProvePossession(PublicKeyHash, Option<PublicKey>),
}

/// The Ok value of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Sign: the raw signature.
    Signature(Signature),
    /// Public_key: the tagged public key.
    PublicKey(PublicKey),
    /// Authorized_keys: `None` when no authentication is required.
    AuthorizedKeys(Option<Vec<PublicKeyHash>>),
    /// Deterministic nonces.
    Bytes(Vec<u8>),
    /// Supports_deterministic_nonces.
    Bool(bool),
    /// Known_keys.
    KnownKeys(Vec<PublicKeyHash>),
}

/// The bytes an authorized key signs to authenticate a request for `pkh` on `data` (§5.4).
pub fn authentication_bytes(pkh: &PublicKeyHash, data: &[u8]) -> Vec<u8> {
    let mut b = vec![4, 1];
    b.extend_from_slice(&pkh.to_bytes());
    b.extend_from_slice(data);
    b
}

/// Wraps a payload in a frame.
///
/// # Errors
/// [`ProtocolError::TooLarge`] above [`MAX_FRAME`] bytes.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let len = u16::try_from(payload.len()).map_err(|_| ProtocolError::TooLarge(payload.len()))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    Ok(out)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or(ProtocolError::Truncated(self.b.len()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize, ProtocolError> {
        let s = self.take(4)?;
        usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            .map_err(|_| ProtocolError::Truncated(self.at))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.at..];
        self.at = self.b.len();
        s
    }
    fn finish(&self) -> Result<(), ProtocolError> {
        match self.b.len().saturating_sub(self.at) {
            0 => Ok(()),
            n => Err(ProtocolError::Trailing(n)),
        }
    }
    fn pkh(&mut self) -> Result<PublicKeyHash, ProtocolError> {
        let at = self.at;
        let tag = self.u8()?;
        let mut h = [0u8; 20];
        h.copy_from_slice(self.take(20)?);
        PublicKeyHash::from_tag(tag, h).ok_or(ProtocolError::BadTag {
            what: "public key hash",
            tag,
            at,
        })
    }
    /// The Sign request's key union (tz4 = `03 ‖ 03+20 ‖ version`).
    fn signer_pkh(&mut self) -> Result<(PublicKeyHash, Option<u8>), ProtocolError> {
        let at = self.at;
        match self.u8()? {
            tag @ 0..=2 => {
                let mut h = [0u8; 20];
                h.copy_from_slice(self.take(20)?);
                PublicKeyHash::from_tag(tag, h)
                    .map(|p| (p, None))
                    .ok_or(ProtocolError::BadTag {
                        what: "signer key",
                        tag,
                        at,
                    })
            }
            3 => {
                let pkh = self.pkh()?;
                if !matches!(pkh, PublicKeyHash::Bls(_)) {
                    return Err(ProtocolError::Invalid {
                        what: "signer key",
                        msg: "the tz4 case must embed a tz4 key hash".into(),
                    });
                }
                let v = self.u8()?;
                Ok((pkh, Some(v)))
            }
            tag => Err(ProtocolError::BadTag {
                what: "signer key",
                tag,
                at,
            }),
        }
    }
    fn dyn_bytes(&mut self) -> Result<Vec<u8>, ProtocolError> {
        let n = self.u32()?;
        Ok(self.take(n)?.to_vec())
    }
    /// An `opt` field holding a variable-size signature (last field: to the end).
    fn opt_signature(&mut self) -> Result<Option<Signature>, ProtocolError> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(None),
            0xff => signature(self.rest()).map(Some),
            tag => Err(ProtocolError::BadTag {
                what: "optional signature",
                tag,
                at,
            }),
        }
    }
}

fn signature(b: &[u8]) -> Result<Signature, ProtocolError> {
    Signature::from_bytes(b).map_err(|e| ProtocolError::Invalid {
        what: "signature",
        msg: format!("{e} ({} bytes)", b.len()),
    })
}

fn public_key(b: &[u8]) -> Result<PublicKey, ProtocolError> {
    PublicKey::from_bin(b).map_err(|e| ProtocolError::Invalid {
        what: "public key",
        msg: e.to_string(),
    })
}

impl Request {
    /// Decodes a frame's payload.
    ///
    /// # Errors
    /// [`ProtocolError`] for malformed bytes.
    pub fn decode(b: &[u8]) -> Result<Self, ProtocolError> {
        let mut c = Cursor { b, at: 0 };
        let tag = c.u8()?;
        let auth = |c: &mut Cursor<'_>, special: bool| -> Result<_, ProtocolError> {
            let (pkh, version) = if special {
                c.signer_pkh()?
            } else {
                (c.pkh()?, None)
            };
            let data = c.dyn_bytes()?;
            let signature = c.opt_signature()?;
            Ok(AuthenticatedRequest {
                pkh,
                data,
                signature,
                version,
            })
        };
        let r = match tag {
            0 => Self::Sign(auth(&mut c, true)?),
            1 => Self::PublicKey(c.pkh()?),
            2 => Self::AuthorizedKeys,
            3 => Self::DeterministicNonce(auth(&mut c, false)?),
            4 => Self::DeterministicNonceHash(auth(&mut c, false)?),
            5 => Self::SupportsDeterministicNonces(c.pkh()?),
            6 => Self::KnownKeys,
            7 => {
                let pkh = c.pkh()?;
                let at = c.at;
                let pk = match c.u8()? {
                    0 => None,
                    0xff => {
                        let raw = c.take(48)?;
                        let mut tagged = vec![3u8];
                        tagged.extend_from_slice(raw);
                        Some(public_key(&tagged)?)
                    }
                    tag => {
                        return Err(ProtocolError::BadTag {
                            what: "optional BLS public key",
                            tag,
                            at,
                        });
                    }
                };
                Self::BlsProvePossession(pkh, pk)
            }
            tag => {
                return Err(ProtocolError::BadTag {
                    what: "request",
                    tag,
                    at: 0,
                });
            }
        };
        c.finish()?;
        Ok(r)
    }

    /// Encodes the request (the payload of a frame).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let auth = |out: &mut Vec<u8>, r: &AuthenticatedRequest, special: bool| {
            if special && let PublicKeyHash::Bls(_) = r.pkh {
                out.push(3);
                out.extend_from_slice(&r.pkh.to_bytes());
                out.push(r.version.unwrap_or(0));
            } else {
                out.extend_from_slice(&r.pkh.to_bytes());
            }
            let len = u32::try_from(r.data.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&r.data);
            match &r.signature {
                None => out.push(0),
                Some(s) => {
                    out.push(0xff);
                    out.extend_from_slice(s.as_bytes());
                }
            }
        };
        match self {
            Self::Sign(r) => {
                out.push(0);
                auth(&mut out, r, true);
            }
            Self::PublicKey(p) => {
                out.push(1);
                out.extend_from_slice(&p.to_bytes());
            }
            Self::AuthorizedKeys => out.push(2),
            Self::DeterministicNonce(r) => {
                out.push(3);
                auth(&mut out, r, false);
            }
            Self::DeterministicNonceHash(r) => {
                out.push(4);
                auth(&mut out, r, false);
            }
            Self::SupportsDeterministicNonces(p) => {
                out.push(5);
                out.extend_from_slice(&p.to_bytes());
            }
            Self::KnownKeys => out.push(6),
            Self::BlsProvePossession(p, pk) => {
                out.push(7);
                out.extend_from_slice(&p.to_bytes());
                match pk {
                    Some(pk) => {
                        out.push(0xff);
                        out.extend_from_slice(pk.raw());
                    }
                    None => out.push(0),
                }
            }
        }
        out
    }

    /// The name of the request, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sign(_) => "sign",
            Self::PublicKey(_) => "public_key",
            Self::AuthorizedKeys => "authorized_keys",
            Self::DeterministicNonce(_) => "deterministic_nonce",
            Self::DeterministicNonceHash(_) => "deterministic_nonce_hash",
            Self::SupportsDeterministicNonces(_) => "supports_deterministic_nonces",
            Self::KnownKeys => "known_keys",
            Self::BlsProvePossession(..) => "bls_prove_possession",
        }
    }
}

fn pkh_list(out: &mut Vec<u8>, l: &[PublicKeyHash]) {
    let len = u32::try_from(l.len().saturating_mul(21)).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    for p in l {
        out.extend_from_slice(&p.to_bytes());
    }
}

/// The JSON error Octez sends for a plain failure (`failwith`): `{"kind":"generic","error":msg}`.
pub fn generic_error(msg: &str) -> Value {
    json!({"kind": "generic", "error": msg})
}

/// Encodes an answer: `00 ‖ value` or `01 ‖ error trace`.
pub fn encode_answer(answer: &Result<Answer, Vec<Value>>) -> Vec<u8> {
    let mut out = Vec::new();
    match answer {
        Ok(a) => {
            out.push(0);
            match a {
                Answer::Signature(s) => out.extend_from_slice(s.as_bytes()),
                Answer::PublicKey(pk) => out.extend_from_slice(&pk.to_bin()),
                Answer::AuthorizedKeys(None) => out.push(0),
                Answer::AuthorizedKeys(Some(l)) => {
                    out.push(1);
                    pkh_list(&mut out, l);
                }
                Answer::Bytes(b) => {
                    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(b);
                }
                Answer::Bool(b) => out.push(if *b { 0xff } else { 0 }),
                Answer::KnownKeys(l) => pkh_list(&mut out, l),
            }
        }
        Err(errors) => {
            out.push(1);
            let mut list = Vec::new();
            for e in errors {
                let doc = bson::encode(e);
                let len = u32::try_from(doc.len()).unwrap_or(u32::MAX);
                list.extend_from_slice(&len.to_be_bytes());
                list.extend(doc);
            }
            let len = u32::try_from(list.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend(list);
        }
    }
    out
}

/// Which value the answer to a request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Sign, Bls_prove_possession.
    Signature,
    /// Public_key.
    PublicKey,
    /// Authorized_keys.
    AuthorizedKeys,
    /// Deterministic nonces.
    Bytes,
    /// Supports_deterministic_nonces.
    Bool,
    /// Known_keys.
    KnownKeys,
}

impl Request {
    /// The kind of answer this request expects.
    pub fn answer_kind(&self) -> AnswerKind {
        match self {
            Self::Sign(_) | Self::BlsProvePossession(..) => AnswerKind::Signature,
            Self::PublicKey(_) => AnswerKind::PublicKey,
            Self::AuthorizedKeys => AnswerKind::AuthorizedKeys,
            Self::DeterministicNonce(_) | Self::DeterministicNonceHash(_) => AnswerKind::Bytes,
            Self::SupportsDeterministicNonces(_) => AnswerKind::Bool,
            Self::KnownKeys => AnswerKind::KnownKeys,
        }
    }
}

/// Decodes an answer of `kind`; `Err` holds the signer's JSON errors.
///
/// # Errors
/// [`ProtocolError`] for malformed bytes.
pub fn decode_answer(
    kind: AnswerKind,
    b: &[u8],
) -> Result<Result<Answer, Vec<Value>>, ProtocolError> {
    let mut c = Cursor { b, at: 0 };
    let list = |c: &mut Cursor<'_>| -> Result<Vec<PublicKeyHash>, ProtocolError> {
        let n = c.u32()?;
        let mut inner = Cursor {
            b: c.take(n)?,
            at: 0,
        };
        let mut l = Vec::new();
        while inner.at < inner.b.len() {
            l.push(inner.pkh()?);
        }
        Ok(l)
    };
    let r = match c.u8()? {
        0 => Ok(match kind {
            AnswerKind::Signature => Answer::Signature(signature(c.rest())?),
            AnswerKind::PublicKey => Answer::PublicKey(public_key(c.rest())?),
            AnswerKind::AuthorizedKeys => match c.u8()? {
                0 => Answer::AuthorizedKeys(None),
                1 => Answer::AuthorizedKeys(Some(list(&mut c)?)),
                tag => {
                    return Err(ProtocolError::BadTag {
                        what: "authorized keys",
                        tag,
                        at: 1,
                    });
                }
            },
            AnswerKind::Bytes => Answer::Bytes(c.dyn_bytes()?),
            AnswerKind::Bool => Answer::Bool(c.u8()? != 0),
            AnswerKind::KnownKeys => Answer::KnownKeys(list(&mut c)?),
        }),
        1 => {
            let n = c.u32()?;
            let mut inner = Cursor {
                b: c.take(n)?,
                at: 0,
            };
            let mut errors = Vec::new();
            while inner.at < inner.b.len() {
                let doc = inner.dyn_bytes()?;
                errors.push(bson::decode(&doc).map_err(|e| ProtocolError::Invalid {
                    what: "error trace",
                    msg: e.to_string(),
                })?);
            }
            Err(errors)
        }
        tag => {
            return Err(ProtocolError::BadTag {
                what: "result",
                tag,
                at: 0,
            });
        }
    };
    c.finish()?;
    Ok(r)
}

/// One line per JSON error (`error`, `msg` or the whole object).
pub fn describe(errors: &[Value]) -> String {
    errors
        .iter()
        .map(|e| {
            e.get("error")
                .or_else(|| e.get("msg"))
                .and_then(Value::as_str)
                .map_or_else(|| e.to_string(), str::to_owned)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const B1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    #[test]
    fn derived_frames_of_the_reference() {
        // §5.2 "Derived example frames for bootstrap1".
        let f = frame(&Request::AuthorizedKeys.encode()).unwrap();
        assert_eq!(hex::encode(f), "000102");
        let f = frame(&encode_answer(&Ok(Answer::AuthorizedKeys(None)))).unwrap();
        assert_eq!(hex::encode(f), "00020000");
        let pkh: PublicKeyHash = B1.parse().unwrap();
        let f = frame(&Request::PublicKey(pkh).encode()).unwrap();
        assert_eq!(
            hex::encode(f),
            "0016010002298c03ed7d454a101eb7022bc95f7e5f41ac78"
        );
    }

    #[test]
    fn requests_round_trip_and_tz4_uses_the_private_union() {
        let tz4 = PublicKeyHash::from_tag(3, [7; 20]).unwrap();
        let r = Request::Sign(AuthenticatedRequest {
            pkh: tz4,
            data: vec![3, 1, 2],
            signature: Some(Signature::Generic([9; 64])),
            version: Some(2),
        });
        let b = r.encode();
        assert_eq!(&b[..3], &[0, 3, 3]);
        assert_eq!(b[23], 2);
        assert_eq!(Request::decode(&b).unwrap(), r);
        for r in [
            Request::KnownKeys,
            Request::SupportsDeterministicNonces(B1.parse().unwrap()),
            Request::BlsProvePossession(tz4, None),
        ] {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn malformed_requests_are_errors() {
        for b in [
            &[][..],
            &[9],
            &[1, 0],
            &[0, 0, 1, 2],
            &[
                0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            &[2, 0],
        ] {
            assert!(Request::decode(b).is_err(), "{b:?}");
        }
    }

    #[test]
    fn error_answers_round_trip() {
        let e = vec![generic_error("magic byte 0x03 not allowed")];
        let b = encode_answer(&Err(e.clone()));
        assert_eq!(b[0], 1);
        assert_eq!(decode_answer(AnswerKind::Signature, &b).unwrap(), Err(e));
    }
}
