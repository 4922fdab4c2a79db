//! How a new image's bytes get into one cloud, decided in the plan from the catalog, the
//! operator's `--method` and what was observed of the cloud.
//!
//! Why here and not in `apply`: the way in decides which calls are made, what is verified
//! where (streamed through us, or read back after Glance pulled it) and whether the image can
//! be made at all (Glance cannot decompress a web-download). A plan that shows it is a plan a
//! reviewer can trust; `apply` only carries it out.

use serde::Serialize;

use crate::catalog::checksums::Algorithm;
use crate::catalog::{Compression, Method};
use crate::desired::Source;
use crate::glance::ObservedState;

/// The import method of Glance's interoperable import that stages data through us.
const GLANCE_DIRECT: &str = "glance-direct";

/// The way the bytes go in; never `auto` (that is resolved here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Way {
    /// Stage the streamed bytes, then import them (Glance's interoperable import).
    GlanceDirect,
    /// A classic `PUT …/file` of the streamed bytes.
    Upload,
    /// Glance pulls the upstream URL itself; the image is then read back and verified.
    WebDownload,
}

impl Way {
    /// The catalog's spelling: `glance-direct`, `upload`, `web-download`.
    pub fn as_str(self) -> &'static str {
        match self {
            Way::GlanceDirect => "glance-direct",
            Way::Upload => "upload",
            Way::WebDownload => "web-download",
        }
    }

    /// Whether the bytes stream through this tool (and are verified on the way).
    pub fn streams(self) -> bool {
        !matches!(self, Way::WebDownload)
    }
}

/// Everything `apply` needs to know about the way in, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataPath {
    pub method: Way,
    /// The digest Glance records as `os_hash_value` in this cloud (its `hashing_algorithm`),
    /// computed while the bytes stream so it is compared without reading the image back.
    pub hash_algo: Algorithm,
}

/// Resolves the data path of a source for one cloud: `--method`, else the catalog's, where
/// `auto` takes glance-direct when the cloud offers it and a plain upload otherwise.
pub fn resolve(
    source: &Source,
    observed: &ObservedState,
    method: Option<Method>,
) -> Result<DataPath, String> {
    let way = match method.unwrap_or(source.method) {
        Method::GlanceDirect => Way::GlanceDirect,
        Method::Upload => Way::Upload,
        Method::WebDownload => Way::WebDownload,
        Method::Auto if observed.import_methods.iter().any(|m| m == GLANCE_DIRECT) => {
            Way::GlanceDirect
        }
        Method::Auto => Way::Upload,
    };
    if way == Way::WebDownload
        && let Some(compression) = source.compression.filter(|c| *c != Compression::None)
    {
        return Err(format!(
            "web-download cannot decompress the upstream file ({}); use glance-direct or upload \
             for compressed images",
            compression.as_str()
        ));
    }
    Ok(DataPath {
        method: way,
        hash_algo: hash_algorithm(observed),
    })
}

/// The algorithm a cloud hashes with, read from the images it holds (Glance's
/// `hashing_algorithm`: sha512 unless an operator changed it; the most common one wins).
pub fn hash_algorithm(observed: &ObservedState) -> Algorithm {
    let mut counts = std::collections::BTreeMap::new();
    for image in &observed.images {
        if let Some(algorithm) = image.os_hash_algo.as_deref().and_then(Algorithm::from_name) {
            *counts.entry(algorithm).or_insert(0usize) += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or(Algorithm::Sha512, |(algorithm, _)| algorithm)
}
