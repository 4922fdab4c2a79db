//! Problems found in a catalog, as data.
//!
//! Diagnostics are collected, not thrown: a user fixing a catalog wants every problem of every
//! file in one run. They print grep-style (`file:line:col: error: message`), which editors,
//! Zuul logs and tests all read easily, and serialise to JSON for `--output json`.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How bad a problem is. `--strict` turns warnings into errors at the CLI edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A place in a catalog file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem, where it is, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    #[serde(flatten)]
    pub location: Location,
    pub severity: Severity,
    /// Stable, kebab-case identifier of the check (e.g. `duplicate-version`), for tooling.
    pub code: &'static str,
    pub message: String,
    /// A suggested fix, printed after the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(location: Location, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(location: Location, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, code, message)
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.severity, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_grep_style_with_hint() {
        let location = Location {
            file: "images.d/ubuntu.yaml".into(),
            line: 12,
            column: 19,
        };
        let d = Diagnostic::error(location, "not-a-string", "os_version must be a string")
            .with_hint("quote it: '24.10'");
        assert_eq!(
            d.to_string(),
            "images.d/ubuntu.yaml:12:19: error: os_version must be a string; quote it: '24.10'"
        );
    }
}
