//! Test support for the property tests of every parser of Keystone and Glance answers:
//! arbitrary JSON shaped like the answers (their keys, some of their values), and mutation of a
//! real-shaped answer (some of its values replaced by arbitrary JSON). Such answers are outside
//! data — a careless proxy, another release, a hostile endpoint — and no shape of them may make
//! a parser panic.

use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON up to four levels deep whose object keys are `keys` and whose leaves include
/// `strings` (values the parser looks for) besides nulls, booleans, numbers and short text.
pub(crate) fn json_value(
    strings: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9:/._-]{0,24}".prop_map(Value::from),
        prop::sample::select(strings).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(keys), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Replaces the values at the chosen pointers of `value` (objects and arrays included), one
/// after the other, by the replacements.
pub(crate) fn mutate(value: &mut Value, mutations: Vec<(prop::sample::Index, Value)>) {
    for (index, replacement) in mutations {
        let mut all = Vec::new();
        pointers(value, String::new(), &mut all);
        if all.is_empty() {
            break;
        }
        if let Some(slot) = value.pointer_mut(&all[index.index(all.len())]) {
            *slot = replacement;
        }
    }
}

/// Every JSON pointer of `value` (objects and arrays included), in document order.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let next = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(next.clone());
                pointers(v, next, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let next = format!("{at}/{i}");
                out.push(next.clone());
                pointers(v, next, out);
            }
        }
        _ => {}
    }
}
