//! Where a version's copy lives in the bucket: a key template such as the osism layout
//! `openstack-images/{shortname}/{version}-{shortname}.{format}`.
//!
//! The template is operator input and the values come from catalogs (pull requests), so both
//! are checked before anything is written: a key is made only of unreserved URL characters
//! (`A–Z a–z 0–9 . _ ~ -`) and `/` between non-empty segments, never `.` or `..`. That keeps
//! the object key and the `mirror_url` written into the catalog the same string (nothing to
//! percent-encode, so no two tools can disagree on it) and no value can climb out of its
//! folder. `mirror` and `update` render keys through this one type, so a new version's
//! `mirror_url` is derived exactly as `mirror` would name its object.

use std::fmt;

use crate::catalog::{Definition, Version};

/// The osism openstack-image-manager layout (its `contrib/mirror.py`): what catalogs in the
/// wild point their `mirror_url`s at, below the bucket.
pub const OSISM: &str = "openstack-images/{shortname}/{version}-{shortname}.{format}";

/// A parsed key template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// What a template may refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// The definition's `shortname` (the osism mirror path part).
    Shortname,
    /// The version string as the catalog writes it.
    Version,
    /// The definition's `format` (Glance `disk_format`): the object holds the image as Glance
    /// takes it, decompressed.
    Format,
}

impl Field {
    const ALL: [Field; 3] = [Field::Shortname, Field::Version, Field::Format];

    fn name(self) -> &'static str {
        match self {
            Field::Shortname => "shortname",
            Field::Version => "version",
            Field::Format => "format",
        }
    }
}

/// Why a template or a rendered key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// `{…}` names nothing this tool knows.
    #[error(
        "unknown field `{{{0}}}` in the layout (known: {{shortname}}, {{version}}, {{format}})"
    )]
    UnknownField(String),
    /// A `{` without its `}`, or a `}` without its `{`.
    #[error("unbalanced braces in the layout `{0}`")]
    Braces(String),
    /// The template would not give a usable key whatever the values.
    #[error("the layout `{template}` {reason}")]
    Template {
        template: String,
        reason: &'static str,
    },
    /// The definition has no `shortname` but the layout needs one.
    #[error("the definition has no `shortname`, which the layout needs")]
    NoShortname,
    /// A value cannot be put into a key safely.
    #[error("`{field}` value `{value}` cannot be part of an object key: {reason}")]
    Value {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Unreserved URL characters (RFC 3986 2.3): the same in a key and in a URL.
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

impl Layout {
    /// Parses a template. Literal text may hold safe characters and `/`; fields are written
    /// `{shortname}`, `{version}`, `{format}`. The key must not start or end with `/`, have
    /// empty, `.` or `..` segments, or be without any field (every version would get one key).
    pub fn parse(template: &str) -> Result<Layout, LayoutError> {
        let invalid = |reason| LayoutError::Template {
            template: template.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after
                    .split_once('}')
                    .ok_or_else(|| LayoutError::Braces(template.to_owned()))?;
                if name.contains('{') {
                    return Err(LayoutError::Braces(template.to_owned()));
                }
                let field = Field::ALL
                    .into_iter()
                    .find(|f| f.name() == name)
                    .ok_or_else(|| LayoutError::UnknownField(name.to_owned()))?;
                parts.push(Part::Field(field));
                rest = tail;
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let text = &rest[..end];
                if text.contains('}') {
                    return Err(LayoutError::Braces(template.to_owned()));
                }
                if !text.chars().all(|c| is_safe(c) || c == '/') {
                    return Err(invalid(
                        "may only hold letters, digits, `. _ ~ -`, `/` and fields",
                    ));
                }
                parts.push(Part::Text(text.to_owned()));
                rest = &rest[end..];
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(invalid(
                "has no field: every version would get the same key",
            ));
        }
        let layout = Layout { parts };
        // A field always renders to at least one safe character, so checking the segments with
        // a stand-in value checks every key this layout can make.
        let sample = layout.fill(|_| "x");
        if sample.starts_with('/') || sample.ends_with('/') {
            return Err(invalid("must not start or end with `/`"));
        }
        if sample
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(invalid("has an empty, `.` or `..` path segment"));
        }
        Ok(layout)
    }

    /// The object key of `version` of `definition`.
    pub fn key(&self, definition: &Definition, version: &str) -> Result<String, LayoutError> {
        let shortname = definition.shortname.as_deref();
        let format = definition.format.as_str();
        self.render(shortname, version, format)
    }

    /// The key for these values; each is checked to be safe on its own (see the module docs).
    pub fn render(
        &self,
        shortname: Option<&str>,
        version: &str,
        format: &str,
    ) -> Result<String, LayoutError> {
        let mut values = Vec::new();
        for part in &self.parts {
            let Part::Field(field) = part else { continue };
            let value = match field {
                Field::Shortname => shortname.ok_or(LayoutError::NoShortname)?,
                Field::Version => version,
                Field::Format => format,
            };
            check_value(*field, value)?;
            values.push((*field, value));
        }
        Ok(self.fill(|field| {
            values
                .iter()
                .find(|(f, _)| *f == field)
                .map_or("", |(_, v)| v)
        }))
    }

    fn fill<'a>(&self, value: impl Fn(Field) -> &'a str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Field(field) => value(*field),
            })
            .collect()
    }
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::parse(OSISM).expect("the osism layout is valid")
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Text(text) => f.write_str(text)?,
                Part::Field(field) => write!(f, "{{{}}}", field.name())?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Layout {
    type Err = LayoutError;

    fn from_str(s: &str) -> Result<Layout, LayoutError> {
        Layout::parse(s)
    }
}

fn check_value(field: Field, value: &str) -> Result<(), LayoutError> {
    let refuse = |reason| LayoutError::Value {
        field: field.name(),
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(refuse("it is empty"));
    }
    if value == "." || value == ".." {
        return Err(refuse("it is a relative path"));
    }
    if !value.chars().all(is_safe) {
        return Err(refuse("only letters, digits and `. _ ~ -` are allowed"));
    }
    Ok(())
}

/// The URL of `key` below `base` (`https://host/bucket`, with or without a final `/`).
pub fn url(base: &str, key: &str) -> String {
    format!("{}/{key}", base.trim_end_matches('/'))
}

/// The base a catalog's `mirror_url` was made from with `layout`: the URL with the key of its
/// own version cut off the end; `None` when the URL does not end in that key (another layout).
pub fn base_of(
    layout: &Layout,
    definition: &Definition,
    version: &Version,
    mirror_url: &str,
) -> Option<String> {
    let key = layout.key(definition, &version.version).ok()?;
    let base = mirror_url.strip_suffix(&key)?.strip_suffix('/')?;
    (!base.is_empty()).then(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_osism_layout_gives_the_osism_keys() {
        let layout = Layout::default();
        assert_eq!(layout.to_string(), OSISM);
        let key = layout
            .render(Some("ubuntu-24.04"), "20260705", "qcow2")
            .unwrap();
        assert_eq!(
            key,
            "openstack-images/ubuntu-24.04/20260705-ubuntu-24.04.qcow2"
        );
    }

    #[test]
    fn templates_are_checked() {
        let bad = [
            ("{shortname}/{nope}", "unknown field `{nope}`"),
            ("{shortname", "unbalanced"),
            ("shortname}", "unbalanced"),
            ("{{version}}", "unbalanced"),
            ("images/latest.qcow2", "has no field"),
            ("/{version}", "start or end"),
            ("{version}/", "start or end"),
            ("a//{version}", "empty"),
            ("../{version}", "`..`"),
            ("a/./{version}", "`..`"),
            ("a b/{version}", "may only hold"),
            ("a?x/{version}", "may only hold"),
            ("", "has no field"),
        ];
        for (template, want) in bad {
            let error = Layout::parse(template).unwrap_err().to_string();
            assert!(error.contains(want), "{template}: {error}");
        }
        assert!(Layout::parse("{version}").is_ok());
        assert!(Layout::parse("mirror/{format}/{shortname}_{version}.img").is_ok());
    }

    #[test]
    fn values_that_could_escape_or_need_encoding_are_refused() {
        let layout = Layout::default();
        for (shortname, version) in [
            (Some("a/b"), "1"),
            (Some(".."), "1"),
            (Some("a"), ""),
            (Some("a"), "1 2"),
            (Some("a"), "1?x"),
            (None, "1"),
        ] {
            assert!(
                layout.render(shortname, version, "raw").is_err(),
                "{shortname:?} {version}"
            );
        }
    }

    #[test]
    fn bases_are_found_by_cutting_the_key() {
        let text = "images:\n  - name: U\n    shortname: ubuntu-14.04\n    format: qcow2\n    versions:\n      - version: '20191107'\n        url: https://u/x.img\n        checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        let catalog = crate::catalog::from_text("c.yaml", text).catalog;
        let definition = &catalog.definitions[0];
        let version = &definition.versions[0];
        let url = "https://nbg1.example.com/osism/openstack-images/ubuntu-14.04/20191107-ubuntu-14.04.qcow2";
        let base = base_of(&Layout::default(), definition, version, url);
        assert_eq!(base.as_deref(), Some("https://nbg1.example.com/osism"));
        assert_eq!(
            base_of(
                &Layout::default(),
                definition,
                version,
                "https://h/other.qcow2"
            ),
            None
        );
        assert_eq!(url_of("https://h/b/", "k/x"), "https://h/b/k/x");
    }

    fn url_of(base: &str, key: &str) -> String {
        url(base, key)
    }

    proptest! {
        #[test]
        fn prop_layouts_parse_without_panic_and_round_trip(template in "[a-z{}/._~ -]{0,40}") {
            if let Ok(layout) = Layout::parse(&template) {
                prop_assert_eq!(layout.to_string(), template.clone());
                prop_assert_eq!(Layout::parse(&layout.to_string()), Ok(layout));
            }
        }

        #[test]
        fn prop_rendered_keys_are_safe_or_refused(
            template in prop::sample::select(vec![OSISM, "{version}", "m/{format}/{shortname}-{version}"]),
            shortname in "\\PC{0,12}",
            version in "\\PC{0,12}",
        ) {
            let layout = Layout::parse(template).unwrap();
            if let Ok(key) = layout.render(Some(&shortname), &version, "qcow2") {
                prop_assert!(key.chars().all(|c| is_safe(c) || c == '/'), "{}", key);
                prop_assert_eq!(key.split('/').count(), template.split('/').count());
                prop_assert!(key.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
            }
        }
    }
}
