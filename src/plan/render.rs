//! The human form of a plan, in the style of `terraform plan`.
//!
//! One block per step, grouped by phase in execution order: a `#` comment saying what will
//! happen to which image and why, then the action's symbol (`+` create, `*` publish, `~`
//! update, `→` rename, `-` deactivate or delete, `^` reactivate; `+ member`, `~ member`,
//! `- member` for members) with the image, then one line per change (`~ key: "old" → "new"`,
//! `+ key: "new"`, `- key: "old"`). Warnings and the
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

use super::action::{
    Action, Change, MemberProject, Phase, Plan, Reason, Step, Unplannable, Warning,
};
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
        // Only catalogs that share images have member steps; other plans keep their line.
        let members = match s.members {
            0 => String::new(),
            1 => ", 1 member change".to_owned(),
            n => format!(", {n} member changes"),
        };
        format!(
            "Plan for cloud {}: {} to create, {} to publish, {} to update, {} to rename, {} to \
             prune{members}; {warnings}.",
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
        Phase::Share => "Share: members of shared images, once they are published",
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
        Action::AddMember { name, project, .. }
        | Action::AcceptMember { name, project, .. }
        | Action::RemoveMember { name, project, .. } => {
            let image = match step.action.image_id() {
                Some(id) => format!("{} (id {})", quote(name), plain(id)),
                None => quote(name),
            };
            writeln!(f, "  {symbol} member {} on {image}", member(project))?;
            match &step.action {
                Action::AddMember { accept: true, .. } => {
                    writeln!(f, "      status: accepted (set for the member project)")?;
                }
                Action::AddMember { .. } => writeln!(
                    f,
                    "      status: pending (the member project accepts or rejects it)"
                )?,
                Action::AcceptMember { from, .. } => {
                    let sign = paint.symbol("~");
                    writeln!(f, "      {sign} status: {} → \"accepted\"", quote(from))?;
                }
                _ => {}
            }
        }
    }
    writeln!(f)
}

/// A member project: its id, and the catalog's name for it when there is one.
fn member(project: &MemberProject) -> String {
    match (&project.name, &project.domain) {
        (Some(name), Some(domain)) => format!(
            "{} ({} in domain {})",
            plain(&project.id),
            quote(name),
            quote(domain)
        ),
        _ => plain(&project.id).into_owned(),
    }
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
        Action::AddMember { .. } => "shared with a project",
        Action::AcceptMember { .. } => "accepted for a member project",
        Action::RemoveMember { .. } => "unshared from a project",
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
        Reason::MemberListed => "the catalog's `shared` list names this project".into(),
        Reason::MemberUnlisted => "the catalog's `shared` list does not name this project".into(),
        Reason::MemberStatus => "the catalog asks for member status accepted".into(),
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
mod tests;
