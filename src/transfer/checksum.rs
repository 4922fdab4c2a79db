//! Resolving a catalog's [`Checksum`] to the one [`Digest`] a download is verified against.
//!
//! Most catalogs point at the sums file a distribution publishes instead of pinning a digest, so
//! the expected digest has to be fetched before the image. Parsing belongs to
//! [`crate::catalog::checksums`] (pure, fuzzed); this module only fetches, with the same
//! [`Fetcher`] (timeouts, retries, redaction) as the image itself, and caps the size: a real
//! checksum file is a few KiB, so a large answer means a wrong URL (an image, an HTML mirror
//! listing) and is refused before it is read into memory.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

use super::fetch::Fetcher;
use super::{Error, redact};
use crate::catalog::checksums::{ChecksumFile, Digest};
use crate::desired::Checksum;

/// Largest checksum file accepted (Debian's `SHA512SUMS` for a whole release is ~10 KiB).
pub const MAX_CHECKSUM_FILE: u64 = 1024 * 1024;

/// The digest `checksum` stands for: inline as is, else read from its file.
pub async fn resolve(fetcher: &Fetcher, checksum: &Checksum) -> Result<Digest, Error> {
    Resolver::new(fetcher.clone()).resolve(checksum).await
}

/// Resolves checksums for a whole run, reading each checksum file once: the images of one
/// release usually share one `SHA256SUMS`. A failed read is not remembered (the next image
/// tries again).
pub struct Resolver {
    fetcher: Fetcher,
    files: Mutex<HashMap<String, Arc<OnceCell<ChecksumFile>>>>,
}

impl Resolver {
    pub fn new(fetcher: Fetcher) -> Resolver {
        Resolver {
            fetcher,
            files: Mutex::default(),
        }
    }

    /// The digest `checksum` stands for: inline as is, else read from its file.
    pub async fn resolve(&self, checksum: &Checksum) -> Result<Digest, Error> {
        let (url, wanted) = match checksum {
            Checksum::Inline { digest } => return Ok(digest.clone()),
            Checksum::Missing => return Err(Error::NoChecksum),
            Checksum::File { url } => (url, None),
            Checksum::Sums { url, file_name } => (url, Some(file_name)),
        };
        let cell = Arc::clone(self.files.lock().await.entry(url.clone()).or_default());
        let file = cell
            .get_or_try_init(|| fetch_checksums(&self.fetcher, url))
            .await?;
        let entry = match wanted {
            None => file.single(),
            Some(name) => file.find(name),
        };
        entry
            .map(|entry| entry.digest.clone())
            .ok_or_else(|| Error::ChecksumEntry {
                url: redact(url),
                wanted: wanted.cloned(),
            })
    }
}

/// Fetches and parses the checksum file at `url`.
async fn fetch_checksums(fetcher: &Fetcher, url: &str) -> Result<ChecksumFile, Error> {
    let text = fetcher
        .text(url, MAX_CHECKSUM_FILE, "a checksum file")
        .await?;
    let name = url.split(['?', '#']).next().unwrap_or(url);
    ChecksumFile::parse(&text, Some(name)).map_err(|source| Error::ChecksumFile {
        url: redact(url),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::checksums::Algorithm;
    use crate::transfer::fetch::FetchOptions;

    fn fetcher() -> Fetcher {
        Fetcher::new(&FetchOptions {
            allow_file_urls: Some(std::env::temp_dir()),
            ..FetchOptions::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn inline_is_returned_and_missing_is_an_error() {
        let digest = Digest::new(Algorithm::Md5, &"ab".repeat(16)).unwrap();
        let inline = Checksum::Inline {
            digest: digest.clone(),
        };
        assert_eq!(resolve(&fetcher(), &inline).await.unwrap(), digest);
        let error = resolve(&fetcher(), &Checksum::Missing).await.unwrap_err();
        assert!(matches!(error, Error::NoChecksum));
    }

    #[tokio::test]
    async fn local_files_are_read_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "cd".repeat(32);
        let sums = dir.path().join("SHA256SUMS");
        std::fs::write(&sums, format!("{hex} *a.img\n{} *b.img\n", "ef".repeat(32))).unwrap();
        let url = url::Url::from_file_path(&sums).unwrap().to_string();
        let checksum = Checksum::Sums {
            url: url.clone(),
            file_name: "a.img".into(),
        };
        let digest = resolve(&fetcher(), &checksum).await.unwrap();
        assert_eq!(digest, Digest::new(Algorithm::Sha256, &hex).unwrap());
        let missing = Checksum::Sums {
            url: url.clone(),
            file_name: "c.img".into(),
        };
        let error = resolve(&fetcher(), &missing).await.unwrap_err();
        assert!(error.to_string().ends_with("lists no checksum for `c.img`"));
        let error = resolve(&fetcher(), &Checksum::File { url })
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("more than one digest"),
            "{error}"
        );

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_CHECKSUM_FILE as usize + 1]).unwrap();
        let url = url::Url::from_file_path(&big).unwrap().to_string();
        let error = resolve(&fetcher(), &Checksum::File { url })
            .await
            .unwrap_err();
        assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
    }
}
