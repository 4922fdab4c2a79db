//! Checksums: the digests a catalog pins (`sha256:…`) and the upstream "sums" files they are read from.
//!
//! Every image upload is verified against an expected digest, and most expected digests come from files that
//! distributions publish next to their images (Ubuntu `SHA256SUMS`, Debian `SHA512SUMS`, Rocky/CentOS Stream BSD-tag
//! `CHECKSUM`, CAPI `.qcow2.CHECKSUM`, Flatcar `.DIGESTS`, Fedora's PGP clear-signed files). Those formats differ in
//! small, error-prone ways, so this module owns parsing them in one place, with no I/O, so the fetch/verify code can
//! stay format-agnostic and every format quirk is covered by a test here.
//!
//! Parse policy of [`ChecksumFile::parse`] (lenient, but never silently wrong):
//! - blank lines, `#` comments, PGP armour and lines that do not look like checksum lines are skipped, because real
//!   files carry size comments, signature blocks and the odd stray line;
//! - a line that *does* look like a checksum line (a BSD tag naming a supported algorithm, or a leading hex token of
//!   at least 32 characters) but whose digest disagrees with the algorithm is an error naming the line, because a
//!   digest of the wrong length means we fetched the wrong file and must not verify against it;
//! - a file that yields no entry at all is an error (typically an HTML error page served instead of the file).

use std::fmt;
use std::str::FromStr;

/// A digest algorithm the catalog may name.
///
/// Declared weakest first so that `Ord` ranks strength: when a file lists one image under several algorithms
/// (Flatcar `.DIGESTS`), look-ups prefer the strongest.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm, weakest first.
    pub const ALL: [Algorithm; 4] = [Self::Md5, Self::Sha1, Self::Sha256, Self::Sha512];

    /// The lowercase name used in catalogs (`sha256:…`) and messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the digest in hex characters; the only structural check a bare digest allows.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Case-insensitive; ignores `-`/`_` so that BSD tags (`SHA256`), human spellings (`SHA-256`) and coreutils
    /// `cksum` tags (`SHA2-256`) are all understood.
    pub fn from_name(s: &str) -> Option<Self> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "md5" => Some(Algorithm::Md5),
            "sha1" => Some(Algorithm::Sha1),
            "sha256" | "sha2256" => Some(Algorithm::Sha256),
            "sha512" | "sha2512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    /// Last-resort inference when neither the file name nor a tag names the algorithm; the lengths are unique.
    pub fn from_hex_len(n: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.hex_len() == n)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An expected digest: algorithm + lowercase hex.
///
/// Hex is normalised to lowercase so digests compare with `==` whatever case upstream used.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Digest {
    /// Builds a digest from parts, checking the hex is hexadecimal and as long as `algorithm` demands.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::NotHex);
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// Parses the catalog form `algo:hex` (e.g. `sha256:07e4…`). Hex is case-insensitive, stored lowercase.
    ///
    /// The algorithm prefix is mandatory: a bare hex string in a catalog is ambiguous to a reader even when its
    /// length would identify it.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let (algo, hex) = s
            .trim()
            .split_once(':')
            .ok_or(DigestError::MissingAlgorithm)?;
        let algorithm = Algorithm::from_name(algo)
            .ok_or_else(|| DigestError::UnknownAlgorithm(algo.trim().to_string()))?;
        Digest::new(algorithm, hex.trim())
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// Why a digest string was rejected; messages are written for catalog authors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("expected `algorithm:hex`, e.g. `sha256:…` (no `:` found)")]
    MissingAlgorithm,
    #[error("unknown checksum algorithm `{0}`; expected md5, sha1, sha256 or sha512")]
    UnknownAlgorithm(String),
    #[error("{algorithm} digest must be {expected} hex characters, found {found}")]
    WrongLength {
        algorithm: Algorithm,
        expected: usize,
        found: usize,
    },
    #[error("digest contains characters that are not hexadecimal")]
    NotHex,
}

/// One line of a checksum file.
///
/// `file_name` is as written, minus GNU's `*` binary-mode marker (syntax, not name); a `./` prefix is kept.
/// It is empty for a bare digest line (CAPI `.CHECKSUM`, files holding only the hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub file_name: String,
    pub digest: Digest,
}

/// A parsed checksum ("sums") file, entries in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChecksumFile {
    pub entries: Vec<Entry>,
}

/// Why a checksum file could not be used. Kept to two cases: callers only report these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumFileError {
    /// Nothing in the text looked like a checksum line (often an HTML page served in place of the file).
    #[error(
        "no checksum entries found; expected lines like `<hex>  <file>`, `<hex> *<file>`, \
         `SHA256 (<file>) = <hex>` or a bare hex digest"
    )]
    NoEntries,
    /// A checksum line whose digest is unusable; `line` is 1-based in the original text.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Hex tokens shorter than the shortest supported digest (md5) are not taken for digests, so words that happen to
/// be hex (`added`, `cafe`, `2024`) in stray lines are skipped rather than reported.
const MIN_DIGEST_LEN: usize = 32;

const PGP_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const PGP_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const PGP_END: &str = "-----END PGP SIGNATURE-----";

/// Where we are relative to PGP clear-sign armour (RFC 4880 §7).
#[derive(Clone, Copy)]
enum Armour {
    Outside,
    /// `Hash: …` header lines up to the first blank line.
    Header,
    /// Signed text, with `- ` dash-escaping to undo.
    Signed,
    /// Signature block, skipped.
    Signature,
}

/// What one line contributed.
enum Parsed {
    Nothing,
    /// A Flatcar `# SHA512 HASH` header: following GNU lines use this algorithm.
    Header(Algorithm),
    Entry(Entry),
}

impl ChecksumFile {
    /// Parses a checksum file in any of the formats in the module docs, under the policy stated there.
    ///
    /// `source_name` is the file name (or URL) the text came from, used to infer the algorithm (`SHA256SUMS`,
    /// `SHA512SUMS`, `MD5SUMS`, `SHA1SUMS`, `*.sha256`, `sha256sum.txt`…). Per line the algorithm comes from, in
    /// order: a BSD tag, the latest Flatcar `# … HASH` header, the source name, the digest length.
    pub fn parse(text: &str, source_name: Option<&str>) -> Result<ChecksumFile, ChecksumFileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let from_name = source_name.and_then(algorithm_from_source_name);
        let mut armour = Armour::Outside;
        let mut header = None;
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let mut line = raw.trim_end();
            // Armour lines move the state and are skipped; signed text is dash-unescaped.
            let armour_line = match (armour, line) {
                (Armour::Outside, PGP_SIGNED) => Some(Armour::Header),
                (Armour::Header, "") => Some(Armour::Signed),
                (Armour::Outside | Armour::Signed, PGP_SIGNATURE) => Some(Armour::Signature),
                (Armour::Signature, PGP_END) => Some(Armour::Outside),
                (Armour::Header | Armour::Signature, _) => Some(armour),
                (Armour::Signed, _) => {
                    line = line.strip_prefix("- ").unwrap_or(line);
                    None
                }
                (Armour::Outside, _) => None,
            };
            if let Some(next) = armour_line {
                armour = next;
                continue;
            }
            let parsed = parse_line(line.trim_start(), from_name, header);
            match parsed.map_err(|message| ChecksumFileError::Line {
                line: index + 1,
                message,
            })? {
                Parsed::Nothing => {}
                Parsed::Header(algorithm) => header = Some(algorithm),
                Parsed::Entry(entry) => entries.push(entry),
            }
        }
        if entries.is_empty() {
            return Err(ChecksumFileError::NoEntries);
        }
        Ok(ChecksumFile { entries })
    }

    /// Looks an entry up by file name: exact match first; then compares base names (the part after the last `/`)
    /// and ignores a leading `./` or `*`. `wanted` may itself be a URL or path: only its last path segment (without
    /// query or fragment, percent-decoded if needed) counts. Among equally good matches the strongest algorithm
    /// wins, then the earliest line.
    pub fn find(&self, wanted: &str) -> Option<&Entry> {
        if let Some(entry) = self.strongest(|e| e.file_name == wanted) {
            return Some(entry);
        }
        let path = wanted.split(['?', '#']).next().unwrap_or(wanted);
        let base = base_name(path);
        if base.is_empty() {
            return None;
        }
        let decoded = percent_decode(base);
        self.strongest(|e| {
            let name = base_name(&e.file_name);
            name == base || decoded.as_deref() == Some(name)
        })
    }

    /// For single-digest files (`checksum_url`, CAPI `.qcow2.CHECKSUM`): the only entry, or the only distinct
    /// digest. A file naming one image under several algorithms (Flatcar) counts as one: its strongest entry.
    /// `None` when the file describes more than one thing, because guessing would verify against the wrong digest.
    pub fn single(&self) -> Option<&Entry> {
        let best = self.strongest(|_| true)?;
        let best_name = base_name(&best.file_name);
        let one_file = self
            .entries
            .iter()
            .all(|e| base_name(&e.file_name) == best_name);
        let agree = self.entries.iter().all(|e| {
            if e.digest.algorithm == best.digest.algorithm {
                e.digest == best.digest
            } else {
                one_file
            }
        });
        agree.then_some(best)
    }

    /// First entry of the strongest algorithm among those matching `pred`.
    fn strongest(&self, pred: impl Fn(&Entry) -> bool) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| pred(e))
            .fold(None, |best: Option<&Entry>, e| match best {
                Some(b) if b.digest.algorithm >= e.digest.algorithm => Some(b),
                _ => Some(e),
            })
    }
}

/// Classifies one line (already stripped of armour and surrounding whitespace); `Err` is the line's message.
fn parse_line(
    line: &str,
    from_name: Option<Algorithm>,
    header: Option<Algorithm>,
) -> Result<Parsed, String> {
    if let Some(comment) = line.strip_prefix('#') {
        return Ok(flatcar_header(comment).map_or(Parsed::Nothing, Parsed::Header));
    }
    // A BSD line with an unsupported tag (e.g. BLAKE2b) falls through and is skipped: other lines may still carry
    // a usable digest.
    let bsd =
        split_bsd(line).and_then(|(tag, name, hex)| Some((Algorithm::from_name(tag)?, name, hex)));
    let (algorithm, name, hex, origin) = if let Some((algorithm, name, hex)) = bsd {
        (algorithm, name, hex, " (algorithm from the line's tag)")
    } else {
        let Some((hex, name)) = split_gnu(line) else {
            return Ok(Parsed::Nothing);
        };
        let (algorithm, origin) = match (header, from_name) {
            (Some(a), _) => (a, " (algorithm from the preceding `# … HASH` header)"),
            (None, Some(a)) => (a, " (algorithm from the checksum file's name)"),
            (None, None) => match Algorithm::from_hex_len(hex.len()) {
                Some(a) => (a, ""),
                None => {
                    return Err(format!(
                        "digest has {} hex characters, which fits no supported algorithm \
                         (md5 32, sha1 40, sha256 64, sha512 128)",
                        hex.len()
                    ));
                }
            },
        };
        (algorithm, name, hex, origin)
    };
    match Digest::new(algorithm, hex) {
        Ok(digest) => Ok(Parsed::Entry(Entry {
            file_name: name.to_string(),
            digest,
        })),
        Err(e) => Err(format!("{e}{origin}")),
    }
}

/// `# SHA512 HASH` → `Some(Sha512)`; any other comment → `None`.
fn flatcar_header(comment: &str) -> Option<Algorithm> {
    let (algo, hash) = comment.trim().split_once(' ')?;
    let is_header = hash.trim().eq_ignore_ascii_case("hash");
    is_header.then(|| Algorithm::from_name(algo)).flatten()
}

/// BSD/`--tag` form `TAG (name) = hex`, also OpenSSL's `TAG(name)= hex`. Returns `(tag, name, hex)`.
fn split_bsd(line: &str) -> Option<(&str, &str, &str)> {
    let (left, hex) = line.rsplit_once('=')?;
    let (tag, rest) = left.split_once('(')?;
    let name = rest.trim_end().strip_suffix(')')?;
    let tag = tag.trim_end();
    let tag_ok = !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    tag_ok.then_some((tag, name, hex.trim()))
}

/// GNU form `hex  name` (text) or `hex *name` (binary), or a bare `hex`. Returns `(hex, name)`.
fn split_gnu(line: &str) -> Option<(&str, &str)> {
    let (hex, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    if hex.len() < MIN_DIGEST_LEN || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((hex, rest.strip_prefix(['*', ' ']).unwrap_or(rest)))
}

/// The part after the last `/`, without a leading GNU `*` (so `./x`, `*x`, `dir/x` all give `x`).
fn base_name(name: &str) -> &str {
    let name = name.strip_prefix('*').unwrap_or(name);
    name.rsplit('/').next().unwrap_or(name)
}

/// Decodes `%XX` escapes so a URL's `foo%20bar.img` finds the entry `foo bar.img`; `None` if nothing to decode.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match (byte, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Infers the algorithm from a sums file's name: `SHA256SUMS`, `MD5SUMS`, `sha256sum.txt`, `x.qcow2.sha512`….
/// Only the whole leading part (before the first `.`) or the extension count, so an image name that merely
/// contains `md5` does not mislead.
fn algorithm_from_source_name(source: &str) -> Option<Algorithm> {
    let path = source.split(['?', '#']).next().unwrap_or(source);
    let name = base_name(path).to_ascii_lowercase();
    let first = name.split('.').next().unwrap_or(&name);
    let last = name.rsplit('.').next().unwrap_or(&name);
    [first, last].into_iter().find_map(|part| {
        let stem = part
            .strip_suffix("sums")
            .or_else(|| part.strip_suffix("sum"))
            .unwrap_or(part);
        Algorithm::from_name(stem)
    })
}
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
