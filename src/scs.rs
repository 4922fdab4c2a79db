//! Facts of the Sovereign Cloud Stack image standards (scs-0102, scs-0104) as data.
//!
//! Both the catalog lint (warnings before anything reaches a cloud) and the compliance checks
//! read these tables, so the two can never disagree about what the official tests accept.

use regex::Regex;
use std::sync::LazyLock;

/// `architecture` values scs-0102 accepts.
pub const ARCHITECTURES: &[&str] = &["x86_64", "aarch64", "risc-v"];
/// `hypervisor_type` values scs-0102 accepts (OpenStack's `hyperv` and `vmware` fail).
pub const HYPERVISOR_TYPES: &[&str] = &["qemu", "kvm", "xen", "hyper-v", "esxi"];
/// `hw_disk_bus` values scs-0102 accepts.
pub const DISK_BUSES: &[&str] = &["virtio", "scsi"];
/// `os_purpose` values scs-0102 v2 defines.
pub const OS_PURPOSES: &[&str] = &[
    "generic",
    "oldgeneric",
    "minimal",
    "k8snode",
    "gpu",
    "network",
    "custom",
];
/// `replace_frequency` values scs-0102 accepts.
pub const REPLACE_FREQUENCIES: &[&str] = &[
    "never",
    "critical_bug",
    "yearly",
    "quarterly",
    "monthly",
    "weekly",
    "daily",
];

/// `os_hash_algo` values scs-0102 accepts.
pub const HASH_ALGOS: &[&str] = &["sha256", "sha512"];
/// `hw_rng_model` values scs-0102 accepts (besides leaving it unset).
pub const RNG_MODELS: &[&str] = &["virtio"];

/// The time an image with this `replace_frequency` may go without a rebuild, in seconds, as
/// the official recency check counts it (rounded up: a day is 25 h, a month 31 days); `0` for
/// `never` and `critical_bug`, `None` for a value the standard does not define. The check
/// allows 1.1 times this period.
pub fn replace_period_secs(frequency: &str) -> Option<u64> {
    const DAY: u64 = 24 * 3600;
    Some(match frequency {
        "never" | "critical_bug" => 0,
        "yearly" => 365 * DAY,
        "quarterly" => 92 * DAY,
        "monthly" => 31 * DAY,
        "weekly" => 7 * 25 * 3600,
        "daily" => 25 * 3600,
        _ => return None,
    })
}

/// How scs-0104 selects the images a rule applies to.
#[derive(Debug)]
pub enum NameMatch {
    /// The image name equals this text.
    Exact(&'static str),
    /// Python `re.match`: the pattern must match at the start of the name (not the end).
    Prefix(&'static LazyLock<Regex>),
}

impl NameMatch {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Exact(exact) => name == *exact,
            NameMatch::Prefix(re) => re.find(name).is_some_and(|m| m.start() == 0),
        }
    }
}

/// One scs-0104 standard image: which names it covers and where their `image_source` must point.
#[derive(Debug)]
pub struct StandardImage {
    /// The `X` of the testcase ids `scs-0104-source-X` / `scs-0104-image-X`.
    pub id: &'static str,
    pub name: NameMatch,
    pub source_prefixes: &'static [&'static str],
}

static CAPI_SPACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ubuntu-capi-image v[0-9]\.[0-9]+(\.[0-9]+)?").unwrap());
static CAPI_DASH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ubuntu-capi-image-v[0-9]\.[0-9]+(\.[0-9]+)?").unwrap());

const CAPI_PREFIXES: &[&str] = &[
    "https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images/",
    "https://swift.services.a.regiocloud.tech/swift/v1/AUTH_b182637428444b9aa302bb8d5a5a418c/openstack-k8s-capi-images/ubuntu-2404-kube",
    "https://swift.services.a.regiocloud.tech/swift/v1/AUTH_b182637428444b9aa302bb8d5a5a418c/openstack-k8s-capi-images/ubuntu-2204-kube",
];

/// The scs-0104-v1-2 standard images.
pub static STANDARD_IMAGES: &[StandardImage] = &[
    StandardImage {
        id: "ubuntu-2404",
        name: NameMatch::Exact("Ubuntu 24.04"),
        source_prefixes: &[
            "https://cloud-images.ubuntu.com/releases/noble/",
            "https://cloud-images.ubuntu.com/noble/",
        ],
    },
    StandardImage {
        id: "ubuntu-2204",
        name: NameMatch::Exact("Ubuntu 22.04"),
        source_prefixes: &[
            "https://cloud-images.ubuntu.com/releases/jammy/",
            "https://cloud-images.ubuntu.com/jammy/",
        ],
    },
    StandardImage {
        id: "ubuntu-2004",
        name: NameMatch::Exact("Ubuntu 20.04"),
        source_prefixes: &[
            "https://cloud-images.ubuntu.com/releases/focal/",
            "https://cloud-images.ubuntu.com/focal/",
        ],
    },
    StandardImage {
        id: "debian-13",
        name: NameMatch::Exact("Debian 13"),
        source_prefixes: &[
            "https://cloud.debian.org/images/cloud/trixie/",
            "https://cdimage.debian.org/cdimage/cloud/trixie/",
        ],
    },
    StandardImage {
        id: "debian-12",
        name: NameMatch::Exact("Debian 12"),
        source_prefixes: &[
            "https://cloud.debian.org/images/cloud/bookworm/",
            "https://cdimage.debian.org/cdimage/cloud/bookworm/",
        ],
    },
    StandardImage {
        id: "debian-11",
        name: NameMatch::Exact("Debian 11"),
        source_prefixes: &[
            "https://cloud.debian.org/images/cloud/bullseye/",
            "https://cdimage.debian.org/cdimage/cloud/bullseye/",
        ],
    },
    StandardImage {
        id: "capi-1",
        name: NameMatch::Prefix(&CAPI_SPACE),
        source_prefixes: CAPI_PREFIXES,
    },
    StandardImage {
        id: "capi-2",
        name: NameMatch::Prefix(&CAPI_DASH),
        source_prefixes: CAPI_PREFIXES,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_matching_follows_python_re_match() {
        let capi = STANDARD_IMAGES.iter().find(|s| s.id == "capi-2").unwrap();
        assert!(capi.name.matches("ubuntu-capi-image-v1.33.4"));
        // re.match is anchored at the start only: trailing text still matches.
        assert!(capi.name.matches("ubuntu-capi-image-v1.33 old"));
        assert!(!capi.name.matches("my ubuntu-capi-image-v1.33.4"));
        let noble = STANDARD_IMAGES
            .iter()
            .find(|s| s.id == "ubuntu-2404")
            .unwrap();
        assert!(noble.name.matches("Ubuntu 24.04"));
        assert!(!noble.name.matches("Ubuntu 24.04 (20260108)"));
    }
}
