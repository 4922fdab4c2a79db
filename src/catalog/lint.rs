//! Semantic checks: problems the JSON Schema cannot see.
//!
//! The schema checks one value at a time; these checks look across values and files: duplicate
//! names and versions, Glance names that collide once the naming rules are applied, checksum
//! shapes, URL schemes, `shared` lists on images that are not shared. Each finding points at
//! the value to change.

use std::collections::HashMap;

use super::checksums::Digest;
use super::diagnostic::{Diagnostic, Location};
use super::model::{Definition, Origin, Share, Version, Visibility};
use super::{Catalog, naming};

/// Runs every semantic check over the loaded definitions.
pub fn check(catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    duplicate_definitions(catalog, &mut out);
    name_collisions(catalog, &mut out);
    duplicate_ids(catalog, &mut out);
    for definition in &catalog.definitions {
        duplicate_versions(catalog, definition, &mut out);
        urls(catalog, definition, &mut out);
        shares(catalog, definition, &mut out);
        for (index, version) in definition.versions.iter().enumerate() {
            checksum(catalog, definition.origin, index, version, &mut out);
        }
    }
    out
}

fn duplicate_definitions(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&str, Origin> = HashMap::new();
    for definition in &catalog.definitions {
        if let Some(earlier) = first.get(definition.name.as_str()) {
            out.push(Diagnostic::error(
                catalog.locate(definition.origin, "name"),
                "duplicate-definition",
                format!(
                    "image `{}` is defined twice (first at {})",
                    definition.name,
                    catalog.locate(*earlier, "name")
                ),
            ));
        } else {
            first.insert(&definition.name, definition.origin);
        }
    }
}

fn duplicate_versions(catalog: &Catalog, definition: &Definition, out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (index, version) in definition.versions.iter().enumerate() {
        if let Some(earlier) = first.get(version.version.as_str()) {
            out.push(Diagnostic::error(
                catalog.locate(definition.origin, &format!("versions/{index}/version")),
                "duplicate-version",
                format!(
                    "version `{}` of `{}` is listed twice (first at {})",
                    version.version,
                    definition.name,
                    catalog.locate(definition.origin, &format!("versions/{earlier}/version"))
                ),
            ));
        } else {
            first.insert(&version.version, index);
        }
    }
}

/// Two enabled definitions that would put images of the same name into Glance.
fn name_collisions(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let mut claimed: HashMap<String, (&Definition, &Version)> = HashMap::new();
    for definition in catalog.enabled() {
        for (name, version) in naming::all_names(definition) {
            match claimed.get(&name) {
                // Same definition name: already reported as a duplicate definition.
                Some((other, _)) if other.name == definition.name => {}
                Some((other, other_version)) => {
                    let index = version_index(definition, version);
                    let other_index = version_index(other, other_version);
                    out.push(
                        Diagnostic::error(
                            catalog.locate(definition.origin, &format!("versions/{index}/version")),
                            "name-collision",
                            format!(
                                "`{}` version `{}` would be named `{name}` in Glance, like `{}` version `{}` (at {})",
                                definition.name,
                                version.version,
                                other.name,
                                other_version.version,
                                catalog.locate(other.origin, &format!("versions/{other_index}/version"))
                            ),
                        )
                        .with_hint("rename one definition or change its `separator`/`multi`"),
                    );
                }
                None => {
                    claimed.insert(name, (definition, version));
                }
            }
        }
    }
}

/// A fixed image `id` may be used once: Glance refuses a second image with the same ID.
fn duplicate_ids(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<String, Location> = HashMap::new();
    for definition in &catalog.definitions {
        for (index, version) in definition.versions.iter().enumerate() {
            let Some(id) = &version.id else { continue };
            let here = catalog.locate(definition.origin, &format!("versions/{index}/id"));
            let key = id.to_ascii_lowercase().replace('-', "");
            if let Some(earlier) = first.get(&key) {
                out.push(Diagnostic::error(
                    here,
                    "duplicate-id",
                    format!("image id {id} is used twice (first at {earlier})"),
                ));
            } else {
                first.insert(key, here);
            }
        }
    }
}

/// `shared` lists: Glance gives members only to `visibility: shared` images (it refuses them
/// on any other), so a list on an image that is not shared is a contradiction, not a no-op;
/// and a project listed twice is a typo.
fn shares(catalog: &Catalog, definition: &Definition, out: &mut Vec<Diagnostic>) {
    let not_shared = |at: Location, whose: String| {
        Diagnostic::error(
            at,
            "shared-not-shared",
            format!(
                "`shared` lists projects, but {whose} is not `visibility: shared`: Glance gives \
                 members only to shared images"
            ),
        )
        .with_hint("set `visibility: shared`, or remove `shared`")
    };
    if let Some(list) = &definition.shared {
        let takers = definition.versions.iter().filter(|v| v.shared.is_none());
        let used = takers
            .clone()
            .any(|v| definition.version_visibility(v) == Visibility::Shared);
        if !list.is_empty() && !used && takers.count() > 0 {
            let whose = format!("no version of `{}` that takes this list", definition.name);
            out.push(not_shared(
                catalog.locate_key(definition.origin, "shared"),
                whose,
            ));
        }
        duplicate_shares(catalog, definition.origin, "shared", list, out);
    }
    for (index, version) in definition.versions.iter().enumerate() {
        let Some(list) = &version.shared else {
            continue;
        };
        let field = format!("versions/{index}/shared");
        if !list.is_empty() && definition.version_visibility(version) != Visibility::Shared {
            let whose = format!("version `{}`", version.version);
            out.push(not_shared(
                catalog.locate_key(definition.origin, &field),
                whose,
            ));
        }
        duplicate_shares(catalog, definition.origin, &field, list, out);
    }
}

fn duplicate_shares(
    catalog: &Catalog,
    origin: Origin,
    field: &str,
    list: &[Share],
    out: &mut Vec<Diagnostic>,
) {
    // Keyed by how the entry names its project (its status aside).
    let mut first: HashMap<String, usize> = HashMap::new();
    for (index, share) in list.iter().enumerate() {
        let key = share.to_string();
        if let Some(earlier) = first.get(&key) {
            out.push(Diagnostic::error(
                catalog.locate(origin, &format!("{field}/{index}")),
                "duplicate-share",
                format!(
                    "{share} is listed twice (first at {})",
                    catalog.locate(origin, &format!("{field}/{earlier}"))
                ),
            ));
        } else {
            first.insert(key, index);
        }
    }
}

fn version_index(definition: &Definition, version: &Version) -> usize {
    definition
        .versions
        .iter()
        .position(|v| std::ptr::eq(v, version))
        .unwrap_or(0)
}

fn checksum(
    catalog: &Catalog,
    origin: Origin,
    index: usize,
    version: &Version,
    out: &mut Vec<Diagnostic>,
) {
    let at = |field: &str| catalog.locate(origin, &format!("versions/{index}/{field}"));
    let has_url = version.checksum_url.is_some() || version.checksums_url.is_some();
    if version.is_latest() && !has_url {
        out.push(
            Diagnostic::error(
                at("version"),
                "latest-without-checksum-url",
                "`latest` needs `checksum_url` or `checksums_url`: a fixed checksum cannot follow a moving image",
            )
            .with_hint("point `checksums_url` at the upstream sums file, e.g. SHA256SUMS"),
        );
    }
    match &version.checksum {
        Some(text) => {
            if let Err(error) = Digest::parse(text) {
                out.push(Diagnostic::error(
                    at("checksum"),
                    "invalid-checksum",
                    format!("checksum `{text}`: {error}"),
                ));
            }
        }
        None if !has_url => out.push(
            Diagnostic::warning(
                at("version"),
                "no-checksum",
                format!(
                    "version `{}` has no checksum, checksum_url or checksums_url: its bytes cannot be verified",
                    version.version
                ),
            )
            .with_hint("add `checksum: sha256:<hex>` from the upstream sums file"),
        ),
        None => {}
    }
}

/// Checks what a version's `url` would publish: it becomes the image's `image_source`, which
/// every tenant reads on a public image. Credentials there are an error (true: nothing else
/// is worth reporting about this URL); a query string is a warning, as it is usually a
/// signature. `mirror_url` is where such a URL belongs: downloaded from, never published.
fn public_secret(parsed: &url::Url, at: &Location, out: &mut Vec<Diagnostic>) -> bool {
    if !parsed.username().is_empty() || parsed.password().is_some() {
        out.push(
            Diagnostic::error(
                at.clone(),
                "url-credentials",
                "`url` carries credentials (`user:password@`); it is published as the image's `image_source`",
            )
            .with_hint("put the URL with credentials in `mirror_url` and a public one in `url`"),
        );
        return true;
    }
    if parsed.query().is_some() {
        out.push(
            Diagnostic::warning(
                at.clone(),
                "url-query",
                "`url` has a query string, published as the image's `image_source`: a signed URL's signature would be readable by every tenant",
            )
            .with_hint("put a signed URL in `mirror_url` and a public one in `url`"),
        );
    }
    false
}

/// Every URL the definition holds: which schemes are fine depends on what the URL is for.
fn urls(catalog: &Catalog, definition: &Definition, out: &mut Vec<Diagnostic>) {
    let origin = definition.origin;
    let mut check = |relative: String, url: &str, downloaded: bool| {
        let at = catalog.locate(origin, &relative);
        let field = relative.rsplit('/').next().unwrap_or_default().to_owned();
        match url::Url::parse(url) {
            Err(error) => out.push(Diagnostic::error(
                at,
                "invalid-url",
                // Redacted: a URL with a password in it must not reach a CI log.
                format!(
                    "`{field}` is not a valid URL ({error}): `{}`",
                    crate::redact::url(url)
                ),
            )),
            Ok(parsed) if field == "url" && public_secret(&parsed, &at, out) => {}
            Ok(parsed) => match parsed.scheme() {
                "http" | "https" => {}
                "file" => out.push(
                    Diagnostic::warning(
                        at,
                        "file-url",
                        format!("`{field}` is a file: URL, read from the machine running image-manager"),
                    )
                    .with_hint("fine for tests, but clouds and the SCS checks expect http(s)"),
                ),
                "ftp" if !downloaded => {}
                "ftp" => out.push(
                    Diagnostic::error(at, "unsupported-scheme", format!("`{field}`: downloads over ftp are not supported"))
                        .with_hint("add an http(s) `mirror_url`"),
                ),
                other => out.push(Diagnostic::error(
                    at,
                    "unsupported-scheme",
                    format!("`{field}` uses the unsupported scheme `{other}:` (expected http, https or file)"),
                )),
            },
        }
    };
    for (field, url) in [
        ("latest_url", &definition.latest_url),
        ("latest_checksum_url", &definition.latest_checksum_url),
    ] {
        if let Some(url) = url {
            check(field.to_owned(), url, true);
        }
    }
    for (index, version) in definition.versions.iter().enumerate() {
        let base = format!("versions/{index}");
        check(
            format!("{base}/url"),
            &version.url,
            version.mirror_url.is_none(),
        );
        for (field, url) in [
            ("mirror_url", &version.mirror_url),
            ("checksum_url", &version.checksum_url),
            ("checksums_url", &version.checksums_url),
        ] {
            if let Some(url) = url {
                check(format!("{base}/{field}"), url, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::{Diagnostic, from_text};

    /// A definition shared with demo; `VIS` is its visibility, `VERSION` more versions.
    const SHARED: &str = "images:\n  - name: X\n    format: qcow2\n    visibility: VIS\n    shared:\n      - project: demo\n        domain: Default\n    versions:\n      - version: '1'\n        url: https://e.org/x.img\n        checksum: sha256:ARG\nVERSION";

    /// Loads `template` with its placeholders filled (`ARG` with a valid digest).
    fn load(template: &str, visibility: &str, version: &str) -> Vec<Diagnostic> {
        let text = template
            .replace("VERSION", version)
            .replace("VIS", visibility)
            .replace("ARG", &"a".repeat(64));
        from_text("c.yaml", &text).diagnostics
    }

    /// Code and line of each finding, the SCS metadata lint's aside.
    fn codes(diagnostics: &[Diagnostic]) -> Vec<(&str, u32)> {
        diagnostics
            .iter()
            .filter(|d| !d.code.starts_with("scs-"))
            .map(|d| (d.code, d.location.line))
            .collect()
    }

    /// The first message of the finding `code`.
    fn message<'a>(diagnostics: &'a [Diagnostic], code: &str) -> &'a str {
        let found = diagnostics.iter().find(|d| d.code == code);
        &found
            .unwrap_or_else(|| panic!("no {code}: {diagnostics:?}"))
            .message
    }

    #[test]
    fn a_shared_list_needs_a_shared_image() {
        assert_eq!(codes(&load(SHARED, "shared", "")), []);
        let found = load(SHARED, "public", "");
        assert_eq!(codes(&found), [("shared-not-shared", 5)]);
        let text = message(&found, "shared-not-shared");
        assert!(
            text.contains("no version of `X` that takes this list"),
            "{text}"
        );
        // One version made shared by itself takes the definition's list.
        let version = "      - version: '2'\n        url: https://e.org/y.img\n        checksum: \
                       sha256:ARG\n        visibility: VIS\n";
        assert_eq!(
            codes(&load(SHARED, "private", &version.replace("VIS", "shared"))),
            []
        );
        // A version's own list on a version that is not shared.
        let own = format!("{version}        shared:\n          - project_id: p1\n");
        let found = load(SHARED, "shared", &own.replace("VIS", "private"));
        assert_eq!(codes(&found), [("shared-not-shared", 16)]);
        let text = message(&found, "shared-not-shared");
        assert!(text.contains("version `2`"), "{text}");
        // An empty list says "no members", which any visibility can say.
        let empty = SHARED.replace(
            "    shared:\n      - project: demo\n        domain: Default\n",
            "    shared: []\n",
        );
        assert_eq!(codes(&load(&empty, "private", "")), []);
    }

    #[test]
    fn a_project_listed_twice_is_an_error() {
        let twice = SHARED.replace(
            "        domain: Default\n",
            "        domain: Default\n      - project_id: p1\n      - project: demo\n        \
             domain: Default\n      - project_id: p1\n        status: accepted\n",
        );
        let found = load(&twice, "shared", "");
        assert_eq!(
            codes(&found),
            [("duplicate-share", 9), ("duplicate-share", 11)]
        );
        let text = message(&found, "duplicate-share");
        let first = "project demo (domain Default) is listed twice (first at c.yaml:6:";
        assert!(text.starts_with(first), "{text}");
    }
}
