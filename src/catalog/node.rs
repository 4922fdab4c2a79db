//! A YAML document as a tree of nodes that remember where they were written.
//!
//! The catalog is validated twice: against the JSON Schema (shape) and by the semantic lint
//! (meaning). Both report problems as `file:line:col`, but the JSON Schema validator only knows
//! JSON pointers. So the document is parsed once into this tree, converted to JSON for the
//! validator and the typed model, and a [`SourceMap`] keeps the pointer → position mapping.
//! Keeping the raw text of every scalar lets messages quote what the user wrote (`24.10`) next
//! to what YAML made of it (`24.1`).

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A 1-based line/column position plus the byte range of the node's source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    start: usize,
    len: usize,
}

impl Pos {
    fn of(location: &serde_saphyr::Location) -> Pos {
        let span = location.span();
        Pos {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            column: u32::try_from(location.column()).unwrap_or(u32::MAX),
            start: span.byte_offset().unwrap_or(0) as usize,
            len: span.byte_len().unwrap_or(0) as usize,
        }
    }

    /// The source text of the node at this position (empty for collections).
    pub fn raw<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start..self.start + self.len).unwrap_or("")
    }
}

/// A node of the parsed YAML tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

/// Where each JSON-pointer path of a document was written.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SourceMap {
    /// Position of the value at `pointer` (e.g. `/images/0/versions/1/version`).
    pub fn value(&self, pointer: &str) -> Option<Pos> {
        self.values.get(pointer).copied()
    }

    /// Position of the mapping key that introduces `pointer`, falling back to the value.
    pub fn key(&self, pointer: &str) -> Option<Pos> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.value(pointer))
    }

    /// Position of `pointer`, or of its nearest ancestor that has one.
    pub fn nearest(&self, pointer: &str) -> Pos {
        let mut current = pointer;
        loop {
            if let Some(pos) = self.value(current) {
                return pos;
            }
            match current.rsplit_once('/') {
                Some((parent, _)) => current = parent,
                None => return Pos::default(),
            }
        }
    }
}

/// A parse failure of the YAML text itself.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document into JSON plus its source map.
pub fn parse(text: &str) -> Result<(Value, SourceMap), SyntaxError> {
    let root: Spanned<Node> = serde_saphyr::from_str(text).map_err(|error| {
        let pos = error.location().map(|l| Pos::of(&l)).unwrap_or_default();
        let message = error.without_snippet().to_string();
        // The plain message still starts with "error: line L column C: "; the caller prints
        // the position itself, so keep only the part after it.
        let message = match message.split_once(": ") {
            Some((_, rest)) if rest.starts_with("line ") => rest
                .split_once(": ")
                .map_or(rest, |(_, m)| m)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
            _ => message.lines().next().unwrap_or("").to_owned(),
        };
        explained(text, SyntaxError { pos, message })
    })?;
    let mut map = SourceMap::default();
    let mut pointer = String::new();
    let value = to_json(&root, text, &mut pointer, &mut map);
    Ok((value, map))
}

/// The parser's message for the two mistakes people make most, replaced by one they can act
/// on, at the place to fix: a tab in the indentation (reported by the parser wherever it
/// noticed, often a line later), and a file holding several YAML documents.
fn explained(text: &str, error: SyntaxError) -> SyntaxError {
    let at = |line: usize, column: usize| Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        ..Pos::default()
    };
    if error.message.contains("multiple YAML documents") {
        let starts: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| *l == "---" || l.starts_with("--- ") || l.starts_with("---\t"))
            .map(|(n, _)| n + 1)
            .collect();
        let before_first = text
            .lines()
            .take(starts.first().map_or(0, |first| first - 1))
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with(['#', '%']));
        let documents = starts.len() + usize::from(before_first);
        let second = if before_first {
            starts.first()
        } else {
            starts.get(1)
        };
        if let Some(&line) = second.filter(|_| documents > 1) {
            return SyntaxError {
                pos: at(line, 1),
                message: format!("one catalog per file; found {documents} documents (line {line})"),
            };
        }
    }
    let indented_by_tab = text.lines().enumerate().find_map(|(n, line)| {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let rest = &line[indent.len()..];
        let column = indent.chars().position(|c| c == '\t')?;
        (!rest.is_empty() && !rest.starts_with('#')).then_some((n + 1, column + 1))
    });
    // Only where the tab can be the cause: the parser names it, or it comes before the error
    // (a tab after the indentation of a block scalar's line is legal content).
    let cause = indented_by_tab.filter(|(line, _)| {
        error.message.to_lowercase().contains("tab") || *line <= error.pos.line as usize
    });
    match cause {
        Some((line, column)) => SyntaxError {
            pos: at(line, column),
            message: "YAML does not allow tabs for indentation; indent with spaces".into(),
        },
        None => error,
    }
}

fn to_json(node: &Spanned<Node>, text: &str, pointer: &mut String, map: &mut SourceMap) -> Value {
    let pos = Pos::of(&node.referenced);
    map.values.insert(pointer.clone(), pos);
    match &node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::from(*i),
        Node::UInt(u) => Value::from(*u),
        Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&index.to_string());
                out.push(to_json(item, text, pointer, map));
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = serde_json::Map::new();
            for (key, value) in entries {
                // A key YAML read as a bool or number (`n:`, `1:`) is still the text written.
                let name = match &key.value {
                    Node::Str(s) => s.clone(),
                    _ => Pos::of(&key.referenced).raw(text).to_owned(),
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                map.keys.insert(pointer.clone(), Pos::of(&key.referenced));
                let converted = to_json(value, text, pointer, map);
                pointer.truncate(len);
                out.insert(name, converted);
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "images:\n  - name: X\n    os_version: 24.10\n    d: 2019-11-07\n    n: no\n";

    #[test]
    fn positions_and_raw_text_survive_conversion() {
        let (value, map) = parse(DOC).unwrap();
        assert_eq!(value["images"][0]["os_version"], serde_json::json!(24.1));
        let pos = map.value("/images/0/os_version").unwrap();
        assert_eq!((pos.line, pos.column), (3, 17));
        assert_eq!(pos.raw(DOC), "24.10");
        let key = map.key("/images/0/os_version").unwrap();
        assert_eq!((key.line, key.column), (3, 5));
        // Unquoted dates stay strings (YAML 1.2 core schema); `no` becomes a bool.
        assert_eq!(value["images"][0]["d"], "2019-11-07");
        assert_eq!(value["images"][0]["n"], false);
    }

    #[test]
    fn nearest_walks_up_to_an_ancestor() {
        let (_, map) = parse(DOC).unwrap();
        let pos = map.nearest("/images/0/missing/deeper");
        assert_eq!((pos.line, pos.column), (2, 5));
    }

    #[test]
    fn syntax_errors_have_positions_and_one_line_messages() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.column), (2, 2));
        assert!(!err.message.contains('\n'), "{}", err.message);
        assert!(!err.message.starts_with("error"), "{}", err.message);
        let dup = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((dup.pos.line, dup.pos.column), (2, 1));
        assert!(
            dup.message.contains("duplicate mapping key"),
            "{}",
            dup.message
        );
    }

    #[test]
    fn a_tab_in_the_indentation_is_named_where_it_is() {
        let err = parse("images:\n  - name: A\n  \tformat: qcow2\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.column), (3, 3));
        assert_eq!(
            err.message,
            "YAML does not allow tabs for indentation; indent with spaces"
        );
        // A tab inside a block scalar's content is legal and parses.
        assert!(parse("text: |\n  a\tb\n  \tc\n").is_ok());
    }

    #[test]
    fn several_documents_are_counted_and_the_second_is_located() {
        let err = parse("# catalog\n---\nimages: []\n---\nimages: []\n---\nx: 1\n").unwrap_err();
        assert_eq!(
            err.message,
            "one catalog per file; found 3 documents (line 4)"
        );
        assert_eq!((err.pos.line, err.pos.column), (4, 1));
        let err = parse("images: []\n--- \nimages: []\n").unwrap_err();
        assert_eq!(
            err.message,
            "one catalog per file; found 2 documents (line 2)"
        );
    }
}
