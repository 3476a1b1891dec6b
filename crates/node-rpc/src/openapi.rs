//! `GET /openapi`: the OpenAPI description of the RPCs this node serves, generated from the
//! route table ([`super::routes::ROUTES`]). Each operation (description, parameters,
//! response schemas) is Octez's, taken from Octez's own OpenAPI description of its rollup
//! node, embedded as data (`testdata/octez-rollup-node-openapi.json`, see
//! `testdata/README.md`), with the component schemas they use; a route Octez does not
//! describe gets its table description and an unconstrained schema.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::routes::ROUTES;

/// Octez's OpenAPI description of `octez-smart-rollup-node`.
const OCTEZ_OPENAPI: &str = include_str!("../../../testdata/octez-rollup-node-openapi.json");

/// Octez's description, parsed once (`Null` if the embedded file were not JSON, which the
/// unit test below rules out).
pub fn octez() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(OCTEZ_OPENAPI).unwrap_or(Value::Null))
}

/// The Octez path template matching a concrete `path` (literal segments preferred over
/// arguments), if Octez's rollup node has such an RPC.
pub fn octez_template(path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').collect();
    octez()["paths"]
        .as_object()?
        .keys()
        .filter(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .min_by_key(|t| t.matches('{').count())
        .map(String::as_str)
}

/// Collects the component names `v` refers to (`#/components/schemas/<name>`).
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str)
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                out.insert(name.to_string());
            }
            o.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// The JSON pointer, inside the `/health` GET operation, of the `l1` object's properties.
pub const HEALTH_L1_PROPERTIES: &str =
    "/responses/200/content/application~1json/schema/properties/l1/properties";

/// The JSON pointer, inside the `/health` GET operation, of the answer's properties.
pub const HEALTH_PROPERTIES: &str = "/responses/200/content/application~1json/schema/properties";

/// This node's two additions to Octez's answers, both optional, so an answer without them is
/// Octez's shape:
/// - `/health`'s `l1.error`, present while the L1 cannot be reached or answers errors, saying
///   which endpoint fails, since when and what to do (issue 18 §3);
/// - `/health`'s `conflicts`, present while a commitment of another staker disagrees with ours
///   at a level not cemented yet (the alarm of a node checking itself against L1, issue 14).
fn extend_health(paths: &mut Map<String, Value>) {
    let Some(op) = paths.get_mut("/health").and_then(|p| p.get_mut("get")) else {
        return;
    };
    if let Some(props) = op
        .pointer_mut(HEALTH_PROPERTIES)
        .and_then(Value::as_object_mut)
    {
        props.insert(
            "conflicts".into(),
            json!({
                "description": "Commitments of other stakers that disagree with ours at \
                                levels not cemented yet (one of the two states is wrong); \
                                absent when there is none.",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "inbox_level": {"type": "integer", "minimum": 0,
                                        "maximum": 2147483647},
                        "ours": {"$ref": "#/components/schemas/smart_rollup_commitment_hash"},
                        "theirs": {"$ref": "#/components/schemas/smart_rollup_commitment_hash"},
                        "staker": {"$ref": "#/components/schemas/Signature.Public_key_hash"}
                    },
                    "required": ["inbox_level", "ours", "theirs", "staker"]
                }
            }),
        );
    }
    if let Some(props) = op
        .pointer_mut(HEALTH_L1_PROPERTIES)
        .and_then(Value::as_object_mut)
    {
        props.insert(
            "error".into(),
            json!({
                "type": "string",
                "description": "Why the L1 node cannot be followed (which endpoint, since \
                                when, what to do); absent when it answers."
            }),
        );
    }
}

/// The node's OpenAPI document: one operation per route.
pub fn document() -> Value {
    let reference = octez();
    let mut paths = Map::new();
    for r in ROUTES {
        let method = r.method.as_str().to_ascii_lowercase();
        let op = match &reference["paths"][r.path][&method] {
            Value::Null => json!({
                "description": r.description,
                "responses": {
                    "200": {"description": "", "content": {"application/json": {"schema": {}}}},
                    "default": reference["paths"]["/health"]["get"]["responses"]["default"],
                },
            }),
            op => op.clone(),
        };
        if let Value::Object(ops) = paths.entry(r.path.to_string()).or_insert_with(|| json!({})) {
            ops.insert(method, op);
        }
    }
    extend_health(&mut paths);
    // The component schemas the operations use, transitively.
    let all = &reference["components"]["schemas"];
    let mut names = BTreeSet::new();
    refs(&Value::Object(paths.clone()), &mut names);
    let mut todo: Vec<String> = names.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        let mut more = BTreeSet::new();
        refs(&all[&n], &mut more);
        for m in more {
            if names.insert(m.clone()) {
                todo.push(m);
            }
        }
    }
    let schemas: Map<String, Value> = names
        .into_iter()
        .filter_map(|n| all.get(&n).map(|s| (n, s.clone())))
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Smart Rollup Node RPCs",
            "description": "RPCs served by this smart rollup node: a subset of \
                            octez-smart-rollup-node's, described as Octez describes them",
            "version": node_context::VERSION,
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_reference_parses_and_templates_match() {
        assert!(octez()["paths"].as_object().is_some_and(|p| p.len() > 40));
        assert_eq!(
            octez_template("/global/block/head/simulate"),
            Some("/global/block/{block_id}/simulate")
        );
        assert_eq!(
            octez_template("/local/batcher/queue"),
            Some("/local/batcher/queue")
        );
        assert_eq!(octez_template("/nope"), None);
        assert_eq!(octez_template("/global/block//hash"), None);
    }

    #[test]
    fn document_has_every_route_and_its_schemas() {
        let d = document();
        for r in ROUTES {
            let op = &d["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{r:?} not described");
        }
        let mut used = BTreeSet::new();
        refs(&d["paths"], &mut used);
        for n in used {
            assert!(
                d["components"]["schemas"].get(&n).is_some(),
                "dangling $ref {n}"
            );
        }
    }
}
