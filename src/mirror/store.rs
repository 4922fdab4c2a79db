//! The S3 side of the mirror: a bucket reached with object_store, and nothing hand-signed.
//!
//! Three operations are all `mirror` needs: [`Store::stored_digest`] (one `HEAD`: is the object
//! there, and which digest did we record on it?), [`Store::start`] (initiate a multipart
//! upload whose metadata already names the expected digest) and, on the returned [`Upload`],
//! completing or aborting it. The digest goes into the metadata when the upload starts because
//! S3 cannot add metadata to a finished object; it is true by construction, since the upload is
//! completed only after the bytes matched it (see [`super::copy`]).
//!
//! Requests go through object_store's signing, retry loop and timeouts, over a reqwest client
//! built here (connect and per-request timeouts, the operator's CA bundle) and wrapped in a
//! counter per HTTP method — the counts are part of `mirror`'s report, so "a re-run only sends
//! HEADs" is something a test (and an operator) can read off — and in a cap on every answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore as _,
    PutMultipartOptions, RetryConfig, WriteMultipart,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::Error;
use crate::apply::error::chain;
use crate::catalog::checksums::Digest;
use crate::transfer::retry::RetryPolicy;

/// The user metadata key (`x-amz-meta-…`) holding the verified digest, `algorithm:hex`.
pub const DIGEST_KEY: &str = "image-manager-checksum";

/// Bytes per part: S3's minimum is 5 MiB and its maximum part count 10,000, so 8 MiB parts
/// carry images up to 78 GiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once per object; with [`PART_SIZE`] it bounds the memory of a copy.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is and who we are there.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host[:port]` of an S3-compatible service; `None`: AWS for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    /// Extra CA certificates (PEM) to trust besides the system's, as for upstreams.
    pub ca_bundle: Option<std::path::PathBuf>,
    pub connect_timeout: Duration,
    /// Bound on one request, a whole part upload included.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl S3Config {
    /// The environment the S3 ecosystem uses: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`; empty values count as unset.
    pub fn credentials_from_env(mut self) -> S3Config {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        self.access_key_id = var("AWS_ACCESS_KEY_ID");
        self.secret_access_key = var("AWS_SECRET_ACCESS_KEY").map(SecretString::from);
        self.session_token = var("AWS_SESSION_TOKEN").map(SecretString::from);
        self
    }

    /// Whether part bodies go unsigned (`UNSIGNED-PAYLOAD`). Over TLS the connection already
    /// protects them, and hashing every part for the signature costs a second sha256 pass over
    /// the image (about 10 % of a 2 GiB copy here); over plain HTTP the signature is what lets
    /// S3 refuse a part altered on the way, so there it is kept.
    fn unsigned_payload(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_none_or(|endpoint| endpoint.starts_with("https://"))
    }

    /// Where objects of the bucket are read from by default (path style, which every
    /// S3-compatible service serves): `<endpoint>/<bucket>`.
    pub fn public_base(&self) -> String {
        let endpoint = match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        };
        format!("{endpoint}/{}", self.bucket)
    }

    /// The secret values, for scrubbing them out of messages ([`crate::redact::secrets`]).
    pub fn secrets(&self) -> Vec<String> {
        [&self.secret_access_key, &self.session_token]
            .into_iter()
            .flatten()
            .map(|s| s.expose_secret().to_owned())
            .collect()
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// HTTP requests sent to S3, by method (retries included); `other` should stay 0 (S3 needs no
/// other method).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub head: u64,
    pub get: u64,
    pub put: u64,
    pub post: u64,
    pub delete: u64,
    pub other: u64,
}

/// The methods [`Requests`] counts, in its field order.
const METHODS: [&str; 5] = ["HEAD", "GET", "PUT", "POST", "DELETE"];

#[derive(Debug, Default)]
struct Counter([AtomicU64; 6]);

impl Counter {
    fn count(&self, method: &str) {
        let slot = METHODS.iter().position(|m| *m == method);
        self.0[slot.unwrap_or(METHODS.len())].fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> Requests {
        let n = |i: usize| self.0[i].load(Ordering::Relaxed);
        Requests {
            head: n(0),
            get: n(1),
            put: n(2),
            post: n(3),
            delete: n(4),
            other: n(5),
        }
    }
}

/// The most an S3 answer may carry. The mirror reads only small XML documents through
/// object_store (a multipart upload's id, its completion, error pages; `HEAD`s have no body),
/// never an object's bytes, and object_store reads each answer whole into memory: a broken or
/// hostile endpoint sending an endless answer must end the request, not fill the memory.
const MAX_ANSWER: usize = 1024 * 1024;

/// The reqwest client object_store sends through, counting every request and capping every
/// answer at [`MAX_ANSWER`].
#[derive(Debug)]
struct Counting {
    client: reqwest::Client,
    counter: Arc<Counter>,
}

#[async_trait]
impl HttpService for Counting {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.counter.count(request.method().as_str());
        let response = HttpService::call(&self.client, request).await?;
        Ok(response.map(|body| {
            let limited = Limited::new(body, MAX_ANSWER);
            HttpResponseBody::new(
                limited.map_err(|error| match error.downcast::<HttpError>() {
                    Ok(broken) => *broken,
                    Err(_) => HttpError::new_boxed(
                        HttpErrorKind::Decode,
                        format!("the answer is longer than {MAX_ANSWER} bytes").into(),
                    ),
                }),
            )
        }))
    }
}

#[derive(Debug)]
struct Connector {
    client: reqwest::Client,
    counter: Arc<Counter>,
}

impl HttpConnector for Connector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Counting {
            client: self.client.clone(),
            counter: Arc::clone(&self.counter),
        }))
    }
}

/// One bucket; cheap to share (`Arc`) between concurrent copies.
#[derive(Debug)]
pub struct Store {
    s3: AmazonS3,
    counter: Arc<Counter>,
    bucket: String,
}

impl Store {
    pub fn new(config: &S3Config) -> Result<Store, Error> {
        let mut client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("image-manager/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_bundle {
            let certificates = crate::transfer::fetch::ca_bundle(path)
                .map_err(|e| Error::Config(crate::redact::text(&e.to_string())))?;
            client = client.tls_certs_merge(certificates);
        }
        let client = client
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?;
        let counter = Arc::new(Counter::default());
        let policy = &config.retry;
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: policy.base_delay,
                max_backoff: policy.max_delay,
                base: 2.0,
            },
            max_retries: policy.max_attempts.saturating_sub(1) as usize,
            retry_timeout: Duration::from_secs(300),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            .with_unsigned_payload(config.unsigned_payload())
            .with_http_connector(Connector {
                client,
                counter: Arc::clone(&counter),
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret.expose_secret());
                if let Some(token) = &config.session_token {
                    builder = builder.with_token(token.expose_secret());
                }
            }
            (None, None) => {
                return Err(Error::Config(
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                ));
            }
            _ => {
                return Err(Error::Config(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".into(),
                ));
            }
        }
        let s3 = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot set up the S3 client: {e}")))?;
        Ok(Store {
            s3,
            counter,
            bucket: config.bucket.clone(),
        })
    }

    /// Requests sent so far.
    pub fn requests(&self) -> Requests {
        self.counter.read()
    }

    /// With one `HEAD`: `None` when `key` does not exist, else the digest recorded on it
    /// (`Some(None)`: an object without, or with an unreadable, digest — not ours, or made
    /// by another tool).
    pub async fn stored_digest(&self, key: &str) -> Result<Option<Option<Digest>>, Error> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.s3.get_opts(&path(key)?, options).await {
            Ok(found) => Ok(Some(recorded_digest(&found.attributes))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.error("HEAD", key, source)),
        }
    }

    /// Initiates a multipart upload of `key` recording `digest`; nothing is visible under
    /// `key` until [`Upload::complete`].
    pub async fn start(&self, key: &str, digest: &Digest) -> Result<Upload, Error> {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(DIGEST_KEY.into()),
            digest.to_string().into(),
        );
        let options = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let upload = self
            .s3
            .put_multipart_opts(&path(key)?, options)
            .await
            .map_err(|source| self.error("initiating the upload of", key, source))?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            key: key.to_owned(),
            bucket: self.bucket.clone(),
        })
    }

    fn error(&self, what: &'static str, key: &str, source: object_store::Error) -> Error {
        Error::S3 {
            what,
            object: format!("s3://{}/{key}", self.bucket),
            message: chain(&source),
        }
    }
}

/// A multipart upload in progress: parts go out as they fill, at most [`PARTS_IN_FLIGHT`]
/// at once, so memory stays at a few parts whatever the object's size.
#[derive(Debug)]
pub struct Upload {
    writer: WriteMultipart,
    key: String,
    bucket: String,
}

impl Upload {
    /// Adds bytes; waits while [`PARTS_IN_FLIGHT`] parts are still uploading.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Error> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|source| self.error("uploading a part of", source))?;
        self.writer.put(chunk);
        Ok(())
    }

    /// Uploads the last part and completes the object: only now does it exist. A failure
    /// aborts the upload (object_store does so before returning).
    pub async fn complete(self) -> Result<(), Error> {
        let (key, bucket) = (self.key, self.bucket);
        self.writer
            .finish()
            .await
            .map(drop)
            .map_err(|source| Error::S3 {
                what: "completing the upload of",
                object: format!("s3://{bucket}/{key}"),
                message: chain(&source),
            })
    }

    /// Aborts the upload: S3 drops the parts sent, and no object appears under the key.
    pub async fn abort(self) {
        let object = format!("s3://{}/{}", self.bucket, self.key);
        if let Err(error) = self.writer.abort().await {
            tracing::warn!(
                "could not abort the multipart upload of {object}: {}; its parts stay until \
                 the bucket's lifecycle rule removes them",
                chain(&error)
            );
        }
    }

    fn error(&self, what: &'static str, source: object_store::Error) -> Error {
        Error::S3 {
            what,
            object: format!("s3://{}/{}", self.bucket, self.key),
            message: chain(&source),
        }
    }
}

fn path(key: &str) -> Result<Path, Error> {
    Path::parse(key).map_err(|e| Error::Config(format!("invalid object key `{key}`: {e}")))
}

/// The digest recorded in an object's metadata, if it is one this tool can read.
pub fn recorded_digest(attributes: &Attributes) -> Option<Digest> {
    let value = attributes.get(&Attribute::Metadata(DIGEST_KEY.into()))?;
    parse_recorded(value.as_ref())
}

/// Reads a metadata value written by [`Store::start`] (`algorithm:hex`). Metadata is outside
/// data (another tool, a person with the bucket's keys may have set it): anything else is
/// `None`, i.e. "not verified by us", never an error.
pub fn parse_recorded(value: &str) -> Option<Digest> {
    Digest::parse(value).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::catalog::checksums::Algorithm;

    #[test]
    fn recorded_digests_round_trip() {
        let digest = Digest::new(Algorithm::Sha256, &"ab".repeat(32)).unwrap();
        assert_eq!(parse_recorded(&digest.to_string()), Some(digest.clone()));
        let mut attributes = Attributes::new();
        assert_eq!(recorded_digest(&attributes), None);
        attributes.insert(
            Attribute::Metadata(DIGEST_KEY.into()),
            digest.to_string().into(),
        );
        assert_eq!(recorded_digest(&attributes), Some(digest));
        for junk in ["", "sha256", "sha256:xyz", "crc32:abcd", "sha256:abcd"] {
            assert_eq!(parse_recorded(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_public_base_is_path_style() {
        let mut config = test_config();
        assert_eq!(config.public_base(), "https://s3.eu-west-1.amazonaws.com/b");
        config.endpoint = Some("http://127.0.0.1:8333/".into());
        assert_eq!(config.public_base(), "http://127.0.0.1:8333/b");
    }

    #[test]
    fn part_bodies_are_signed_unless_tls_protects_them() {
        let mut config = test_config();
        assert!(config.unsigned_payload(), "AWS is https");
        config.endpoint = Some("https://objects.example.com".into());
        assert!(config.unsigned_payload());
        config.endpoint = Some("http://127.0.0.1:8333".into());
        assert!(!config.unsigned_payload());
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut config = test_config();
        config.secret_access_key = Some(SecretString::from("SECRETVALUE"));
        config.session_token = Some(SecretString::from("TOKENVALUE"));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("SECRETVALUE") && !shown.contains("TOKENVALUE"),
            "{shown}"
        );
        assert_eq!(config.secrets(), ["SECRETVALUE", "TOKENVALUE"]);
    }

    #[test]
    fn missing_credentials_are_a_clear_error() {
        let error = Store::new(&test_config()).unwrap_err();
        assert!(error.to_string().contains("AWS_ACCESS_KEY_ID"), "{error}");
    }

    fn test_config() -> S3Config {
        S3Config {
            bucket: "b".into(),
            endpoint: None,
            region: "eu-west-1".into(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            ca_bundle: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }

    proptest! {
        #[test]
        fn prop_any_metadata_value_is_read_without_panic(value in "\\PC{0,200}") {
            if let Some(digest) = parse_recorded(&value) {
                prop_assert_eq!(digest.hex.len(), digest.algorithm.hex_len());
                prop_assert_eq!(parse_recorded(&digest.to_string()), Some(digest));
            }
        }
    }
}
