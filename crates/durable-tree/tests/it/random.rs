//! Random durable operations, with commits and lazy checkouts in between,
//! against a model; the final hash must equal that of a tree built from
//! scratch with the model's content (hashes are canonical).

use std::collections::BTreeMap;

use durable_tree::Repo;
use durable_tree::durable::{Durable, Key};

fn k(s: &str) -> Key {
    Key::parse(s.as_bytes()).unwrap()
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn random_ops_match_model_and_canonical_hash() {
    let repo = Repo::in_memory();
    let mut rng = Lcg(42);
    let mut d = Durable::default();
    // Model: key -> value (only set/delete_value, so the model is exact).
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for step in 0..3000u32 {
        // Few directories with many keys, so tries grow and shrink.
        let dir = rng.next() % 3;
        let name = rng.next() % 120;
        let key = format!("/t/{dir}/{name}");
        match rng.next() % 10 {
            0..=5 => {
                let len = (rng.next() % 700) as usize;
                let v: Vec<u8> = (0..len).map(|i| (i as u64 + step as u64) as u8).collect();
                d.set(&k(&key), &v).unwrap();
                model.insert(key, v);
            }
            6 => {
                // Partial write inside or at the end of an existing value.
                if let Some(v) = model.get_mut(&key) {
                    let off = rng.next() % (v.len() as u64 + 1);
                    let data = [step as u8; 37];
                    d.write(&k(&key), off, &data).unwrap();
                    let end = off as usize + data.len();
                    if v.len() < end {
                        v.resize(end, 0);
                    }
                    v[off as usize..end].copy_from_slice(&data);
                }
            }
            _ => {
                d.delete_value(&k(&key)).unwrap();
                model.remove(&key);
            }
        }
        if step % 250 == 249 {
            let h = repo.commit(d.tree()).unwrap();
            d = Durable::new(repo.checkout(h).unwrap());
        }
    }
    for (key, v) in &model {
        assert_eq!(&d.read_all(&k(key)).unwrap().unwrap(), v, "{key}");
    }
    // The listing holds exactly the model's keys.
    let mut listed = 0;
    for dir in 0..3 {
        let key = format!("/t/{dir}");
        for sub in d.subkeys(&k(&key)).unwrap() {
            assert!(model.contains_key(&format!("{key}/{sub}")));
            listed += 1;
        }
    }
    assert_eq!(listed, model.len());

    // `write` materialises chunks differently from `set`, so check
    // canonicity after `set`ting every value again: the tree that went
    // through commits, lazy loads, trie growth and shrinkage must hash like
    // one built from scratch.
    let mut fresh = Durable::default();
    let mut canon = Durable::new(d.tree().clone());
    for (key, v) in &model {
        fresh.set(&k(key), v).unwrap();
        canon.set(&k(key), v).unwrap();
    }
    assert_eq!(canon.tree().hash().unwrap(), fresh.tree().hash().unwrap());
}
