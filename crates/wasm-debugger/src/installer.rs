//! `--installer-config <file.yaml|file.json>`: only `set` instructions, as in Octez
//! (`src/lib_smart_rollup/installer_config.ml`; `wasm-pvm.md` §6):
//!
//! ```yaml
//! instructions:
//!   - set:
//!       value: <hex>
//!       to: /durable/key
//! ```
//!
//! A `null` value means the empty value. Unlike Octez (which silently uses the empty
//! value), a non-hexadecimal value is an error.

use serde::Deserialize;

/// One `set` instruction: write `value` at durable key `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetInstr {
    /// The value bytes.
    pub value: Vec<u8>,
    /// The durable key (e.g. `/evm/config`).
    pub to: String,
}

/// Why an installer config is invalid.
#[derive(Debug, thiserror::Error)]
pub enum InstallerError {
    /// Neither `.yaml` nor `.json`.
    #[error("Expecting either a .yaml of .json file")]
    Extension,
    /// Parse failure.
    #[error("installer config is invalid: {0}")]
    Invalid(String),
    /// A bad instruction.
    #[error("The {0}th instruction is invalid: {1}")]
    Instruction(usize, String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    instructions: Vec<Instr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Instr {
    set: SetBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    value: Option<String>,
    to: String,
}

/// Parses a config; `file_name` selects the format by its extension.
pub fn parse_installer_config(
    file_name: &str,
    text: &str,
) -> Result<Vec<SetInstr>, InstallerError> {
    let config: Config = if file_name.ends_with(".yaml") {
        serde_yaml::from_str(text).map_err(|e| InstallerError::Invalid(e.to_string()))?
    } else if file_name.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| InstallerError::Invalid(e.to_string()))?
    } else {
        return Err(InstallerError::Extension);
    };
    config
        .instructions
        .into_iter()
        .enumerate()
        .map(|(i, Instr { set })| {
            let value = match set.value {
                None => Vec::new(),
                Some(h) => hex::decode(h.trim()).map_err(|e| {
                    InstallerError::Instruction(i, format!("value is not hexadecimal: {e}"))
                })?,
            };
            Ok(SetInstr { value, to: set.to })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json() {
        let yaml = "instructions:\n  - set:\n      value: 0102\n      to: /a/b\n  - set:\n      value: \"ff\"\n      to: /c\n  - set:\n      value: null\n      to: /d\n";
        let v = parse_installer_config("x.yaml", yaml).unwrap();
        assert_eq!(
            v,
            vec![
                SetInstr {
                    value: vec![1, 2],
                    to: "/a/b".into()
                },
                SetInstr {
                    value: vec![0xff],
                    to: "/c".into()
                },
                SetInstr {
                    value: vec![],
                    to: "/d".into()
                },
            ],
            "unquoted 0102 stays a hex string"
        );
        let json = r#"{"instructions": [{"set": {"value": "0a", "to": "/k"}}]}"#;
        let v = parse_installer_config("x.json", json).unwrap();
        assert_eq!(
            v,
            vec![SetInstr {
                value: vec![10],
                to: "/k".into()
            }]
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_installer_config("x.txt", ""),
            Err(InstallerError::Extension)
        ));
        assert!(matches!(
            parse_installer_config("x.json", "{}"),
            Err(InstallerError::Invalid(_))
        ));
        let e = parse_installer_config(
            "x.yaml",
            "instructions:\n  - set:\n      value: zz\n      to: /a\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("0th instruction"), "{e}");
        assert!(
            parse_installer_config("x.yaml", "instructions:\n  - move: {from: /a, to: /b}\n")
                .is_err()
        );
    }
}
