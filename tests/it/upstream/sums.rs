//! Digests and checksum files: the algorithms and the layouts real upstreams publish
//! (shared/reference/upstreams.md), so tests check the parsers against the genuine formats.
//!
//! Digests are computed over the true served content through [`Chunks`], never over a copy in
//! memory, so multi-GiB generated or disk content costs no memory to sum.

use sha2::Digest;

use super::content::{Chunks, Content};

/// Digest algorithms used by upstream checksum files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

/// Checksum file layouts, as real upstreams publish them (shared/reference/upstreams.md).
#[derive(Clone, Copy, Debug)]
pub(crate) enum SumsFormat {
    /// `<hex> *<file>`: Ubuntu `SHA256SUMS`.
    GnuBinary(Algo),
    /// `<hex>  <file>`: Debian `SHA512SUMS`, CirrOS `MD5SUMS`, AlmaLinux `CHECKSUM`.
    GnuText(Algo),
    /// `# <file>: N bytes` then `SHA256 (<file>) = <hex>`: Rocky, CentOS Stream.
    Bsd(Algo),
    /// The BSD tag form PGP clear-signed (with a fake signature): Fedora.
    BsdSigned(Algo),
    /// One line `<sha256>  <file>`: CAPI `<image>.qcow2.CHECKSUM` (exactly one file).
    Capi,
    /// One line `<sha256>  ./<file>`: older CAPI builds (exactly one file).
    CapiLegacy,
    /// Just `<hex>` and a newline (exactly one file).
    Bare(Algo),
}

impl SumsFormat {
    pub(super) fn algo(self) -> Algo {
        match self {
            Self::GnuBinary(a) | Self::GnuText(a) | Self::Bsd(a) | Self::BsdSigned(a) => a,
            Self::Bare(a) => a,
            Self::Capi | Self::CapiLegacy => Algo::Sha256,
        }
    }
}

/// Hex digest of `content` with `algo`, read in chunks.
pub(super) fn digest(content: &Content, algo: Algo) -> String {
    match algo {
        Algo::Md5 => hash::<md5::Md5>(content),
        Algo::Sha1 => hash::<sha1::Sha1>(content),
        Algo::Sha256 => hash::<sha2::Sha256>(content),
        Algo::Sha512 => hash::<sha2::Sha512>(content),
    }
}

fn hash<D: Digest>(content: &Content) -> String {
    let mut hasher = D::new();
    for chunk in Chunks::new(content.src.clone(), 0, content.len) {
        hasher.update(chunk.expect("read served content"));
    }
    hex::encode(hasher.finalize())
}

/// The text of a checksum file in `format` listing `entries` of `(name, hex digest, size)`.
pub(super) fn sums_text(format: SumsFormat, entries: &[(String, String, u64)]) -> String {
    let one = || match entries {
        [(name, hex, _)] => (name, hex),
        _ => panic!("{format:?} lists exactly one file"),
    };
    let tag = format!("{:?}", format.algo()).to_uppercase();
    let bsd = || -> String {
        let line = |(name, hex, len): &(String, String, u64)| {
            format!("# {name}: {len} bytes\n{tag} ({name}) = {hex}\n")
        };
        entries.iter().map(line).collect()
    };
    let gnu = |marker: &str| -> String {
        let line = |(name, hex, _): &(String, String, u64)| format!("{hex} {marker}{name}\n");
        entries.iter().map(line).collect()
    };
    match format {
        SumsFormat::GnuBinary(_) => gnu("*"),
        SumsFormat::GnuText(_) => gnu(" "),
        SumsFormat::Bsd(_) => bsd(),
        SumsFormat::BsdSigned(_) => format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}-----BEGIN PGP SIGNATURE-----\n\n\
             iHUEARYKAB0WIQRmYWtlIHNpZ25hdHVyZSBmb3IgdGVzdHMAAAAA\n=fake\n-----END PGP SIGNATURE-----\n",
            bsd()
        ),
        SumsFormat::Capi => format!("{}  {}\n", one().1, one().0),
        SumsFormat::CapiLegacy => format!("{}  ./{}\n", one().1, one().0),
        SumsFormat::Bare(_) => format!("{}\n", one().1),
    }
}
