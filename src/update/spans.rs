//! A YAML document as a tree of byte ranges, for editing the text in place.
//!
//! `catalog` keeps positions to *report* problems; `update` needs to *cut and paste* text: where
//! an entry of a list starts and ends, where a key ends and its value begins. So this parses the
//! document once more into a tree that records, for every node, the byte range of its source
//! text. A collection's range runs from its first to the end of its last descendant.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One node and the bytes `start..end` it was written at.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Any scalar, as the parsed string (numbers and booleans as written).
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value of `key` when this is a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of `key` when this is a mapping.
    pub(crate) fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses `text` (one YAML document) into a [`Node`] tree; the message on failure.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let root: Spanned<Raw> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    Ok(convert(root))
}

/// What serde-saphyr hands over, before ranges are computed.
enum Raw {
    Scalar(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

fn convert(node: Spanned<Raw>) -> Node {
    let span = node.referenced.span();
    let start = span.byte_offset().unwrap_or(0) as usize;
    let len = span.byte_len().unwrap_or(0) as usize;
    let mut end = start + len;
    let kind = match node.value {
        Raw::Scalar(s) => Kind::Scalar(s),
        Raw::Seq(items) => {
            let items: Vec<Node> = items.into_iter().map(convert).collect();
            end = items.iter().map(|n| n.end).fold(end, usize::max);
            Kind::Seq(items)
        }
        Raw::Map(entries) => {
            let entries: Vec<(Node, Node)> = entries
                .into_iter()
                .map(|(k, v)| (convert(k), convert(v)))
                .collect();
            end = entries.iter().map(|(_, v)| v.end).fold(end, usize::max);
            Kind::Map(entries)
        }
    };
    Node { start, end, kind }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Scalar(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Scalar(String::new()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Scalar(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Scalar(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(text: &'a str, node: &Node) -> &'a str {
        &text[node.start..node.end]
    }

    #[test]
    fn ranges_cover_quotes_and_nested_collections() {
        let text = "images:\n  - name: 'X'\n    versions:\n      - version: \"1\"\n        url: \n          https://x/y\n        meta:\n          a: b\n      - {version: '2', url: u}\n";
        let root = parse(text).unwrap();
        let image = &root.get("images").unwrap().items()[0];
        assert_eq!(at(text, image.get("name").unwrap()), "'X'");
        let versions = image.get("versions").unwrap().items();
        assert_eq!(versions.len(), 2);
        let first = &versions[0];
        assert!(at(text, first).starts_with("version: \"1\"\n"));
        assert!(at(text, first).ends_with("a: b"));
        let (key, value) = first.entry("url").unwrap();
        assert_eq!(at(text, key), "url");
        assert_eq!(at(text, value), "https://x/y");
        assert_eq!(first.get("version").unwrap().scalar(), Some("1"));
        assert!(at(text, &versions[1]).starts_with('{'));
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(parse("a: [1\n").is_err());
    }
}
