//! The `validate` lint: `check --offline`'s findings at catalog positions, and agreement with
//! `check --offline` on the osism catalogs.

use std::path::{Path, PathBuf};

use super::tests::now;
use super::*;
use crate::catalog::{self, Severity};

/// `(line:col, code, message)` of a lint warning.
type Warning = (String, &'static str, String);

/// Every lint warning on catalog text.
fn warnings(text: &str) -> Vec<Warning> {
    let loaded = catalog::from_text("test.yaml", text);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    lint(&loaded.catalog, now())
        .into_iter()
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning);
            let at = format!("{}:{}", d.location.line, d.location.column);
            (at, d.code, d.to_string())
        })
        .collect()
}

/// The osism AlmaLinux 9 and CentOS Stream 9 definitions, both `generic` in (x86_64, centos, 9).
fn alma_and_centos() -> String {
    include_str!("../../tests/data/scs/almalinux-centos.yaml").to_owned()
}

#[test]
fn uniqueness_is_a_warning_at_both_definitions() {
    let text = alma_and_centos();
    let found = warnings(&text);
    let uniqueness: Vec<&String> = found
        .iter()
        .filter(|w| w.1 == "scs-0102-os_purpose-uniqueness")
        .map(|w| &w.0)
        .collect();
    // At the `os_purpose` keys of both definitions.
    assert_eq!(uniqueness, ["16:7", "36:7"], "{found:#?}");
    let message = &found.iter().find(|w| w.0 == "16:7").unwrap().2;
    assert_eq!(
        message,
        "test.yaml:16:7: warning: scs-0102-os_purpose-uniqueness fails: os_purpose=generic not \
         unique ('x86_64', 'centos', '9') for image(s): AlmaLinux 9, CentOS Stream 9"
    );
    // `check --offline` fails the same main testcase (v2).
    let loaded = catalog::from_text("test.yaml", &text);
    let report = run_everything(&Images::from_catalog(&loaded.catalog, now()), now());
    let verdict = report.testcase("scs-0102-os_purpose-uniqueness").unwrap();
    assert_eq!(verdict.verdict, Verdict::Fail);
    // The catalog has no Ubuntu 24.04 / 22.04: the main image testcases are warned about
    // at the top of the file, with the --module hint.
    let missing: Vec<&Warning> = found.iter().filter(|w| w.0 == "1:1").collect();
    let codes: Vec<&str> = missing.iter().map(|w| w.1).collect();
    assert_eq!(
        codes,
        ["scs-0104-image-ubuntu-2204", "scs-0104-image-ubuntu-2404"]
    );
    assert!(
        missing[1].2.contains("named exactly `Ubuntu 24.04`"),
        "{missing:#?}"
    );
    assert!(
        missing[1].2.contains("--module scs-0102-v1"),
        "{missing:#?}"
    );
}

/// One public definition with `meta` lines added and the given versions.
fn one(meta: &str, versions: &str) -> String {
    format!(
        "images:\n  - name: Tool\n    format: qcow2\n    login: x\n    min_disk: 1\n    \
         min_ram: 64\n    visibility: public\n    meta:\n      architecture: x86_64\n      \
         os_distro: tool\n      os_version: '1'\n      os_purpose: custom\n{meta}      \
         replace_frequency: never\n      provided_until: none\n    versions:\n{versions}"
    )
    .replace("AAAA", &"a".repeat(64))
}

const TWO_VERSIONS: &str = "      - version: '1'\n        url: https://h/1.img\n        \
                            checksum: sha256:AAAA\n        build_date: 2026-01-01\n      \
                            - version: '2'\n        url: https://h/2.img\n        \
                            checksum: sha256:AAAA\n        build_date: 2026-02-01\n";

/// The one warning of `code`.
fn only<'a>(found: &'a [Warning], code: &str) -> &'a Warning {
    let of: Vec<&Warning> = found.iter().filter(|w| w.1 == code).collect();
    assert_eq!(of.len(), 1, "{code}: {found:#?}");
    of[0]
}

#[test]
fn warnings_point_at_the_value_the_testcase_read() {
    // Set once on the definition, carried by two visible versions: one warning, at the key.
    let found = warnings(&one("      hypervisor_type: hyperv\n", TWO_VERSIONS));
    let hv = only(&found, "scs-0102-prop-hypervisor_type");
    assert_eq!(hv.0, "13:7");
    let named = "for image(s): Tool (1), Tool; accepted: qemu";
    assert!(hv.2.contains(named), "{hv:#?}");
    // A version's own meta, a version's url, a missing key (at the name).
    let versions = TWO_VERSIONS
        .replace(
            "build_date: 2026-02-01\n",
            "build_date: 2026-02-01\n        meta:\n          hw_disk_bus: ide\n",
        )
        .replace("https://h/1.img", "file:///srv/1.img");
    let text = one("", &versions).replace("      os_distro: tool\n", "");
    let found = warnings(&text);
    let at = |code: &str| -> Vec<&str> {
        found
            .iter()
            .filter(|w| w.1 == code)
            .map(|w| w.0.as_str())
            .collect()
    };
    assert_eq!(at("scs-0102-prop-hw_disk_bus"), ["24:11"], "{found:#?}");
    assert_eq!(at("scs-0102-prop-image_source"), ["16:14"], "{found:#?}");
    assert_eq!(at("scs-0102-prop-os_distro"), ["2:11"], "{found:#?}");
    // Nothing else: a compliant definition is clean.
    assert_eq!(found.len(), 3 + 2, "{found:#?}");
}

#[test]
fn private_images_are_judged_alone_and_say_so() {
    let text = one("      hypervisor_type: hyperv\n", TWO_VERSIONS);
    let private = text.replace("visibility: public", "visibility: private");
    let found = warnings(&private);
    let hv = only(&found, "scs-0102-prop-hypervisor_type");
    assert_eq!(hv.0, "13:7");
    let named = "for image(s): Tool (1), Tool (a private, shared or hidden image";
    assert!(hv.2.contains(named), "{hv:#?}");
    // Listing-level testcases are about what a member sees: two private generic images of
    // one distro are not a uniqueness warning (two public ones are).
    let generic = private.replace("os_purpose: custom", "os_purpose: generic");
    let other = generic
        .replace("images:\n", "")
        .replace("name: Tool", "name: Other");
    let both = format!("{generic}{other}");
    let uniqueness = |text: &str| {
        warnings(text)
            .iter()
            .any(|w| w.1 == "scs-0102-os_purpose-uniqueness")
    };
    assert!(!uniqueness(&both));
    assert!(uniqueness(
        &both.replace("visibility: private", "visibility: public")
    ));
}

#[test]
fn lint_positions_exist_in_the_file() {
    let text = alma_and_centos();
    let lines: Vec<&str> = text.lines().collect();
    let loaded = catalog::from_text("test.yaml", &text);
    for d in lint(&loaded.catalog, now()) {
        let line = lines[d.location.line as usize - 1];
        assert!(d.location.column as usize <= line.len().max(1), "{d}");
    }
}

/// The osism catalogs in `../shared/fixtures/osism-catalog/`, loaded as `validate` does.
fn osism() -> catalog::Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/osism-catalog");
    let paths: Vec<PathBuf> = ["ubuntu.yml", "debian.yml", "cirros.yml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    catalog::load(&paths).unwrap().catalog
}

#[test]
fn validate_and_check_offline_agree_on_the_osism_catalogs() {
    let catalog = osism();
    let report = run_everything(&Images::from_catalog(&catalog, now()), now());
    let codes: Vec<&str> = lint(&catalog, now()).iter().map(|d| d.code).collect();
    for module in &report.modules {
        for id in &module.main {
            let verdict = report.testcase(id).unwrap().verdict;
            if matches!(verdict, Verdict::Fail | Verdict::Abort) {
                assert!(codes.contains(&id.as_str()), "{id} fails, no warning");
            }
        }
    }
    // Every warning is a testcase that does not pass, or a check WARNING.
    for code in &codes {
        let t = report.testcase(code).unwrap();
        let warned = t.diagnostics.iter().any(|d| d.level == Level::Warning);
        assert!(t.verdict != Verdict::Pass || warned, "{code}: {t:#?}");
    }
}
