//! The catalog's typed model: the osism openstack-image-manager format plus our extensions.
//!
//! These types are deserialised only from documents that already passed the JSON Schema
//! (`schemas/image-catalog.schema.json`), so they describe shape and defaults, not validation.
//! Every field the osism format has is here, even the ones we only document (`password`,
//! `shortname`), so its catalogs load unchanged.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Where in the catalog a definition was written: which loaded file, which list entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: usize,
    pub index: usize,
}

/// One image definition (an entry of `images:`): a named image with one or more versions.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Definition {
    /// Set by the loader, not read from YAML.
    #[serde(skip_deserializing)]
    pub origin: Origin,
    pub name: String,
    #[serde(default = "yes")]
    pub enable: bool,
    pub shortname: Option<String>,
    pub format: DiskFormat,
    pub login: Option<String>,
    /// Documentation only (the image's default password); never sent to Glance.
    pub password: Option<String>,
    /// GiB.
    #[serde(default)]
    pub min_disk: u64,
    /// MiB.
    #[serde(default)]
    pub min_ram: u64,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default = "yes")]
    pub multi: bool,
    #[serde(default = "default_separator")]
    pub separator: String,
    /// osism: keep versions no longer listed. Retention is governed by `uuid_validity` here.
    #[serde(default)]
    pub keep: bool,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub latest_url: Option<String>,
    pub latest_checksum_url: Option<String>,
    pub versions: Vec<Version>,
    // Extensions (not in the osism format).
    /// Default `os_hidden` of every version.
    pub hidden: Option<bool>,
    pub protected: Option<bool>,
    /// What a superseded version gets when a newer one takes its name.
    pub on_rotate: Option<OnRotate>,
    pub decompress: Option<Compression>,
    pub method: Option<Method>,
    #[serde(default)]
    pub naming: Naming,
    /// Where `update` looks for new builds; guessed from `os_distro` when absent.
    pub upstream: Option<UpstreamKind>,
    /// The projects a `visibility: shared` image is shared with (Glance image members).
    /// `None`: members are not managed; `Some` (even empty): exactly these.
    pub shared: Option<Vec<Share>>,
}

/// One version of a definition: the bytes to upload and where they come from.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Version {
    pub version: String,
    /// The upstream URL; always written to `image_source`.
    pub url: String,
    /// Where the bytes are downloaded from when present (a mirror of `url`).
    pub mirror_url: Option<String>,
    /// `algorithm:hex`.
    pub checksum: Option<String>,
    /// A file holding one digest for this image.
    pub checksum_url: Option<String>,
    /// A sums file listing this image's file name.
    pub checksums_url: Option<String>,
    pub build_date: Option<String>,
    pub os_version: Option<String>,
    pub visibility: Option<Visibility>,
    pub hidden: Option<bool>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// A fixed image UUID (the same ID in every region).
    pub id: Option<String>,
    pub source: Option<String>,
    pub image_description: Option<String>,
    // Extensions.
    pub protected: Option<bool>,
    pub decompress: Option<Compression>,
    pub method: Option<Method>,
    /// Replaces the definition's `shared` list for this version.
    pub shared: Option<Vec<Share>>,
}

/// One project of a `shared` list: by id, or by name and domain (resolved through Keystone
/// once per run). The schema allows exactly one of the two forms.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Share {
    pub project_id: Option<String>,
    /// A project name, looked up in `domain`.
    pub project: Option<String>,
    /// The project's domain, by name or id.
    pub domain: Option<String>,
    #[serde(default)]
    pub status: MemberStatus,
}

impl Version {
    /// `version: latest` means "whatever the checksum URL currently names".
    pub fn is_latest(&self) -> bool {
        self.version == "latest"
    }

    /// Where the bytes are fetched from.
    pub fn download_url(&self) -> &str {
        self.mirror_url.as_deref().unwrap_or(&self.url)
    }
}

/// Metadata and visibility applied to a version when a newer one supersedes it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OnRotate {
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    pub visibility: Option<Visibility>,
    pub hidden: Option<bool>,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? } $(default $default:ident)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        $(impl Default for $name {
            fn default() -> Self { $name::$default }
        })?
    };
}

string_enum!(
    /// Glance `disk_format`.
    DiskFormat { Ami => "ami", Ari => "ari", Aki => "aki", Vhd => "vhd", Vhdx => "vhdx",
        Vmdk => "vmdk", Raw => "raw", Qcow2 => "qcow2", Vdi => "vdi", Iso => "iso", Ploop => "ploop" }
);
string_enum!(
    /// The Glance status a definition asks for.
    Status { Active => "active", Deactivated => "deactivated" } default Active
);
string_enum!(
    /// Glance `visibility`. Default `private`: publishing is a decision, not an accident.
    Visibility { Public => "public", Community => "community", Shared => "shared", Private => "private" }
    default Private
);
string_enum!(
    /// The member status a `shared` entry asks for. `pending`: Glance's proposal, which the
    /// member project accepts or rejects itself (never overridden); `accepted`: set for the
    /// member, which Glance's default policy allows only an admin.
    MemberStatus { Pending => "pending", Accepted => "accepted" } default Pending
);
string_enum!(
    /// Compression of the upstream file; `none` disables detection from the URL suffix.
    Compression { None => "none", Gzip => "gz", Xz => "xz", Bzip2 => "bz2", Zstd => "zst" }
);
string_enum!(
    /// How bytes reach Glance.
    Method { Auto => "auto", GlanceDirect => "glance-direct", Upload => "upload", WebDownload => "web-download" }
);
string_enum!(
    /// How older versions of a `multi` definition are named.
    Naming {
        /// osism: `Name (version)`.
        Version => "version",
        /// SCS recommendation: `Name YYYYMMDD` (the build date), recognised by the recency check.
        BuildDate => "build-date"
    } default Version
);
string_enum!(
    /// The layout `update` expects at the definition's upstream.
    UpstreamKind { Ubuntu => "ubuntu", Debian => "debian", Cirros => "cirros", Capi => "capi", Generic => "generic" }
);

impl Compression {
    /// The compression a download URL's file name implies (`.gz`, `.xz`, `.bz2`, `.zst`).
    pub fn from_suffix(url: &str) -> Option<Compression> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        [
            (".gz", Compression::Gzip),
            (".xz", Compression::Xz),
            (".bz2", Compression::Bzip2),
            (".zst", Compression::Zstd),
        ]
        .into_iter()
        .find_map(|(suffix, c)| path.ends_with(suffix).then_some(c))
    }
}

fn yes() -> bool {
    true
}

fn default_separator() -> String {
    " ".to_owned()
}

impl Definition {
    /// The metadata one version's image carries: the definition's `meta` ← the version's, with
    /// `os_version` from the version when given and, for non-multi definitions, the version
    /// itself (the osism tool does the same: `Cirros 0.6.3` gets os_version `0.6.3`).
    pub fn version_meta(&self, version: &Version) -> BTreeMap<String, String> {
        let mut meta = self.meta.clone();
        meta.extend(version.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(os_version) = &version.os_version {
            meta.insert("os_version".into(), os_version.clone());
        }
        if !self.multi {
            meta.insert("os_version".into(), version.version.clone());
        }
        meta
    }
}

impl Definition {
    /// The projects one version's image is shared with: the version's own list, else the
    /// definition's (a version's list replaces, never extends, the definition's).
    pub fn version_shares<'a>(&'a self, version: &'a Version) -> Option<&'a [Share]> {
        version.shared.as_deref().or(self.shared.as_deref())
    }

    /// The visibility one version's image gets while it is current.
    pub fn version_visibility(&self, version: &Version) -> Visibility {
        version.visibility.unwrap_or(self.visibility)
    }
}

impl fmt::Display for Share {
    /// As people write it: the id, or `name (domain D)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.project_id, &self.project, &self.domain) {
            (Some(id), _, _) => write!(f, "project {id}"),
            (None, Some(name), Some(domain)) => write!(f, "project {name} (domain {domain})"),
            (None, Some(name), None) => write!(f, "project {name}"),
            (None, None, _) => f.write_str("an unnamed project"),
        }
    }
}
