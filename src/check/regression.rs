//! SCS testcases a plan would break: the checks on Glance as it is and as it would be.
//!
//! `plan` and `apply` warn before a change makes a main testcase fail that passes today — e.g.
//! two visible `generic` images of one distro after a rotation without `hidden` or
//! `oldgeneric`. "After" is the plan's projection (`plan::project`), never a second simulation
//! of the planner. Failures that exist already are `check`'s business, not the plan's, so only
//! new failures are reported.

use chrono::{DateTime, Utc};

use super::{Images, Module, Verdict, run};

/// A main testcase that passes now and would not after the plan, with what it would say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regression {
    pub testcase: String,
    pub messages: Vec<String>,
}

/// Main testcases of every module that pass on `before` and fail or abort on `after`.
pub fn regressions(before: &Images, after: &Images, now: DateTime<Utc>) -> Vec<Regression> {
    let then = run(&Module::defaults(), before, now);
    let next = run(&Module::defaults(), after, now);
    let main: Vec<&String> = next.modules.iter().flat_map(|m| &m.main).collect();
    let mut out: Vec<Regression> = next
        .testcases
        .iter()
        .filter(|t| main.contains(&&t.id) && matches!(t.verdict, Verdict::Fail | Verdict::Abort))
        .filter(|t| {
            then.testcase(&t.id)
                .is_some_and(|b| b.verdict == Verdict::Pass)
        })
        .map(|t| Regression {
            testcase: t.id.clone(),
            messages: t.diagnostics.iter().map(|d| d.message.clone()).collect(),
        })
        .collect();
    out.dedup_by(|a, b| a.testcase == b.testcase);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{self, DesiredState, properties};
    use crate::glance::{ObservedImage, ObservedState, Visibility};
    use crate::plan::{self, Policy, Prune};

    /// The checks' view of Glance once the plan for `desired` ran.
    fn after(
        observed: &ObservedState,
        desired: &DesiredState,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Images {
        let policy = Policy {
            managed_tag: tag.into(),
            prune: Prune::None,
            method: None,
        };
        let plan = plan::plan(desired, observed, &policy);
        Images::from_observed(&plan::project(observed, &plan, now))
    }

    const CATALOG: &str = r#"images:
  - name: Ubuntu 24.04
    format: qcow2
    login: ubuntu
    min_disk: 8
    min_ram: 512
    visibility: public
    meta:
      architecture: x86_64
      os_distro: ubuntu
      os_version: '24.04'
      os_purpose: generic
      replace_frequency: never
      provided_until: none
      uuid_validity: forever
    ON_ROTATE
    versions:
      - {version: '20260101', url: 'https://cloud-images.ubuntu.com/noble/20260101/x.img', checksum: 'sha256:AAAA', build_date: 2026-01-01}
      - {version: '20260201', url: 'https://cloud-images.ubuntu.com/noble/20260201/x.img', checksum: 'sha256:AAAA', build_date: 2026-02-01}
"#;

    fn desired(on_rotate: &str) -> DesiredState {
        let text = CATALOG
            .replace("AAAA", &"a".repeat(64))
            .replace("    ON_ROTATE\n", on_rotate);
        desired::from_text(&text, &desired::Options::test("managed"))
    }

    #[test]
    fn a_rotation_that_leaves_two_visible_generic_images_is_a_regression() {
        let now = Utc::now();
        let current = ObservedImage::test("Ubuntu 24.04")
            .with_visibility(Visibility::Public)
            .with_tag("managed");
        let before = Images::from_observed(&ObservedState {
            projects: Default::default(),
            import_methods: Vec::new(),
            cloud: "c".into(),
            project_id: None,
            images: vec![current.clone()],
        });
        // on_rotate keeps the old image generic: the uniqueness rule (v2 main) breaks.
        let keep_generic = desired("    on_rotate:\n      meta:\n        os_purpose: generic\n");
        let observed = ObservedState {
            projects: Default::default(),
            import_methods: Vec::new(),
            cloud: "c".into(),
            project_id: None,
            images: vec![current],
        };
        let after_plan = after(&observed, &keep_generic, "managed", now);
        let found = regressions(&before, &after_plan, now);
        assert!(
            found
                .iter()
                .any(|r| r.testcase == "scs-0102-os_purpose-uniqueness"),
            "{found:#?}"
        );
        // The default (oldgeneric) breaks nothing.
        let after_default = after(&observed, &desired(""), "managed", now);
        let found = regressions(&before, &after_default, now);
        assert!(
            !found
                .iter()
                .any(|r| r.testcase == "scs-0102-os_purpose-uniqueness"),
            "{found:#?}"
        );
    }

    #[test]
    fn what_the_catalog_cannot_say_comes_from_glance_or_passes() {
        let now: DateTime<Utc> = "2026-11-22T12:00:00Z".parse().unwrap();
        let mut undated = desired("");
        for image in undated.definitions.iter_mut().flat_map(|d| &mut d.images) {
            image.properties.remove(properties::BUILD_DATE);
        }
        // Glance has the current version, dated by apply from the upstream's Last-Modified.
        let current = ObservedImage::test("Ubuntu 24.04")
            .with_visibility(Visibility::Public)
            .with_tag("managed")
            .with_property(properties::IMAGE_NAME, "Ubuntu 24.04")
            .with_property(properties::INTERNAL_VERSION, "20260201")
            .with_property(properties::BUILD_DATE, "2026-01-30")
            .with_created_at("2026-02-01T00:00:00Z".parse().unwrap())
            .with_min_disk(8);
        let observed = ObservedState {
            projects: Default::default(),
            import_methods: Vec::new(),
            cloud: "c".into(),
            project_id: None,
            images: vec![current],
        };
        let images = after(&observed, &undated, "managed", now);
        let date = |name: &str| {
            let image = images.images.iter().find(|i| i.name == name).unwrap();
            image.property(properties::BUILD_DATE).map(str::to_owned)
        };
        assert_eq!(date("Ubuntu 24.04").as_deref(), Some("2026-01-30"));
        // Not in Glance yet: apply will record a past date; today stands in for it.
        assert_eq!(
            date("Ubuntu 24.04 (20260101)").as_deref(),
            Some("2026-11-22")
        );
        // Size and registration of the image in Glance; a new one's size is not known yet.
        let image = |name: &str| images.images.iter().find(|i| i.name == name).unwrap();
        let created = "2026-02-01T00:00:00Z".parse().ok();
        assert_eq!(
            (image("Ubuntu 24.04").size, image("Ubuntu 24.04").created_at),
            (Some(1024), created)
        );
        assert_eq!(image("Ubuntu 24.04 (20260101)").size, Some(0));
        let before = Images::from_observed(&observed);
        let passes = |images: &Images, id: &str| {
            run(&Module::defaults(), images, now)
                .testcase(id)
                .unwrap()
                .verdict
                == Verdict::Pass
        };
        for id in ["scs-0102-prop-image_build_date", "scs-0102-prop-min_disk"] {
            assert!(passes(&before, id) && passes(&images, id), "{id}");
        }
        let found = regressions(&before, &images, now);
        assert!(found.is_empty(), "{found:#?}");
    }
}
