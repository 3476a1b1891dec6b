//! `execute-outbox-messages-filter` (docs/reference/octez-rollup-node.md §2, §6.3; Octez
//! `configuration.ml` `outbox_messages_filter_encoding`, `outbox_execution.ml`): which outbox
//! messages a node with an `executing_outbox` key executes by itself.
//!
//! JSON: a list of `{"transaction": {"destination": "any" | ["KT1…", …], "entrypoint": "any"
//! | ["name", …]}}`. A transaction batch matches a filter when every transaction of the batch
//! matches it (destination compared as its base58 text, entrypoint as its name, `default`
//! when absent); only transaction batches match (never a whitelist update, executed apart).
//! Pure.

use serde_json::Value;

/// A `destination` or `entrypoint` filter: `"any"` or a list of accepted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// `"any"`.
    Any,
    /// Only these values.
    Among(Vec<String>),
}

impl Accept {
    fn accepts(&self, v: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Among(l) => l.iter().any(|x| x == v),
        }
    }

    fn parse(v: &Value, field: &'static str) -> Result<Self, OutboxFilterError> {
        match v {
            Value::String(s) if s == "any" => Ok(Self::Any),
            Value::Array(l) => l
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Self::Among)
                .ok_or(OutboxFilterError::Field(field)),
            _ => Err(OutboxFilterError::Field(field)),
        }
    }
}

/// One filter of `execute-outbox-messages-filter` (Octez's only case, `transaction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessageFilter {
    /// Accepted destinations (base58 contract addresses).
    pub destination: Accept,
    /// Accepted entrypoints.
    pub entrypoint: Accept,
}

/// A filter value that is not Octez's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxFilterError {
    /// Not `{"transaction": {…}}`.
    #[error(
        "expected {{\"transaction\": {{\"destination\": \"any\" | [addresses], \"entrypoint\": \
         \"any\" | [names]}}}}"
    )]
    Shape,
    /// `destination` or `entrypoint` is neither `"any"` nor a list of strings.
    #[error("\"{0}\": expected \"any\" or a list of strings")]
    Field(&'static str),
}

impl OutboxMessageFilter {
    /// Parses one filter.
    ///
    /// # Errors
    /// [`OutboxFilterError`] naming what is wrong.
    pub fn parse(v: &Value) -> Result<Self, OutboxFilterError> {
        let o = v.as_object().ok_or(OutboxFilterError::Shape)?;
        let t = match (o.len(), o.get("transaction")) {
            (1, Some(Value::Object(t))) => t,
            _ => return Err(OutboxFilterError::Shape),
        };
        if t.keys().any(|k| k != "destination" && k != "entrypoint") {
            return Err(OutboxFilterError::Shape);
        }
        let field = |name: &'static str| {
            t.get(name)
                .ok_or(OutboxFilterError::Field(name))
                .and_then(|v| Accept::parse(v, name))
        };
        Ok(Self {
            destination: field("destination")?,
            entrypoint: field("entrypoint")?,
        })
    }

    /// Parses the whole list.
    ///
    /// # Errors
    /// The first filter that does not parse, with its position.
    pub fn parse_list(vs: &[Value]) -> Result<Vec<Self>, (usize, OutboxFilterError)> {
        vs.iter()
            .enumerate()
            .map(|(i, v)| Self::parse(v).map_err(|e| (i, e)))
            .collect()
    }

    /// Whether a transaction batch, given as `(destination, entrypoint)` pairs, matches:
    /// every transaction does (Octez `outbox_message_match_filter`).
    pub fn matches_batch<'a>(&self, txs: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        txs.into_iter()
            .all(|(d, e)| self.destination.accepts(d) && self.entrypoint.accepts(e))
    }
}

/// Whether any filter of `filters` accepts the batch (`List.exists` in Octez).
pub fn batch_accepted(filters: &[OutboxMessageFilter], txs: &[(&str, &str)]) -> bool {
    filters.iter().any(|f| f.matches_batch(txs.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ECHO: &str = "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL";
    const OTHER: &str = "KT1RJ6PbjHpwc3M5rw5s2Nbmefwbuwbdxton";

    #[test]
    fn parses_octez_shapes_and_refuses_others() {
        let f = OutboxMessageFilter::parse(
            &json!({"transaction": {"destination": [ECHO], "entrypoint": "any"}}),
        )
        .unwrap();
        assert_eq!(f.destination, Accept::Among(vec![ECHO.into()]));
        assert_eq!(f.entrypoint, Accept::Any);
        for bad in [
            json!({"transaction": {"destination": "all", "entrypoint": "any"}}),
            json!({"transaction": {"destination": "any"}}),
            json!({"transaction": {"destination": [1], "entrypoint": "any"}}),
            json!({"transfer": {"destination": "any", "entrypoint": "any"}}),
            json!({"transaction": {"destination": "any", "entrypoint": "any", "x": 1}}),
            json!("any"),
        ] {
            assert!(OutboxMessageFilter::parse(&bad).is_err(), "{bad}");
        }
        let e = OutboxMessageFilter::parse_list(&[
            json!({"transaction": {"destination": "any", "entrypoint": "any"}}),
            json!({"transaction": {"destination": "any", "entrypoint": 3}}),
        ])
        .unwrap_err();
        assert_eq!(e, (1, OutboxFilterError::Field("entrypoint")));
    }

    #[test]
    fn a_batch_matches_when_every_transaction_does() {
        let f = OutboxMessageFilter::parse(
            &json!({"transaction": {"destination": [ECHO], "entrypoint": ["default"]}}),
        )
        .unwrap();
        assert!(f.matches_batch([(ECHO, "default")]));
        assert!(!f.matches_batch([(ECHO, "default"), (OTHER, "default")]));
        assert!(!f.matches_batch([(ECHO, "mint")]));
        let any = OutboxMessageFilter::parse(
            &json!({"transaction": {"destination": "any", "entrypoint": "any"}}),
        )
        .unwrap();
        assert!(batch_accepted(
            &[f.clone(), any],
            &[(ECHO, "default"), (OTHER, "x")]
        ));
        assert!(!batch_accepted(&[f], &[(OTHER, "default")]));
        assert!(!batch_accepted(&[], &[(ECHO, "default")]));
    }
}
