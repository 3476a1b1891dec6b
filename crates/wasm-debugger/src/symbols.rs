//! Function symbols from the kernel's `name` custom section, as Octez's
//! `src/lib_wasm_debugger/custom_section.ml` reads and prints them (`dump function symbols`,
//! `profile`).
//!
//! Octez's reading, kept as is: every custom section named `name` is read; in each, the
//! subsections are walked by their lengths and the first one whose tag is `1` (functions)
//! is parsed as a vector of `(index, name)`; the tag is read from the section's *first* byte
//! for every subsection, so a section starting with a module-name subsection (`0`) gives no
//! symbol. Names keep only their valid UTF-8 characters below U+0100. A repeated index keeps
//! its first name, and an earlier section wins over a later one.

use std::collections::BTreeMap;

/// Function index → symbol (ordered as Octez's `Int32` map).
pub type Symbols = BTreeMap<i32, String>;

/// `vuN`: unsigned LEB128 of at most `n` bits at `*at`.
fn leb(bytes: &[u8], at: &mut usize, n: u32) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift: u32 = 0;
    loop {
        let b = *bytes.get(*at)?;
        *at = at.checked_add(1)?;
        let bits = u64::from(b & 0x7f);
        if n.saturating_sub(shift) < 7 && bits >= (1u64 << n.saturating_sub(shift)) {
            return None;
        }
        v |= bits.checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift = shift.checked_add(7)?;
        if shift >= n.checked_add(7)? {
            return None;
        }
    }
}

fn vu32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    leb(bytes, at, 32).and_then(|v| u32::try_from(v).ok())
}

/// Octez's `get_function_name_section_indexes`: the start of the functions subsection.
fn functions_subsection(section: &[u8]) -> Option<usize> {
    let tag = *section.first()?;
    let mut start = 0usize;
    loop {
        if section.len() < start.checked_add(2)? {
            return None;
        }
        let mut at = start.checked_add(1)?;
        let len = usize::try_from(vu32(section, &mut at)?).ok()?;
        if tag == 1 {
            return Some(at);
        }
        start = at.checked_add(len)?;
    }
}

/// Keeps the valid UTF-8 characters below U+0100 (`Uchar.is_char`).
fn clean_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .filter(|c| *c != char::REPLACEMENT_CHARACTER && u32::from(*c) < 0x100)
        .collect()
}

/// The symbols of one `name` section's payload (`parse_function_subsection`).
fn parse_section(section: &[u8], out: &mut Symbols) {
    let Some(mut at) = functions_subsection(section) else {
        return;
    };
    let Some(count) = vu32(section, &mut at) else {
        return;
    };
    for _ in 0..count {
        let (Some(idx), Some(len)) = (vu32(section, &mut at), vu32(section, &mut at)) else {
            return;
        };
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let Some(raw) = at.checked_add(len).and_then(|end| section.get(at..end)) else {
            return;
        };
        at = at.saturating_add(len);
        out.entry(i32::from_ne_bytes(idx.to_ne_bytes()))
            .or_insert_with(|| clean_name(raw));
    }
}

/// The function symbols of a binary module (`parse_custom_sections "kernel"`); an error if
/// the module cannot be read.
pub fn function_symbols(module: &[u8]) -> Result<Symbols, String> {
    let mut out = Symbols::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| e.to_string())?;
        if let wasmparser::Payload::CustomSection(c) = payload
            && c.name() == "name"
        {
            parse_section(c.data(), &mut out);
        }
    }
    Ok(out)
}

/// `dump function symbols` (`pp_function_subsection`): `Functions:`, then ` - func[<i>]
/// <<name>>` per symbol.
#[must_use]
pub fn dump(symbols: &Symbols) -> String {
    let lines: Vec<String> = symbols
        .iter()
        .map(|(i, n)| format!(" - func[{i}] <{n}>"))
        .collect();
    format!("Functions:\n{}\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wat_names() {
        let m = wat::parse_str(
            r#"(module (func $a) (func $b call $a) (func (export "kernel_run") call $b))"#,
        )
        .unwrap();
        let s = function_symbols(&m).unwrap();
        assert_eq!(s.get(&0).map(String::as_str), Some("a"));
        assert_eq!(s.get(&1).map(String::as_str), Some("b"));
        assert_eq!(
            dump(&s),
            "Functions:\n - func[0] <a>\n - func[1] <b>\n",
            "an exported function without identifier has no name"
        );
    }

    #[test]
    fn octez_quirks() {
        // Functions subsection (tag 1): two names, the repeated index keeps the first.
        let sec = [1, 9, 3, 0, 1, b'x', 0, 1, b'y', 5, 0];
        let mut s = Symbols::new();
        parse_section(&sec, &mut s);
        assert_eq!(s.len(), 2);
        assert_eq!(s[&0], "x");
        assert_eq!(s[&5], "");
        // A module-name subsection first: the tag is always read from byte 0, no symbol.
        let sec = [0, 2, 1, b'm', 1, 4, 1, 0, 1, b'f'];
        let mut s = Symbols::new();
        parse_section(&sec, &mut s);
        assert!(s.is_empty());
        assert_eq!(dump(&s), "Functions:\n\n");
        assert_eq!(clean_name("a\u{e9}\u{3bb}".as_bytes()), "a\u{e9}");
        assert!(function_symbols(b"not wasm").is_err());
    }
}
