//! PVM versions (`src/lib_scoru_wasm/wasm_pvm_state.ml`; `wasm-pvm.md` §1.2).

use std::fmt;

/// A WASM PVM revision. Ordered: `V0 < V1 < … < V6 < Experimental`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PvmVersion {
    /// `2.0.0` (Mumbai).
    V0,
    /// `2.0.0-r1` (Nairobi).
    V1,
    /// `2.0.0-r2` (Oxford, early).
    V2,
    /// `2.0.0-r3` (Oxford2).
    V3,
    /// `2.0.0-r4` (Paris).
    V4,
    /// `2.0.0-r5` (Quebec … T024).
    V5,
    /// `2.0.0-r6` (Ushuaia, Alpha).
    V6,
    /// `2.0.0-experimental` (tests only; same host set as V6).
    Experimental,
}

impl PvmVersion {
    /// All versions, oldest first.
    pub const ALL: [PvmVersion; 8] = [
        Self::V0,
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
        Self::Experimental,
    ];

    /// The raw version string stored at `/readonly/wasm_version` (no length prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0 => "2.0.0",
            Self::V1 => "2.0.0-r1",
            Self::V2 => "2.0.0-r2",
            Self::V3 => "2.0.0-r3",
            Self::V4 => "2.0.0-r4",
            Self::V5 => "2.0.0-r5",
            Self::V6 => "2.0.0-r6",
            Self::Experimental => "2.0.0-experimental",
        }
    }

    /// Parse a version string (exact match).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().as_bytes() == bytes)
    }

    /// Version a `Protocol_migration` message switches to (`version_for_protocol` in
    /// `wasm_vm.ml`; `wasm-pvm.md` §1.2). `None`: unknown protocol, version unchanged.
    pub fn for_protocol(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"nairobi_017" => Self::V1,
            b"oxford_018" => Self::V2,
            b"paris_019" | b"paris_020" => Self::V4,
            b"quebec_021" | b"r022_022" | b"s023_023" | b"t024_024" => Self::V5,
            b"u025_025" | b"alpha_current" => Self::V6,
            _ => return None,
        })
    }

    /// Version of a rollup originated under protocol `name` (its `current_version` in
    /// `sc_rollup_wasm.ml`; `wasm-pvm.md` §1.2): unlike a migration, Oxford originates at
    /// r3. `None`: unknown protocol.
    pub fn at_origination(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"mumbai_016" => Self::V0,
            b"oxford_018" => Self::V3,
            _ => return Self::for_protocol(name),
        })
    }

    /// Maximum call-stack depth of the reference interpreter (`wasm-pvm.md` §3.1).
    pub fn stack_size_limit(self) -> u32 {
        if self >= Self::V1 { 60_000 } else { 300 }
    }
}

impl fmt::Display for PvmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_order() {
        for v in PvmVersion::ALL {
            assert_eq!(PvmVersion::parse(v.as_str().as_bytes()), Some(v));
        }
        assert!(PvmVersion::V0 < PvmVersion::V6);
        assert!(PvmVersion::V6 < PvmVersion::Experimental);
        assert_eq!(PvmVersion::parse(b"2.0.0-r7"), None);
        assert_eq!(
            PvmVersion::for_protocol(b"oxford_018"),
            Some(PvmVersion::V2)
        );
        assert_eq!(PvmVersion::for_protocol(b"proto_xyz"), None);
        assert_eq!(
            PvmVersion::at_origination(b"oxford_018"),
            Some(PvmVersion::V3)
        );
        assert_eq!(
            PvmVersion::at_origination(b"mumbai_016"),
            Some(PvmVersion::V0)
        );
        assert_eq!(
            PvmVersion::at_origination(b"t024_024"),
            Some(PvmVersion::V5)
        );
        assert_eq!(
            PvmVersion::at_origination(b"alpha_current"),
            Some(PvmVersion::V6)
        );
        assert_eq!(PvmVersion::at_origination(b"proto_xyz"), None);
    }
}
