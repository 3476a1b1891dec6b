//! Bootstrap accounts: the usual Octez sandbox keys (`tezt/lib_tezos/constant.ml`).

use tezos_types::{PublicKeyHash, SecretKey};

/// Initial balance of each bootstrap account: 4 000 000 ꜩ (Octez sandbox default).
pub const BOOTSTRAP_BALANCE: u64 = 4_000_000_000_000;

/// The Octez sandbox bootstrap secret keys (unencrypted Ed25519 seeds).
pub const BOOTSTRAP_SECRET_KEYS: [(&str, &str); 5] = [
    (
        "bootstrap1",
        "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh",
    ),
    (
        "bootstrap2",
        "edsk39qAm1fiMjgmPkw1EgQYkMzkJezLNewd7PLNHTkr6w9XA2zdfo",
    ),
    (
        "bootstrap3",
        "edsk4ArLQgBTLWG5FJmnGnT689VKoqhXwmDPBuGx3z4cvwU9MmrPZZ",
    ),
    (
        "bootstrap4",
        "edsk2uqQB9AY4FvioK2YMdfmyMrer5R8mGFyuaLLFfSRo8EoyNdht3",
    ),
    (
        "bootstrap5",
        "edsk4QLrcijEffxV31gGdN2HU7UpyJjA8drFoNcmnB28n89YjPNRFm",
    ),
];

/// A bootstrap account.
#[derive(Clone)]
pub struct Bootstrap {
    /// Alias (`bootstrap1`…).
    pub alias: &'static str,
    /// Secret key.
    pub secret_key: SecretKey,
    /// Its public key hash.
    pub pkh: PublicKeyHash,
}

/// The five bootstrap accounts.
pub fn bootstrap_accounts() -> Vec<Bootstrap> {
    BOOTSTRAP_SECRET_KEYS
        .iter()
        .filter_map(|(alias, sk)| {
            let secret_key = SecretKey::from_b58check(sk).ok()?;
            let pkh = secret_key.public_key_hash();
            Some(Bootstrap {
                alias,
                secret_key,
                pkh,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_addresses() {
        let a = bootstrap_accounts();
        assert_eq!(a.len(), 5);
        let pkhs: Vec<String> = a.iter().map(|b| b.pkh.to_b58check()).collect();
        assert_eq!(
            pkhs,
            [
                "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
                "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN",
                "tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU",
                "tz1b7tUupMgCNw2cCLpKTkSD1NZzB5TkP2sv",
                "tz1ddb9NMYHZi5UzPdzTZMYQQZoMub195zgv",
            ]
        );
    }
}
