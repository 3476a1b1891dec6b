//! The generic continuations of `src/lib_webassembly/exec/eval.ml` (top of the file) and their
//! tree encodings (`src/lib_scoru_wasm/kont_encodings.ml`; `docs/reference/wasm-ticks.md`
//! §1.4): `map_kont` (`origin`, `destination`, `offset`), `concat_kont` (`lv`, `rv`, `res`,
//! `offset`). Each vector may sit under an extra scope (`destination/types/…`,
//! `lv/2/…`), given at encoding time.

use crate::codec::Tree;

use crate::codec::{Codec, Error, Result, join};
use crate::lazy::LazyVec;

fn at(p: &[String], field: &str, scope: &[&str]) -> Vec<String> {
    let mut q = join(p, &[field]);
    q.extend(scope.iter().map(|s| (*s).to_owned()));
    q
}

/// `('a, 'b) map_kont`.
#[derive(Clone, Debug)]
pub struct MapKont<A: Codec, B: Codec> {
    /// Source vector.
    pub origin: LazyVec<A>,
    /// Fresh vector of the final length.
    pub destination: LazyVec<B>,
    /// Next index.
    pub offset: i32,
}

impl<A: Codec, B: Codec> MapKont<A, B> {
    /// `map_kont v`.
    pub fn new(origin: LazyVec<A>) -> Self {
        let n = origin.num_elements();
        MapKont {
            origin,
            destination: LazyVec::create(n),
            offset: 0,
        }
    }

    /// `map_completed`.
    pub fn completed(&self) -> bool {
        self.offset == self.origin.num_elements()
    }

    fn succ(&mut self) -> Result<()> {
        self.offset = self
            .offset
            .checked_add(1)
            .ok_or(Error::Overflow("map offset"))?;
        Ok(())
    }

    /// `map_step` with `f`.
    pub fn step(&mut self, f: impl FnOnce(A) -> Result<B>) -> Result<()> {
        let x = self.origin.get(self.offset)?;
        self.destination.set(self.offset, f(x)?)?;
        self.succ()
    }

    /// `map_i_step` with `f`.
    pub fn step_i(&mut self, f: impl FnOnce(i32, A) -> Result<B>) -> Result<()> {
        let x = self.origin.get(self.offset)?;
        self.destination.set(self.offset, f(self.offset, x)?)?;
        self.succ()
    }

    /// `map_rev_step` with `f`: element `offset` goes to `last - offset`.
    pub fn step_rev(&mut self, f: impl FnOnce(A) -> Result<B>) -> Result<()> {
        let x = self.origin.get(self.offset)?;
        let last = self.origin.num_elements().wrapping_sub(1);
        self.destination
            .set(last.wrapping_sub(self.offset), f(x)?)?;
        self.succ()
    }

    /// Encode with the vectors under `origin/<os…>` and `destination/<ds…>`.
    pub fn encode_at(&self, t: &mut Tree, p: &[String], os: &[&str], ds: &[&str]) -> Result<()> {
        self.origin.encode(t, &at(p, "origin", os))?;
        self.destination.encode(t, &at(p, "destination", ds))?;
        self.offset.encode(t, &join(p, &["offset"]))
    }

    /// Decode what [`MapKont::encode_at`] wrote.
    pub fn decode_at(t: &Tree, p: &[String], os: &[&str], ds: &[&str]) -> Result<Self> {
        Ok(MapKont {
            origin: LazyVec::decode(t, &at(p, "origin", os))?,
            destination: LazyVec::decode(t, &at(p, "destination", ds))?,
            offset: i32::decode(t, &join(p, &["offset"]))?,
        })
    }
}

/// `'a concat_kont`.
#[derive(Clone, Debug)]
pub struct ConcatKont<A: Codec> {
    /// Left vector.
    pub lv: LazyVec<A>,
    /// Right vector.
    pub rv: LazyVec<A>,
    /// Result (fresh vector of the total length).
    pub res: LazyVec<A>,
    /// Next index.
    pub offset: i32,
}

impl<A: Codec> ConcatKont<A> {
    /// `concat_kont lv rv` (`SizeOverflow` on an unsigned wrap).
    pub fn new(lv: LazyVec<A>, rv: LazyVec<A>) -> Result<Self> {
        let len = (lv.num_elements() as u32)
            .checked_add(rv.num_elements() as u32)
            .ok_or(Error::Overflow("concat"))?;
        Ok(ConcatKont {
            lv,
            rv,
            res: LazyVec::create(len as i32),
            offset: 0,
        })
    }

    /// `concat_completed` (signed comparison, as OCaml's `<=` on int32).
    pub fn completed(&self) -> bool {
        self.lv.num_elements().wrapping_add(self.rv.num_elements()) <= self.offset
    }

    /// `concat_step`.
    pub fn step(&mut self) -> Result<()> {
        let lv_len = self.lv.num_elements();
        let x = if self.offset < lv_len {
            self.lv.get(self.offset)?
        } else {
            self.rv.get(self.offset.wrapping_sub(lv_len))?
        };
        self.res.set(self.offset, x)?;
        self.offset = self
            .offset
            .checked_add(1)
            .ok_or(Error::Overflow("concat offset"))?;
        Ok(())
    }

    /// Encode with each vector under `lv/<s…>`, `rv/<s…>`, `res/<s…>`.
    pub fn encode_at(&self, t: &mut Tree, p: &[String], s: &[&str]) -> Result<()> {
        self.lv.encode(t, &at(p, "lv", s))?;
        self.rv.encode(t, &at(p, "rv", s))?;
        self.res.encode(t, &at(p, "res", s))?;
        self.offset.encode(t, &join(p, &["offset"]))
    }

    /// Decode what [`ConcatKont::encode_at`] wrote.
    pub fn decode_at(t: &Tree, p: &[String], s: &[&str]) -> Result<Self> {
        Ok(ConcatKont {
            lv: LazyVec::decode(t, &at(p, "lv", s))?,
            rv: LazyVec::decode(t, &at(p, "rv", s))?,
            res: LazyVec::decode(t, &at(p, "res", s))?,
            offset: i32::decode(t, &join(p, &["offset"]))?,
        })
    }
}
