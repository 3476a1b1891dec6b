//! The host-function table of module `smart_rollup_core`: for every function its name, the PVM
//! version it links from, its signature and its [`HostFn`] identity (`lookup_opt` in
//! `src/lib_scoru_wasm/host_funcs.ml`; `docs/reference/wasm-pvm.md` §1.2). The one source of
//! these facts: the link check ([`crate::link_error_message`]), the engines' linkers
//! (`pvm-wasmtime` defines one function per [`HostFn`], matched exhaustively) and a future
//! tick-level interpreter all read [`HOST_FUNCTIONS`].

use crate::version::PvmVersion;

/// A WASM value type used by host function signatures (the PVM only uses integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// The import module name every kernel import must use (`wasm-pvm.md` §1.1).
pub const HOST_MODULE: &str = "smart_rollup_core";

/// Identity of a host function; each maps to one [`crate::HostState`] method (the `nds_*`
/// functions link but are not implemented: calling one is [`crate::HostFatal::Unsupported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[expect(
    missing_docs,
    reason = "each variant is the host function of the same name"
)]
pub enum HostFn {
    ReadInput,
    WriteOutput,
    WriteDebug,
    StoreHas,
    StoreListSize,
    StoreGetNthKey,
    StoreDelete,
    StoreCopy,
    StoreMove,
    StoreValueSize,
    RevealPreimage,
    RevealMetadata,
    StoreRead,
    StoreWrite,
    StoreDeleteValue,
    StoreGetHash,
    StoreCreate,
    StoreExists,
    Reveal,
    NdsRegistryResize,
    NdsRegistryClear,
    NdsRegistryCopy,
    NdsRegistryMove,
    NdsStoreExists,
    NdsStoreDelete,
    NdsStoreValueSize,
    NdsStoreRead,
    NdsStoreWrite,
    NdsStoreSet,
    NdsDatabaseGetHash,
}

/// One row of the host-function table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFnSpec {
    /// Which function.
    pub id: HostFn,
    /// Import name in module [`HOST_MODULE`].
    pub name: &'static str,
    /// First PVM version at which the import links.
    pub since: PvmVersion,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result type, if any.
    pub result: Option<ValType>,
}

use ValType::{I32, I64};

const fn spec(
    id: HostFn,
    name: &'static str,
    since: PvmVersion,
    params: &'static [ValType],
    result: Option<ValType>,
) -> HostFnSpec {
    HostFnSpec {
        id,
        name,
        since,
        params,
        result,
    }
}

const V0: PvmVersion = PvmVersion::V0;
const V1: PvmVersion = PvmVersion::V1;
const V2: PvmVersion = PvmVersion::V2;
const V3: PvmVersion = PvmVersion::V3;
const V6: PvmVersion = PvmVersion::V6;
const R32: Option<ValType> = Some(I32);

/// Every host function of every PVM version.
pub const HOST_FUNCTIONS: &[HostFnSpec] = &[
    spec(HostFn::ReadInput, "read_input", V0, &[I32, I32, I32], R32),
    spec(HostFn::WriteOutput, "write_output", V0, &[I32, I32], R32),
    spec(HostFn::WriteDebug, "write_debug", V0, &[I32, I32], None),
    spec(HostFn::StoreHas, "store_has", V0, &[I32, I32], R32),
    spec(
        HostFn::StoreListSize,
        "store_list_size",
        V0,
        &[I32, I32],
        Some(I64),
    ),
    spec(
        HostFn::StoreGetNthKey,
        "store_get_nth_key",
        V0,
        &[I32, I32, I64, I32, I32],
        R32,
    ),
    spec(HostFn::StoreDelete, "store_delete", V0, &[I32, I32], R32),
    spec(
        HostFn::StoreCopy,
        "store_copy",
        V0,
        &[I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreMove,
        "store_move",
        V0,
        &[I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreValueSize,
        "store_value_size",
        V0,
        &[I32, I32],
        R32,
    ),
    spec(
        HostFn::RevealPreimage,
        "reveal_preimage",
        V0,
        &[I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::RevealMetadata,
        "reveal_metadata",
        V0,
        &[I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreRead,
        "store_read",
        V0,
        &[I32, I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreWrite,
        "store_write",
        V0,
        &[I32, I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreDeleteValue,
        "store_delete_value",
        V1,
        &[I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreGetHash,
        "__internal_store_get_hash",
        V1,
        &[I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::StoreCreate,
        "store_create",
        V1,
        &[I32, I32, I32],
        R32,
    ),
    spec(HostFn::StoreExists, "store_exists", V2, &[I32, I32], R32),
    spec(HostFn::Reveal, "reveal", V3, &[I32, I32, I32, I32], R32),
    spec(
        HostFn::NdsRegistryResize,
        "nds_registry_resize",
        V6,
        &[I64],
        R32,
    ),
    spec(
        HostFn::NdsRegistryClear,
        "nds_registry_clear",
        V6,
        &[I64],
        R32,
    ),
    spec(
        HostFn::NdsRegistryCopy,
        "nds_registry_copy",
        V6,
        &[I64, I64],
        R32,
    ),
    spec(
        HostFn::NdsRegistryMove,
        "nds_registry_move",
        V6,
        &[I64, I64],
        R32,
    ),
    spec(
        HostFn::NdsStoreExists,
        "nds_store_exists",
        V6,
        &[I64, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsStoreDelete,
        "nds_store_delete",
        V6,
        &[I64, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsStoreValueSize,
        "nds_store_value_size",
        V6,
        &[I64, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsStoreRead,
        "nds_store_read",
        V6,
        &[I64, I32, I32, I64, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsStoreWrite,
        "nds_store_write",
        V6,
        &[I64, I32, I32, I64, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsStoreSet,
        "nds_store_set",
        V6,
        &[I64, I32, I32, I32, I32],
        R32,
    ),
    spec(
        HostFn::NdsDatabaseGetHash,
        "nds_database_get_hash",
        V6,
        &[I64, I32, I32],
        R32,
    ),
];

/// The table row of import `name` if it links at `version`.
pub fn host_function(version: PvmVersion, name: &str) -> Option<&'static HostFnSpec> {
    HOST_FUNCTIONS
        .iter()
        .find(|f| f.name == name && version >= f.since)
}

/// Signature (params, optional result) of host function `name` if it links at `version`
/// ([`host_function`]).
///
/// The `nds_*` functions (V6+) are listed because they must *link*, but this crate does not
/// implement them (see [`crate::HostState`]); an engine should make calling them a fatal error.
pub fn host_function_signature(
    version: PvmVersion,
    name: &str,
) -> Option<(&'static [ValType], Option<ValType>)> {
    host_function(version, name).map(|f| (f.params, f.result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_gates_as_octez() {
        for (i, f) in HOST_FUNCTIONS.iter().enumerate() {
            assert!(
                HOST_FUNCTIONS[..i]
                    .iter()
                    .all(|g| g.name != f.name && g.id != f.id),
                "{} listed twice",
                f.name
            );
        }
        assert_eq!(HOST_FUNCTIONS.len(), 30);
        assert!(host_function_signature(PvmVersion::V0, "store_exists").is_none());
        assert!(host_function_signature(PvmVersion::V2, "store_exists").is_some());
        assert!(host_function_signature(PvmVersion::V2, "reveal").is_none());
        assert_eq!(
            host_function_signature(PvmVersion::V3, "reveal"),
            Some((&[I32, I32, I32, I32][..], Some(I32)))
        );
        assert!(host_function_signature(PvmVersion::V5, "nds_store_set").is_none());
        assert!(host_function(PvmVersion::V6, "nds_store_set").is_some());
        assert!(host_function(PvmVersion::V6, "nope").is_none());
    }
}
