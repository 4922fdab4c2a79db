//! Which of a version's URLs the bytes come from: its `mirror_url`, and `url` when the mirror
//! fails.
//!
//! Mirrors lag behind catalogs (the Python tool's update writes `mirror_url`s before the copy
//! exists, and a bucket can lose objects or its public access), and a missing mirror must not
//! block an import the upstream can still serve. So a mirror that cannot be opened — 404, 403,
//! a refused connection, or any other failure after the fetcher's retries — is replaced by the
//! upstream `url`. That trusts nothing new: both are verified against the same catalog checksum.
//! Only opening falls back; once bytes flowed from the mirror they went on to Glance, and a
//! failure after that fails the upload as any broken download does. The step's log line and the
//! report's [`Transfer`](super::Transfer) say which URL was used and why.

use super::error::chain;
use super::report::SourceKind;
use crate::catalog::Compression;
use crate::desired::Source;
use crate::transfer::fetch::{Download, Fetcher};
use crate::transfer::{self, redact};

/// The URL the bytes come from, and why it is not the first choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Chosen {
    pub url: String,
    pub compression: Option<Compression>,
    pub kind: SourceKind,
    /// Why the mirror was passed over (redacted), when it was.
    pub fallback: Option<String>,
}

impl Chosen {
    /// The first choice: `mirror_url` when the version has one, else `url`.
    pub fn first(source: &Source) -> Chosen {
        Chosen {
            url: source.download_url.clone(),
            compression: source.compression,
            kind: match source.fallback {
                Some(_) => SourceKind::MirrorUrl,
                None => SourceKind::Url,
            },
            fallback: None,
        }
    }

    /// `url` instead of the mirror, because opening the mirror failed with `error`; `None` when
    /// the source has no mirror to fall back from.
    fn instead(source: &Source, error: &transfer::Error, name: &str) -> Option<Chosen> {
        let fallback = source.fallback.as_ref()?;
        let why = format!("mirror_url failed: {}", crate::redact::text(&chain(error)));
        tracing::warn!(
            "{name}: {why}; downloading from url {} instead",
            redact(&fallback.url)
        );
        Some(Chosen {
            url: fallback.url.clone(),
            compression: fallback.compression,
            kind: SourceKind::Url,
            fallback: Some(why),
        })
    }
}

/// Opens the source of `name`: its first choice, else its upstream `url`.
pub(super) async fn open(
    fetcher: &Fetcher,
    source: &Source,
    name: &str,
) -> Result<(Download, Chosen), transfer::Error> {
    let first = Chosen::first(source);
    match fetcher.open(&first.url).await {
        Ok(download) => Ok((download, first)),
        Err(error) => match Chosen::instead(source, &error, name) {
            Some(chosen) => Ok((fetcher.open(&chosen.url).await?, chosen)),
            None => Err(error),
        },
    }
}

/// For Glance to pull (web-download): the mirror when it can be opened (the probe's body is
/// dropped unread), else `url`. Glance cannot decompress, so an upstream that needs it is no
/// fallback: the mirror's error stands.
pub(super) async fn probe(
    fetcher: &Fetcher,
    source: &Source,
    name: &str,
) -> Result<Chosen, transfer::Error> {
    let first = Chosen::first(source);
    if source.fallback.is_none() {
        return Ok(first);
    }
    match fetcher.open(&first.url).await {
        Ok(_) => Ok(first),
        Err(error) => match Chosen::instead(source, &error, name) {
            Some(chosen) if chosen.compression.is_none() => Ok(chosen),
            _ => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Method;
    use crate::desired::{Checksum, Fallback};
    use crate::transfer::fetch::FetchOptions;

    fn source(mirror: &str, upstream: Option<&str>) -> Source {
        Source {
            download_url: mirror.into(),
            checksum: Checksum::Missing,
            compression: None,
            method: Method::Auto,
            fallback: upstream.map(|url| Fallback {
                url: url.into(),
                compression: Compression::from_suffix(url),
            }),
        }
    }

    #[tokio::test]
    async fn a_mirror_that_cannot_be_opened_gives_way_to_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.img");
        std::fs::write(&file, b"bytes").unwrap();
        let upstream = url::Url::from_file_path(&file).unwrap().to_string();
        let missing = url::Url::from_file_path(dir.path().join("gone.img"))
            .unwrap()
            .to_string();
        let fetcher = Fetcher::new(&FetchOptions {
            allow_file_urls: Some(dir.path().to_owned()),
            ..FetchOptions::default()
        })
        .unwrap();

        let (_, chosen) = open(&fetcher, &source(&missing, Some(&upstream)), "A")
            .await
            .unwrap();
        assert_eq!(chosen.url, upstream);
        assert_eq!(chosen.kind, SourceKind::Url);
        assert!(
            chosen
                .fallback
                .unwrap()
                .starts_with("mirror_url failed: cannot read")
        );

        let (_, chosen) = open(&fetcher, &source(&upstream, Some(&missing)), "A")
            .await
            .unwrap();
        assert_eq!(
            (chosen.kind, chosen.fallback),
            (SourceKind::MirrorUrl, None)
        );

        // Without a mirror there is nothing to fall back to.
        assert!(open(&fetcher, &source(&missing, None), "A").await.is_err());
        let chosen = probe(&fetcher, &source(&missing, Some(&upstream)), "A").await;
        assert_eq!(chosen.unwrap().kind, SourceKind::Url);
        // Glance cannot decompress: a compressed upstream is no fallback for web-download.
        let xz = format!("{upstream}.xz");
        assert!(
            probe(&fetcher, &source(&missing, Some(&xz)), "A")
                .await
                .is_err()
        );
    }
}
