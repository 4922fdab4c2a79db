//! How long a superseded image is kept, from its `uuid_validity`.
//!
//! The SCS standard gives `uuid_validity` a meaning ("the UUID stays valid until …"); retention
//! follows it literally, so operators who promise `forever` never lose an image to a cleanup
//! run. `today` is a parameter: the rules are pure and tested without a clock.

use chrono::NaiveDate;
use serde::Serialize;

/// The retention rule a definition declares in `meta.uuid_validity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Policy {
    /// `forever`: superseded images are kept for good.
    Forever,
    /// `notice`: kept until the operator gives notice (i.e. for good, as far as a tool can tell).
    Notice,
    /// `YYYY-MM-DD`: kept until that date (UTC) has passed.
    Until(NaiveDate),
    /// `last-N`: the N most recent superseded images are kept.
    LastN(u32),
    /// `none`: no promise; prunable once superseded.
    None,
    /// No `uuid_validity`: nothing was promised, but deleting cannot be undone, so keep.
    Unspecified,
}

impl Policy {
    /// Reads `uuid_validity` (already validated by the schema); unknown text keeps everything.
    pub fn parse(value: Option<&str>) -> Policy {
        let Some(value) = value else {
            return Policy::Unspecified;
        };
        match value {
            "forever" => Policy::Forever,
            "notice" => Policy::Notice,
            "none" => Policy::None,
            other => {
                if let Some(n) = other.strip_prefix("last-").and_then(|n| n.parse().ok()) {
                    Policy::LastN(n)
                } else if let Ok(date) = NaiveDate::parse_from_str(other, "%Y-%m-%d") {
                    Policy::Until(date)
                } else {
                    Policy::Unspecified
                }
            }
        }
    }

    /// The fate of a superseded image. `rank` is its place among the definition's superseded
    /// images, newest first (0 = the one just replaced).
    pub fn classify(self, rank: usize, today: NaiveDate) -> Retention {
        match self {
            Policy::Forever | Policy::Notice | Policy::Unspecified => Retention::Retained,
            Policy::Until(date) if today <= date => Retention::Retained,
            Policy::Until(_) => Retention::Prunable,
            Policy::LastN(n) if rank < n as usize => Retention::Retained,
            Policy::LastN(_) | Policy::None => Retention::Prunable,
        }
    }
}

/// What happens to one version's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// The image users should get: it carries the plain name.
    Current,
    /// Superseded, kept (renamed, with `on_rotate` applied).
    Retained,
    /// Superseded and past its promise: pruned as `--prune` allows.
    Prunable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(Policy::parse(Some("forever")), Policy::Forever);
        assert_eq!(Policy::parse(Some("notice")), Policy::Notice);
        assert_eq!(Policy::parse(Some("none")), Policy::None);
        assert_eq!(Policy::parse(Some("last-3")), Policy::LastN(3));
        assert_eq!(
            Policy::parse(Some("2027-06-30")),
            Policy::Until(day("2027-06-30"))
        );
        assert_eq!(Policy::parse(None), Policy::Unspecified);
        assert_eq!(Policy::parse(Some("soon")), Policy::Unspecified);
    }

    #[test]
    fn classifies_by_rank_and_date() {
        let today = day("2026-11-22");
        use Retention::{Prunable, Retained};
        let cases = [
            (Policy::Forever, 10, Retained),
            (Policy::Notice, 10, Retained),
            (Policy::Unspecified, 10, Retained),
            (Policy::None, 0, Prunable),
            (Policy::LastN(2), 0, Retained),
            (Policy::LastN(2), 1, Retained),
            (Policy::LastN(2), 2, Prunable),
            (Policy::LastN(0), 0, Prunable),
            (Policy::Until(day("2026-11-22")), 5, Retained),
            (Policy::Until(day("2026-11-21")), 0, Prunable),
        ];
        for (policy, rank, expected) in cases {
            assert_eq!(
                policy.classify(rank, today),
                expected,
                "{policy:?} rank {rank}"
            );
        }
    }
}
