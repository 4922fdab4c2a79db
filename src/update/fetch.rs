//! The thin network layer of `update`: GET small text files (index pages, sums files, pointer
//! files) with timeouts. Everything that interprets the text lives in [`super::sources`].

use std::time::Duration;

/// Why a fetch failed; reported for the definition that needed the file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered, but not with 2xx.
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// No answer: connection, TLS, timeout, or a body that broke off.
    #[error("GET {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl FetchError {
    /// The file does not exist (404/410): for probes, "not published (yet)".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::Status {
                status: 404 | 410,
                ..
            }
        )
    }
}

/// A reqwest client with the timeouts `update` uses for every request.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    /// `timeout` bounds each whole request (connect, headers and body).
    pub fn new(timeout: Duration) -> Result<Fetcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("image-manager/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Fetcher { client })
    }

    /// GETs `url` as text.
    pub async fn text(&self, url: &str) -> Result<String, FetchError> {
        let transport = |source| FetchError::Transport {
            url: url.to_owned(),
            source,
        };
        let response = self.client.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        response.text().await.map_err(transport)
    }

    /// The `Last-Modified` header of `url` (a HEAD request).
    pub async fn last_modified(&self, url: &str) -> Result<Option<String>, FetchError> {
        let transport = |source| FetchError::Transport {
            url: url.to_owned(),
            source,
        };
        let response = self.client.head(url).send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        Ok(response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }
}
