//! The `Link` tick state (`src/lib_scoru_wasm/wasm_vm.ml`, `tree_state.ml` `link` case;
//! `docs/reference/wasm-ticks.md` §1.1 rule 10, §2.3): `ast_module/…`, `externs/…` (vector of
//! externs), `imports_offset` int32. One tick resolves one import against the host functions of
//! the PVM version (`Host_funcs.lookup_opt`, here `wasm_pvm::host_function`).

use crate::codec::Tree;
use wasm_pvm::{HOST_MODULE, PvmVersion, host_function};

use crate::ast::{FuncType, Module, ValType};
use crate::codec::{Codec, Error, Result, Str, join, read_tag, show, val, write_tag};
use crate::lazy::LazyVec;

/// An extern of the link phase: always a host function here
/// (`extern_encoding` `ExternFunc` → `function_encoding` `Host`: `1/…` type with
/// `func_type_encoding`, `2/name`).
#[derive(Clone, Debug)]
pub struct HostExtern {
    /// Its type.
    pub ty: FuncType,
    /// Octez's internal name (`tezos_read_input`, …).
    pub name: Vec<u8>,
}

impl Codec for HostExtern {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        write_tag(t, p, "ExternFunc")?;
        let f = val(p);
        write_tag(t, &f, "Host")?;
        let h = val(&f);
        self.ty.encode(t, &join(&h, &["1"]))?;
        Str(self.name.clone()).encode(t, &join(&h, &["2", "name"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let f = val(p);
        if read_tag(t, p)? != "ExternFunc" || read_tag(t, &f)? != "Host" {
            return Err(Error::Malformed(show(p), "extern is not a host function"));
        }
        let h = val(&f);
        Ok(HostExtern {
            ty: FuncType::decode(t, &join(&h, &["1"]))?,
            name: Str::decode(t, &join(&h, &["2", "name"]))?.0,
        })
    }
}

/// Octez's internal name of a host function (`host_funcs.ml` `*_name`).
pub fn host_internal_name(import: &str) -> String {
    match import {
        "store_write" => "tezos_write_read".to_owned(),
        "store_get_nth_key" => "tezos_store_get_nth_key_list".to_owned(),
        "__internal_store_get_hash" => "tezos_internal_store_get_hash".to_owned(),
        n if n.starts_with("nds_") => n.to_owned(),
        n => format!("tezos_{n}"),
    }
}

/// `Link {ast_module; externs; imports_offset}`.
#[derive(Clone, Debug)]
pub struct LinkState {
    /// The decoded module.
    pub ast_module: Module,
    /// Host functions resolved so far.
    pub externs: LazyVec<HostExtern>,
    /// Next import to resolve.
    pub imports_offset: i32,
}

/// What one link tick gives.
pub enum LinkOutcome {
    /// Still linking.
    Link,
    /// `Link_error` message (the PVM gets stuck).
    Error(String),
    /// All imports resolved: the next state is `Init`, not implemented here.
    Finished,
}

impl LinkState {
    /// `Decode {MKStop m}` → `Link {m; externs = Vector.empty (); imports_offset = 0}`.
    pub fn new(ast_module: Module) -> Self {
        LinkState {
            ast_module,
            externs: LazyVec::empty(),
            imports_offset: 0,
        }
    }

    /// One link tick.
    pub fn step(&mut self, version: PvmVersion) -> Result<LinkOutcome> {
        if self.imports_offset >= self.ast_module.imports.num_elements() {
            return Ok(LinkOutcome::Finished);
        }
        let import = self.ast_module.imports.get(self.imports_offset)?;
        let module = String::from_utf8_lossy(&import.module_name).into_owned();
        let item = String::from_utf8_lossy(&import.item_name).into_owned();
        // `Wasm_pvm_errors.link_error` (messages truncated to 128 bytes on encoding).
        if module != HOST_MODULE {
            return Ok(LinkOutcome::Error(format!(
                "Unexpected module import: {module}"
            )));
        }
        let Some(spec) = host_function(version, &item) else {
            return Ok(LinkOutcome::Error(format!(
                "Unexpected import: {module}.{item}"
            )));
        };
        let vt = |v: &wasm_pvm::ValType| match v {
            wasm_pvm::ValType::I32 => ValType::I32,
            wasm_pvm::ValType::I64 => ValType::I64,
        };
        let ty = FuncType {
            params: LazyVec::of_list(spec.params.iter().map(vt).collect())?,
            results: LazyVec::of_list(spec.result.iter().map(vt).collect())?,
        };
        self.externs.append(HostExtern {
            ty,
            name: host_internal_name(&item).into_bytes(),
        })?;
        self.imports_offset = self
            .imports_offset
            .checked_add(1)
            .ok_or(Error::Overflow("imports offset"))?;
        Ok(LinkOutcome::Link)
    }
}

impl Codec for LinkState {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.ast_module.encode(t, &join(p, &["ast_module"]))?;
        self.externs.encode(t, &join(p, &["externs"]))?;
        self.imports_offset.encode(t, &join(p, &["imports_offset"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(LinkState {
            ast_module: Module::decode(t, &join(p, &["ast_module"]))?,
            externs: LazyVec::decode(t, &join(p, &["externs"]))?,
            imports_offset: i32::decode(t, &join(p, &["imports_offset"]))?,
        })
    }
}
