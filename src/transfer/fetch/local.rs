//! What the fetcher reads from the machine it runs on: `file:` URLs, only below the directory
//! the operator allowed (a catalog from a pull request must not read arbitrary local files and
//! upload them into an image), and CA bundles for private mirrors.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Url;
use tokio_util::io::ReaderStream;

use super::{Download, Fetcher};
use crate::transfer::Error;

/// Chunk size for `file://` reads.
const FILE_CHUNK: usize = 256 * 1024;

impl Fetcher {
    /// The local path of a `file:` URL, if it is inside the allowed directory once symlinks
    /// and `..` are resolved.
    pub(super) fn local_path(&self, url: &Url, shown: &str) -> Result<PathBuf, Error> {
        let refused = |reason| Error::Url {
            url: shown.to_owned(),
            reason,
        };
        let Some(root) = &self.file_root else {
            return Err(refused(
                "file: URLs are read only below a directory given with --allow-file-urls DIR",
            ));
        };
        let path = url
            .to_file_path()
            .map_err(|()| refused("not a local file path"))?;
        let real = path
            .canonicalize()
            .map_err(|source| Error::File { path, source })?;
        if !real.starts_with(root) {
            return Err(refused(
                "the file is outside the --allow-file-urls directory (after resolving symlinks)",
            ));
        }
        Ok(real)
    }
}

/// The certificates of a PEM bundle; a bundle without any is an error (a wrong file would
/// otherwise silently leave the private mirror untrusted).
pub fn ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let unusable = |reason: String| Error::CaBundle {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| unusable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unusable("no PEM certificate in it".into()));
    }
    Ok(certs)
}

pub(super) async fn open_file(path: PathBuf) -> Result<Download, Error> {
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::File { path, source }
    };
    let file = tokio::fs::File::open(&path).await.map_err(error(&path))?;
    let metadata = file.metadata().await.map_err(error(&path))?;
    let length = metadata.len();
    let last_modified = metadata.modified().ok().map(DateTime::<Utc>::from);
    let stream = ReaderStream::with_capacity(file, FILE_CHUNK);
    let inner = stream.map(move |chunk| chunk.map_err(error(&path)));
    Ok(Download {
        length: Some(length),
        last_modified,
        inner: inner.boxed(),
    })
}

#[cfg(test)]
pub(in crate::transfer::fetch) mod tests {
    use super::*;
    use crate::transfer::fetch::FetchOptions;

    /// A fetcher that reads `file:` URLs below `root`.
    pub(in crate::transfer::fetch) fn local(root: &std::path::Path) -> Fetcher {
        Fetcher::new(&FetchOptions {
            allow_file_urls: Some(root.to_owned()),
            ..FetchOptions::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn file_urls_need_the_opt_in_and_stay_below_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("mirror");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("a.img"), b"data").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"key").unwrap();
        std::os::unix::fs::symlink(&secret, allowed.join("link.img")).unwrap();
        let url = |path: &std::path::Path| Url::from_file_path(path).unwrap().to_string();
        let inside = url(&allowed.join("a.img"));

        let refused = Fetcher::new(&FetchOptions::default()).unwrap();
        let error = refused.open(&inside).await.err().unwrap();
        assert!(error.to_string().contains("--allow-file-urls"), "{error}");
        assert!(refused.modified(&inside).await.is_err());
        assert_eq!(refused.last_modified(&inside).await, None);

        let fetcher = local(&allowed);
        assert_eq!(fetcher.bytes(&inside, 10, "x").await.unwrap(), b"data");
        let escapes = [
            url(&secret),
            url(&allowed.join("link.img")),
            format!("file://{}/../secret", allowed.display()),
        ];
        for escape in escapes {
            let error = fetcher.open(&escape).await.err().unwrap();
            assert!(error.to_string().contains("outside"), "{escape}: {error}");
        }
        let missing = Fetcher::new(&FetchOptions {
            allow_file_urls: Some(dir.path().join("nope")),
            ..FetchOptions::default()
        });
        assert!(missing.is_err());
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        for bundle in [path, dir.path().join("missing.pem")] {
            let error = Fetcher::new(&FetchOptions {
                ca_bundle: Some(bundle.clone()),
                ..FetchOptions::default()
            })
            .unwrap_err();
            assert!(matches!(error, Error::CaBundle { .. }), "{error:?}");
        }
    }
}
