//! Table tests per testcase: passing and failing image sets, one case per official trap.
//! Recency has its own table in `tests_recency.rs`; one compliant and one violating state of
//! every testcase of the spec are in `tests_states.rs`, modules in `tests_spec.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::*;

pub(super) const GIB: u64 = 1024 * 1024 * 1024;

pub(super) fn now() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

/// An image that passes every scs-0102 testcase at [`now`]: registered 10 days ago, built
/// the day before, quarterly, `provided_until: none`.
pub(super) fn good(name: &str) -> Image {
    let props = [
        ("architecture", "x86_64"),
        ("os_distro", "ubuntu"),
        ("os_version", "24.04"),
        ("os_purpose", "custom"),
        ("hw_disk_bus", "scsi"),
        ("hypervisor_type", "qemu"),
        ("hw_rng_model", "virtio"),
        ("image_build_date", "2026-11-11"),
        ("image_original_user", "ubuntu"),
        (
            "image_source",
            "https://cloud-images.ubuntu.com/noble/20261111/noble-server-cloudimg-amd64.img",
        ),
        ("image_description", "https://ubuntu.com/server/docs"),
        ("replace_frequency", "quarterly"),
        ("provided_until", "none"),
        ("uuid_validity", "last-3"),
        ("hotfix_hours", "24"),
    ];
    Image {
        name: name.to_owned(),
        visibility: "public".into(),
        os_hidden: false,
        min_disk: 8,
        min_ram: 512,
        size: Some(600 * 1024 * 1024),
        os_hash_algo: Some("sha512".into()),
        created_at: Some(now() - Duration::days(10)),
        properties: props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// `image` with `key` set to `value` (`None`: removed).
pub(super) fn with(mut image: Image, key: &str, value: Option<&str>) -> Image {
    match value {
        Some(v) => image.properties.insert(key.to_owned(), v.to_owned()),
        None => image.properties.remove(key),
    };
    image
}

pub(super) fn live(images: Vec<Image>) -> Images {
    Images {
        origin: Origin::Glance,
        images,
        partial: false,
    }
}

/// `images` as `check --offline` sees a catalog's (no size, no `os_hash_algo`).
pub(super) fn offline(images: Vec<Image>) -> Images {
    Images {
        origin: Origin::Catalog,
        images,
        partial: true,
    }
}

/// The module with this id.
pub(super) fn module(id: &str) -> Module {
    id.parse().unwrap()
}

/// Runs `id` and checks its verdict and that the diagnostics mention every `mentions` text.
pub(super) fn expect(label: &str, id: &str, images: &Images, verdict: Verdict, mentions: &[&str]) {
    let report = evaluate(id, images, now()).unwrap_or_else(|| panic!("unknown testcase {id}"));
    let text: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.level, d.message))
        .collect();
    assert_eq!(report.verdict, verdict, "{label} ({id}): {text:#?}");
    for mention in mentions {
        assert!(
            text.iter().any(|line| line.contains(mention)),
            "{label} ({id}): no diagnostic mentions {mention:?}: {text:#?}"
        );
    }
}

/// One property of one image varied: `testcase (= property) | value | verdict`, where
/// `<unset>` removes the property and `<empty>` sets `""`. The image is named `subject`;
/// failing cases must name it. (Registered 10 days ago: a later build date fails.)
const PROPERTY_CASES: &str = "
architecture | aarch64 | PASS
architecture | risc-v | PASS
architecture | arm64 | FAIL
architecture | <empty> | FAIL
architecture | <unset> | FAIL
os_version | <unset> | FAIL
os_version | <empty> | FAIL
os_distro | <unset> | FAIL
os_purpose | oldgeneric | PASS
os_purpose | k8snode | PASS
os_purpose | general | FAIL
os_purpose | <unset> | FAIL
hw_disk_bus | <unset> | PASS
hw_disk_bus | virtio | PASS
hw_disk_bus | ide | FAIL
hw_disk_bus | <empty> | FAIL
hypervisor_type | <unset> | PASS
hypervisor_type | kvm | PASS
hypervisor_type | hyper-v | PASS
hypervisor_type | esxi | PASS
hypervisor_type | hyperv | FAIL
hypervisor_type | vmware | FAIL
hw_rng_model | <unset> | PASS
hw_rng_model | random | FAIL
image_original_user | <unset> | FAIL
image_original_user | <empty> | FAIL
image_original_user | none | PASS
image_source | private | PASS
image_source | ftp://mirror/x.img | PASS
image_source | ftps://mirror/x.img | PASS
image_source | http://x/y | PASS
image_source | file:///srv/x.img | FAIL
image_source | HTTPS://x/y | FAIL
image_source | Private | FAIL
image_source | <empty> | FAIL
image_source | <unset> | FAIL
image_description | <unset> | FAIL
image_description | Ubuntu | PASS
replace_frequency | never | PASS
replace_frequency | critical_bug | PASS
replace_frequency | daily | PASS
replace_frequency | biweekly | FAIL
replace_frequency | <unset> | FAIL
provided_until | <unset> | FAIL
provided_until | <empty> | FAIL
provided_until | 2027-04-30 | PASS
uuid_validity | <unset> | PASS
uuid_validity | none | PASS
uuid_validity | notice | PASS
uuid_validity | forever | PASS
uuid_validity | last-12 | PASS
uuid_validity | 2027-06-30 | PASS
uuid_validity | 2027-06-30 12:00 | PASS
uuid_validity | last- | FAIL
uuid_validity | last-x | FAIL
uuid_validity | 30.06.2027 | FAIL
uuid_validity | <empty> | FAIL
hotfix_hours | <unset> | PASS
hotfix_hours | <empty> | PASS
hotfix_hours | 0 | PASS
hotfix_hours | 1.5 | FAIL
hotfix_hours | -1 | FAIL
image_build_date | 2026-11-11T08:00:00Z | PASS
image_build_date | 2026-11-11t08:00:00z | PASS
image_build_date | 2026-11-11 08:00:00 | PASS
image_build_date | 2026-11-11 08:00 | PASS
image_build_date | 2026-11-11T08:00:00 | FAIL
image_build_date | 20261111 | FAIL
image_build_date | 11.11.2026 | FAIL
image_build_date | <unset> | FAIL
image_build_date | 2026-11-20 | FAIL
image_build_date | 2026-12-01 | FAIL
";

#[test]
fn property_testcases() {
    for row in PROPERTY_CASES.lines().filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let [testcase, value, verdict] = cells[..] else {
            panic!("bad row {row:?}")
        };
        let value = match value {
            "<unset>" => None,
            "<empty>" => Some(""),
            v => Some(v),
        };
        let verdict = match verdict {
            "PASS" => Verdict::Pass,
            "FAIL" => Verdict::Fail,
            other => panic!("bad verdict {other}"),
        };
        let images = live(vec![good("other"), with(good("subject"), testcase, value)]);
        let mentions: &[&str] = if verdict == Verdict::Fail {
            &["subject"]
        } else {
            &[]
        };
        let id = format!("scs-0102-prop-{testcase}");
        expect(row, &id, &images, verdict, mentions);
    }
}

#[test]
fn a_good_set_passes_every_scs_0102_testcase() {
    let images = live(vec![good("a"), good("b")]);
    for (id, _) in module("scs-0102-v2").testcases() {
        expect("good", id, &images, Verdict::Pass, &[]);
    }
}

#[test]
fn offenders_are_all_named_in_one_line() {
    let images = live(vec![
        with(good("x1"), "architecture", Some("amd64")),
        good("ok"),
        with(good("x2"), "architecture", None),
    ]);
    expect(
        "two offenders",
        "scs-0102-prop-architecture",
        &images,
        Verdict::Fail,
        &["ERROR: property architecture not correct for image(s): x1, x2"],
    );
}

#[test]
fn hash_algo_min_disk_min_ram() {
    let id = "scs-0102-prop-hash_algo";
    let mut md5 = good("md5");
    md5.os_hash_algo = Some("md5".into());
    let mut no_data = good("queued");
    no_data.os_hash_algo = None;
    let mut sha256 = good("sha256");
    sha256.os_hash_algo = Some("sha256".into());
    expect("sha256", id, &live(vec![sha256]), Verdict::Pass, &[]);
    expect("md5", id, &live(vec![md5.clone()]), Verdict::Fail, &["md5"]);
    expect(
        "no data",
        id,
        &live(vec![no_data]),
        Verdict::Fail,
        &["queued"],
    );
    expect(
        "offline",
        id,
        &offline(vec![md5]),
        Verdict::Skip,
        &["INFO: os_hash_algo"],
    );

    let id = "scs-0102-prop-min_disk";
    let sized = |name: &str, min_disk: u64, size: Option<u64>| Image {
        min_disk,
        size,
        ..good(name)
    };
    expect(
        "exact",
        id,
        &live(vec![sized("e", 1, Some(GIB))]),
        Verdict::Pass,
        &[],
    );
    let small = live(vec![sized("small", 1, Some(GIB + 1))]);
    expect(
        "small",
        id,
        &small,
        Verdict::Fail,
        &["smaller than size for image(s): small"],
    );
    let unset = live(vec![sized("zero", 0, Some(1))]);
    expect(
        "zero",
        id,
        &unset,
        Verdict::Fail,
        &["min_disk not set for image(s): zero"],
    );
    // No data: Python compares with None and raises, but only for a non-zero min_disk.
    let queued = live(vec![sized("queued", 8, None)]);
    expect("queued", id, &queued, Verdict::Abort, &["queued"]);
    let queued_zero = live(vec![sized("queued", 0, None)]);
    expect("queued, 0", id, &queued_zero, Verdict::Fail, &["not set"]);
    let catalog = |min_disk| offline(vec![sized("c", min_disk, None)]);
    // Offline only the non-zero half can be judged: SKIP, or FAIL on a zero.
    expect(
        "offline",
        id,
        &catalog(8),
        Verdict::Skip,
        &["INFO: image sizes"],
    );
    expect("offline 0", id, &catalog(0), Verdict::Fail, &["not set"]);

    let id = "scs-0102-prop-min_ram";
    let ram = |min_ram| {
        live(vec![Image {
            min_ram,
            ..good("r")
        }])
    };
    expect("512", id, &ram(512), Verdict::Pass, &[]);
    expect(
        "32 warns",
        id,
        &ram(32),
        Verdict::Pass,
        &["WARNING: property min_ram < 64 MiB"],
    );
    expect(
        "0",
        id,
        &ram(0),
        Verdict::Fail,
        &["min_ram not set for image(s): r"],
    );
}

#[test]
fn build_date_must_not_be_in_the_future() {
    let id = "scs-0102-prop-image_build_date";
    // Registered in the future (a clock skew) with a build date in the future too.
    let mut future = with(good("f"), "image_build_date", Some("2026-11-23"));
    future.created_at = Some(now() + Duration::days(2));
    expect(
        "future",
        id,
        &live(vec![future]),
        Verdict::Fail,
        &["in the future"],
    );
    // An invalid build date falls back to the registration time for the future check.
    let mut skew = with(good("s"), "image_build_date", Some("soon"));
    skew.created_at = Some(now() + Duration::hours(1));
    expect(
        "skew",
        id,
        &live(vec![skew]),
        Verdict::Fail,
        &["INVALID", "in the future"],
    );
    // Built the same second it was registered: fine.
    let mut same = with(
        good("same"),
        "image_build_date",
        Some("2026-11-12 12:00:00"),
    );
    same.created_at = Some("2026-11-12T12:00:00Z".parse().unwrap());
    expect("same", id, &live(vec![same]), Verdict::Pass, &[]);
}

#[test]
fn offline_a_version_without_build_date_is_dated_by_apply() {
    let id = "scs-0102-prop-image_build_date";
    let undated = with(good("capi"), "image_build_date", None);
    // In Glance a missing date fails ...
    expect(
        "live",
        id,
        &live(vec![undated.clone()]),
        Verdict::Fail,
        &["Image \"capi\": image_build_date \"\" INVALID"],
    );
    // ... offline it is not known yet: apply records the upstream's Last-Modified day.
    let catalog = offline;
    expect(
        "offline",
        id,
        &catalog(vec![undated]),
        Verdict::Pass,
        &["WARNING: Image \"capi\": no build_date in the catalog; apply records"],
    );
    // A catalog date that does not parse still fails offline.
    let invalid = with(good("bad"), "image_build_date", Some("2026-13-01"));
    expect(
        "offline invalid",
        id,
        &catalog(vec![invalid]),
        Verdict::Fail,
        &["INVALID"],
    );
}

#[test]
fn os_purpose_uniqueness_groups_public_visible_generic_images() {
    let id = "scs-0102-os_purpose-uniqueness";
    let generic = |name: &str| with(good(name), "os_purpose", Some("generic"));
    let two = live(vec![
        generic("Ubuntu 24.04"),
        generic("Ubuntu 24.04 (20260108)"),
    ]);
    expect(
        "two generic",
        id,
        &two,
        Verdict::Fail,
        &["('x86_64', 'ubuntu', '24.04') for image(s): Ubuntu 24.04, Ubuntu 24.04 (20260108)"],
    );
    let rotated = live(vec![
        generic("Ubuntu 24.04"),
        with(good("Ubuntu 24.04 old"), "os_purpose", Some("oldgeneric")),
    ]);
    expect("oldgeneric", id, &rotated, Verdict::Pass, &[]);
    let other_arch = live(vec![
        generic("a"),
        with(generic("b"), "architecture", Some("aarch64")),
    ]);
    expect("arch", id, &other_arch, Verdict::Pass, &[]);
    let community = Image {
        visibility: "community".into(),
        ..generic("c")
    };
    expect(
        "community",
        id,
        &live(vec![generic("a"), community]),
        Verdict::Pass,
        &[],
    );
    let hidden = Image {
        os_hidden: true,
        ..generic("h")
    };
    expect(
        "hidden",
        id,
        &live(vec![generic("a"), hidden]),
        Verdict::Pass,
        &[],
    );
    let no_version = with(generic("v"), "os_version", Some(""));
    expect(
        "no version",
        id,
        &live(vec![generic("a"), no_version]),
        Verdict::Pass,
        &[],
    );
    // A missing architecture is its own group ('' in Python).
    let bare = |n| with(generic(n), "architecture", None);
    expect(
        "no arch",
        id,
        &live(vec![bare("p"), bare("q")]),
        Verdict::Fail,
        &["('', "],
    );
}

#[test]
fn scs_0104_sources_and_images() {
    let named = |name: &str, source: Option<&str>| with(good(name), "image_source", source);
    let noble = "https://cloud-images.ubuntu.com/noble/20261111/noble.img";
    let numeric = "https://cloud-images.ubuntu.com/releases/24.04/release/ubuntu-24.04.img";
    let capi = "https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images/x.qcow2";
    let src = "scs-0104-source-ubuntu-2404";
    let img = "scs-0104-image-ubuntu-2404";

    let ok = live(vec![named("Ubuntu 24.04", Some(noble))]);
    expect("noble", src, &ok, Verdict::Pass, &[]);
    expect("present", img, &ok, Verdict::Pass, &[]);
    let releases = live(vec![named(
        "Ubuntu 24.04",
        Some("https://cloud-images.ubuntu.com/releases/noble/release/x.img"),
    )]);
    expect("releases/noble", src, &releases, Verdict::Pass, &[]);
    let numeric_set = live(vec![named("Ubuntu 24.04", Some(numeric))]);
    expect(
        "numeric",
        src,
        &numeric_set,
        Verdict::Fail,
        &["'Ubuntu 24.04' source mismatch"],
    );
    // Exact names only: a renamed old version is not checked and does not count as present.
    let renamed = live(vec![named("Ubuntu 24.04 (20260108)", Some(numeric))]);
    expect("renamed source", src, &renamed, Verdict::Pass, &[]);
    expect(
        "renamed image",
        img,
        &renamed,
        Verdict::Fail,
        &["Missing image 'Ubuntu 24.04'"],
    );
    // Matched but without image_source: the official code raises.
    let bare = live(vec![named("Ubuntu 24.04", None)]);
    expect("no source", src, &bare, Verdict::Abort, &["Ubuntu 24.04"]);
    // Duplicate names: the last image of the name is the one checked.
    let good_last = live(vec![
        named("Ubuntu 24.04", Some(numeric)),
        named("Ubuntu 24.04", Some(noble)),
    ]);
    expect("dup good last", src, &good_last, Verdict::Pass, &[]);
    let bad_last = live(vec![
        named("Ubuntu 24.04", Some(noble)),
        named("Ubuntu 24.04", Some(numeric)),
    ]);
    expect(
        "dup bad last",
        src,
        &bad_last,
        Verdict::Fail,
        &["source mismatch"],
    );

    // CAPI schemes: re.match, anchored at the start only.
    let capi2 = live(vec![
        named("ubuntu-capi-image-v1.33.4", Some(capi)),
        named(
            "ubuntu-capi-image-v1.32 old",
            Some("https://example.org/capi.qcow2"),
        ),
        named(
            "my ubuntu-capi-image-v1.31",
            Some("https://example.org/other.qcow2"),
        ),
    ]);
    let capi2_src = "scs-0104-source-capi-2";
    expect(
        "capi trailing",
        capi2_src,
        &capi2,
        Verdict::Fail,
        &["ubuntu-capi-image-v1.32 old"],
    );
    expect(
        "capi image",
        "scs-0104-image-capi-2",
        &capi2,
        Verdict::Pass,
        &[],
    );
    expect(
        "capi-1 absent",
        "scs-0104-image-capi-1",
        &capi2,
        Verdict::Fail,
        &["Missing"],
    );
    expect(
        "capi-1 source",
        "scs-0104-source-capi-1",
        &capi2,
        Verdict::Pass,
        &[],
    );
    let capi1 = live(vec![named("ubuntu-capi-image v1.30.2", Some(capi))]);
    expect(
        "capi-1",
        "scs-0104-image-capi-1",
        &capi1,
        Verdict::Pass,
        &[],
    );
    let debian = live(vec![named(
        "Debian 12",
        Some("https://cloud.debian.org/images/cloud/trixie/latest/x.qcow2"),
    )]);
    expect(
        "debian 12 trixie",
        "scs-0104-source-debian-12",
        &debian,
        Verdict::Fail,
        &[],
    );
    assert!(evaluate("scs-0104-source-debian-9", &debian, now()).is_none());
    assert!(evaluate("scs-0102-prop-nonsense", &debian, now()).is_none());
}
