//! Reading small files whole (checksum files, index pages, pointer files) and asking when a
//! file last changed: bounded in size and time, so a hostile or broken server can neither
//! exhaust memory nor hold a run forever.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Url;

use super::{Fetcher, last_modified};
use crate::transfer::retry::{Class, classify};
use crate::transfer::{Error, redact};

impl Fetcher {
    /// The whole body of `url` (a checksum file, an index page: `what`, for the message), read
    /// only up to `limit` bytes: a larger body is refused with [`Error::TooLarge`] as soon as
    /// the announced length or the bytes read pass the limit, so memory stays bounded even
    /// when the server never stops sending.
    pub async fn bytes(&self, url: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, Error> {
        self.in_time(url, self.read_small(url, limit, what)).await
    }

    async fn read_small(
        &self,
        url: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, Error> {
        let too_large = || Error::TooLarge {
            url: redact(url),
            limit,
            what,
        };
        let mut download = self.open(url).await?;
        if download.length().is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = download.next().await {
            let chunk = chunk?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// [`Fetcher::bytes`] as text (invalid UTF-8 replaced: listings are read, not trusted).
    pub async fn text(&self, url: &str, limit: u64, what: &'static str) -> Result<String, Error> {
        let body = self.bytes(url, limit, what).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// When the upstream last changed `url`: a `HEAD`'s `Last-Modified` (`None` without a valid
    /// one), a `file:` URL's modification time. Transient failures are retried like downloads.
    pub async fn modified(&self, url: &str) -> Result<Option<DateTime<Utc>>, Error> {
        self.in_time(url, self.head_with_retries(url)).await
    }

    /// `work` on `url`, bounded by [`FetchOptions::small_file_timeout`].
    async fn in_time<T>(
        &self,
        url: &str,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.small_file_timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Deadline {
                    url: redact(url),
                    seconds: self.small_file_timeout.as_secs_f64(),
                })
            })
    }

    async fn head_with_retries(&self, url: &str) -> Result<Option<DateTime<Utc>>, Error> {
        let shown = redact(url);
        let invalid = |reason| Error::Url {
            url: shown.clone(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| invalid("not a valid URL"))?;
        match parsed.scheme() {
            "http" | "https" => {}
            "file" => {
                let path = self.local_path(&parsed, &shown)?;
                let metadata = tokio::fs::metadata(&path)
                    .await
                    .map_err(|source| Error::File { path, source })?;
                return Ok(metadata.modified().ok().map(DateTime::<Utc>::from));
            }
            _ => return Err(invalid("only http, https and file URLs are supported")),
        }
        let mut failures = 0;
        loop {
            let error = match self.head(&parsed, &shown).await {
                Ok(modified) => return Ok(modified),
                Err(error) => error,
            };
            failures += 1;
            if classify(&error) == Class::Fatal {
                return Err(error);
            }
            if failures >= self.retry.max_attempts {
                return Err(Error::Exhausted {
                    url: shown,
                    attempts: failures,
                    source: Box::new(error),
                });
            }
            self.retry.wait(failures).await;
        }
    }

    /// When the upstream last changed `url` (see [`Fetcher::modified`]), for callers that do
    /// not download it themselves (web-download). Best effort: `None` on any error, without
    /// retries.
    pub async fn last_modified(&self, url: &str) -> Option<DateTime<Utc>> {
        let parsed = Url::parse(url).ok()?;
        match parsed.scheme() {
            "http" | "https" => self.head(&parsed, "").await.ok().flatten(),
            "file" => self.modified(url).await.ok().flatten(),
            _ => None,
        }
    }

    /// One `HEAD`: the `Last-Modified` of a 2xx answer.
    async fn head(&self, url: &Url, shown: &str) -> Result<Option<DateTime<Utc>>, Error> {
        let response = self
            .client
            .head(url.clone())
            .send()
            .await
            .map_err(|source| Error::Request {
                url: shown.to_owned(),
                source: source.without_url(),
            })?;
        if !response.status().is_success() {
            return Err(Error::Status {
                url: shown.to_owned(),
                status: response.status().as_u16(),
            });
        }
        Ok(last_modified(response.headers()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::fetch::local::tests::local;

    #[tokio::test]
    async fn a_file_url_is_dated_by_its_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.img");
        std::fs::write(&path, b"data").unwrap();
        let url = Url::from_file_path(&path).unwrap().to_string();
        let fetcher = local(dir.path());
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let want = Some(DateTime::<Utc>::from(modified));
        assert_eq!(fetcher.open(&url).await.unwrap().last_modified(), want);
        assert_eq!(fetcher.last_modified(&url).await, want);
        assert_eq!(fetcher.modified(&url).await.unwrap(), want);
        assert_eq!(fetcher.last_modified("ftp://host/a.img").await, None);
    }

    #[tokio::test]
    async fn small_reads_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 4096]).unwrap();
        let url = Url::from_file_path(&path).unwrap().to_string();
        let fetcher = local(dir.path());
        assert_eq!(fetcher.text(&url, 4096, "x").await.unwrap().len(), 4096);
        let error = fetcher
            .bytes(&url, 4095, "an index page")
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::TooLarge { limit: 4095, .. }),
            "{error:?}"
        );
        assert!(error.to_string().ends_with("too large for an index page"));
    }
}
