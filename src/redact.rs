//! The one place that decides what of a URL may be shown.
//!
//! Catalog URLs carry secrets in two places: the userinfo (`https://user:token@mirror/…`) and
//! the query of signed URLs (`?X-Amz-Signature=…`, Swift's `?temp_url_sig=…`). Everything that
//! shows a URL to a person or a file someone else reads (log lines, errors, `plan` text and
//! JSON, the apply report, `update` output) goes through [`url`], so a new output cannot
//! forget one of the two. The query keys stay (they tell which kind of signed URL it is); the
//! values go. A fragment is never sent to a server and is dropped in case it holds a token.
//!
//! [`text`] applies the same to every URL inside a free-form message, for texts built by other
//! layers (an upstream's error, a message that quotes a catalog URL). [`secrets`] removes known
//! secret values (OpenStack passwords and tokens, S3 secret keys) from messages other software
//! wrote, where they may be echoed.

use std::sync::LazyLock;

use regex::Regex;

/// What a query value (or a part that cannot be shown) is replaced with.
pub const REDACTED: &str = "REDACTED";

/// What an unparsable URL that may hide a secret is shown as.
const UNPARSABLE: &str = "<unparsable URL>";

/// `raw` fit for output: userinfo removed, every query value replaced by `REDACTED`, fragment
/// dropped.
///
/// A URL without any of `@`, `?`, `#` is returned exactly as written. One with them that does
/// not parse as a hierarchical URL (`host/x?sig=…`, `user:pw@host` read as scheme `user:`, a
/// bad port) could hide a secret the parser did not recognise, so it becomes
/// `<unparsable URL>`.
pub fn url(raw: &str) -> String {
    // Userinfo ends in `@`, a query starts with `?`, a fragment with `#`: without them there is
    // nothing to hide, and the URL is shown exactly as written (not normalised).
    if !raw.contains(['@', '?', '#']) {
        return raw.to_owned();
    }
    let mut parsed = match url::Url::parse(raw) {
        Ok(parsed) if !parsed.cannot_be_a_base() => parsed,
        _ => return UNPARSABLE.to_owned(),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Fails only for URLs without a host, which cannot carry userinfo either.
        if parsed.set_username("").is_err() || parsed.set_password(None).is_err() {
            return UNPARSABLE.to_owned();
        }
    }
    if let Some(query) = parsed.query() {
        let redacted = query_keys(query);
        parsed.set_query(Some(&redacted));
    }
    parsed.set_fragment(None);
    parsed.to_string()
}

/// `a=1&b&c=3` → `a=REDACTED&REDACTED&c=REDACTED`: a part without `=` may itself be the
/// token, so it goes too; empty parts (`a=1&&b=2`) stay empty.
fn query_keys(query: &str) -> String {
    query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((key, _)) => format!("{key}={REDACTED}"),
            None if part.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Something that looks like a URL in running text: a scheme, `:`, and everything up to white
/// space or a quoting character (backticks and quotes delimit URLs in our messages).
static IN_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"[A-Za-z][A-Za-z0-9+.-]*:[^\s`'"<>]+"#).expect("valid regex"));

/// `message` with every URL in it passed through [`url`]. URLs with nothing to hide are left
/// exactly as written (no normalisation), so ordinary messages do not change. Punctuation
/// ending a URL is taken as the sentence's (a signature never ends in `:`); `@`, `?` or `#` in
/// what remains means the URL is redacted.
pub fn text(message: &str) -> String {
    IN_TEXT
        .replace_all(message, |found: &regex::Captures<'_>| {
            let found = &found[0];
            // Sentence punctuation after a URL (`GET {url}: HTTP 404`) is not part of it.
            let bare = found.trim_end_matches([':', ',', '.', ';', ')', ']', '!']);
            if bare.contains(['@', '?', '#']) {
                format!("{}{}", url(bare), &found[bare.len()..])
            } else {
                found.to_owned()
            }
        })
        .into_owned()
}

/// `text` with each of `secrets` replaced by `<redacted>`, in every form an error message may
/// quote it: as is, and JSON-escaped (a password with `"` or `\\` inside a JSON body that
/// Keystone or Glance echoes). Longer secrets first, so one that contains another is not
/// left half-redacted.
pub fn secrets<'a>(text: &str, secrets: impl Iterator<Item = &'a str>) -> String {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.filter(|s| !s.is_empty()) {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        if escaped != secret && !escaped.is_empty() {
            forms.push(escaped.to_owned());
        }
        forms.push(secret.to_owned());
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = text.to_owned();
    for form in &forms {
        out = out.replace(form.as_str(), "<redacted>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urls_lose_userinfo_query_values_and_fragment() {
        let cases = [
            ("https://u:secret@host/a.img", "https://host/a.img"),
            ("https://token@host/a.img", "https://host/a.img"),
            ("https://:pw@host/a.img", "https://host/a.img"),
            ("http://host:8080/a.img", "http://host:8080/a.img"),
            ("HTTPS://Host:443/a b.img", "HTTPS://Host:443/a b.img"),
            (
                "https://bucket.s3/x.img?X-Amz-Signature=abc&X-Amz-Date=1",
                "https://bucket.s3/x.img?X-Amz-Signature=REDACTED&X-Amz-Date=REDACTED",
            ),
            (
                "https://swift/v1/c/x?temp_url_sig=s1&temp_url_expires=9",
                "https://swift/v1/c/x?temp_url_sig=REDACTED&temp_url_expires=REDACTED",
            ),
            ("https://h/x?opaquetoken", "https://h/x?REDACTED"),
            ("https://h/x?a=1&&b", "https://h/x?a=REDACTED&&REDACTED"),
            ("https://h/x#access_token=t", "https://h/x"),
            ("https://u:p@h/x?sig=s#frag", "https://h/x?sig=REDACTED"),
            ("file:///tmp/a.img", "file:///tmp/a.img"),
            ("not a url", "not a url"),
            ("", ""),
            ("u:secret@host", "<unparsable URL>"),
            ("https://u:pw@host:99999/x", "<unparsable URL>"),
            ("host/x?sig=abc", "<unparsable URL>"),
            ("mailto:someone@example.org", "<unparsable URL>"),
        ];
        for (input, want) in cases {
            assert_eq!(url(input), want, "{input}");
        }
    }

    #[test]
    fn text_redacts_urls_in_messages_and_leaves_the_rest() {
        let cases = [
            (
                "GET https://u:pw@h/x.img?sig=s: HTTP 404",
                "GET https://h/x.img?sig=REDACTED: HTTP 404",
            ),
            (
                "`https://u:pw@h/a` has no folder",
                "`https://h/a` has no folder",
            ),
            (
                "no secret in https://H/x or at 12:30, keep as is",
                "no secret in https://H/x or at 12:30, keep as is",
            ),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(text(input), want, "{input}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_in_their_json_escaped_form_too() {
        let body = serde_json::json!({"password": r#"hu"nt\er2"#, "other": "hunt"});
        let scrubbed = secrets(&body.to_string(), [r#"hu"nt\er2"#, "hunt"].into_iter());
        assert_eq!(
            scrubbed,
            r#"{"other":"<redacted>","password":"<redacted>"}"#
        );
        let scrubbed = secrets("token gAAAA-x and gAAAA", ["gAAAA-x", "gAAAA"].into_iter());
        assert_eq!(scrubbed, "token <redacted> and <redacted>");
    }

    /// Secrets are upper-case with a marker and everything else lower-case, so a secret found
    /// in the output can only be a leak, never a coincidence.
    fn secret() -> impl Strategy<Value = String> {
        "[A-Z0-9]{1,12}".prop_map(|s| format!("SECRET{s}"))
    }

    fn plain() -> impl Strategy<Value = String> {
        "[a-z0-9._~-]{1,10}"
    }

    proptest! {
        #[test]
        fn no_password_or_query_value_survives(
            scheme in prop_oneof![Just("http"), Just("https"), Just("ftp"), Just("file"), Just("s3")],
            user in prop::option::of(plain()),
            password in prop::option::of(secret()),
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?",
            port in prop::option::of(0u32..70000),
            path in prop::collection::vec(plain(), 0..4),
            query in prop::collection::vec((plain(), secret()), 0..4),
            bare in prop::option::of(secret()),
            fragment in prop::option::of(secret()),
        ) {
            let mut raw = format!("{scheme}://");
            match (&user, &password) {
                (Some(user), Some(password)) => raw.push_str(&format!("{user}:{password}@")),
                (None, Some(password)) => raw.push_str(&format!(":{password}@")),
                (Some(user), None) => raw.push_str(&format!("{user}@")),
                (None, None) => {}
            }
            raw.push_str(&host);
            if let Some(port) = port {
                raw.push_str(&format!(":{port}"));
            }
            for segment in &path {
                raw.push('/');
                raw.push_str(segment);
            }
            let mut parts: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.extend(bare.clone());
            if !parts.is_empty() {
                raw.push('?');
                raw.push_str(&parts.join("&"));
            }
            if let Some(fragment) = &fragment {
                raw.push('#');
                raw.push_str(fragment);
            }
            let shown = url(&raw);
            prop_assert!(!shown.contains("SECRET"), "{raw} → {shown}");
            if let Some(user) = &user {
                prop_assert!(!shown.contains(&format!("{user}@")), "{raw} → {shown}");
            }
            let in_text = text(&format!("GET {raw}: failed"));
            prop_assert!(!in_text.contains("SECRET"), "{raw} → {in_text}");
        }

        #[test]
        fn any_input_is_handled_without_panic(raw in ".{0,80}") {
            let _ = url(&raw);
            let _ = text(&raw);
        }
    }
}
