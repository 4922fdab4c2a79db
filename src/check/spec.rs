//! The official spec as data: every image testcase it declares and the modules over them.
//!
//! `Tests/scs-compatible-iaas.yaml` of SovereignCloudStack/standards declares the testcases
//! and groups them into modules, each with MAIN testcases (they decide the module) and
//! recommended ones (its `-rec` module). Nothing else in `check` lists ids: [`super::Module`],
//! the report and the catalog lint read these tables, so the next version of the spec is an
//! edit here. `tests_spec.rs` compares them with `../shared/reference/scs.md`.

/// One module of the spec and its `-rec` twin.
#[derive(Debug)]
pub(crate) struct ModuleSpec {
    pub(crate) id: &'static str,
    /// The module of the recommended testcases.
    pub(crate) rec_id: &'static str,
    pub(crate) main: &'static [&'static str],
    pub(crate) recommended: &'static [&'static str],
}

/// Every testcase the spec declares, in its order: the order of the output lines. A testcase
/// no module lists (`scs-0104-image-debian-13`) is still run and reported, as the official
/// runner does.
pub(crate) const TESTCASES: &[&str] = &[
    "scs-0102-prop-architecture",
    "scs-0102-prop-hash_algo",
    "scs-0102-prop-min_disk",
    "scs-0102-prop-min_ram",
    "scs-0102-prop-os_version",
    "scs-0102-prop-os_distro",
    "scs-0102-prop-os_purpose",
    "scs-0102-prop-hw_disk_bus",
    "scs-0102-prop-hypervisor_type",
    "scs-0102-prop-hw_rng_model",
    "scs-0102-prop-image_build_date",
    "scs-0102-prop-image_original_user",
    "scs-0102-prop-image_source",
    "scs-0102-prop-image_description",
    "scs-0102-prop-replace_frequency",
    "scs-0102-prop-provided_until",
    "scs-0102-prop-uuid_validity",
    "scs-0102-prop-hotfix_hours",
    "scs-0102-image-recency",
    "scs-0102-os_purpose-uniqueness",
    "scs-0104-source-capi-1",
    "scs-0104-source-capi-2",
    "scs-0104-source-ubuntu-2404",
    "scs-0104-source-ubuntu-2204",
    "scs-0104-source-ubuntu-2004",
    "scs-0104-source-debian-13",
    "scs-0104-source-debian-12",
    "scs-0104-source-debian-11",
    "scs-0104-image-capi-2",
    "scs-0104-image-capi-1",
    "scs-0104-image-ubuntu-2404",
    "scs-0104-image-ubuntu-2204",
    "scs-0104-image-debian-13",
    "scs-0104-image-debian-12",
];

/// Every module, in the order of the output lines.
pub(crate) const MODULES: &[ModuleSpec] = &[
    // Image metadata, certificate scope v5.1.
    ModuleSpec {
        id: "scs-0102-v1",
        rec_id: "scs-0102-v1-rec",
        main: &[
            "scs-0102-prop-architecture",
            "scs-0102-prop-min_disk",
            "scs-0102-prop-min_ram",
            "scs-0102-prop-os_version",
            "scs-0102-prop-os_distro",
            "scs-0102-prop-hw_disk_bus",
            "scs-0102-prop-image_build_date",
            "scs-0102-prop-image_original_user",
            "scs-0102-prop-image_source",
            "scs-0102-prop-image_description",
            "scs-0102-prop-replace_frequency",
            "scs-0102-prop-provided_until",
            "scs-0102-prop-uuid_validity",
            "scs-0102-image-recency",
        ],
        recommended: &[
            "scs-0102-prop-hash_algo",
            "scs-0102-prop-os_purpose",
            "scs-0102-prop-hypervisor_type",
            "scs-0102-prop-hw_rng_model",
            "scs-0102-prop-hotfix_hours",
            "scs-0102-os_purpose-uniqueness",
        ],
    },
    // Image metadata, "next": os_purpose and its uniqueness become main.
    ModuleSpec {
        id: "scs-0102-v2",
        rec_id: "scs-0102-v2-rec",
        main: &[
            "scs-0102-prop-architecture",
            "scs-0102-prop-min_disk",
            "scs-0102-prop-min_ram",
            "scs-0102-prop-os_version",
            "scs-0102-prop-os_distro",
            "scs-0102-prop-os_purpose",
            "scs-0102-prop-hw_disk_bus",
            "scs-0102-prop-image_build_date",
            "scs-0102-prop-image_original_user",
            "scs-0102-prop-image_source",
            "scs-0102-prop-image_description",
            "scs-0102-prop-replace_frequency",
            "scs-0102-prop-provided_until",
            "scs-0102-prop-uuid_validity",
            "scs-0102-image-recency",
            "scs-0102-os_purpose-uniqueness",
        ],
        recommended: &[
            "scs-0102-prop-hash_algo",
            "scs-0102-prop-hypervisor_type",
            "scs-0102-prop-hw_rng_model",
            "scs-0102-prop-hotfix_hours",
        ],
    },
    // Standard images, certificate scope v4 (still in use).
    ModuleSpec {
        id: "scs-0104-v1-1",
        rec_id: "scs-0104-v1-1-rec",
        main: &[
            "scs-0104-source-capi-1",
            "scs-0104-source-ubuntu-2204",
            "scs-0104-source-ubuntu-2004",
            "scs-0104-source-debian-12",
            "scs-0104-source-debian-11",
            "scs-0104-image-ubuntu-2204",
        ],
        recommended: &["scs-0104-image-capi-1"],
    },
    // Standard images, certificate scope v5.1 and "next".
    ModuleSpec {
        id: "scs-0104-v1-2",
        rec_id: "scs-0104-v1-2-rec",
        main: &[
            "scs-0104-source-capi-1",
            "scs-0104-source-capi-2",
            "scs-0104-source-ubuntu-2404",
            "scs-0104-source-ubuntu-2204",
            "scs-0104-source-ubuntu-2004",
            "scs-0104-source-debian-13",
            "scs-0104-source-debian-12",
            "scs-0104-source-debian-11",
            "scs-0104-image-ubuntu-2404",
        ],
        recommended: &["scs-0104-image-capi-2", "scs-0104-image-debian-12"],
    },
];

/// The spec's `&'static` spelling of a testcase id, if it declares it.
pub(crate) fn testcase(id: &str) -> Option<&'static str> {
    TESTCASES.iter().copied().find(|known| *known == id)
}
