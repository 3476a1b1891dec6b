//! Octez `encrypted:` secret keys (Octez `src/lib_signer_backends/encrypted.ml`): the b58check
//! payload is `salt (8) ‖ NaCl secretbox (tag 16 ‖ ciphertext 32)` of the 32-byte secret key,
//! with the key PBKDF2-HMAC-SHA512(password, salt, 32768 rounds, 32 bytes) and a zero nonce.
//! Prefixes: `edesk` (Ed25519), `spesk` (secp256k1), `p2esk` (P-256), `BLesk` (BLS12-381, the
//! scalar little-endian as in `BLsk…`).
//! Passwords come from `-f/--password-filename`, one per line, tried in order.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use tezos_types::b58::{decode_raw_check, encode_raw_check};
use tezos_types::{Curve, SecretKey};

const SALT_LEN: usize = 8;
const ROUNDS: u32 = 32768;
/// Raw b58 prefixes (Octez `src/lib_crypto/base58.ml`): `edesk`, `spesk`, `p2esk`, `BLesk`.
const PREFIXES: [(Curve, [u8; 5]); 4] = [
    (Curve::Ed25519, [7, 90, 60, 179, 41]),
    (Curve::Secp256k1, [9, 237, 241, 174, 150]),
    (Curve::P256, [9, 48, 57, 115, 171]),
    (Curve::Bls, [2, 5, 30, 53, 25]),
];

/// The 32 bytes Octez encrypts: `SecretKey::to_bytes`, except BLS scalars, which Octez keeps
/// little-endian (`Signature.Bls.Secret_key.encoding`, as in `BLsk…`).
fn octez_bytes(curve: Curve, mut bytes: [u8; 32]) -> [u8; 32] {
    if curve == Curve::Bls {
        bytes.reverse();
    }
    bytes
}

/// Failures of encrypted keys.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptedError {
    /// Not an `encrypted:` b58check key of a known curve.
    #[error(
        "not an encrypted secret key (expected encrypted:edesk…, spesk…, p2esk… or BLesk…): {0}"
    )]
    Format(String),
    /// No password of the list opens the key.
    #[error(
        "no password of the password file opens the encrypted key {0}; add its password to the \
         file given with -f/--password-filename (one password per line)"
    )]
    WrongPassword(String),
    /// The curve has no encrypted form.
    #[error("{0:?} keys have no Octez encrypted form")]
    Unsupported(Curve),
}

fn cipher(password: &[u8], salt: &[u8]) -> XSalsa20Poly1305 {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, ROUNDS, &mut key);
    XSalsa20Poly1305::new(&key.into())
}

/// Decrypts `encrypted:<b58>` (or the bare b58) with the first password that opens it.
///
/// # Errors
/// [`EncryptedError`].
pub fn decrypt(uri: &str, passwords: &[Vec<u8>]) -> Result<SecretKey, EncryptedError> {
    let b58 = uri.strip_prefix("encrypted:").unwrap_or(uri);
    let raw = decode_raw_check(b58).map_err(|e| EncryptedError::Format(e.to_string()))?;
    let (curve, payload) = PREFIXES
        .iter()
        .find_map(|(c, p)| raw.strip_prefix(&p[..]).map(|rest| (*c, rest)))
        .ok_or_else(|| EncryptedError::Format("unknown prefix".into()))?;
    if payload.len() != SALT_LEN + 16 + 32 {
        return Err(EncryptedError::Format(format!(
            "{} payload bytes, expected 56",
            payload.len()
        )));
    }
    let (salt, boxed) = payload.split_at(SALT_LEN);
    let nonce = Nonce::default();
    for password in passwords {
        if let Ok(plain) = cipher(password, salt).decrypt(&nonce, boxed)
            && let Ok(bytes) = <[u8; 32]>::try_from(plain.as_slice())
        {
            return SecretKey::from_bytes(curve, &octez_bytes(curve, bytes))
                .map_err(|e| EncryptedError::Format(format!("deciphered key is invalid: {e}")));
        }
    }
    let shown: String = b58.chars().take(12).collect();
    Err(EncryptedError::WrongPassword(format!("{shown}…")))
}

/// Encrypts `sk` as `encrypted:<b58>` with `password` and `salt`.
///
/// # Errors
/// [`EncryptedError::Unsupported`] for a curve without an encrypted form.
pub fn encrypt(sk: &SecretKey, password: &[u8], salt: [u8; 8]) -> Result<String, EncryptedError> {
    let curve = sk.curve();
    let prefix = PREFIXES
        .iter()
        .find(|(c, _)| *c == curve)
        .map(|(_, p)| p)
        .ok_or(EncryptedError::Unsupported(curve))?;
    let boxed = cipher(password, &salt)
        .encrypt(&Nonce::default(), &octez_bytes(curve, sk.to_bytes())[..])
        .map_err(|_| EncryptedError::Unsupported(curve))?;
    let mut raw = prefix.to_vec();
    raw.extend(salt);
    raw.extend(boxed);
    Ok(format!("encrypted:{}", encode_raw_check(&raw)))
}

/// The passwords of a password file: one per line (trailing `\r` dropped).
pub fn passwords_of(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).as_bytes().to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Octez `src/lib_signer_backends/test/test_encrypted.ml`: its password list and vectors.
    const PASSWORDS: &[&str] = &[
        "ahThie5H",
        "aVah7eid",
        "Hihohh1n",
        "mui0Hoox",
        "Piu7pual",
        "paik6aiW",
        "caeS5me5",
        "boh5dauL",
        "zaiK1Oht",
        "Oogh4hah",
        "kiY5ohlo",
        "booth0Ei",
        "xa2Aidao",
        "aju6oXu4",
        "gooruGh9",
        "ahy4Daih",
        "chosh0Wu",
        "Cheij6za",
        "quee9ooL",
        "Sohs9are",
        "Pae3gay7",
        "Naif5iel",
        " eir6Aed1",
        "aa6Aesai",
        "",
    ];
    const VECTORS: &[(&str, &str)] = &[
        (
            "edsk3kMNLNdzLPbbABASDLARft8JRZ3Wpwibn8SMAb4KmuWSMJmAFd",
            "edesk1oGXxunJ5FTGpQ6o1xdop8VGKdT36Fj7LwWF9HLjzEqaCC4V6tdRVN1jaeJTfCHS8bYf7U2YhMK2yW6jSUy",
        ),
        (
            "spsk24attf9uuQ7PUKFHxTm6E3TMqB6SPkFiMbXPBur7JNrvupW2xg",
            "spesk2CXQHDbzrcNatRzmg83Dto6kX6BWwpP2zGs4Zks9LDsXzaX6mAYRj5ZrrdgyZQap4DS9YRRLNSpaVC2TSsk",
        ),
        (
            "p2sk2YQcwF5h7qgRztocEMrfizUwZaM41f4v7zWneiig2Y5AxajqYC",
            "p2esk2JMFpR9yaSpgsaKQYLqFnv16t4gowJ4cgjj7D7iMfoaJz2vZuH7Tdi11MrX6FC2yhfs2nvy5VRxAvzH1STE",
        ),
    ];

    #[test]
    fn octez_vectors_decrypt_with_their_passwords() {
        let pw: Vec<Vec<u8>> = PASSWORDS.iter().map(|p| p.as_bytes().to_vec()).collect();
        for (sk, enc) in VECTORS {
            let want: SecretKey = sk.parse().unwrap();
            assert_eq!(
                decrypt(&format!("encrypted:{enc}"), &pw).unwrap(),
                want,
                "{enc}"
            );
            assert!(matches!(
                decrypt(enc, &[b"wrong".to_vec()]),
                Err(EncryptedError::WrongPassword(_))
            ));
        }
    }

    /// Same file: the BLS12-381 keys and their `BLesk` forms.
    const BLS_VECTORS: &[(&str, &str)] = &[
        (
            "BLsk1o1S8oAG76r3o3aJr1gbVhNdDnAMsdy1yMfwHLWwUHfAeyEXHV",
            "BLesk1ExnCaFxVcGFvKFQrPs2AADo2KpukB6bhA8SLASRzZ58uqvSNUNyzdNdya5NPgE1BAFwcN3wtyFv76r1GJ9",
        ),
        (
            "BLsk1ootrVQmMBgcnXDKdyBR2M5tXwZh2TRVcinBJwMhCYVDRm3K1N",
            "BLesk1c92TTyYAbkt5Aa2g2puGZHy1M9hQVX7um7PYpxfsjbaaiYsqR2ahArH53WGSvbvzUBizgPipMyfmh8bCs5",
        ),
        (
            "BLsk1rgztT2EBdQ2vtyXkTzgwmEjabvZri3c7tLHQtDmgH695mcWUt",
            "BLesk1yLinYLYYxq947JSbwt4s94xZb6azZz8AD8myiU67mQpKA2bLxYwq8QhYTrsCdXTtLSLyYnVL5EQAuubYjJ",
        ),
    ];

    #[test]
    fn octez_bls_vectors_decrypt_and_round_trip() {
        let pw: Vec<Vec<u8>> = PASSWORDS.iter().map(|p| p.as_bytes().to_vec()).collect();
        for (sk, enc) in BLS_VECTORS {
            let want: SecretKey = sk.parse().unwrap();
            assert_eq!(decrypt(enc, &pw).unwrap(), want, "{enc}");
            let again = encrypt(&want, b"pw", [3; 8]).unwrap();
            assert!(again.starts_with("encrypted:BLesk"), "{again}");
            assert_eq!(decrypt(&again, &[b"pw".to_vec()]).unwrap(), want);
        }
    }

    #[test]
    fn encrypt_round_trips_and_bad_keys_are_refused() {
        let sk: SecretKey = VECTORS[0].0.parse().unwrap();
        let uri = encrypt(&sk, b"pw", [1; 8]).unwrap();
        assert!(uri.starts_with("encrypted:edesk"), "{uri}");
        assert_eq!(decrypt(&uri, &passwords_of("x\r\npw\n")).unwrap(), sk);
        let bls = SecretKey::generate(Curve::Bls).unwrap();
        let uri = encrypt(&bls, b"pw", [1; 8]).unwrap();
        assert_eq!(decrypt(&uri, &[b"pw".to_vec()]).unwrap(), bls);
        assert!(decrypt("encrypted:edskXXX", &[]).is_err());
    }
}
