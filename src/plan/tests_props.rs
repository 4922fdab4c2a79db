//! Property tests of the plan renderers: every string a plan carries comes from the catalog or
//! from Glance (names, ids, properties, tags, statuses), so any of them may hold any Unicode,
//! control characters or terminal escapes. Both forms must render without panic; the text form
//! must not let such a string reach the terminal raw; the JSON form must read back.

use proptest::prelude::*;
use serde_json::Value;

use super::json::{self, tests::every_variant};
use super::render;
use super::{Action, Change, MemberProject, Plan, Reason, Warning};
use crate::catalog::tests_props::config;
use crate::desired::{Checksum, DesiredImage};

/// Hostile and ordinary text: ANSI escapes, bidi overrides, quotes, newlines, long names.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        ".{0,16}",
        "[\u{0}-\u{1f}\u{7f}-\u{9f}\"'\\\\ é€𝄞\u{202e}\u{200b}]{0,8}",
        Just("\u{1b}[2J\u{1b}]0;title\u{7}".to_owned()),
        Just(String::new()),
        "[a-z]{200,300}",
    ]
}

/// Replaces every string in `plan` with the next of `pool` (cycling), and adds properties.
fn scramble(plan: &mut Plan, pool: &[String], extra: &[(String, String)]) {
    let mut next = {
        let mut i = 0;
        move || {
            i += 1;
            pool[i % pool.len()].clone()
        }
    };
    plan.cloud = next();
    plan.managed_tag = next();
    for step in &mut plan.steps {
        if let Some(identity) = &mut step.identity {
            identity.definition = next();
            identity.version = next();
        }
        match &mut step.action {
            Action::Create { image, .. } => scramble_image(image, &mut next, extra),
            Action::Publish {
                name, visibility, ..
            } => (*name, *visibility) = (next(), next()),
            Action::Update { id, name, changes } => {
                (*id, *name) = (next(), next());
                for change in changes {
                    match change {
                        Change::Name { from, to } | Change::Visibility { from, to } => {
                            (*from, *to) = (next(), next());
                        }
                        Change::Tags { from, to } => {
                            from.push(next());
                            to.push(next());
                        }
                        Change::Property { key, from, to } => {
                            *key = next();
                            *from = from.as_ref().map(|_| next());
                            *to = to.as_ref().map(|_| next());
                        }
                        _ => {}
                    }
                }
            }
            Action::Deactivate { id, name }
            | Action::Reactivate { id, name }
            | Action::Delete { id, name } => (*id, *name) = (next(), next()),
            Action::AddMember {
                id, name, project, ..
            } => {
                (*id, *name) = (id.as_ref().map(|_| next()), next());
                scramble_member(project, &mut next);
            }
            Action::AcceptMember {
                id,
                name,
                project,
                from,
            } => {
                (*id, *name, *from) = (next(), next(), next());
                scramble_member(project, &mut next);
            }
            Action::RemoveMember { id, name, project } => {
                (*id, *name) = (next(), next());
                scramble_member(project, &mut next);
            }
        }
        match &mut step.reason {
            Reason::Superseded { by } => *by = next(),
            Reason::Expired { uuid_validity } | Reason::Unlisted { uuid_validity } => {
                *uuid_validity = next();
            }
            Reason::Leftover { status } => *status = next(),
            Reason::Duplicate { kept } => *kept = next(),
            _ => {}
        }
    }
    for error in &mut plan.errors {
        (error.identity.definition, error.message) = (next(), next());
    }
    for warning in &mut plan.warnings {
        match warning {
            Warning::UnmanagedNameClash { id, name }
            | Warning::ProtectedPruneTarget { id, name }
            | Warning::PruneSkipped { id, name } => (*id, *name) = (next(), next()),
            Warning::DuplicateIdentity {
                identity,
                kept,
                ids,
            } => {
                identity.definition = next();
                *kept = next();
                ids.push(next());
            }
            Warning::Stuck { id, name, status } => (*id, *name, *status) = (next(), next(), next()),
        }
    }
}

fn scramble_member(project: &mut MemberProject, next: &mut impl FnMut() -> String) {
    project.id = next();
    project.name = Some(next());
    project.domain = project.domain.as_ref().map(|_| next());
}

fn scramble_image(
    image: &mut DesiredImage,
    next: &mut impl FnMut() -> String,
    extra: &[(String, String)],
) {
    image.name = next();
    image.identity.definition = next();
    image.identity.version = next();
    image.id = Some(next());
    image.tags.insert(next());
    for value in image.properties.values_mut() {
        *value = next();
    }
    image.properties.extend(extra.iter().cloned());
    image.source.download_url = next();
    image.source.checksum = match &image.source.checksum {
        Checksum::Sums { .. } => Checksum::Sums {
            url: next(),
            file_name: next(),
        },
        _ => Checksum::File { url: next() },
    };
}

/// Text with the renderer's own colour codes (`ESC [ digits m`) taken out.
fn without_colours(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        match after[digits..].strip_prefix('m') {
            Some(tail) => rest = tail,
            None => {
                out.push_str("\u{1b}[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn prop_any_strings_render_safely(
        pool in prop::collection::vec(text(), 1..40),
        extra in prop::collection::vec((text(), text()), 0..4),
    ) {
        let mut plan = every_variant();
        scramble(&mut plan, &pool, &extra);
        for color in [false, true] {
            let shown = render::text(&plan, color).to_string();
            let plain = if color { without_colours(&shown) } else { shown.clone() };
            let raw = plain.chars().find(|c| c.is_control() && *c != '\n');
            prop_assert!(raw.is_none(), "raw {raw:?} in:\n{shown}");
        }
        render::summary_line(&plan);
        let written = json::to_string(std::slice::from_ref(&plan));
        let value: Value = serde_json::from_str(&written).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(value["plans"][0]["cloud"].as_str(), Some(plan.cloud.as_str()));
        let steps = value["plans"][0]["steps"].as_array().map_or(0, Vec::len);
        prop_assert_eq!(steps, plan.steps.len());
    }

    /// Plans of any length and mix, including empty ones.
    #[test]
    fn prop_any_subset_of_steps_renders(keep in prop::collection::vec(any::<bool>(), 13), warnings in 0..6usize) {
        let mut plan = every_variant();
        let mut flags = keep.iter();
        plan.steps.retain(|_| *flags.next().unwrap_or(&true));
        plan.warnings.truncate(warnings);
        let shown = render::text(&plan, false).to_string();
        prop_assert!(shown.ends_with(".\n"), "{shown}");
        serde_json::from_str::<Value>(&json::to_string(&[plan])).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
