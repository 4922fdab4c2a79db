//! The sandbox's S3 server (SeaweedFS, `ci/sandbox.sh s3-up`) as the mirror tests see it.
//!
//! Where it is comes from `ci/sandbox.sh env` (`SANDBOX_S3_ENDPOINT`, `SANDBOX_S3_BUCKET`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), else from the state `s3-up` left in this
//! checkout's `.sandbox/s3/`. Checks of what is in the bucket use curl's own SigV4 signing, not
//! the code under test, so "the object is there with this metadata" and "no multipart upload
//! is left" are seen by an independent client. Tests share the bucket: every test writes below
//! a key prefix of its own and deletes its objects at the end ([`S3::forget`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The sandbox bucket and its keys.
pub(crate) struct S3 {
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    access_key: String,
    secret_key: String,
    /// Keys to delete when the test ends.
    written: Mutex<Vec<String>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl S3 {
    /// The running sandbox S3; panics with instructions when there is none.
    pub(crate) fn sandbox() -> S3 {
        let state = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".sandbox/s3");
        let read = |file: &str| {
            std::fs::read_to_string(state.join(file))
                .map(|s| s.trim().to_owned())
                .ok()
        };
        let endpoint = env("SANDBOX_S3_ENDPOINT")
            .or_else(|| read("ports").map(|port| format!("http://127.0.0.1:{port}")));
        let (Some(endpoint), Some(access_key), Some(secret_key)) = (
            endpoint,
            env("AWS_ACCESS_KEY_ID").or_else(|| read("secrets/access_key")),
            env("AWS_SECRET_ACCESS_KEY").or_else(|| read("secrets/secret_key")),
        ) else {
            panic!("no sandbox S3: start it with ci/sandbox.sh up (or s3-up), or run ci/test.sh");
        };
        S3 {
            endpoint,
            bucket: env("SANDBOX_S3_BUCKET").unwrap_or_else(|| "image-mirror".into()),
            access_key,
            secret_key,
            written: Mutex::default(),
        }
    }

    /// The secret key (tests check it never appears in output).
    pub(crate) fn secret(&self) -> &str {
        &self.secret_key
    }

    /// The environment `mirror` and `update --mirror` read, for these keys.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    /// The flags naming the bucket.
    pub(crate) fn args(&self) -> [&str; 2] {
        ["--bucket", &self.bucket]
    }

    /// The public (path-style) URL of `key`, as `mirror` writes it.
    pub(crate) fn url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.endpoint, self.bucket)
    }

    /// Deletes `key` when the test ends (also after a panic).
    pub(crate) fn forget(&self, key: &str) {
        self.written.lock().unwrap().push(key.to_owned());
    }

    /// A signed curl request; returns the HTTP status, the headers (lower-case names) and the
    /// body.
    fn curl(&self, method: &str, path_and_query: &str) -> (u16, String, String) {
        let verb = if method == "HEAD" {
            ["-I", "-s"]
        } else {
            ["-X", method]
        };
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-m", "30"])
            .args(verb)
            .args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
            .arg(format!("{}:{}", self.access_key, self.secret_key))
            .arg(format!("{}/{}{path_and_query}", self.endpoint, self.bucket))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_lowercase(), body.to_owned())
    }

    /// The digest `mirror` recorded on `key` (`None`: no such object).
    pub(crate) fn recorded_digest(&self, key: &str) -> Option<String> {
        let (status, headers, _) = self.curl("HEAD", &format!("/{key}"));
        if status == 404 {
            return None;
        }
        assert_eq!(status, 200, "HEAD {key}: {headers}");
        let line = headers
            .lines()
            .find(|l| l.starts_with("x-amz-meta-image-manager-checksum:"))
            .unwrap_or_default();
        Some(
            line.split_once(':')
                .map_or("", |(_, v)| v)
                .trim()
                .to_owned(),
        )
    }

    /// Multipart uploads started below `prefix` and neither completed nor aborted.
    pub(crate) fn pending_uploads(&self, prefix: &str) -> usize {
        // SigV4 signs the query sorted and encoded; curl sends it as written.
        let prefix = prefix.replace('/', "%2F");
        let (status, _, body) = self.curl("GET", &format!("?prefix={prefix}&uploads="));
        assert_eq!(status, 200, "{body}");
        body.matches("<Upload>").count()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        for key in self.written.lock().unwrap().drain(..) {
            let _ = self.curl("DELETE", &format!("/{key}"));
        }
    }
}
