//! JSON-Schema validation of catalog documents, with errors mapped back to YAML positions.
//!
//! The schema in `schemas/` is the contract editors see (yaml-language-server) and the one we
//! enforce: it is compiled into the binary so a release cannot disagree with itself. Errors
//! come back as JSON pointers; [`SourceMap`] turns them into `line:col`. A value YAML typed as a
//! number or bool where the schema wants a string gets a "quote it" hint quoting the source.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, Validator};
use serde_json::Value;

use super::node::{Pos, SourceMap};

/// The catalog schema, as shipped in `schemas/image-catalog.schema.json`.
pub const SCHEMA_TEXT: &str = include_str!("../../schemas/image-catalog.schema.json");

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).expect("the shipped schema is JSON");
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&schema)
        .expect("the shipped schema compiles")
});

/// A schema violation at a position, before it is given a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending value (or key).
    pub pointer: String,
    pub pos: Pos,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// Validates one document. `text` is its source, used to quote what was written.
pub fn validate(document: &Value, map: &SourceMap, text: &str) -> Vec<Violation> {
    let mut out: Vec<Violation> = VALIDATOR
        .iter_errors(document)
        .flat_map(|error| describe(&error, map, text))
        .collect();
    out.sort_by_key(|v| (v.pos.line, v.pos.column));
    out.dedup_by(|a, b| a.pos == b.pos && a.message == b.message);
    out
}

fn describe(
    error: &jsonschema::ValidationError<'_>,
    map: &SourceMap,
    text: &str,
) -> Vec<Violation> {
    let pointer = error.instance_path().as_str().to_owned();
    let field = field_name(&pointer);
    let pos = map.nearest(&pointer);
    let instance = error.instance();
    let violation = |code, message: String| Violation {
        pointer: pointer.clone(),
        pos,
        code,
        message,
        hint: None,
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let key_pointer = format!("{pointer}/{}", escape(key));
                Violation {
                    pos: map.key(&key_pointer).unwrap_or(pos),
                    code: "unknown-key",
                    message: format!("unknown key `{key}` in {}", container_name(&pointer)),
                    hint: did_you_mean(key, &pointer),
                    pointer: key_pointer,
                }
            })
            .collect(),
        ValidationErrorKind::Required { property } => vec![violation(
            "missing-key",
            format!(
                "missing required key `{}` in {}",
                property.as_str().unwrap_or_default(),
                container_name(&pointer)
            ),
        )],
        ValidationErrorKind::Type { kind } if wants_string(kind) && is_scalar(instance) => {
            let raw = pos.raw(text);
            let found = match &**instance {
                Value::Bool(b) => format!("the boolean {b}"),
                Value::Null => "nothing (null)".to_owned(),
                other => format!("the number {other}"),
            };
            let written = if raw.is_empty() || raw == found.rsplit(' ').next().unwrap_or("") {
                String::new()
            } else {
                format!(" (written `{raw}`)")
            };
            vec![Violation {
                hint: (!raw.is_empty()).then(|| format!("quote it: '{raw}'")),
                ..violation(
                    "not-a-string",
                    format!("`{field}` must be a string, but YAML read {found}{written}"),
                )
            }]
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. }
            if container_name(&pointer) == SHARE =>
        {
            vec![Violation {
                hint: Some("e.g. `- project: demo` with `domain: Default`".into()),
                ..violation(
                    "invalid-share",
                    "a `shared` entry names its project either by `project_id`, or by \
                     `project` and `domain`"
                        .into(),
                )
            }]
        }
        ValidationErrorKind::Enum { options } => vec![violation(
            "invalid-value",
            format!(
                "`{field}`: {} is not one of {}",
                show(instance),
                join_options(options)
            ),
        )],
        ValidationErrorKind::Pattern { pattern } => vec![violation(
            "invalid-value",
            format!(
                "`{field}`: {} does not have the expected form ({})",
                show(instance),
                pattern_help(&pointer).unwrap_or(pattern)
            ),
        )],
        _ => vec![violation(
            "schema",
            format!("`{field}`: {}", error.masked()),
        )],
    }
}

fn wants_string(kind: &TypeKind) -> bool {
    match kind {
        TypeKind::Single(t) => matches!(t, jsonschema::JsonType::String),
        TypeKind::Multiple(set) => set.contains(jsonschema::JsonType::String),
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::Bool(_) | Value::Number(_) | Value::Null)
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

fn join_options(options: &Value) -> String {
    match options {
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Human explanations for the schema's patterns, keyed by the field they guard.
fn pattern_help(pointer: &str) -> Option<&'static str> {
    Some(match field_name(pointer) {
        "uuid_validity" => "none, notice, forever, last-N or YYYY-MM-DD",
        "provided_until" => "none, notice or YYYY-MM-DD",
        "hotfix_hours" => "decimal digits",
        "build_date" | "image_build_date" => "YYYY-MM-DD, optionally with ` HH:MM[:SS]`",
        "maintained_until" => "YYYY-MM-DD",
        "id" => "a UUID",
        _ => return None,
    })
}

/// The last segment of a JSON pointer, unescaped ("" for the root).
fn field_name(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or("")
}

/// Describes the object at `pointer` for messages: "the catalog", "image definition", ...
fn container_name(pointer: &str) -> &'static str {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    match segments.as_slice() {
        [] => "the catalog (top level)",
        ["images", _] => "an image definition",
        ["images", _, "versions", _] => "a version",
        [.., "meta"] => "meta",
        [.., "on_rotate"] => "on_rotate",
        [.., "shared", _] => SHARE,
        _ => "this mapping",
    }
}

/// The known key closest to a mistyped `key` of the mapping at `pointer` (`min_rma` →
/// `min_ram`), read from the shipped schema, when one is close enough to be what was meant.
fn did_you_mean(key: &str, pointer: &str) -> Option<String> {
    static SCHEMA: LazyLock<Value> =
        LazyLock::new(|| serde_json::from_str(SCHEMA_TEXT).expect("the shipped schema is JSON"));
    let properties = match container_name(pointer) {
        "the catalog (top level)" => "/properties",
        "an image definition" => "/$defs/definition/properties",
        "a version" => "/$defs/version/properties",
        SHARE => "/$defs/share/properties",
        _ => return None,
    };
    let known = SCHEMA.pointer(properties)?.as_object()?;
    let (best, distance) = known
        .keys()
        .map(|name| (name, strsim::damerau_levenshtein(key, name)))
        .min_by_key(|(_, distance)| *distance)?;
    // One edit per three characters: typos, not different words.
    (distance > 0 && distance <= key.chars().count().max(3) / 3)
        .then(|| format!("did you mean `{best}`?"))
}

/// How messages name an entry of a `shared` list.
const SHARE: &str = "a `shared` entry";

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::node;

    fn violations(text: &str) -> Vec<Violation> {
        let (value, map) = node::parse(text).unwrap();
        validate(&value, &map, text)
    }

    const VALID: &str = "images:\n  - name: Cirros\n    format: qcow2\n    versions:\n      - version: '0.6.2'\n        url: https://example.org/c.img\n";

    #[test]
    fn the_shipped_schema_compiles_and_accepts_a_minimal_catalog() {
        assert_eq!(violations(VALID), vec![]);
    }

    #[test]
    fn a_mistyped_key_gets_the_known_key_it_resembles() {
        let text = VALID.replace(
            "format: qcow2\n",
            "format: qcow2\n    min_rma: 512\n    colour: red\n",
        );
        let v = violations(&text);
        let hint = |key: &str| {
            let found = v.iter().find(|v| v.message.contains(key)).unwrap();
            found.hint.clone()
        };
        assert_eq!(hint("min_rma").as_deref(), Some("did you mean `min_ram`?"));
        // Nothing close: no guess.
        assert_eq!(hint("colour"), None);
    }

    #[test]
    fn unquoted_number_gets_a_quote_it_hint_at_the_value() {
        let text = VALID.replace(
            "format: qcow2\n",
            "format: qcow2\n    meta:\n      os_version: 24.10\n",
        );
        let v = violations(&text);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].pos.line, v[0].pos.column), (5, 19));
        assert_eq!(v[0].code, "not-a-string");
        assert!(
            v[0].message.contains("number 24.1 (written `24.10`)"),
            "{}",
            v[0].message
        );
        assert_eq!(v[0].hint.as_deref(), Some("quote it: '24.10'"));
    }

    #[test]
    fn unknown_key_points_at_the_key() {
        let text = VALID.replace(
            "    format: qcow2\n",
            "    format: qcow2\n    visiblity: public\n",
        );
        let v = violations(&text);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].pos.line, v[0].pos.column), (4, 5));
        assert_eq!(
            v[0].message,
            "unknown key `visiblity` in an image definition"
        );
    }

    #[test]
    fn missing_key_and_bad_enum_and_pattern() {
        let text = "images:\n  - name: X\n    format: qcow3\n    meta:\n      uuid_validity: last-x\n    versions:\n      - url: https://e/x\n";
        let v = violations(text);
        let lines: Vec<_> = v
            .iter()
            .map(|v| (v.pos.line, v.pos.column, v.code))
            .collect();
        assert_eq!(
            lines,
            vec![
                (3, 13, "invalid-value"),
                (5, 22, "invalid-value"),
                (7, 9, "missing-key")
            ],
            "{v:?}"
        );
        assert!(
            v[1].message
                .contains("none, notice, forever, last-N or YYYY-MM-DD")
        );
        assert!(v[2].message.contains("`version`"));
    }

    #[test]
    fn a_share_names_its_project_one_way() {
        let share = |entry: &str| {
            VALID.replace(
                "    format: qcow2\n",
                &format!(
                    "    format: qcow2\n    visibility: shared\n    shared:\n      - {entry}\n"
                ),
            )
        };
        for good in [
            "project_id: ab12",
            "project: demo\n        domain: Default",
            "project_id: ab12\n        status: accepted",
        ] {
            assert_eq!(violations(&share(good)), vec![], "{good}");
        }
        for bad in [
            "project: demo",
            "domain: Default",
            "project_id: ab12\n        project: demo\n        domain: Default",
            "status: accepted",
        ] {
            let v = violations(&share(bad));
            assert_eq!(v.len(), 1, "{bad}: {v:?}");
            assert_eq!(
                (v[0].code, v[0].pos.line),
                ("invalid-share", 6),
                "{bad}: {v:?}"
            );
            assert!(v[0].message.contains("`project_id`"), "{}", v[0].message);
        }
        let v = violations(&share("project_id: ab12\n        status: accept"));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("`pending`, `accepted`"),
            "{}",
            v[0].message
        );
        let v = violations(&share("project_id: ab12\n        role: x"));
        assert_eq!(v[0].message, "unknown key `role` in a `shared` entry");
    }
}
