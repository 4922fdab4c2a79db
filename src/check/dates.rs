//! Dates as the official SCS checks read them: Python's `time.strptime` + `calendar.timegm`.
//!
//! The official `parse_date` tries a list of formats and returns Unix seconds, or `0` when
//! nothing matched. To predict its verdicts we accept exactly what `strptime` accepts, which
//! is looser and stricter than `chrono` in odd places:
//! - fields may have fewer digits (`2026-1-5`), the day may have a leading space (`%d`);
//! - literals match case-insensitively (`2026-01-05t10:00:00z` passes the strict format);
//! - a space in the format matches one or more whitespace characters, never none;
//! - seconds 60 and 61 are accepted (leap seconds), days must exist in their month;
//! - the first match (in the regex's priority order) must consume the whole text.
//!
//! And one quirk of the caller: a date that is exactly the epoch (`1970-01-01`) is 0, which
//! the official code treats as "not a date". [`parse`] returns `None` for it too.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

/// A `strptime` format this module can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `%Y-%m-%dT%H:%M:%SZ`: Glance's `created_at` and the strict build-date form.
    Strict,
    /// `%Y-%m-%d %H:%M:%S`
    DateTimeSeconds,
    /// `%Y-%m-%d %H:%M`
    DateTimeMinutes,
    /// `%Y-%m-%d`
    Date,
    /// `%Y%m%d` (only as a name marker)
    CompactDate,
}

/// `DATE_FORMATS` of the official code: `image_build_date`, `provided_until`, `uuid_validity`.
pub const DATE_FORMATS: &[Format] = &[
    Format::Strict,
    Format::DateTimeSeconds,
    Format::DateTimeMinutes,
    Format::Date,
];
/// `MARKER_DATE_FORMATS`: the date a renamed outdated image may carry as its last name token.
pub const MARKER_DATE_FORMATS: &[Format] = &[Format::Date, Format::CompactDate];

// The field patterns of CPython's `_strptime.TimeRE`.
const Y: &str = r"(\d\d\d\d)";
const M: &str = r"(1[0-2]|0[1-9]|[1-9])";
const D: &str = r"(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])";
const HH: &str = r"(2[0-3]|[0-1]\d|\d)";
const MM: &str = r"([0-5]\d|\d)";
const SS: &str = r"(6[0-1]|[0-5]\d|\d)";

fn compile(parts: &[&str]) -> Regex {
    // `(?i)`: CPython compiles the format regex with IGNORECASE. `^`: `re.match`.
    Regex::new(&format!("(?i)^{}", parts.concat())).expect("static regex is valid")
}

static STRICT: LazyLock<Regex> =
    LazyLock::new(|| compile(&[Y, "-", M, "-", D, "T", HH, ":", MM, ":", SS, "Z"]));
static DATE_TIME_SECONDS: LazyLock<Regex> =
    LazyLock::new(|| compile(&[Y, "-", M, "-", D, r"\s+", HH, ":", MM, ":", SS]));
static DATE_TIME_MINUTES: LazyLock<Regex> =
    LazyLock::new(|| compile(&[Y, "-", M, "-", D, r"\s+", HH, ":", MM]));
static DATE: LazyLock<Regex> = LazyLock::new(|| compile(&[Y, "-", M, "-", D]));
static COMPACT_DATE: LazyLock<Regex> = LazyLock::new(|| compile(&[Y, M, D]));

impl Format {
    fn regex(self) -> &'static Regex {
        match self {
            Format::Strict => &STRICT,
            Format::DateTimeSeconds => &DATE_TIME_SECONDS,
            Format::DateTimeMinutes => &DATE_TIME_MINUTES,
            Format::Date => &DATE,
            Format::CompactDate => &COMPACT_DATE,
        }
    }

    /// Unix seconds (UTC) if `text` is in this format, as `strptime` + `timegm` would say.
    fn read(self, text: &str) -> Option<i64> {
        let caps = self.regex().captures(text)?;
        // strptime: "unconverted data remains" unless the first match ends the text.
        if caps.get(0)?.end() != text.len() {
            return None;
        }
        let field = |i: usize| -> i64 {
            caps.get(i)
                .and_then(|m| m.as_str().trim().parse().ok())
                .unwrap_or(0)
        };
        let (year, month, day) = (field(1), field(2), field(3));
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(year).ok()?,
            u32::try_from(month).ok()?,
            u32::try_from(day).ok()?,
        )?;
        let days = date
            .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days();
        Some(days * 86_400 + field(4) * 3600 + field(5) * 60 + field(6))
    }
}

/// The official `parse_date(text, formats)`: the first format that reads `text`, in Unix
/// seconds; `None` where the official code gets 0 (no format matched, or the epoch itself).
pub fn parse(text: &str, formats: &[Format]) -> Option<i64> {
    formats
        .iter()
        .find_map(|f| f.read(text))
        .filter(|&secs| secs != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn reads_every_build_date_form() {
        let base = parse("2026-01-08", DATE_FORMATS).unwrap();
        assert_eq!(base, 20_461 * DAY);
        let cases = [
            ("2026-01-08T10:20:30Z", base + 37_230),
            ("2026-01-08 10:20:30", base + 37_230),
            ("2026-01-08 10:20", base + 37_200),
            ("2026-1-8", base),
            ("2026-01- 8", base),
            ("2026-01-08t10:20:30z", base + 37_230),
            ("2026-01-08  10:20", base + 37_200),
            ("2026-01-08 23:59:60", base + DAY),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text, DATE_FORMATS), Some(expected), "{text}");
        }
    }

    #[test]
    fn rejects_what_strptime_rejects() {
        for text in [
            "",
            "20260108",
            "2026-02-30",
            "2026-13-01",
            "2026-01-08T10:20:30",
            "2026-01-08 10",
            "2026-01-0810:20",
            " 2026-01-08",
            "2026-01-08 ",
            "2026-01-08 24:00",
            "26-01-08",
            "1970-01-01",
            "none",
        ] {
            assert_eq!(parse(text, DATE_FORMATS), None, "{text:?}");
        }
    }

    /// `STRICT_FORMATS`: how the official code reads Glance's `created_at`.
    const STRICT_FORMATS: &[Format] = &[Format::Strict];

    #[test]
    fn strict_and_marker_formats() {
        assert!(parse("2026-01-08T10:20:30Z", STRICT_FORMATS).is_some());
        assert!(parse("2026-01-08 10:20:30", STRICT_FORMATS).is_none());
        assert_eq!(
            parse("20260108", MARKER_DATE_FORMATS),
            parse("2026-01-08", MARKER_DATE_FORMATS)
        );
        assert!(parse("(20260108)", MARKER_DATE_FORMATS).is_none());
        // %m takes "01", then no %d fits "0": no backtracking rescues it, as in CPython.
        assert!(parse("2026010", MARKER_DATE_FORMATS).is_none());
        assert!(parse("2026111", MARKER_DATE_FORMATS).is_some());
    }

    #[test]
    fn before_the_epoch_is_a_date() {
        assert_eq!(parse("1969-12-31", DATE_FORMATS), Some(-DAY));
    }
}
