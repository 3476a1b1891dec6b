//! The Octez command-line grammar shared by the client, the node and the signer: a command is a
//! sequence of literal words and parameters (`transfer <amount> from <src> to <dst>`, Octez's
//! Clic library, `src/lib_clic/clic.ml`), and options (`-E <url>`, `--force`) may be given
//! around it.
//!
//! * [`scan`] separates the options (each named in a table of value options and flags) from the
//!   words of the command.
//! * [`match_prefix`] matches one command's grammar ([`Tok`]s) against the start of a list of
//!   words; the caller picks among several matches and reports unknown commands itself.
//! * [`text`] prints a grammar as the usage texts show it (`gen keys <alias>`).

use std::collections::HashMap;

/// One element of a command's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// A literal word that must appear as is.
    Word(&'static str),
    /// One parameter, named for the usage text and for [`Matched::param`].
    Param(&'static str),
    /// An optional parameter: taken when the next argument is not an option.
    OptParam(&'static str),
    /// Zero or more parameters (up to the next option or the end), for the last position.
    Seq(&'static str),
}

/// What [`match_prefix`] took from the arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched {
    /// The [`Tok::Param`] and present [`Tok::OptParam`] values, in grammar order, by name.
    pub params: Vec<(&'static str, String)>,
    /// The values of each [`Tok::Seq`], in grammar order.
    pub seqs: Vec<Vec<String>>,
    /// How many arguments the grammar consumed.
    pub consumed: usize,
}

impl Matched {
    /// The value of the parameter `name`, if the grammar has one of that name and it was given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The Octez rule for what is an option: an argument of two or more characters starting with
/// `-` (a lone `-` is a word).
pub fn is_option(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-')
}

/// [`is_option`], except that a negative number (`-5`) is a word: the client's amounts and
/// counters may be negative literals that its commands then refuse with a clear message.
pub fn is_option_not_number(arg: &str) -> bool {
    is_option(arg)
        && !arg
            .strip_prefix('-')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Matches `grammar` against the start of `args`; `is_option` says which arguments end a
/// parameter list. `None` when a word differs, a parameter is missing, or a positional argument
/// is left right after the grammar (then another command, or none, was meant).
pub fn match_prefix(
    grammar: &[Tok],
    args: &[String],
    is_option: impl Fn(&str) -> bool,
) -> Option<Matched> {
    let mut m = Matched::default();
    let positional = |i: usize| args.get(i).filter(|a| !is_option(a));
    for tok in grammar {
        match *tok {
            Tok::Word(w) => {
                if args.get(m.consumed).map(String::as_str) != Some(w) {
                    return None;
                }
                m.consumed = m.consumed.checked_add(1)?;
            }
            Tok::Param(name) => {
                let a = positional(m.consumed)?;
                m.params.push((name, a.clone()));
                m.consumed = m.consumed.checked_add(1)?;
            }
            Tok::OptParam(name) => {
                if let Some(a) = positional(m.consumed) {
                    m.params.push((name, a.clone()));
                    m.consumed = m.consumed.checked_add(1)?;
                }
            }
            Tok::Seq(_) => {
                let mut v = vec![];
                while let Some(a) = positional(m.consumed) {
                    v.push(a.clone());
                    m.consumed = m.consumed.checked_add(1)?;
                }
                m.seqs.push(v);
            }
        }
    }
    if positional(m.consumed).is_some() {
        return None;
    }
    Some(m)
}

/// A grammar as the usage texts print it: `<p>` for a parameter, `[<p>]` for an optional one,
/// `[<p>...]` for a sequence.
pub fn text(grammar: &[Tok]) -> String {
    grammar
        .iter()
        .map(|t| match t {
            Tok::Word(w) => (*w).to_owned(),
            Tok::Param(p) => format!("<{p}>"),
            Tok::OptParam(p) => format!("[<{p}>]"),
            Tok::Seq(p) => format!("[<{p}>...]"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An option of a command line: its long name (given as `--long`, and the key of
/// [`Scanned::options`]/[`Scanned::flags`]) and its short form (`-E`), if any.
pub type OptionName = (&'static str, Option<&'static str>);

/// The arguments of a command line, split by [`scan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned {
    /// The words of the command, in order.
    pub words: Vec<String>,
    /// The value of each option given, by long name (the last one given wins).
    pub options: HashMap<&'static str, String>,
    /// The flags given, by long name.
    pub flags: Vec<&'static str>,
}

impl Scanned {
    /// The value of the option `long`, if given.
    pub fn opt(&self, long: &str) -> Option<&str> {
        self.options.get(long).map(String::as_str)
    }

    /// Whether the flag `long` was given.
    pub fn flag(&self, long: &str) -> bool {
        self.flags.contains(&long)
    }
}

/// Why [`scan`] refused a command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// An option that takes a value ended the command line.
    #[error("option {given} expects a value")]
    MissingValue {
        /// Its long name.
        long: &'static str,
        /// The option as given (`-E` or `--endpoint`).
        given: String,
    },
    /// An argument that looks like an option is in neither table.
    #[error("unknown option {0}")]
    Unknown(String),
}

/// Splits `args` into options and words. An option is `--long value`, `--long=value`,
/// `-s value` (for the `values` table) or `--long`/`-s` (for the `flags` table); `is_option`
/// says which arguments are options at all (the others are words).
pub fn scan(
    args: &[String],
    values: &[OptionName],
    flags: &[OptionName],
    is_option: impl Fn(&str) -> bool,
) -> Result<Scanned, ScanError> {
    let mut out = Scanned::default();
    let mut rest = args.iter();
    let named = |table: &[OptionName], name: &str| {
        table
            .iter()
            .find(|(l, s)| name.strip_prefix("--") == Some(l) || *s == Some(name))
            .map(|(l, _)| *l)
    };
    while let Some(a) = rest.next() {
        if !is_option(a) {
            out.words.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        if let Some(long) = named(values, name) {
            let value = match inline {
                Some(v) => v,
                None => rest
                    .next()
                    .cloned()
                    .ok_or_else(|| ScanError::MissingValue {
                        long,
                        given: name.to_owned(),
                    })?,
            };
            out.options.insert(long, value);
        } else if let Some(long) = named(flags, name) {
            out.flags.push(long);
        } else {
            return Err(ScanError::Unknown(a.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    const VALUES: &[OptionName] = &[("endpoint", Some("-E")), ("fee", None)];
    const FLAGS: &[OptionName] = &[("force", Some("-f"))];

    #[test]
    fn scan_separates_options_from_words() {
        let s = scan(
            &args("transfer 1 -E http://x from a --fee=0.1 to b -f"),
            VALUES,
            FLAGS,
            is_option,
        )
        .unwrap();
        assert_eq!(s.words, args("transfer 1 from a to b"));
        assert_eq!(s.opt("endpoint"), Some("http://x"));
        assert_eq!(s.opt("fee"), Some("0.1"));
        assert!(s.flag("force"));
        assert!(!s.flag("fee"));
    }

    #[test]
    fn scan_errors_name_the_option() {
        let e = scan(&args("a --endpoint"), VALUES, FLAGS, is_option).unwrap_err();
        assert_eq!(
            e,
            ScanError::MissingValue {
                long: "endpoint",
                given: "--endpoint".into()
            }
        );
        let e = scan(&args("a --nope"), VALUES, FLAGS, is_option).unwrap_err();
        assert_eq!(e.to_string(), "unknown option --nope");
    }

    #[test]
    fn negative_numbers_are_words_only_when_asked() {
        assert!(is_option("-5"));
        assert!(!is_option_not_number("-5"));
        assert!(is_option_not_number("-E"));
        assert!(!is_option("-"));
        let s = scan(&args("transfer -5"), VALUES, FLAGS, is_option_not_number).unwrap();
        assert_eq!(s.words, args("transfer -5"));
        assert!(scan(&args("transfer -5"), VALUES, FLAGS, is_option).is_err());
    }

    const INIT: &[Tok] = &[
        Tok::Word("init"),
        Tok::Param("mode"),
        Tok::Word("with"),
        Tok::Seq("op"),
    ];

    #[test]
    fn match_prefix_takes_params_and_sequences_up_to_an_option() {
        let m = match_prefix(INIT, &args("init observer with a b --x 1"), is_option).unwrap();
        assert_eq!(m.param("mode"), Some("observer"));
        assert_eq!(m.seqs, vec![args("a b")]);
        assert_eq!(m.consumed, 5);
        assert!(match_prefix(INIT, &args("init observer without"), is_option).is_none());
        assert!(match_prefix(INIT, &args("init --x"), is_option).is_none());
        let opt = [Tok::Word("show"), Tok::OptParam("what")];
        assert_eq!(
            match_prefix(&opt, &args("show"), is_option).unwrap().params,
            vec![]
        );
        // A positional argument left after the grammar means another command.
        assert!(match_prefix(&opt, &args("show a b"), is_option).is_none());
    }

    #[test]
    fn text_prints_the_usage_form() {
        let g = [
            Tok::Word("run"),
            Tok::Param("m"),
            Tok::OptParam("o"),
            Tok::Seq("s"),
        ];
        assert_eq!(text(&g), "run <m> [<o>] [<s>...]");
    }
}
