//! The human form of a plan, in the style of `terraform plan`.
//!
//! One block per step, grouped by phase in execution order: a `#` comment saying what will
//! happen to which image and why, then the action's symbol (`+` create, `*` publish, `~`
//! update, `→` rename, `-` deactivate or delete, `^` reactivate) with the image, then one line
//! per change (`~ key: "old" → "new"`, `+ key: "new"`, `- key: "old"`). Warnings and the
//! versions the plan cannot serve follow the steps, and a summary line ends the plan.
//!
//! This module reads only [`Plan`]; the counts come from [`Summary::of`], the same function
//! the JSON form uses. Why a step exists is rendered by one `match` ([`because`]), like
//! terraform's `resourceChangeComment`. Text that comes from Glance or the catalog is
//! printed quoted (`{:?}`) or with control characters escaped, so an image name can never
//! move the cursor or change colours, and every URL (or property value holding one) goes
//! through [`crate::redact`]: a plan is pasted into tickets and CI logs.

use std::borrow::Cow;
use std::fmt::{self, Display, Formatter};

use super::action::{Action, Change, Phase, Plan, Reason, Step, Unplannable, Warning};
use super::data_path::DataPath;
use super::json::Summary;
use crate::desired::{Checksum, DesiredImage, Identity};
use crate::redact;

/// Properties shown in a create block; the others are counted.
const KEY_PROPERTIES: &[&str] = &[
    "os_distro",
    "os_version",
    "architecture",
    "os_purpose",
    "image_build_date",
];

/// A plan as text; `color` adds ANSI colours (the caller decides: TTY and no `NO_COLOR`).
pub fn text(plan: &Plan, color: bool) -> Text<'_> {
    Text {
        plan,
        paint: Paint(color),
    }
}

/// [`Display`]s one plan; see [`text`].
pub struct Text<'a> {
    plan: &'a Plan,
    paint: Paint,
}

impl Display for Text<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (plan, paint) = (self.plan, self.paint);
        if !plan.is_empty() {
            writeln!(
                f,
                "image-manager will perform these actions on cloud {}, in this order:",
                quote(&plan.cloud)
            )?;
            writeln!(f)?;
            let mut phase = None;
            for step in &plan.steps {
                if phase != Some(step.phase) {
                    phase = Some(step.phase);
                    writeln!(f, "{}", paint.bold(phase_title(step.phase)))?;
                }
                write_step(f, paint, step)?;
            }
        }
        if !plan.warnings.is_empty() {
            writeln!(f, "{}", paint.bold("Warnings:"))?;
            for warning in &plan.warnings {
                writeln!(
                    f,
                    "  {} {}",
                    paint.yellow("!"),
                    warning_text(warning, &plan.managed_tag)
                )?;
            }
            writeln!(f)?;
        }
        if !plan.errors.is_empty() {
            writeln!(
                f,
                "{}",
                paint.bold("Errors (nothing more is done for these definitions):")
            )?;
            for Unplannable { identity, message } in &plan.errors {
                writeln!(
                    f,
                    "  {} {}: {}",
                    paint.red("x"),
                    subject(identity),
                    plain(message)
                )?;
            }
            writeln!(f)?;
        }
        writeln!(f, "{}", paint.bold(&summary_line(plan)))
    }
}

/// The last line of a plan: counts per category and warnings.
pub fn summary_line(plan: &Plan) -> String {
    let s = Summary::of(plan);
    let mut warnings = match s.warnings {
        1 => "1 warning".to_owned(),
        n => format!("{n} warnings"),
    };
    match s.errors {
        0 => {}
        1 => warnings.push_str(", 1 error"),
        n => warnings.push_str(&format!(", {n} errors")),
    }
    if plan.is_empty() {
        format!(
            "No changes. Glance matches the catalog (cloud {}; {warnings}).",
            quote(&plan.cloud)
        )
    } else {
        format!(
            "Plan for cloud {}: {} to create, {} to publish, {} to update, {} to rename, {} to \
             prune; {warnings}.",
            quote(&plan.cloud),
            s.create,
            s.publish,
            s.update,
            s.rename,
            s.prune
        )
    }
}

fn phase_title(phase: Phase) -> &'static str {
    match phase {
        Phase::Cleanup => "Cleanup: leftovers of interrupted runs and duplicates go first",
        Phase::Upload => {
            "Upload: new images are uploaded and verified before anything else changes"
        }
        Phase::Rotate => "Rotate: superseded images take their old-version names",
        Phase::Publish => "Publish: final names and visibility, drift corrected",
        Phase::Prune => "Prune: last, so a failed upload never costs an old image",
    }
}

fn write_step(f: &mut Formatter<'_>, paint: Paint, step: &Step) -> fmt::Result {
    let subject = match (&step.identity, &step.action) {
        (Some(identity), _) => subject(identity),
        (None, Action::Create { image, .. }) => subject(&image.identity),
        (None, _) => "an image no definition claims".to_owned(),
    };
    let header = format!("# {subject} will be {}", verb(&step.action));
    writeln!(f, "  {}", paint.bold(&header))?;
    writeln!(
        f,
        "  {}",
        paint.dim(&format!("# (because {})", because(&step.reason)))
    )?;
    let symbol = paint.symbol(step.action.symbol());
    match &step.action {
        Action::Create { image, path } => {
            writeln!(f, "  {symbol} {}", quote(&image.name))?;
            write_create(f, image, path)?;
        }
        Action::Publish {
            name,
            visibility,
            hidden,
            protected,
            deactivate,
        } => {
            writeln!(f, "  {symbol} {}", quote(name))?;
            let mut access = plain(visibility).into_owned();
            for (set, word) in [
                (*hidden, ", hidden"),
                (*protected, ", protected"),
                (*deactivate, ", then deactivated"),
            ] {
                if set {
                    access.push_str(word);
                }
            }
            writeln!(f, "      visibility: {access}")?;
        }
        Action::Update { id, name, changes } => {
            writeln!(f, "  {symbol} {} (id {})", quote(name), plain(id))?;
            for change in changes {
                write_change(f, paint, change)?;
            }
        }
        Action::Deactivate { id, name }
        | Action::Reactivate { id, name }
        | Action::Delete { id, name } => {
            writeln!(f, "  {symbol} {} (id {})", quote(name), plain(id))?;
        }
    }
    writeln!(f)
}

fn subject(identity: &Identity) -> String {
    format!(
        "{} version {}",
        quote(&identity.definition),
        plain(&identity.version)
    )
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "created",
        Action::Publish { .. } => "published",
        Action::Update { .. } if action.is_rename() => "renamed",
        Action::Update { .. } => "updated in place",
        Action::Deactivate { .. } => "deactivated",
        Action::Reactivate { .. } => "reactivated",
        Action::Delete { .. } => "deleted",
    }
}

/// Why a step exists, as the end of a sentence starting "because".
fn because(reason: &Reason) -> String {
    match reason {
        Reason::Missing => "no image in Glance has this identity".into(),
        Reason::Uploaded => "this run uploads and verifies it first".into(),
        Reason::Drift => "it differs from the catalog".into(),
        Reason::Superseded { by } => format!("it is superseded by {}", quote(by)),
        Reason::Expired { uuid_validity } => format!(
            "it is superseded and past its retention, uuid_validity {}",
            plain(uuid_validity)
        ),
        Reason::Unlisted { uuid_validity } => format!(
            "the catalog no longer lists this version and uuid_validity {} allows pruning",
            plain(uuid_validity)
        ),
        Reason::Status => "the catalog asks for another status".into(),
        Reason::Leftover { status } => format!(
            "an interrupted run left it behind in status {}",
            plain(status)
        ),
        Reason::Duplicate { kept } => format!(
            "a second image of the same catalog version; image {} is kept",
            plain(kept)
        ),
    }
}

fn write_create(f: &mut Formatter<'_>, image: &DesiredImage, path: &DataPath) -> fmt::Result {
    let field = |f: &mut Formatter<'_>, label: &str, value: &str| {
        writeln!(f, "      {:<12}{value}", format!("{label}:"))
    };
    let source = &image.source;
    let image_source = image.properties.get("image_source");
    field(f, "version", &plain(&image.identity.version))?;
    field(
        f,
        "source",
        &plain(&redact::url(image_source.unwrap_or(&source.download_url))),
    )?;
    if image_source.is_some_and(|url| *url != source.download_url) {
        field(f, "download", &plain(&redact::url(&source.download_url)))?;
    }
    field(f, "checksum", &checksum_text(&source.checksum))?;
    let mut format = image.disk_format.to_string();
    if let Some(compression) = source.compression {
        format.push_str(&format!(", decompressed from {compression}"));
    }
    field(f, "format", &format)?;
    field(
        f,
        "method",
        &format!(
            "{} (Glance's os_hash_value: {})",
            path.method.as_str(),
            path.hash_algo.name()
        ),
    )?;
    let mut access = image.visibility.to_string();
    if image.hidden {
        access.push_str(", hidden");
    }
    if image.protected == Some(true) {
        access.push_str(", protected");
    }
    if image.status != crate::catalog::Status::Active {
        access.push_str(&format!(", {}", image.status));
    }
    field(f, "visibility", &access)?;
    field(
        f,
        "minimum",
        &format!("{} GiB disk, {} MiB RAM", image.min_disk, image.min_ram),
    )?;
    if let Some(id) = &image.id {
        field(f, "id", &plain(id))?;
    }
    let shown: Vec<String> = KEY_PROPERTIES
        .iter()
        .filter_map(|key| {
            image
                .properties
                .get(*key)
                .map(|v| format!("{key}={}", quote(&redact::text(v))))
        })
        .collect();
    let mut properties = shown.join(" ");
    let more = image.properties.len() - shown.len();
    if more > 0 {
        properties.push_str(&format!(" (+{more} more)"));
    }
    field(f, "properties", properties.trim_start())?;
    let tags: Vec<Cow<str>> = image.tags.iter().map(|t| plain(t)).collect();
    field(f, "tags", &tags.join(", "))
}

/// How the upload will be verified.
fn checksum_text(checksum: &Checksum) -> String {
    match checksum {
        Checksum::Inline { digest } => format!("{} (in the catalog)", digest.algorithm),
        Checksum::File { url } => format!("from {}", plain(&redact::url(url))),
        Checksum::Sums { url, file_name } => {
            format!("{} in {}", quote(file_name), plain(&redact::url(url)))
        }
        Checksum::Missing => "none: apply refuses to upload unverified data".into(),
    }
}

fn write_change(f: &mut Formatter<'_>, paint: Paint, change: &Change) -> fmt::Result {
    let (sign, line) = match change {
        Change::Name { from, to } => ("~", format!("name: {} → {}", quote(from), quote(to))),
        Change::Visibility { from, to } => {
            ("~", format!("visibility: {} → {}", quote(from), quote(to)))
        }
        Change::Hidden { from, to } => ("~", format!("os_hidden: {from} → {to}")),
        Change::Protected { from, to } => ("~", format!("protected: {from} → {to}")),
        Change::MinDisk { from, to } => ("~", format!("min_disk: {from} → {to} (GiB)")),
        Change::MinRam { from, to } => ("~", format!("min_ram: {from} → {to} (MiB)")),
        Change::Tags { from, to } => ("~", format!("tags: {from:?} → {to:?}")),
        Change::Property { key, from, to } => {
            let key = plain(key);
            let quote = |value: &str| quote(&redact::text(value));
            match (from, to) {
                (None, Some(to)) => ("+", format!("{key}: {}", quote(to))),
                (Some(from), None) => ("-", format!("{key}: {}", quote(from))),
                (Some(from), Some(to)) => ("~", format!("{key}: {} → {}", quote(from), quote(to))),
                (None, None) => ("~", format!("{key}: (unset)")),
            }
        }
    };
    writeln!(f, "      {} {line}", paint.symbol(sign))
}

fn warning_text(warning: &Warning, managed_tag: &str) -> String {
    match warning {
        Warning::UnmanagedNameClash { id, name } => format!(
            "image {} (id {}) carries a name the catalog manages but not the tag {}: left alone",
            quote(name),
            plain(id),
            plain(managed_tag)
        ),
        Warning::ProtectedPruneTarget { id, name } => format!(
            "image {} (id {}) could be pruned but is protected: left alone",
            quote(name),
            plain(id)
        ),
        Warning::DuplicateIdentity {
            identity,
            kept,
            ids,
        } => format!(
            "{} is also claimed by protected image(s) {}: image {} is kept, the protected \
             ones are left alone",
            subject(identity),
            ids.iter()
                .map(|id| plain(id))
                .collect::<Vec<_>>()
                .join(", "),
            plain(kept)
        ),
        Warning::Stuck { id, name, status } => format!(
            "image {} (id {}) is stuck in status {} and this run will not clean it up",
            quote(name),
            plain(id),
            plain(status)
        ),
        Warning::PruneSkipped { id, name } => format!(
            "image {} (id {}) may be pruned, but --prune none only reports it \
             (choose --prune hide, deactivate or delete)",
            quote(name),
            plain(id)
        ),
    }
}

/// A value in double quotes with Rust's escapes (control characters included).
fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A value as is, unless it holds control characters, which are escaped.
fn plain(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(s.chars().flat_map(char::escape_default).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// ANSI colours by hand, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn code(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn bold(self, s: &str) -> String {
        self.code("1", s)
    }

    fn dim(self, s: &str) -> String {
        self.code("2", s)
    }

    fn yellow(self, s: &str) -> String {
        self.code("33", s)
    }

    fn red(self, s: &str) -> String {
        self.code("31", s)
    }

    /// The colour of an action or change symbol: create and publish green, update yellow,
    /// rename cyan, removal red, reactivation magenta.
    fn symbol(self, symbol: &str) -> String {
        let code = match symbol {
            "+" | "*" => "32",
            "~" => "33",
            "→" => "36",
            "-" => "31",
            _ => "35",
        };
        self.code(code, symbol)
    }
}

#[cfg(test)]
mod tests {
    //! Golden tests on hand-built plans (no planner involved; fixtures in `json::tests`).

    use super::*;
    use crate::catalog::checksums::Digest;
    use crate::plan::json::tests::{every_variant, small_plan};

    #[test]
    fn golden_small_plan() {
        assert_golden(&text(&small_plan(), false).to_string(), SMALL_PLAN);
    }

    #[test]
    fn golden_every_variant() {
        assert_golden(&text(&every_variant(), false).to_string(), EVERY_VARIANT);
    }

    #[test]
    fn empty_plan_says_no_changes() {
        let mut plan = small_plan();
        plan.steps.clear();
        assert_golden(
            &text(&plan, false).to_string(),
            "Warnings:\n  ! image \"Cirros 0.6.3\" (id 3333) carries a name the catalog manages \
             but not the tag managed_by_image_manager: left alone\n\n\
             No changes. Glance matches the catalog (cloud \"prod\"; 1 warning).\n",
        );
        plan.warnings.clear();
        assert_golden(
            &text(&plan, false).to_string(),
            "No changes. Glance matches the catalog (cloud \"prod\"; 0 warnings).\n",
        );
    }

    #[test]
    fn color_only_when_asked_and_glance_text_cannot_inject_escapes() {
        let mut plan = small_plan();
        let plain_text = text(&plan, false).to_string();
        assert!(!plain_text.contains('\x1b'));
        let colored = text(&plan, true).to_string();
        assert!(
            colored.contains("\x1b[32m+\x1b[0m \"Cirros 0.6.3\""),
            "{colored}"
        );
        assert!(
            colored.contains("\x1b[31m-\x1b[0m \"Cirros 0.5.2\""),
            "{colored}"
        );
        plan.warnings[0] = Warning::Stuck {
            id: "x\x1b[2J".into(),
            name: "evil\x1b[31m\n".into(),
            status: "queued\r".into(),
        };
        let out = text(&plan, false).to_string();
        assert!(!out.contains('\x1b') && !out.contains('\r'), "{out:?}");
        assert!(
            out.contains(r#"image "evil\u{1b}[31m\n" (id x\u{1b}[2J) is stuck in status queued\r"#),
            "{out}"
        );
    }

    #[test]
    fn checksum_kinds_read_as_sentences() {
        let digest = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
        let cases = [
            (Checksum::Inline { digest }, "sha512 (in the catalog)"),
            (
                Checksum::File {
                    url: "https://e.org/x.sha256".into(),
                },
                "from https://e.org/x.sha256",
            ),
            (
                Checksum::Sums {
                    url: "https://e.org/SUMS".into(),
                    file_name: "x.img".into(),
                },
                "\"x.img\" in https://e.org/SUMS",
            ),
            (
                Checksum::Missing,
                "none: apply refuses to upload unverified data",
            ),
        ];
        for (checksum, expected) in cases {
            assert_eq!(checksum_text(&checksum), expected);
        }
    }

    /// Compares line by line, so a failure shows the first differing line.
    fn assert_golden(actual: &str, expected: &str) {
        for (n, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
            assert_eq!(a, e, "line {} differs; whole output:\n{actual}", n + 1);
        }
        assert_eq!(actual, expected, "whole output:\n{actual}");
    }

    const SMALL_PLAN: &str = r#"image-manager will perform these actions on cloud "prod", in this order:

Upload: new images are uploaded and verified before anything else changes
  # "Cirros" version 0.6.3 will be created
  # (because no image in Glance has this identity)
  + "Cirros 0.6.3"
      version:    0.6.3
      source:     https://example.org/cirros-0.6.3.img
      checksum:   sha256 (in the catalog)
      format:     qcow2
      method:     glance-direct (Glance's os_hash_value: sha512)
      visibility: public
      minimum:    1 GiB disk, 128 MiB RAM
      properties: os_distro="cirros" (+3 more)
      tags:       managed_by_image_manager, os:cirros

Publish: final names and visibility, drift corrected
  # "Cirros" version 0.6.2 will be updated in place
  # (because it differs from the catalog)
  ~ "Cirros 0.6.2" (id 1111)
      ~ os_purpose: "generic" → "minimal"
      ~ min_ram: 64 → 128 (MiB)

  # "Cirros" version 0.6.3 will be published
  # (because this run uploads and verifies it first)
  * "Cirros 0.6.3"
      visibility: public

Prune: last, so a failed upload never costs an old image
  # "Cirros" version 0.5.2 will be deleted
  # (because the catalog no longer lists this version and uuid_validity none allows pruning)
  - "Cirros 0.5.2" (id 2222)

Warnings:
  ! image "Cirros 0.6.3" (id 3333) carries a name the catalog manages but not the tag managed_by_image_manager: left alone

Plan for cloud "prod": 1 to create, 1 to publish, 1 to update, 0 to rename, 1 to prune; 1 warning.
"#;

    const EVERY_VARIANT: &str = r#"image-manager will perform these actions on cloud "prod", in this order:

Cleanup: leftovers of interrupted runs and duplicates go first
  # an image no definition claims will be deleted
  # (because an interrupted run left it behind in status queued)
  - "Ubuntu 24.04 (upload)" (id 9999)

Upload: new images are uploaded and verified before anything else changes
  # "Ubuntu 24.04" version 20260705 will be created
  # (because no image in Glance has this identity)
  + "Ubuntu 24.04"
      version:    20260705
      source:     https://cloud-images.ubuntu.com/noble/20260705/noble.img
      download:   https://mirror.example/noble.img.xz
      checksum:   "noble.img" in https://cloud-images.ubuntu.com/noble/20260705/SHA256SUMS
      format:     qcow2, decompressed from xz
      method:     glance-direct (Glance's os_hash_value: sha256)
      visibility: private, hidden, protected, deactivated
      minimum:    1 GiB disk, 128 MiB RAM
      id:         0c0ffee0-0000-4000-8000-000000000001
      properties: os_distro="ubuntu" os_version="24.04" architecture="x86_64" os_purpose="generic" image_build_date="2026-07-05" (+4 more)
      tags:       managed_by_image_manager, os:ubuntu, scs

Rotate: superseded images take their old-version names
  # "Ubuntu 24.04" version 20260601 will be renamed
  # (because it is superseded by "Ubuntu 24.04")
  → "Ubuntu 24.04" (id aaaa)
      ~ name: "Ubuntu 24.04" → "Ubuntu 24.04 (20260601)"

Publish: final names and visibility, drift corrected
  # "Ubuntu 24.04" version 20260501 will be updated in place
  # (because it differs from the catalog)
  ~ "Ubuntu 24.04 (20260601)" (id bbbb)
      ~ name: "Ubuntu 24.04 (20260601)" → "Ubuntu 24.04 (20260501)"
      ~ visibility: "shared" → "public"
      ~ os_hidden: false → true
      ~ protected: true → false
      ~ min_disk: 0 → 8 (GiB)
      ~ min_ram: 0 → 512 (MiB)
      ~ tags: ["managed_by_image_manager"] → ["managed_by_image_manager", "os:ubuntu"]
      ~ os_purpose: "generic" → "oldgeneric"
      + hw_rng_model: "virtio"
      - hw_vif_model: "e1000"

  # "Ubuntu 24.04" version 20260705 will be published
  # (because this run uploads and verifies it first)
  * "Ubuntu 24.04"
      visibility: private, hidden, protected, then deactivated

  # "Debian 12" version 20260610 will be reactivated
  # (because the catalog asks for another status)
  ^ "Debian 12" (id cccc)

  # "Old Fedora" version 40 will be deactivated
  # (because the catalog asks for another status)
  - "Old Fedora 40" (id dddd)

Prune: last, so a failed upload never costs an old image
  # "Ubuntu 24.04" version 20260101 will be updated in place
  # (because it is superseded and past its retention, uuid_validity 2026-03-31)
  ~ "Ubuntu 24.04 (20260101)" (id eeee)
      ~ os_hidden: false → true

  # "Cirros" version 0.5.2 will be deactivated
  # (because the catalog no longer lists this version and uuid_validity none allows pruning)
  - "Cirros 0.5.2" (id ffff)

  # "Ubuntu 24.04" version 20251201 will be deleted
  # (because it is superseded and past its retention, uuid_validity last-2)
  - "Ubuntu 24.04 (20251201)" (id 8888)

Warnings:
  ! image "Ubuntu 24.04" (id 1234) carries a name the catalog manages but not the tag managed_by_image_manager: left alone
  ! image "Ubuntu 24.04 (20251101)" (id 2345) could be pruned but is protected: left alone
  ! "Ubuntu 24.04" version 20260601 is also claimed by protected image(s) bbbb: image aaaa is kept, the protected ones are left alone
  ! image "Debian 12 (upload)" (id 3456) is stuck in status killed and this run will not clean it up
  ! image "Cirros 0.5.1" (id 4567) may be pruned, but --prune none only reports it (choose --prune hide, deactivate or delete)

Errors (nothing more is done for these definitions):
  x "Fedora 41" version 1.4: web-download cannot decompress the upstream file (xz); use glance-direct or upload for compressed images

Plan for cloud "prod": 1 to create, 1 to publish, 3 to update, 1 to rename, 4 to prune; 5 warnings, 1 error.
"#;
}
