//! Protocol version strings of the `Protocol_migration` inbox message (l1-and-signer.md §3.1,
//! §3.2 item 3; each protocol's `constants_repr.ml`, `version_value`).

use tezos_types::{Level, ProtocolHash};

/// (protocol hash, version string) of the protocols with smart rollups this node knows: the
/// `hash` of each `src/proto_<n>_<short>/lib_protocol/TEZOS_PROTOCOL` and its `version_value`
/// (`constants_repr.ml`; `raw_context.ml` for 016 and 017) in the Octez sources. The one table
/// of the workspace: the follower's origination PVM version and migration messages read it.
pub const PROTOCOL_VERSIONS: &[(&str, &str)] = &[
    (
        "ProtoALphaALphaALphaALphaALphaALphaALphaALphaDdp3zK",
        "alpha_current",
    ),
    (
        "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY",
        "u025_025",
    ),
    (
        "PtTALLiNtPec7mE7yY4m3k26J8Qukef3E3ehzhfXgFZKGtDdAXu",
        "t024_024",
    ),
    (
        "PtSeouLouXkxhg39oWzjxDWaCydNfR3RxCUrNe4Q9Ro8BTehcbh",
        "s023_023",
    ),
    (
        "PsRiotumaAMotcRoDWW1bysEhQy2n1M5fy8JgRp8jjRfHGmfeA7",
        "r022_022",
    ),
    (
        "PsQuebecnLByd3JwTiGadoG4nGWi3HYiLXUjkibeFV8dCFeVMUg",
        "quebec_021",
    ),
    (
        "PsParisCZo7KAh1Z1smVd9ZMZ1HHn5gkzbM94V3PLCpknFWhUAi",
        "paris_020",
    ),
    (
        "PtParisBxoLz5gzMmn3d9WBQNoPSZakgnkMC2VNuQ3KXfUtUQeZ",
        "paris_019",
    ),
    (
        "ProxfordYmVfjWnRcgjWH36fW6PArwqykTFzotUxRs6gmTcZDuH",
        "oxford_018",
    ),
    (
        "PtNairobiyssHuh87hEhfVBGCVrK3WnS8Z2FT4ymB5tAa4r1nQf",
        "nairobi_017",
    ),
    (
        "PtMumbai2TmsJHNGRkD8v8YDbtao7BLUC3wjASn1inAKLFCjaH1",
        "mumbai_016",
    ),
];

/// The version string of `protocol`, if known.
pub fn protocol_version(protocol: &ProtocolHash) -> Option<&'static str> {
    let b58 = protocol.to_b58check();
    PROTOCOL_VERSIONS
        .iter()
        .find(|(p, _)| *p == b58)
        .map(|(_, v)| *v)
}

/// Whether the block at `level` is the first block of a protocol activated at
/// `activation_level` (the migration block, last of the previous protocol; `/chains/<c>/protocols`
/// `activation_block.level`): `level = activation_level + 1`.
pub fn is_first_block(level: Level, activation_level: Level) -> bool {
    activation_level.succ() == Some(level)
}

/// The `protocol_migration` argument of [`crate::rollup_inbox_of_level`] for a block at `level`
/// applied by `protocol`, activated at `activation_level`. `Err` carries the protocol when it is
/// the first block of a protocol whose version string is unknown.
pub fn migration_message(
    level: Level,
    protocol: &ProtocolHash,
    activation_level: Level,
) -> Result<Option<&'static str>, ProtocolHash> {
    if !is_first_block(level, activation_level) {
        return Ok(None);
    }
    protocol_version(protocol).map(Some).ok_or(*protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_hashes_are_valid() {
        for (p, v) in PROTOCOL_VERSIONS {
            let h: ProtocolHash = p.parse().unwrap();
            assert_eq!(protocol_version(&h), Some(*v));
        }
    }

    #[test]
    fn first_block_only() {
        let u: ProtocolHash = PROTOCOL_VERSIONS[1].0.parse().unwrap();
        let lv = |l| Level::new(l).unwrap();
        assert_eq!(migration_message(lv(2), &u, lv(1)), Ok(Some("u025_025")));
        assert_eq!(migration_message(lv(3), &u, lv(1)), Ok(None));
        assert_eq!(migration_message(lv(1), &u, lv(1)), Ok(None));
        assert!(!is_first_block(Level::ZERO, Level::MAX));
        let unknown = ProtocolHash([7; 32]);
        assert_eq!(migration_message(lv(2), &unknown, lv(1)), Err(unknown));
    }

    #[test]
    fn every_smart_rollup_protocol_is_known() {
        // The protocols of the follower's former prefix table, by full hash.
        for (p, v) in [
            (
                "PsRiotumaAMotcRoDWW1bysEhQy2n1M5fy8JgRp8jjRfHGmfeA7",
                "r022_022",
            ),
            (
                "PsQuebecnLByd3JwTiGadoG4nGWi3HYiLXUjkibeFV8dCFeVMUg",
                "quebec_021",
            ),
            (
                "PsParisCZo7KAh1Z1smVd9ZMZ1HHn5gkzbM94V3PLCpknFWhUAi",
                "paris_020",
            ),
            (
                "PtParisBxoLz5gzMmn3d9WBQNoPSZakgnkMC2VNuQ3KXfUtUQeZ",
                "paris_019",
            ),
            (
                "ProxfordYmVfjWnRcgjWH36fW6PArwqykTFzotUxRs6gmTcZDuH",
                "oxford_018",
            ),
            (
                "PtNairobiyssHuh87hEhfVBGCVrK3WnS8Z2FT4ymB5tAa4r1nQf",
                "nairobi_017",
            ),
            (
                "PtMumbai2TmsJHNGRkD8v8YDbtao7BLUC3wjASn1inAKLFCjaH1",
                "mumbai_016",
            ),
        ] {
            let h: ProtocolHash = p.parse().unwrap();
            assert_eq!(protocol_version(&h), Some(v), "{p}");
        }
        // A hash sharing a vanity prefix is not the protocol.
        let mut other = "PsRiotumaAMotcRoDWW1bysEhQy2n1M5fy8JgRp8jjRfHGmfeA7"
            .parse::<ProtocolHash>()
            .unwrap();
        other.0[31] ^= 1;
        assert_eq!(protocol_version(&other), None);
    }
}
