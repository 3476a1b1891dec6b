//! Lazy containers and combinators against hand-built Octez layouts
//! (`src/lib_lazy_containers/`, `src/lib_tree_encoding/`; `docs/reference/wasm-ticks.md` §2.1).

use wasm_interp::codec::Tree;
use wasm_interp::codec::{Codec, Opt, Unit, write_unit_case};
use wasm_interp::decode::LazyStack;
use wasm_interp::lazy::{Cbv, LazyMap, LazyVec};

fn p(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

fn i32be(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// A tree from `(path, blob)` pairs.
fn tree(entries: &[(&[&str], Vec<u8>)]) -> Tree {
    let mut t = durable_tree::Tree::empty();
    for (k, v) in entries {
        t.set_contents(k, v.clone()).unwrap();
    }
    Tree::Plain(t)
}

fn same(a: &Tree, b: &Tree) {
    let (a, b) = (plain(a), plain(b));
    assert_eq!(a.hash().unwrap(), b.hash().unwrap(), "{a:?}\n!=\n{b:?}");
}

/// The plain tree under a codec tree (these tests never build a partial one).
fn plain(t: &Tree) -> durable_tree::Tree {
    t.clone().into_plain().unwrap()
}

#[test]
fn int32_vector_layout() {
    let v = LazyVec::of_list(vec![7i32, 8]).unwrap();
    let mut t = Tree::empty();
    v.encode(&mut t, &p(&["v"])).unwrap();
    same(
        &t,
        &tree(&[
            (&["v", "contents", "0"], i32be(7)),
            (&["v", "contents", "1"], i32be(8)),
            (&["v", "length"], i32be(2)),
            (&["v", "head"], i32be(0)),
        ]),
    );
    // `create n`: no contents at all.
    let mut t = Tree::empty();
    LazyVec::<i32>::create(3)
        .encode(&mut t, &p(&["v"]))
        .unwrap();
    same(
        &t,
        &tree(&[(&["v", "length"], i32be(3)), (&["v", "head"], i32be(0))]),
    );
}

#[test]
fn decoded_vector_keeps_its_origin_and_cons_writes_negative_keys() {
    let src = tree(&[
        (&["a", "contents", "0"], i32be(1)),
        (&["a", "contents", "1"], i32be(2)),
        (&["a", "length"], i32be(2)),
        (&["a", "head"], i32be(0)),
    ]);
    let mut v = LazyVec::<i32>::decode(&src, &p(&["a"])).unwrap();
    assert_eq!(v.get(1).unwrap(), 2);
    v.cons(9).unwrap();
    assert_eq!(v.get(0).unwrap(), 9);
    assert_eq!(v.get(2).unwrap(), 2);
    // Encoded elsewhere: the origin moves with it.
    let mut t = Tree::empty();
    v.encode(&mut t, &p(&["b"])).unwrap();
    same(
        &t,
        &tree(&[
            (&["b", "contents", "-1"], i32be(9)),
            (&["b", "contents", "0"], i32be(1)),
            (&["b", "contents", "1"], i32be(2)),
            (&["b", "length"], i32be(3)),
            (&["b", "head"], i32be(-1)),
        ]),
    );
    // `drop` removes the first binding (Lazy_map.remove).
    v.drop_first().unwrap();
    let mut t = Tree::empty();
    v.encode(&mut t, &p(&["b"])).unwrap();
    same(
        &t,
        &tree(&[
            (&["b", "contents", "0"], i32be(1)),
            (&["b", "contents", "1"], i32be(2)),
            (&["b", "length"], i32be(2)),
            (&["b", "head"], i32be(0)),
        ]),
    );
    assert!(v.get(2).is_err(), "out of bounds");
}

#[test]
fn set_replaces_the_whole_slot() {
    // A slot holding a vector: setting it removes `prefix/k` before writing.
    let inner = LazyVec::of_list(vec![1i32, 2, 3]).unwrap();
    let mut outer = LazyVec::of_list(vec![inner]).unwrap();
    let mut t = Tree::empty();
    outer.encode(&mut t, &p(&["o"])).unwrap();
    let mut back = LazyVec::<LazyVec<i32>>::decode(&t, &p(&["o"])).unwrap();
    back.set(0, LazyVec::of_list(vec![5]).unwrap()).unwrap();
    outer = back;
    let mut t2 = Tree::empty();
    outer.encode(&mut t2, &p(&["o"])).unwrap();
    same(
        &t2,
        &tree(&[
            (&["o", "contents", "0", "contents", "0"], i32be(5)),
            (&["o", "contents", "0", "length"], i32be(1)),
            (&["o", "contents", "0", "head"], i32be(0)),
            (&["o", "length"], i32be(1)),
            (&["o", "head"], i32be(0)),
        ]),
    );
}

#[test]
fn lazy_stack_pop_keeps_the_slot() {
    let mut s = LazyStack {
        length: 0,
        vector: LazyVec::<i32>::empty(),
    };
    s.push(1).unwrap();
    s.push(2).unwrap();
    assert_eq!(s.pop().unwrap(), Some(2));
    let mut t = Tree::empty();
    s.encode(&mut t, &p(&["s"])).unwrap();
    same(
        &t,
        &tree(&[
            (&["s", "length"], i32be(1)),
            (&["s", "vector", "contents", "0"], i32be(1)),
            (&["s", "vector", "contents", "1"], i32be(2)),
            (&["s", "vector", "length"], i32be(2)),
            (&["s", "vector", "head"], i32be(0)),
        ]),
    );
    // Pushing again overwrites slot 1 instead of appending.
    s.push(3).unwrap();
    assert_eq!(s.vector.num_elements(), 2);
}

#[test]
fn chunked_byte_vector_only_written_chunks_exist() {
    let mut c = Cbv::allocate(1000);
    assert_eq!(c.load_byte(10).unwrap(), 0);
    c.store_byte(600, 0xab).unwrap();
    let mut t = Tree::empty();
    c.encode(&mut t, &p(&["c"])).unwrap();
    let mut chunk = vec![0u8; 512];
    chunk[600 - 512] = 0xab;
    same(
        &t,
        &tree(&[
            (&["c", "contents", "1"], chunk),
            (&["c", "length"], 1000i64.to_be_bytes().to_vec()),
        ]),
    );
    // Reading an absent chunk of a decoded vector does not materialise it.
    let mut back = Cbv::decode(&t, &p(&["c"])).unwrap();
    assert_eq!(back.load_byte(0).unwrap(), 0);
    assert_eq!(back.load_byte(600).unwrap(), 0xab);
    let mut t2 = Tree::empty();
    back.encode(&mut t2, &p(&["c"])).unwrap();
    same(&t, &t2);
    assert!(back.store_byte(1000, 1).is_err());
}

#[test]
fn option_and_unit_cases() {
    let tag = |s: &str| {
        let mut b = (s.len() as u32).to_be_bytes().to_vec();
        b.extend(s.as_bytes());
        b
    };
    let mut t = Tree::empty();
    Opt(Some(5i32)).encode(&mut t, &p(&["x"])).unwrap();
    Opt::<i32>(None).encode(&mut t, &p(&["y"])).unwrap();
    write_unit_case(&mut t, &p(&["z"]), "MKStart").unwrap();
    Unit.encode(&mut t, &p(&["u"])).unwrap();
    same(
        &t,
        &tree(&[
            (&["x", "tag"], tag("Some")),
            (&["x", "value"], i32be(5)),
            (&["y", "tag"], tag("None")),
            (&["z", "tag"], tag("MKStart")),
            (&["z", "value"], Vec::new()),
            (&["u"], Vec::new()),
        ]),
    );
    assert_eq!(Opt::<i32>::decode(&t, &p(&["x"])).unwrap().0, Some(5));
    assert_eq!(Opt::<i32>::decode(&t, &p(&["y"])).unwrap().0, None);
}

#[test]
fn lazy_map_bindings() {
    let src = tree(&[(&["m", "main"], i32be(1)), (&["m", "other"], i32be(2))]);
    let mut m = LazyMap::<i32>::decode(&src, &p(&["m"])).unwrap();
    assert_eq!(m.get("other").unwrap(), 2);
    assert!(m.get("absent").is_err());
    m.set("new", 3);
    m.remove("main");
    let mut t = Tree::empty();
    m.encode(&mut t, &p(&["n"])).unwrap();
    same(
        &t,
        &tree(&[(&["n", "other"], i32be(2)), (&["n", "new"], i32be(3))]),
    );
}
