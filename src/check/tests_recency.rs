//! Table tests of `scs-0102-image-recency` (every rule and trap of the official
//! `is_outdated`).

use chrono::Duration;

use super::tests::{expect, good, live, now, with};
use super::*;

const ID: &str = "scs-0102-image-recency";

/// An image with this frequency, build date and `provided_until` (`None`: unset).
fn aged(name: &str, frequency: &str, built: &str, until: Option<&str>) -> Image {
    let image = with(good(name), "replace_frequency", Some(frequency));
    let image = with(image, "image_build_date", Some(built));
    with(image, "provided_until", until)
}

/// Weekly, built 193 h ago (> 1.1 × 175 h), promised until 2027: outdated.
fn outdated(name: &str) -> Image {
    aged(name, "weekly", "2026-11-14 11:00", Some("2027-12-31"))
}

const UNMARKED: &str = "not hidden or otherwise marked";
const NO_REPLACEMENT: &str = "outdated without replacement";

#[test]
fn periods_keywords_and_provided_until() {
    let cases: &[(&str, Vec<Image>, Verdict, &[&str])] = &[
        (
            "weekly, 192 h: within 1.1 × 175 h",
            vec![aged("a", "weekly", "2026-11-14 12:00", Some("2027-12-31"))],
            Verdict::Pass,
            &[],
        ),
        (
            "weekly, 193 h: outdated, unmarked, no replacement",
            vec![outdated("Debian 12")],
            Verdict::Fail,
            &[UNMARKED, "\"Debian 12\" outdated without replacement"],
        ),
        (
            "monthly, 34 days: within 34.1",
            vec![aged("m", "monthly", "2026-10-19 12:00", Some("2027-12-31"))],
            Verdict::Pass,
            &[],
        ),
        (
            "monthly, 35 days: outdated",
            vec![aged("m", "monthly", "2026-10-18 12:00", Some("2027-12-31"))],
            Verdict::Fail,
            &[NO_REPLACEMENT],
        ),
        (
            "never is never outdated",
            vec![aged("n", "never", "2020-01-01", Some("2027-12-31"))],
            Verdict::Pass,
            &[],
        ),
        (
            "critical_bug is never outdated",
            vec![aged("c", "critical_bug", "2020-01-01", None)],
            Verdict::Pass,
            &[],
        ),
        (
            "unknown frequency: warning only",
            vec![aged("u", "biweekly", "2020-01-01", None)],
            Verdict::Pass,
            &["WARNING: invalid replace frequency biweekly"],
        ),
        (
            "outdated without provided_until: the testcase aborts",
            vec![good("fine"), aged("x", "daily", "2026-11-01", None)],
            Verdict::Abort,
            &["x"],
        ),
        (
            "fresh without provided_until: never read",
            vec![aged("y", "daily", "2026-11-22", None)],
            Verdict::Pass,
            &[],
        ),
        (
            "provided_until notice",
            vec![aged("x", "daily", "2026-01-01", Some("notice"))],
            Verdict::Pass,
            &[],
        ),
        (
            "provided_until none",
            vec![aged("x", "daily", "2026-01-01", Some("none"))],
            Verdict::Pass,
            &[],
        ),
        (
            "provided_until in the past: no promise any more",
            vec![aged("x", "daily", "2026-01-01", Some("2026-06-30"))],
            Verdict::Pass,
            &[],
        ),
        (
            "provided_until neither keyword nor date",
            vec![aged("x", "daily", "2026-01-01", Some("soon"))],
            Verdict::Fail,
            &["\"x\" does not provide a valid provided until date"],
        ),
    ];
    for (label, images, verdict, mentions) in cases {
        expect(label, ID, &live(images.clone()), *verdict, mentions);
    }
}

/// (label, images, verdict, diagnostics that must appear, texts that must not).
type MarkerCase = (
    &'static str,
    Vec<Image>,
    Verdict,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn markers_and_replacements() {
    let current = || good("Ubuntu 24.04");
    let cases: &[MarkerCase] = &[
        (
            "YYYYMMDD marker + fresh replacement",
            vec![outdated("Ubuntu 24.04 20260108"), current()],
            Verdict::Pass,
            &["INFO: Image \"Ubuntu 24.04\" is a valid replacement"],
            &[UNMARKED],
        ),
        (
            "YYYY-MM-DD marker",
            vec![outdated("Ubuntu 24.04 2026-01-08"), current()],
            Verdict::Pass,
            &[],
            &[UNMARKED],
        ),
        (
            "old marker",
            vec![outdated("Ubuntu 24.04 old"), current()],
            Verdict::Pass,
            &[],
            &[UNMARKED],
        ),
        (
            "prev marker",
            vec![outdated("Ubuntu 24.04 prev"), current()],
            Verdict::Pass,
            &[],
            &[UNMARKED],
        ),
        (
            "parenthesised date is not a marker (but the replacement exists)",
            vec![outdated("Ubuntu 24.04 (20260108)"), current()],
            Verdict::Pass,
            &[
                UNMARKED,
                "valid replacement for outdated \"Ubuntu 24.04 (20260108)\"",
            ],
            &[],
        ),
        (
            "trailing space: empty marker, replacement right-trimmed",
            vec![outdated("Ubuntu 24.04 "), current()],
            Verdict::Pass,
            &[UNMARKED],
            &[],
        ),
        (
            "marked but no replacement",
            vec![outdated("Ubuntu 24.04 old")],
            Verdict::Fail,
            &["\"Ubuntu 24.04 old\" outdated without replacement"],
            &[UNMARKED],
        ),
        (
            "the replacement is outdated itself",
            vec![outdated("Ubuntu 24.04 old"), outdated("Ubuntu 24.04")],
            Verdict::Fail,
            &[
                "\"Ubuntu 24.04 old\" outdated without replacement",
                "\"Ubuntu 24.04\" outdated without replacement",
            ],
            &[],
        ),
        (
            "a name without a space has no replacement",
            vec![outdated("cirros"), good("cirros")],
            Verdict::Fail,
            &[
                "\"cirros\" outdated without replacement",
                "duplicate names detected: cirros",
            ],
            &[],
        ),
        (
            "hidden marks (the official listing never shows it, but the rule exists)",
            vec![
                Image {
                    os_hidden: true,
                    ..outdated("Ubuntu 24.04 (20260108)")
                },
                current(),
            ],
            Verdict::Pass,
            &[],
            &[UNMARKED],
        ),
    ];
    for (label, images, verdict, mentions, absent) in cases {
        let images = live(images.clone());
        expect(label, ID, &images, *verdict, mentions);
        let report = evaluate(ID, &images, now()).unwrap();
        for text in *absent {
            assert!(
                report.diagnostics.iter().all(|d| !d.message.contains(text)),
                "{label}: unexpected {text:?} in {:#?}",
                report.diagnostics
            );
        }
    }
}

#[test]
fn duplicate_names_the_last_one_wins() {
    let old = outdated("Ubuntu 24.04 old");
    let stale = outdated("Ubuntu 24.04");
    let fresh = good("Ubuntu 24.04");
    let valid = "valid replacement for outdated \"Ubuntu 24.04 old\"";
    let fresh_last = live(vec![old.clone(), stale.clone(), fresh.clone()]);
    expect(
        "fresh last",
        ID,
        &fresh_last,
        Verdict::Fail,
        &["duplicate names", valid],
    );
    let stale_last = live(vec![old, fresh, stale]);
    expect(
        "stale last",
        ID,
        &stale_last,
        Verdict::Fail,
        &["\"Ubuntu 24.04 old\" outdated without replacement"],
    );
}

#[test]
fn build_date_falls_back_to_registration() {
    let registered = |days: i64| Image {
        created_at: Some(now() - Duration::days(days)),
        ..with(outdated("r"), "image_build_date", Some("yesterday"))
    };
    expect(
        "10 days",
        ID,
        &live(vec![registered(10)]),
        Verdict::Fail,
        &[NO_REPLACEMENT],
    );
    expect("1 day", ID, &live(vec![registered(1)]), Verdict::Pass, &[]);
}
