//! The `Init` tick state: `init_kont` and `init_step` of `src/lib_webassembly/exec/eval.ml`
//! with the encodings of `src/lib_scoru_wasm/init_encodings.ml`
//! (`docs/reference/wasm-ticks.md` §1.4, §2.4). The tree holds `self`, `ast_module/…`,
//! `init_kont/…` and the registry `modules/…`; every case from `IK_Types` to `IK_Join_admin`
//! carries the instance being built under `module/…` and its continuation under `kont/…`.

use crate::codec::Tree;

use crate::ast::{
    DataSegment, ElemSegment, Export, FuncType, Global, Import, ImportDesc, Limits, Module,
    SegmentMode, TableType,
};
use crate::codec::{
    self, Blob, Codec, Error, Opt, Result, Str, join, read_tag, show, val, write_tag,
};
use crate::eval::{Admin, Config, StepKont};
use crate::exec::{self, Ctx};
use crate::instance::{
    ElemInst, Extern, Function, GlobalInst, InstFuncType, Instance, MAIN, MemoryInst, RefV,
    Registry, TableInst, Value,
};
use crate::kont::{ConcatKont, MapKont};
use crate::lazy::{LazyMap, LazyVec};

fn crash(msg: &str) -> Error {
    Error::Exception(msg.to_owned())
}

/// `Either.t` (`Tezos_tree_encoding.either`: tags `Left`, `Right`).
#[derive(Clone, Debug)]
pub enum Either<A, B> {
    /// Not yet created.
    Left(A),
    /// Created.
    Right(B),
}

impl<A: Codec, B: Codec> Codec for Either<A, B> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self {
            Either::Left(a) => {
                write_tag(t, p, "Left")?;
                a.encode(t, &val(p))
            }
            Either::Right(b) => {
                write_tag(t, p, "Right")?;
                b.encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(match read_tag(t, p)?.as_str() {
            "Left" => Either::Left(A::decode(t, &val(p))?),
            "Right" => Either::Right(B::decode(t, &val(p))?),
            _ => return Err(Error::Malformed(show(p), "either tag")),
        })
    }
}

/// `tick_map_kont` (`tick_map_kont_encoding`): `option (inner_kont)` at the prefix (`tag`,
/// `value/inner_kont/…`), `map_kont/…`.
#[derive(Clone, Debug)]
pub struct TickMap<K: Codec, A: Codec, B: Codec> {
    /// The element being built.
    pub tick: Option<K>,
    /// The map.
    pub map: MapKont<A, B>,
}

/// Inner-continuation wrapper so that `option (scope ["inner_kont"] k)` encodes as Octez does.
#[derive(Clone, Debug)]
struct Inner<K>(K);

impl<K: Codec> Codec for Inner<K> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.0.encode(t, &join(p, &["inner_kont"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Inner(K::decode(t, &join(p, &["inner_kont"]))?))
    }
}

impl<K: Codec, A: Codec, B: Codec> TickMap<K, A, B> {
    /// `tick_map_kont v`.
    pub fn new(v: LazyVec<A>) -> Self {
        TickMap {
            tick: None,
            map: MapKont::new(v),
        }
    }

    fn encode_at(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        Opt(self.tick.clone().map(Inner)).encode(t, p)?;
        self.map.encode_at(t, &join(p, &["map_kont"]), &[], &[])
    }

    fn decode_at(t: &Tree, p: &[String]) -> Result<Self> {
        let tick = if codec::read(t, &join(p, &["tag"]))?.is_none() {
            None
        } else {
            Opt::<Inner<K>>::decode(t, p)?.0.map(|i| i.0)
        };
        Ok(TickMap {
            tick,
            map: MapKont::decode_at(t, &join(p, &["map_kont"]), &[], &[])?,
        })
    }

    /// `tick_map_step first_kont kont_completed kont_step`.
    fn step(
        &mut self,
        first: impl FnOnce(A) -> Result<K>,
        completed: impl FnOnce(&K) -> Result<Option<B>>,
        step: impl FnOnce(K) -> Result<K>,
    ) -> Result<()> {
        if self.map.completed() {
            return Err(crash("Init_step_error(Map_step)"));
        }
        match self.tick.take() {
            None => {
                let x = self.map.origin.get(self.map.offset)?;
                self.tick = Some(first(x)?);
            }
            Some(k) => match completed(&k)? {
                Some(v) => {
                    self.map.destination.set(self.map.offset, v)?;
                    self.map.offset = self
                        .map
                        .offset
                        .checked_add(1)
                        .ok_or(Error::Overflow("map offset"))?;
                }
                None => self.tick = Some(step(k)?),
            },
        }
        Ok(())
    }
}

/// `eval_const_kont`: `EC_Next config` | `EC_Stop value`.
#[derive(Clone, Debug)]
pub enum EvalConst {
    /// Evaluating.
    Next(Box<Config>),
    /// Done.
    Stop(Value),
}

impl Codec for EvalConst {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self {
            EvalConst::Next(c) => {
                write_tag(t, p, "EC_Next")?;
                c.encode(t, &val(p))
            }
            EvalConst::Stop(v) => {
                write_tag(t, p, "EC_Stop")?;
                v.encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(match read_tag(t, p)?.as_str() {
            "EC_Next" => EvalConst::Next(Box::new(Config::decode(t, &val(p))?)),
            "EC_Stop" => EvalConst::Stop(Value::decode(t, &val(p))?),
            _ => return Err(Error::Malformed(show(p), "eval const tag")),
        })
    }
}

/// `create_global_kont` (`global_type` blob, `kont/…`).
#[derive(Clone, Debug)]
pub struct CreateGlobal {
    /// Global type.
    pub gtype: crate::ast::GlobalType,
    /// Its initialiser.
    pub kont: EvalConst,
}

impl Codec for CreateGlobal {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.gtype.encode(t, &join(p, &["global_type"]))?;
        self.kont.encode(t, &join(p, &["kont"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(CreateGlobal {
            gtype: crate::ast::GlobalType::decode(t, &join(p, &["global_type"]))?,
            kont: EvalConst::decode(t, &join(p, &["kont"]))?,
        })
    }
}

/// `create_elem_kont` (a tick map of constants to references).
#[derive(Clone, Debug)]
pub struct CreateElem(pub TickMap<EvalConst, i32, RefV>);

impl Codec for CreateElem {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.0.encode_at(t, p)
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(CreateElem(TickMap::decode_at(t, p)?))
    }
}

/// `join_kont`.
#[derive(Clone, Debug)]
pub enum Join {
    /// `J_Init vectors`.
    Init(LazyVec<LazyVec<Admin>>),
    /// `J_Next (concat, acc)`: `kont/…`, `acc/…`.
    Next(ConcatKont<Admin>, LazyVec<LazyVec<Admin>>),
    /// `J_Stop result`.
    Stop(LazyVec<Admin>),
}

impl Codec for Join {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Join::Init(x) => {
                write_tag(t, p, "J_Init")?;
                x.encode(t, &v)
            }
            Join::Next(k, acc) => {
                write_tag(t, p, "J_Next")?;
                k.encode_at(t, &join(&v, &["kont"]), &[])?;
                acc.encode(t, &join(&v, &["acc"]))
            }
            Join::Stop(x) => {
                write_tag(t, p, "J_Stop")?;
                x.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "J_Init" => Join::Init(LazyVec::decode(t, &v)?),
            "J_Next" => Join::Next(
                ConcatKont::decode_at(t, &join(&v, &["kont"]), &[])?,
                LazyVec::decode(t, &join(&v, &["acc"]))?,
            ),
            "J_Stop" => Join::Stop(LazyVec::decode(t, &v)?),
            _ => return Err(Error::Malformed(show(p), "join kont tag")),
        })
    }
}

impl Join {
    /// `join_completed`.
    fn completed(&self) -> Option<LazyVec<Admin>> {
        match self {
            Join::Init(v) if v.num_elements() == 0 => Some(LazyVec::create(0)),
            Join::Stop(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// `join_step`.
    fn step(self) -> Result<Join> {
        Ok(match self {
            Join::Init(mut v) if 1 < v.num_elements() => {
                let x = v.pop()?;
                let y = v.pop()?;
                Join::Next(ConcatKont::new(x, y)?, v)
            }
            Join::Init(mut v) if v.num_elements() == 1 => Join::Stop(v.get(0)?),
            Join::Next(tick, acc) if tick.completed() && acc.num_elements() == 0 => {
                Join::Stop(tick.res)
            }
            Join::Next(tick, mut acc) if tick.completed() => {
                let x = acc.pop()?;
                Join::Next(ConcatKont::new(tick.res, x)?, acc)
            }
            Join::Next(mut tick, acc) => {
                tick.step()?;
                Join::Next(tick, acc)
            }
            Join::Init(_) | Join::Stop(_) => return Err(crash("Init_step_error(Join_step)")),
        })
    }
}

/// `map_concat_kont`: `MC_Map` (map to vectors of admin instructions) | `MC_Join`.
#[derive(Clone, Debug)]
pub enum MapConcat<A: Codec> {
    /// Mapping.
    Map(MapKont<A, LazyVec<Admin>>),
    /// Joining.
    Join(Join),
}

impl<A: Codec> Codec for MapConcat<A> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self {
            MapConcat::Map(m) => {
                write_tag(t, p, "MC_Map")?;
                m.encode_at(t, &val(p), &[], &[])
            }
            MapConcat::Join(j) => {
                write_tag(t, p, "MC_Join")?;
                j.encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(match read_tag(t, p)?.as_str() {
            "MC_Map" => MapConcat::Map(MapKont::decode_at(t, &val(p), &[], &[])?),
            "MC_Join" => MapConcat::Join(Join::decode(t, &val(p))?),
            _ => return Err(Error::Malformed(show(p), "map concat tag")),
        })
    }
}

impl<A: Codec> MapConcat<A> {
    fn completed(&self) -> Option<LazyVec<Admin>> {
        match self {
            MapConcat::Join(j) => j.completed(),
            MapConcat::Map(_) => None,
        }
    }

    /// `map_concat_step f`.
    fn step(self, f: impl FnOnce(&mut MapKont<A, LazyVec<Admin>>) -> Result<()>) -> Result<Self> {
        Ok(match self {
            MapConcat::Map(m) if m.completed() => MapConcat::Join(Join::Init(m.destination)),
            MapConcat::Map(mut m) => {
                f(&mut m)?;
                MapConcat::Map(m)
            }
            MapConcat::Join(j) => {
                if j.completed().is_some() {
                    return Err(crash("Init_step_error(Map_concat_step)"));
                }
                MapConcat::Join(j.step()?)
            }
        })
    }
}

/// A section aggregated by `IK_Aggregate`.
#[derive(Clone, Debug)]
pub enum Agg {
    /// Functions.
    Func(TickMap<Either<crate::ast::Func, Function>, crate::ast::Func, Function>),
    /// Globals.
    Global(TickMap<CreateGlobal, Global, GlobalInst>),
    /// Tables.
    Table(TickMap<Either<TableType, TableInst>, TableType, TableInst>),
    /// Memories.
    Memory(TickMap<Either<Limits, MemoryInst>, Limits, MemoryInst>),
}

/// A section being concatenated by `IK_Aggregate_concat` (imported ++ created).
#[derive(Clone, Debug)]
pub enum AggConcat {
    /// Functions.
    Func(ConcatKont<Function>),
    /// Globals.
    Global(ConcatKont<GlobalInst>),
    /// Tables.
    Table(ConcatKont<TableInst>),
    /// Memories.
    Memory(ConcatKont<MemoryInst>),
}

impl Agg {
    fn name(&self) -> &'static str {
        match self {
            Agg::Func(_) => "func",
            Agg::Global(_) => "global",
            Agg::Table(_) => "table",
            Agg::Memory(_) => "memory",
        }
    }
}

impl AggConcat {
    fn name(&self) -> &'static str {
        match self {
            AggConcat::Func(_) => "func",
            AggConcat::Global(_) => "global",
            AggConcat::Table(_) => "table",
            AggConcat::Memory(_) => "memory",
        }
    }
}

/// `init_kont`.
#[derive(Clone, Debug)]
pub enum InitKont {
    /// `IK_Start externs` (`externs/…`).
    Start(LazyVec<Extern>),
    /// `IK_Add_import` (`acc/…`, `left_vector/…`, `right_vector/…`, `offset`).
    AddImport {
        /// Instance being built.
        acc: Box<Instance>,
        /// Externs.
        lv: LazyVec<Extern>,
        /// Imports.
        rv: LazyVec<Import>,
        /// Next index, going down to -1.
        offset: i32,
    },
    /// `IK_Type` (tag `IK_Types`; `kont/destination/types/…`).
    Type(Box<Instance>, MapKont<FuncType, InstFuncType>),
    /// `IK_Aggregate_<sec>`.
    Aggregate(Box<Instance>, Agg),
    /// `IK_Aggregate_concat_<sec>`.
    AggregateConcat(Box<Instance>, AggConcat),
    /// `IK_Exports` (`kont/origin/…`, `kont/acc/exports-memory-0`, `kont/acc/exports/…`,
    /// `kont/offset`).
    Exports {
        /// Instance.
        inst: Box<Instance>,
        /// Exports of the module.
        origin: LazyVec<Export>,
        /// Memory 0 exported so far?
        memory_0: bool,
        /// Kept exports.
        exports: LazyMap<Extern>,
        /// Next index.
        offset: i32,
    },
    /// `IK_Elems`.
    Elems(Box<Instance>, TickMap<CreateElem, ElemSegment, ElemInst>),
    /// `IK_Datas`.
    Datas(Box<Instance>, MapKont<DataSegment, i32>),
    /// `IK_Es_elems` (tag `IK_Es_elem`).
    EsElems(Box<Instance>, MapConcat<ElemSegment>),
    /// `IK_Es_datas` (tag `IK_Es_data`; `es_elem/…`).
    EsDatas(Box<Instance>, MapConcat<DataSegment>, LazyVec<Admin>),
    /// `IK_Join_admin`.
    JoinAdmin(Box<Instance>, Join),
    /// `IK_Eval config` (`config/…`).
    Eval(Box<Config>),
    /// `IK_Stop` (empty blob).
    Stop,
}

impl Codec for InitKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        match self {
            InitKont::Start(x) => {
                write_tag(t, p, "IK_Start")?;
                x.encode(t, &f("externs"))
            }
            InitKont::AddImport {
                acc,
                lv,
                rv,
                offset,
            } => {
                write_tag(t, p, "IK_Add_import")?;
                acc.encode(t, &f("acc"))?;
                lv.encode(t, &f("left_vector"))?;
                rv.encode(t, &f("right_vector"))?;
                offset.encode(t, &f("offset"))
            }
            InitKont::Type(inst, m) => {
                write_tag(t, p, "IK_Types")?;
                inst.encode(t, &f("module"))?;
                m.encode_at(t, &f("kont"), &[], &["types"])
            }
            InitKont::Aggregate(inst, agg) => {
                write_tag(t, p, &format!("IK_Aggregate_{}", agg.name()))?;
                inst.encode(t, &f("module"))?;
                let k = f("kont");
                match agg {
                    Agg::Func(m) => m.encode_at(t, &k),
                    Agg::Global(m) => m.encode_at(t, &k),
                    Agg::Table(m) => m.encode_at(t, &k),
                    Agg::Memory(m) => m.encode_at(t, &k),
                }
            }
            InitKont::AggregateConcat(inst, c) => {
                write_tag(t, p, &format!("IK_Aggregate_concat_{}", c.name()))?;
                inst.encode(t, &f("module"))?;
                let k = f("kont");
                match c {
                    AggConcat::Func(c) => c.encode_at(t, &k, &[]),
                    AggConcat::Global(c) => c.encode_at(t, &k, &[]),
                    AggConcat::Table(c) => c.encode_at(t, &k, &[]),
                    AggConcat::Memory(c) => c.encode_at(t, &k, &[]),
                }
            }
            InitKont::Exports {
                inst,
                origin,
                memory_0,
                exports,
                offset,
            } => {
                write_tag(t, p, "IK_Exports")?;
                inst.encode(t, &f("module"))?;
                let k = f("kont");
                origin.encode(t, &join(&k, &["origin"]))?;
                memory_0.encode(t, &join(&k, &["acc", "exports-memory-0"]))?;
                exports.encode(t, &join(&k, &["acc", "exports"]))?;
                offset.encode(t, &join(&k, &["offset"]))
            }
            InitKont::Elems(inst, m) => {
                write_tag(t, p, "IK_Elems")?;
                inst.encode(t, &f("module"))?;
                m.encode_at(t, &f("kont"))
            }
            InitKont::Datas(inst, m) => {
                write_tag(t, p, "IK_Datas")?;
                inst.encode(t, &f("module"))?;
                m.encode_at(t, &f("kont"), &[], &[])
            }
            InitKont::EsElems(inst, m) => {
                write_tag(t, p, "IK_Es_elem")?;
                inst.encode(t, &f("module"))?;
                m.encode(t, &f("kont"))
            }
            InitKont::EsDatas(inst, m, es) => {
                write_tag(t, p, "IK_Es_data")?;
                inst.encode(t, &f("module"))?;
                m.encode(t, &f("kont"))?;
                es.encode(t, &f("es_elem"))
            }
            InitKont::JoinAdmin(inst, j) => {
                write_tag(t, p, "IK_Join_admin")?;
                inst.encode(t, &f("module"))?;
                j.encode(t, &f("kont"))
            }
            InitKont::Eval(c) => {
                write_tag(t, p, "IK_Eval")?;
                c.encode(t, &f("config"))
            }
            InitKont::Stop => codec::write_unit_case(t, p, "IK_Stop"),
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        let inst = || -> Result<Box<Instance>> { Ok(Box::new(Instance::decode(t, &f("module"))?)) };
        let tag = read_tag(t, p)?;
        Ok(match tag.as_str() {
            "IK_Start" => InitKont::Start(LazyVec::decode(t, &f("externs"))?),
            "IK_Add_import" => InitKont::AddImport {
                acc: Box::new(Instance::decode(t, &f("acc"))?),
                lv: LazyVec::decode(t, &f("left_vector"))?,
                rv: LazyVec::decode(t, &f("right_vector"))?,
                offset: i32::decode(t, &f("offset"))?,
            },
            "IK_Types" => {
                InitKont::Type(inst()?, MapKont::decode_at(t, &f("kont"), &[], &["types"])?)
            }
            "IK_Aggregate_func" => {
                InitKont::Aggregate(inst()?, Agg::Func(TickMap::decode_at(t, &f("kont"))?))
            }
            "IK_Aggregate_global" => {
                InitKont::Aggregate(inst()?, Agg::Global(TickMap::decode_at(t, &f("kont"))?))
            }
            "IK_Aggregate_table" => {
                InitKont::Aggregate(inst()?, Agg::Table(TickMap::decode_at(t, &f("kont"))?))
            }
            "IK_Aggregate_memory" => {
                InitKont::Aggregate(inst()?, Agg::Memory(TickMap::decode_at(t, &f("kont"))?))
            }
            "IK_Aggregate_concat_func" => InitKont::AggregateConcat(
                inst()?,
                AggConcat::Func(ConcatKont::decode_at(t, &f("kont"), &[])?),
            ),
            "IK_Aggregate_concat_global" => InitKont::AggregateConcat(
                inst()?,
                AggConcat::Global(ConcatKont::decode_at(t, &f("kont"), &[])?),
            ),
            "IK_Aggregate_concat_table" => InitKont::AggregateConcat(
                inst()?,
                AggConcat::Table(ConcatKont::decode_at(t, &f("kont"), &[])?),
            ),
            "IK_Aggregate_concat_memory" => InitKont::AggregateConcat(
                inst()?,
                AggConcat::Memory(ConcatKont::decode_at(t, &f("kont"), &[])?),
            ),
            "IK_Exports" => {
                let k = f("kont");
                InitKont::Exports {
                    inst: inst()?,
                    origin: LazyVec::decode(t, &join(&k, &["origin"]))?,
                    memory_0: bool::decode(t, &join(&k, &["acc", "exports-memory-0"]))?,
                    exports: LazyMap::decode(t, &join(&k, &["acc", "exports"]))?,
                    offset: i32::decode(t, &join(&k, &["offset"]))?,
                }
            }
            "IK_Elems" => InitKont::Elems(inst()?, TickMap::decode_at(t, &f("kont"))?),
            "IK_Datas" => InitKont::Datas(inst()?, MapKont::decode_at(t, &f("kont"), &[], &[])?),
            "IK_Es_elem" => InitKont::EsElems(inst()?, MapConcat::decode(t, &f("kont"))?),
            "IK_Es_data" => InitKont::EsDatas(
                inst()?,
                MapConcat::decode(t, &f("kont"))?,
                LazyVec::decode(t, &f("es_elem"))?,
            ),
            "IK_Join_admin" => InitKont::JoinAdmin(inst()?, Join::decode(t, &f("kont"))?),
            "IK_Eval" => InitKont::Eval(Box::new(Config::decode(t, &f("config"))?)),
            "IK_Stop" => codec::read_unit_case(t, p, InitKont::Stop)?,
            _ => return Err(Error::Malformed(show(p), "init kont tag")),
        })
    }
}

/// `Init {self; ast_module; init_kont; module_reg}` (`tree_state.ml`, `tup4 ~flatten:true`).
#[derive(Clone, Debug)]
pub struct InitState {
    /// Module key (`main`).
    pub self_key: Vec<u8>,
    /// The decoded module.
    pub ast_module: Module,
    /// The continuation.
    pub kont: InitKont,
    /// The module registry.
    pub reg: Registry,
}

impl Codec for InitState {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        Str(self.self_key.clone()).encode(t, &join(p, &["self"]))?;
        self.ast_module.encode(t, &join(p, &["ast_module"]))?;
        self.kont.encode(t, &join(p, &["init_kont"]))?;
        self.reg.encode(t, &join(p, &["modules"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(InitState {
            self_key: Str::decode(t, &join(p, &["self"]))?.0,
            ast_module: Module::decode(t, &join(p, &["ast_module"]))?,
            kont: InitKont::decode(t, &join(p, &["init_kont"]))?,
            reg: Registry::decode(t, &join(p, &["modules"]))?,
        })
    }
}

/// `import_type m im` as a comparable shape, and whether an extern matches it
/// (`match_extern_type`). Only function imports reach the PVM (the host functions).
fn check_import(m: &mut Module, ext: &Extern, im: &Import) -> Result<()> {
    let ok = match (&im.idesc, ext) {
        (ImportDesc::Func(x), Extern::Func(f)) => {
            if (*x as u32) >= (m.types.num_elements() as u32) {
                return Err(crash(&format!("undefined type {x}")));
            }
            let mut want = m.types.get(*x)?;
            let mut have = f.ty().clone();
            want.params.to_list()? == have.params.to_list()?
                && want.results.to_list()? == have.results.to_list()?
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(crash(&format!(
            "incompatible import type for \"{}\" \"{}\"",
            String::from_utf8_lossy(&im.module_name),
            String::from_utf8_lossy(&im.item_name)
        )))
    }
}

/// `Eval.eval_const_kont`: a configuration running `From_block (const, 0)`.
fn eval_const_kont(limit: i32, self_key: &[u8], block: i32) -> EvalConst {
    EvalConst::Next(Box::new(Config::new(
        limit,
        self_key,
        LazyVec::empty(),
        LazyVec::singleton(Admin::FromBlock(block, 0)),
    )))
}

/// `eval_const_step` (one `Eval.step ~init:true`, or the result when finished).
fn eval_const_step(ctx: &mut Ctx<'_>, k: EvalConst) -> Result<EvalConst> {
    match k {
        EvalConst::Next(c) => match &c.step_kont {
            StepKont::Result(vs) => {
                if vs.num_elements() == 1 {
                    let mut vs = vs.clone();
                    Ok(EvalConst::Stop(vs.pop()?))
                } else {
                    Err(crash("wrong number of results on stack"))
                }
            }
            _ => {
                let mut c = c;
                exec::step(ctx, &mut c)?;
                Ok(EvalConst::Next(c))
            }
        },
        EvalConst::Stop(_) => Err(crash("Init_step_error(Eval_const)")),
    }
}

/// `create_global_completed` (`Global.alloc`: the value must have the declared type).
fn global_completed(g: &CreateGlobal) -> Result<Option<GlobalInst>> {
    let EvalConst::Stop(v) = &g.kont else {
        return Ok(None);
    };
    use crate::ast::ValType as T;
    let ok = matches!(
        (g.gtype.vt, v),
        (T::I32, Value::I32(_)) | (T::I64, Value::I64(_)) | (T::V128, Value::V128(_))
    ) || matches!((g.gtype.vt, v), (T::FuncRef | T::ExternRef, Value::Ref(_)));
    if !ok {
        return Err(crash("Global.Type"));
    }
    Ok(Some(GlobalInst {
        mutable: g.gtype.mutable,
        value: v.clone(),
    }))
}

fn succ(x: i32, what: &'static str) -> Result<i32> {
    x.checked_add(1).ok_or(Error::Overflow(what))
}

/// `run_data inst i data`: the admin code of an active data segment.
fn run_data(inst: &mut Instance, i: i32, d: &DataSegment) -> Result<Vec<Admin>> {
    match d.dmode {
        SegmentMode::Passive => Ok(vec![]),
        SegmentMode::Active { offset, .. } => {
            let len = inst.allocations.datas.get(d.dinit)?.length();
            let c = |x: i32| {
                Admin::Plain(crate::ast::Instr::one(
                    "Const",
                    crate::instance::NumBlob(Value::I32(x)).to_bytes(),
                ))
            };
            Ok(vec![
                Admin::FromBlock(offset, 0),
                c(0),
                c(len as i32),
                Admin::Plain(crate::ast::Instr::one("MemoryInit", i.to_bytes())),
                Admin::Plain(crate::ast::Instr::one("DataDrop", i.to_bytes())),
            ])
        }
        SegmentMode::Declarative => Err(crash("Init_step_error(Run_data_step)")),
    }
}

/// `run_elem i elem`.
fn run_elem(i: i32, e: &ElemSegment) -> Vec<Admin> {
    let plain = |tag: &str, args: Vec<Vec<u8>>| {
        Admin::Plain(if args.len() == 1 {
            crate::ast::Instr::one(tag, args.into_iter().next().unwrap_or_default())
        } else {
            crate::ast::Instr::tup(tag, args)
        })
    };
    let c = |x: i32| {
        plain(
            "Const",
            vec![crate::instance::NumBlob(Value::I32(x)).to_bytes()],
        )
    };
    match e.emode {
        SegmentMode::Passive => vec![],
        SegmentMode::Active { index, offset } => vec![
            Admin::FromBlock(offset, 0),
            c(0),
            c(e.einit.num_elements()),
            plain("TableInit", vec![index.to_bytes(), i.to_bytes()]),
            plain("ElemDrop", vec![i.to_bytes()]),
        ],
        SegmentMode::Declarative => vec![plain("ElemDrop", vec![i.to_bytes()])],
    }
}

/// One `init_step` (`filter_exports:true`, `check_module_exports:Exports_memory_0`), except
/// `IK_Stop`, which the PVM handles ([`crate::tick`]).
pub fn init_step(ctx: &mut Ctx<'_>, st: &mut InitState, limit: i32) -> Result<()> {
    let self_key = String::from_utf8_lossy(&st.self_key).into_owned();
    let m = &mut st.ast_module;
    let kont = std::mem::replace(&mut st.kont, InitKont::Stop);
    st.kont = match kont {
        InitKont::Start(exts) => {
            let empty = Instance::empty();
            ctx.reg.set(&self_key, empty.clone());
            if exts.num_elements() != m.imports.num_elements() {
                return Err(crash("wrong number of imports provided for initialisation"));
            }
            InitKont::AddImport {
                acc: Box::new(empty),
                offset: exts.num_elements().wrapping_sub(1),
                lv: exts,
                rv: m.imports.clone(),
            }
        }
        InitKont::AddImport {
            acc, offset: -1, ..
        } => {
            ctx.reg.set(&self_key, (*acc).clone());
            InitKont::Type(acc, MapKont::new(m.types.clone()))
        }
        InitKont::AddImport {
            mut acc,
            mut lv,
            mut rv,
            offset,
        } => {
            let x = lv.get(offset)?;
            let y = rv.get(offset)?;
            check_import(m, &x, &y)?;
            match x {
                Extern::Func(f) => acc.funcs.cons(f)?,
                Extern::Table(x) => acc.tables.cons(x)?,
                Extern::Memory(x) => acc.memories.cons(x)?,
                Extern::Global(x) => acc.globals.cons(x)?,
            }
            InitKont::AddImport {
                acc,
                lv,
                rv,
                offset: offset.wrapping_sub(1),
            }
        }
        InitKont::Type(mut inst, tick) if tick.completed() => {
            inst.types = tick.destination;
            inst.allocations = m.allocations.clone();
            ctx.reg.set(&self_key, (*inst).clone());
            InitKont::Aggregate(inst, Agg::Func(TickMap::new(m.funcs.clone())))
        }
        InitKont::Type(inst, mut tick) => {
            tick.step(|x| Ok(InstFuncType(x)))?;
            InitKont::Type(inst, tick)
        }
        InitKont::Aggregate(inst, agg) => aggregate(ctx, &st.self_key, limit, inst, agg)?,
        InitKont::AggregateConcat(inst, c) => aggregate_concat(ctx, m, &self_key, inst, c)?,
        InitKont::Exports {
            mut inst,
            mut origin,
            memory_0,
            mut exports,
            offset,
        } => {
            if offset == origin.num_elements() {
                if !memory_0 {
                    return Err(crash("Missing_memory_0_export"));
                }
                inst.exports = exports;
                InitKont::Elems(inst, TickMap::new(m.elems.clone()))
            } else {
                let ex = origin.get(offset)?;
                let (what, store): (&str, bool) = match ex.edesc.kind {
                    0 => ("function", true),
                    1 => ("table", false),
                    2 => ("memory", false),
                    _ => ("global", false),
                };
                let x = ex.edesc.index;
                // `create_export`: looks the item up (loads it) whatever its kind.
                let ext = match ex.edesc.kind {
                    0 => Some(Extern::Func(lookup(&mut inst.funcs, what, x)?)),
                    1 => {
                        lookup(&mut inst.tables, what, x)?;
                        None
                    }
                    2 => {
                        lookup(&mut inst.memories, what, x)?;
                        None
                    }
                    _ => {
                        lookup(&mut inst.globals, what, x)?;
                        None
                    }
                };
                if let (true, Some(ext)) = (store, ext) {
                    let name = String::from_utf8(ex.name.clone())
                        .map_err(|_| Error::Malformed("exports".into(), "non-UTF-8 export name"))?;
                    exports.set(&name, ext);
                }
                InitKont::Exports {
                    inst,
                    origin,
                    memory_0: memory_0 || (ex.edesc.kind == 2 && x == 0),
                    exports,
                    offset: succ(offset, "exports offset")?,
                }
            }
        }
        InitKont::Elems(mut inst, mut tick) => {
            if tick.map.completed() {
                inst.elems = tick.map.destination;
                InitKont::Datas(inst, MapKont::new(m.datas.clone()))
            } else {
                tick.step(
                    |seg| Ok(CreateElem(TickMap::new(seg.einit))),
                    |k| {
                        Ok(k.0
                            .map
                            .completed()
                            .then(|| ElemInst(k.0.map.destination.clone())))
                    },
                    |k| {
                        let mut k = k;
                        k.0.step(
                            |c| Ok(eval_const_kont(limit, &st.self_key, c)),
                            |e| {
                                Ok(match e {
                                    EvalConst::Stop(Value::Ref(r)) => Some(r.clone()),
                                    EvalConst::Stop(_) => return Err(crash("as_ref")),
                                    EvalConst::Next(_) => None,
                                })
                            },
                            |e| eval_const_step(ctx, e),
                        )?;
                        Ok(k)
                    },
                )?;
                InitKont::Elems(inst, tick)
            }
        }
        InitKont::Datas(mut inst, mut tick) => {
            if tick.completed() {
                inst.datas = tick.destination;
                ctx.reg.set(&self_key, (*inst).clone());
                InitKont::EsElems(inst, MapConcat::Map(MapKont::new(m.elems.clone())))
            } else {
                tick.step(|d| Ok(d.dinit))?;
                InitKont::Datas(inst, tick)
            }
        }
        InitKont::EsElems(inst, mc) => match mc.completed() {
            Some(es_elem) => {
                InitKont::EsDatas(inst, MapConcat::Map(MapKont::new(m.datas.clone())), es_elem)
            }
            None => {
                let mc = mc.step(|map| map.step_i(|i, e| LazyVec::of_list(run_elem(i, &e))))?;
                InitKont::EsElems(inst, mc)
            }
        },
        InitKont::EsDatas(mut inst, mc, es_elem) => match mc.completed() {
            Some(es_data) => {
                let es_start = LazyVec::of_list(match m.start {
                    Some(f) => vec![Admin::Plain(crate::ast::Instr::one("Call", f.to_bytes()))],
                    None => vec![],
                })?;
                let v = LazyVec::of_list(vec![es_elem, es_data, es_start])?;
                InitKont::JoinAdmin(inst, Join::Init(v))
            }
            None => {
                let i2 = &mut inst;
                let mc =
                    mc.step(|map| map.step_i(|i, d| LazyVec::of_list(run_data(i2, i, &d)?)))?;
                InitKont::EsDatas(inst, mc, es_elem)
            }
        },
        InitKont::JoinAdmin(inst, j) => match j.completed() {
            Some(res) => InitKont::Eval(Box::new(Config::new(
                limit,
                &st.self_key,
                LazyVec::empty(),
                res,
            ))),
            None => InitKont::JoinAdmin(inst, j.step()?),
        },
        InitKont::Eval(c) => match &c.step_kont {
            StepKont::Result(_) => InitKont::Stop,
            StepKont::Trapped(msg) => {
                return Err(crash(&String::from_utf8_lossy(msg)));
            }
            _ => {
                let mut c = c;
                exec::step(ctx, &mut c)?;
                InitKont::Eval(c)
            }
        },
        InitKont::Stop => return Err(crash("Init_step_error(Init_step)")),
    };
    Ok(())
}

fn lookup<V: Codec>(v: &mut LazyVec<V>, what: &str, x: i32) -> Result<V> {
    if (x as u32) >= (v.num_elements() as u32) {
        return Err(crash(&format!("undefined {what} {x}")));
    }
    v.get(x)
}

/// `IK_Aggregate` steps (`tick_map_step` with `section_inner_*`).
fn aggregate(
    ctx: &mut Ctx<'_>,
    self_key: &[u8],
    limit: i32,
    inst: Box<Instance>,
    agg: Agg,
) -> Result<InitKont> {
    let done = match &agg {
        Agg::Func(t) => t.map.completed(),
        Agg::Global(t) => t.map.completed(),
        Agg::Table(t) => t.map.completed(),
        Agg::Memory(t) => t.map.completed(),
    };
    if done {
        let c = match agg {
            Agg::Func(t) => {
                AggConcat::Func(ConcatKont::new(inst.funcs.clone(), t.map.destination)?)
            }
            Agg::Global(t) => {
                AggConcat::Global(ConcatKont::new(inst.globals.clone(), t.map.destination)?)
            }
            Agg::Table(t) => {
                AggConcat::Table(ConcatKont::new(inst.tables.clone(), t.map.destination)?)
            }
            Agg::Memory(t) => {
                AggConcat::Memory(ConcatKont::new(inst.memories.clone(), t.map.destination)?)
            }
        };
        return Ok(InitKont::AggregateConcat(inst, c));
    }
    let key = String::from_utf8_lossy(self_key).into_owned();
    let agg = match agg {
        Agg::Func(mut t) => {
            t.step(
                |f| Ok(Either::Left(f)),
                |k| match k {
                    Either::Right(f) => Ok(Some(f.clone())),
                    Either::Left(_) => Ok(None),
                },
                |k| match k {
                    Either::Left(f) => {
                        // `create_func`: the type from the registered instance.
                        let mut reg_inst = ctx.reg.get(&key)?;
                        let ty = lookup(&mut reg_inst.types, "type", f.ftype)?;
                        Ok(Either::Right(Function::Native {
                            ty: ty.0,
                            module: self_key.to_vec(),
                            func: f,
                        }))
                    }
                    Either::Right(_) => Err(crash("Init_step_error(Section_step)")),
                },
            )?;
            Agg::Func(t)
        }
        Agg::Global(mut t) => {
            t.step(
                |g| {
                    Ok(CreateGlobal {
                        gtype: g.gtype,
                        kont: eval_const_kont(limit, self_key, g.ginit),
                    })
                },
                global_completed,
                |g| {
                    if global_completed(&g)?.is_some() {
                        return Err(crash("Init_step_error(Create_global_step)"));
                    }
                    Ok(CreateGlobal {
                        gtype: g.gtype,
                        kont: eval_const_step(ctx, g.kont)?,
                    })
                },
            )?;
            Agg::Global(t)
        }
        Agg::Table(mut t) => {
            t.step(
                |x| Ok(Either::Left(x)),
                |k| match k {
                    Either::Right(x) => Ok(Some(x.clone())),
                    Either::Left(_) => Ok(None),
                },
                |k| match k {
                    Either::Left(tt) => {
                        if let Some(max) = tt.limits.max
                            && (tt.limits.min as u32) > (max as u32)
                        {
                            return Err(crash("Table.Type"));
                        }
                        let mut refs = LazyVec::empty();
                        let null = RefV::Null(tt.ref_type);
                        refs.grow(tt.limits.min, Some(&|| null.clone()))?;
                        Ok(Either::Right(TableInst {
                            min: tt.limits.min,
                            max: tt.limits.max,
                            refs,
                            ref_type: tt.ref_type,
                        }))
                    }
                    Either::Right(_) => Err(crash("Init_step_error(Section_step)")),
                },
            )?;
            Agg::Table(t)
        }
        Agg::Memory(mut t) => {
            t.step(
                |x| Ok(Either::Left(x)),
                |k| match k {
                    Either::Right(x) => Ok(Some(x.clone())),
                    Either::Left(_) => Ok(None),
                },
                |k| match k {
                    Either::Left(l) => {
                        if let Some(max) = l.max
                            && (l.min as u32) > (max as u32)
                        {
                            return Err(crash("Memory.Type"));
                        }
                        Ok(Either::Right(MemoryInst::alloc(l.min, l.max)?))
                    }
                    Either::Right(_) => Err(crash("Init_step_error(Section_step)")),
                },
            )?;
            Agg::Memory(t)
        }
    };
    Ok(InitKont::Aggregate(inst, agg))
}

/// `IK_Aggregate_concat` steps; when complete, store the section (and register after `Func`
/// and `Memory`) and move to the next section (`section_next_init_kont`).
fn aggregate_concat(
    ctx: &mut Ctx<'_>,
    m: &mut Module,
    self_key: &str,
    mut inst: Box<Instance>,
    c: AggConcat,
) -> Result<InitKont> {
    let done = match &c {
        AggConcat::Func(k) => k.completed(),
        AggConcat::Global(k) => k.completed(),
        AggConcat::Table(k) => k.completed(),
        AggConcat::Memory(k) => k.completed(),
    };
    if !done {
        let c = match c {
            AggConcat::Func(mut k) => {
                k.step()?;
                AggConcat::Func(k)
            }
            AggConcat::Global(mut k) => {
                k.step()?;
                AggConcat::Global(k)
            }
            AggConcat::Table(mut k) => {
                k.step()?;
                AggConcat::Table(k)
            }
            AggConcat::Memory(mut k) => {
                k.step()?;
                AggConcat::Memory(k)
            }
        };
        return Ok(InitKont::AggregateConcat(inst, c));
    }
    Ok(match c {
        AggConcat::Func(k) => {
            inst.funcs = k.res;
            ctx.reg.set(self_key, (*inst).clone());
            InitKont::Aggregate(inst, Agg::Global(TickMap::new(m.globals.clone())))
        }
        AggConcat::Global(k) => {
            inst.globals = k.res;
            InitKont::Aggregate(inst, Agg::Table(TickMap::new(m.tables.clone())))
        }
        AggConcat::Table(k) => {
            inst.tables = k.res;
            InitKont::Aggregate(inst, Agg::Memory(TickMap::new(m.memories.clone())))
        }
        AggConcat::Memory(k) => {
            inst.memories = k.res;
            ctx.reg.set(self_key, (*inst).clone());
            InitKont::Exports {
                inst,
                origin: m.exports.clone(),
                memory_0: false,
                exports: LazyMap::default(),
                offset: 0,
            }
        }
    })
}

/// The registry key of the main module.
pub fn main_key() -> Vec<u8> {
    MAIN.as_bytes().to_vec()
}
