//! Natural ordering of version strings.
//!
//! Catalog versions are dates (`20260108`), dotted releases (`0.6.10`), Kubernetes-style tags
//! (`v1.33.10`) or `latest`. Plain string order gets `0.6.10 < 0.6.9` wrong, and semver rejects
//! dates, so versions are compared as runs of digits (numerically) and other text (bytewise),
//! which orders all of these the way a person does. `latest` sorts after everything.

use std::cmp::Ordering;

/// Compares two version strings naturally: `0.6.9 < 0.6.10`, `v1.33.9 < v1.33.10`,
/// `20251231 < 20260108`, and `latest` is newest.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (a == "latest", b == "latest") {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let (mut left, mut right) = (chunks(a), chunks(b));
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x, y) {
                    (Chunk::Number(x), Chunk::Number(y)) => {
                        let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                    }
                    (Chunk::Number(_), Chunk::Text(_)) => Ordering::Greater,
                    (Chunk::Text(_), Chunk::Number(_)) => Ordering::Less,
                    (Chunk::Text(x), Chunk::Text(y)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

enum Chunk<'a> {
    Number(&'a str),
    Text(&'a str),
}

fn chunks(s: &str) -> impl Iterator<Item = Chunk<'_>> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = rest
            .find(|c: char| c.is_ascii_digit() != digits)
            .unwrap_or(rest.len());
        // `find` returns a character boundary; `_checked` keeps that a fact, not an assumption.
        let (chunk, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        rest = tail;
        Some(if digits {
            Chunk::Number(chunk)
        } else {
            Chunk::Text(chunk)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_a_person() {
        let cases = [
            ("0.6.9", "0.6.10"),
            ("v1.33.9", "v1.33.10"),
            ("20251231", "20260108"),
            ("1.2", "1.2.1"),
            ("1.9", "1.10"),
            ("v1.33.10", "v1.34.0"),
            ("0.6.3", "latest"),
            ("20240703", "20240703-1797"),
            ("1.0-rc1", "1.0.1"),
        ];
        for (older, newer) in cases {
            assert_eq!(compare(older, newer), Ordering::Less, "{older} < {newer}");
            assert_eq!(
                compare(newer, older),
                Ordering::Greater,
                "{newer} > {older}"
            );
        }
    }

    #[test]
    fn leading_zeros_do_not_change_numeric_order_but_ties_are_stable() {
        assert_eq!(compare("1.02", "1.10"), Ordering::Less);
        assert_ne!(compare("1.01", "1.1"), Ordering::Equal);
        assert_eq!(compare("latest", "latest"), Ordering::Equal);
        let mut versions = vec!["0.6.10", "0.6.2", "latest", "0.6.9"];
        versions.sort_by(|a, b| compare(a, b));
        assert_eq!(versions, ["0.6.2", "0.6.9", "0.6.10", "latest"]);
    }
}
