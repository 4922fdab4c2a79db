//! The official spec as data: every image testcase it declares and the modules over them.
//!
//! `Tests/scs-compatible-iaas.yaml` of SovereignCloudStack/standards declares the testcases
//! and groups them into modules, each with MAIN testcases (they decide the module) and
//! recommended ones (its `-rec` module). This is the one table of them: a row per testcase,
//! in the spec's order, and a column per module. [`super::Module`], the report, the hints and
//! the catalog lint read it, so the next version of the spec is an edit here (the code of a
//! testcase is found by its id, in `modules.rs`). `tests_spec.rs` compares the table with
//! `../shared/reference/scs.md`.

/// What a testcase is to a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Decides the module.
    Main,
    /// Reported with the module; decides its `-rec` twin.
    Recommended,
    /// Not in the module.
    Absent,
}

const M: Role = Role::Main;
const R: Role = Role::Recommended;
const N: Role = Role::Absent;

/// One module of the spec (a column of [`TABLE`]) and its `-rec` twin.
#[derive(Debug)]
pub(crate) struct ModuleSpec {
    pub(crate) id: &'static str,
    /// The module of the recommended testcases.
    pub(crate) rec_id: &'static str,
}

/// The columns of [`TABLE`].
pub(crate) const MODULES: &[ModuleSpec] = &[
    // Image metadata, certificate scope v5.1.
    ModuleSpec {
        id: "scs-0102-v1",
        rec_id: "scs-0102-v1-rec",
    },
    // Image metadata, "next": os_purpose and its uniqueness become main.
    ModuleSpec {
        id: "scs-0102-v2",
        rec_id: "scs-0102-v2-rec",
    },
    // Standard images, certificate scope v4 (still in use).
    ModuleSpec {
        id: "scs-0104-v1-1",
        rec_id: "scs-0104-v1-1-rec",
    },
    // Standard images, certificate scope v5.1 and "next".
    ModuleSpec {
        id: "scs-0104-v1-2",
        rec_id: "scs-0104-v1-2-rec",
    },
];

/// Every testcase the spec declares, in its order (the order of the output lines), with its
/// role in each module of [`MODULES`]. A testcase no module lists (`scs-0104-image-debian-13`)
/// is still run and reported, as the official runner does.
#[rustfmt::skip]
const TABLE: &[(&str, [Role; MODULES.len()])] = &[
    //                                     0102-v1 0102-v2 0104-v1-1 0104-v1-2
    ("scs-0102-prop-architecture",        [M, M, N, N]),
    ("scs-0102-prop-hash_algo",           [R, R, N, N]),
    ("scs-0102-prop-min_disk",            [M, M, N, N]),
    ("scs-0102-prop-min_ram",             [M, M, N, N]),
    ("scs-0102-prop-os_version",          [M, M, N, N]),
    ("scs-0102-prop-os_distro",           [M, M, N, N]),
    ("scs-0102-prop-os_purpose",          [R, M, N, N]),
    ("scs-0102-prop-hw_disk_bus",         [M, M, N, N]),
    ("scs-0102-prop-hypervisor_type",     [R, R, N, N]),
    ("scs-0102-prop-hw_rng_model",        [R, R, N, N]),
    ("scs-0102-prop-image_build_date",    [M, M, N, N]),
    ("scs-0102-prop-image_original_user", [M, M, N, N]),
    ("scs-0102-prop-image_source",        [M, M, N, N]),
    ("scs-0102-prop-image_description",   [M, M, N, N]),
    ("scs-0102-prop-replace_frequency",   [M, M, N, N]),
    ("scs-0102-prop-provided_until",      [M, M, N, N]),
    ("scs-0102-prop-uuid_validity",       [M, M, N, N]),
    ("scs-0102-prop-hotfix_hours",        [R, R, N, N]),
    ("scs-0102-image-recency",            [M, M, N, N]),
    ("scs-0102-os_purpose-uniqueness",    [R, M, N, N]),
    ("scs-0104-source-capi-1",            [N, N, M, M]),
    ("scs-0104-source-capi-2",            [N, N, N, M]),
    ("scs-0104-source-ubuntu-2404",       [N, N, N, M]),
    ("scs-0104-source-ubuntu-2204",       [N, N, M, M]),
    ("scs-0104-source-ubuntu-2004",       [N, N, M, M]),
    ("scs-0104-source-debian-13",         [N, N, N, M]),
    ("scs-0104-source-debian-12",         [N, N, M, M]),
    ("scs-0104-source-debian-11",         [N, N, M, M]),
    ("scs-0104-image-capi-2",             [N, N, N, R]),
    ("scs-0104-image-capi-1",             [N, N, R, N]),
    ("scs-0104-image-ubuntu-2404",        [N, N, N, M]),
    ("scs-0104-image-ubuntu-2204",        [N, N, M, N]),
    ("scs-0104-image-debian-13",          [N, N, N, N]),
    ("scs-0104-image-debian-12",          [N, N, N, R]),
];

impl ModuleSpec {
    /// The testcases with `role` in this module, in the spec's order.
    pub(crate) fn with(&self, role: Role) -> Vec<&'static str> {
        let column = MODULES
            .iter()
            .position(|m| m.id == self.id)
            .expect("a module of the table");
        TABLE
            .iter()
            .filter(|(_, roles)| roles[column] == role)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Every testcase id the spec declares, in its order.
pub(crate) fn testcases() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(id, _)| *id)
}

/// The spec's `&'static` spelling of a testcase id, if it declares it.
pub(crate) fn testcase(id: &str) -> Option<&'static str> {
    testcases().find(|known| *known == id)
}
