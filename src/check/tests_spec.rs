//! The spec tables against `../shared/reference/scs.md` (every testcase id and module the
//! official spec declares), modules and their verdicts, and the run without `--module`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;

use super::spec::{self, MODULES, Role};
use super::tests::{good, live, module, now, offline, with};
use super::*;

/// The reference, whitespace collapsed (its prose wraps lines anywhere).
fn reference() -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/scs.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the shared reference is needed)", path.display()));
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (text, flat)
}

/// The testcase ids `scs.md` declares: the first cell of the scs-0102 table rows, and the
/// scs-0104 lists ("`scs-0104-source-` capi-1, capi-2, …;").
fn declared_testcases() -> BTreeSet<String> {
    let (text, flat) = reference();
    let mut ids: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| scs-0102-"))
        .map(|rest| format!("scs-0102-{}", rest.split(' ').next().unwrap()))
        .collect();
    let lists = Regex::new(r"`(scs-0104-(?:source|image)-)` ([^;.]+)").unwrap();
    for caps in lists.captures_iter(&flat) {
        for x in caps[2].split(", ") {
            ids.insert(format!("{}{}", &caps[1], x.trim()));
        }
    }
    ids
}

#[test]
fn the_table_declares_every_testcase_of_the_reference() {
    let declared = declared_testcases();
    assert_eq!(declared.len(), 34, "{declared:#?}");
    let ids: Vec<&str> = spec::testcases().collect();
    let table: BTreeSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    let missing: Vec<&String> = declared.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "scs.md declares, the table lacks: {missing:?}"
    );
    let extra: Vec<&String> = table.difference(&declared).collect();
    assert!(
        extra.is_empty(),
        "the table has, scs.md does not: {extra:?}"
    );
    assert_eq!(ids.len(), table.len(), "an id is listed twice");
    for id in ids {
        assert!(
            evaluate(id, &live(vec![]), now()).is_some(),
            "{id} has no code"
        );
    }
}

/// The modules of `scs.md`: id → (main, recommended).
fn declared_modules() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let (text, flat) = reference();
    let mut modules = BTreeMap::new();
    // scs-0104: "| scs-0104-v1-1 (certificate scope v4) | source-capi-1, … | image-capi-1 |".
    for line in text.lines().filter(|l| l.starts_with("| scs-0104-v")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let ids = |cell: &str| -> BTreeSet<String> {
            cell.split(", ").map(|x| format!("scs-0104-{x}")).collect()
        };
        let id = cells[1].split(' ').next().unwrap().to_owned();
        modules.insert(id, (ids(cells[2]), ids(cells[3])));
    }
    // scs-0102: "scs-0102-v1 (v5.1) main = a, b; recommended = c, d. scs-0102-v2 ("next")
    // moves x and y into main."
    let full = |short: &str| -> String {
        [
            format!("scs-0102-prop-{short}"),
            format!("scs-0102-{short}"),
        ]
        .into_iter()
        .find(|id| spec::testcase(id).is_some())
        .unwrap_or_else(|| panic!("scs.md names an unknown testcase {short}"))
    };
    let v1 = Regex::new(r"scs-0102-v1 \([^)]*\) main = ([^;]+); recommended = ([^.]+)\.").unwrap();
    let caps = v1.captures(&flat).expect("scs.md describes scs-0102-v1");
    let list = |text: &str| -> BTreeSet<String> { text.split(", ").map(full).collect() };
    let (main, recommended) = (list(&caps[1]), list(&caps[2]));
    let v2 = Regex::new(r"scs-0102-v2 \([^)]*\) moves (.+?) into main").unwrap();
    let moved: BTreeSet<String> = v2.captures(&flat).expect("scs.md describes scs-0102-v2")[1]
        .split(" and ")
        .map(full)
        .collect();
    let v2_main = main.union(&moved).cloned().collect();
    let v2_recommended = recommended.difference(&moved).cloned().collect();
    modules.insert("scs-0102-v1".into(), (main, recommended));
    modules.insert("scs-0102-v2".into(), (v2_main, v2_recommended));
    modules
}

#[test]
fn the_modules_are_the_reference_ones() {
    let declared = declared_modules();
    let set = |m: &spec::ModuleSpec, role| -> BTreeSet<String> {
        m.with(role).into_iter().map(str::to_owned).collect()
    };
    let table: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = MODULES
        .iter()
        .map(|m| {
            let sets = (set(m, Role::Main), set(m, Role::Recommended));
            (m.id.to_owned(), sets)
        })
        .collect();
    assert_eq!(table, declared);
    for spec in MODULES {
        assert_eq!(spec.rec_id, format!("{}-rec", spec.id));
    }
}

#[test]
fn modules_and_their_rec_twins() {
    let ids = Module::ids();
    assert_eq!(
        ids,
        [
            "scs-0102-v1",
            "scs-0102-v1-rec",
            "scs-0102-v2",
            "scs-0102-v2-rec",
            "scs-0104-v1-1",
            "scs-0104-v1-1-rec",
            "scs-0104-v1-2",
            "scs-0104-v1-2-rec"
        ]
    );
    for id in &ids {
        assert_eq!(module(id).id(), *id);
    }
    assert!("scs-0102".parse::<Module>().is_err());
    let defaults: Vec<&str> = Module::defaults().into_iter().map(Module::id).collect();
    assert_eq!(
        defaults,
        [
            "scs-0102-v1",
            "scs-0102-v2",
            "scs-0104-v1-1",
            "scs-0104-v1-2"
        ]
    );
    let count = |id: &str, main: bool| {
        module(id)
            .testcases()
            .iter()
            .filter(|t| t.1 == main)
            .count()
    };
    let counts = |id| (count(id, true), count(id, false));
    assert_eq!(counts("scs-0102-v1"), (14, 6));
    assert_eq!(counts("scs-0102-v2"), (16, 4));
    assert_eq!(counts("scs-0104-v1-1"), (6, 1));
    assert_eq!(counts("scs-0104-v1-2"), (9, 2));
    // A -rec module decides on the recommended testcases, and has no others.
    assert_eq!(counts("scs-0102-v1-rec"), (6, 0));
    assert_eq!(
        module("scs-0104-v1-1-rec").testcases(),
        [("scs-0104-image-capi-1", true)]
    );
    let v1: BTreeMap<&str, bool> = module("scs-0102-v1").testcases().into_iter().collect();
    assert!(v1["scs-0102-image-recency"] && !v1["scs-0102-os_purpose-uniqueness"]);
    let v11: BTreeMap<&str, bool> = module("scs-0104-v1-1").testcases().into_iter().collect();
    assert!(v11["scs-0104-image-ubuntu-2204"] && !v11.contains_key("scs-0104-image-ubuntu-2404"));
}

#[test]
fn module_verdicts_count_deciding_testcases_only() {
    // A recommended failure (hypervisor_type) leaves v1 passing; os_purpose fails v2 only.
    let images = live(vec![
        with(good("a"), "hypervisor_type", Some("hyperv")),
        with(good("b"), "os_purpose", Some("base")),
    ]);
    let modules = [module("scs-0102-v1"), module("scs-0102-v2")];
    let report = run(&modules, &images, now());
    assert_eq!(report.modules[0].verdict, Verdict::Pass);
    assert_eq!(report.modules[1].verdict, Verdict::Fail);
    assert!(!report.passed());
    // Shared testcases run once.
    assert_eq!(report.testcases.len(), 20);
    let hv = report.testcase("scs-0102-prop-hypervisor_type").unwrap();
    assert_eq!(hv.verdict, Verdict::Fail);
    // ... and the -rec module, asked for, fails on it.
    let report = run(&[module("scs-0102-v1-rec")], &images, now());
    assert_eq!(report.testcases.len(), 6);
    assert_eq!(report.modules[0].verdict, Verdict::Fail);

    // A main ABORT makes the module ABORT (not PASS, not FAIL).
    let queued = live(vec![Image {
        size: None,
        ..good("q")
    }]);
    let report = run(&[module("scs-0102-v1")], &queued, now());
    assert_eq!(report.modules[0].verdict, Verdict::Abort);
    assert!(!report.passed());

    // Ubuntu 24.04 missing fails scs-0104-v1-2; Debian 12 missing does not.
    let v12 = [module("scs-0104-v1-2")];
    let report = run(&v12, &live(vec![good("x")]), now());
    assert_eq!(report.modules[0].verdict, Verdict::Fail);
    let images = live(vec![good("Ubuntu 24.04")]);
    let report = run(&v12, &images, now());
    assert_eq!(report.modules[0].verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(
        report.testcase("scs-0104-image-debian-12").unwrap().verdict,
        Verdict::Fail
    );
    // scs-0104-v1-1 (certificate v4) wants Ubuntu 22.04 instead.
    let report = run(&[module("scs-0104-v1-1")], &images, now());
    assert_eq!(report.modules[0].verdict, Verdict::Fail);
}

#[test]
fn without_modules_every_testcase_runs_in_the_spec_order() {
    let report = run_everything(&live(vec![good("Ubuntu 24.04")]), now());
    let ids: Vec<&str> = report.testcases.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, spec::testcases().collect::<Vec<_>>());
    // Debian 13 is in no module: reported, deciding nothing.
    let debian13 = report.testcase("scs-0104-image-debian-13").unwrap();
    assert_eq!(debian13.verdict, Verdict::Fail);
    let modules: Vec<&str> = report.modules.iter().map(|m| m.id.id()).collect();
    assert_eq!(
        modules,
        [
            "scs-0102-v1",
            "scs-0102-v2",
            "scs-0104-v1-1",
            "scs-0104-v1-2"
        ]
    );
}

#[test]
fn a_skipped_main_testcase_is_named_and_does_not_fail_the_module() {
    let report = run(&[module("scs-0102-v1")], &offline(vec![good("a")]), now());
    let v1 = &report.modules[0];
    assert_eq!(v1.verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(v1.skipped, ["scs-0102-prop-min_disk"]);
    assert!(report.passed());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["modules"][0]["skipped"][0], "scs-0102-prop-min_disk");
    let hash = report.testcase("scs-0102-prop-hash_algo").unwrap();
    assert_eq!(serde_json::to_value(hash).unwrap()["verdict"], "SKIP");
    // A zero min_disk still fails offline: SKIP never hides a failure.
    let zero = Image {
        min_disk: 0,
        ..good("z")
    };
    let report = run(&[module("scs-0102-v1")], &offline(vec![zero]), now());
    assert_eq!(report.modules[0].verdict, Verdict::Fail);
    assert!(report.modules[0].skipped.is_empty());
}
