//! `transfer` against the upstream test server: whole downloads, resumes after drops and
//! truncation, retries on 5xx, fatal 4xx, a file replaced mid-download, every compression, and
//! checksum resolution from every sums format. Outcomes and request logs only, never durations.

use std::time::Duration;

use futures::StreamExt;
use image_manager::catalog::Compression as CatalogCompression;
use image_manager::catalog::checksums::{Algorithm, Digest};
use image_manager::desired::Checksum;
use image_manager::transfer::checksum::resolve;
use image_manager::transfer::decompress::decompress;
use image_manager::transfer::fetch::{Download, FetchOptions, Fetcher};
use image_manager::transfer::hash::Hashers;
use image_manager::transfer::retry::RetryPolicy;
use image_manager::transfer::{Error, redact};

use crate::upstream::{Algo, Compression, Fault, SumsFormat, Upstream};

const MIB: u64 = 1024 * 1024;

/// A fetcher with short waits between attempts (the schedule itself is unit-tested).
fn fetcher(max_attempts: u32) -> Fetcher {
    fetcher_with_idle_timeout(max_attempts, Duration::from_secs(60))
}

fn fetcher_with_idle_timeout(max_attempts: u32, read_timeout: Duration) -> Fetcher {
    let options = FetchOptions {
        connect_timeout: Duration::from_secs(30),
        read_timeout,
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
        },
        // `local_files_are_read` reads below the upstream's scratch directory.
        allow_file_urls: Some(std::env::temp_dir()),
        ..FetchOptions::default()
    };
    Fetcher::new(&options).expect("fetcher")
}

/// Reads the whole stream and returns its sha256 and length.
async fn sha256(
    mut stream: impl futures::Stream<Item = Result<bytes::Bytes, Error>> + Unpin,
) -> Result<(String, u64), Error> {
    let mut hashers = Hashers::new(&[Algorithm::Sha256]);
    while let Some(chunk) = stream.next().await {
        hashers.update(&chunk?).await;
    }
    let digests = hashers.finish().await;
    let hex = digests.get(Algorithm::Sha256).expect("sha256").to_owned();
    Ok((hex, digests.bytes))
}

async fn open(fetcher: &Fetcher, upstream: &Upstream, path: &str) -> Download {
    fetcher.open(&upstream.url(path)).await.expect("open")
}

#[tokio::test]
async fn whole_download_matches_the_served_digest() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 3 * MIB + 17, 1);
    let download = open(&fetcher(3), &upstream, "/img.raw").await;
    assert_eq!(download.length(), Some(3 * MIB + 17));
    let (hex, len) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    assert_eq!(len, 3 * MIB + 17);
    assert_eq!(upstream.hits("/img.raw"), 1);
    assert!(upstream.ranges("/img.raw").is_empty());
}

#[tokio::test]
async fn redirects_are_followed() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", MIB, 2);
    upstream.add_redirect("/latest", "/img.raw", 302);
    let download = open(&fetcher(3), &upstream, "/latest").await;
    let (hex, _) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_from_the_byte_reached() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 4 * MIB, 3);
    upstream.fault_times("/img.raw", Fault::DropAfter { bytes: MIB }, 1);
    let download = open(&fetcher(3), &upstream, "/img.raw").await;
    let (hex, len) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    assert_eq!(len, 4 * MIB);
    assert_eq!(upstream.ranges("/img.raw"), [format!("bytes={MIB}-")]);
    let resume = &upstream.requests("/img.raw")[1];
    assert_eq!(
        resume.if_range.as_deref(),
        Some(upstream.etag("/img.raw").as_str())
    );
    assert_eq!(resume.status, 206);
}

#[tokio::test]
async fn repeated_drops_with_progress_still_finish() {
    // Every response breaks after 1 MiB, more often than `max_attempts`, but each brings bytes.
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 5 * MIB, 4);
    upstream.fault("/img.raw", Fault::DropAfter { bytes: MIB });
    let download = open(&fetcher(2), &upstream, "/img.raw").await;
    let (hex, _) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    let ranges: Vec<String> = (1..5).map(|n| format!("bytes={}-", n * MIB)).collect();
    assert_eq!(upstream.ranges("/img.raw"), ranges);
}

#[tokio::test]
async fn a_truncated_body_is_resumed() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 2 * MIB, 5);
    upstream.fault_times("/img.raw", Fault::Truncate { keep: 300_000 }, 1);
    let download = open(&fetcher(3), &upstream, "/img.raw").await;
    let (hex, _) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    assert_eq!(upstream.ranges("/img.raw"), ["bytes=300000-"]);
}

#[tokio::test]
async fn truncation_without_progress_gives_up_with_a_clear_error() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", MIB, 6);
    upstream.fault("/img.raw", Fault::Truncate { keep: 0 });
    let download = open(&fetcher(3), &upstream, "/img.raw").await;
    let error = sha256(download).await.expect_err("never completes");
    let Error::Exhausted { attempts, .. } = &error else {
        panic!("expected Exhausted, got {error:?}");
    };
    assert_eq!(*attempts, 3);
    assert_eq!(upstream.hits("/img.raw"), 3);
    let message = format!("{error}");
    assert!(
        message.starts_with("gave up on http://127.0.0.1:"),
        "{message}"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", MIB, 7);
    upstream.fault_times("/img.raw", Fault::Status(500), 2);
    let download = open(&fetcher(3), &upstream, "/img.raw").await;
    let (hex, _) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    let statuses: Vec<u16> = upstream
        .requests("/img.raw")
        .iter()
        .map(|h| h.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}

#[tokio::test]
async fn server_errors_that_persist_exhaust_the_attempts() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", MIB, 8);
    upstream.fault("/img.raw", Fault::Status(503));
    let error = fetcher(4)
        .open(&upstream.url("/img.raw"))
        .await
        .err()
        .expect("fails");
    let Error::Exhausted {
        attempts: 4,
        source,
        ..
    } = &error
    else {
        panic!("expected Exhausted after 4, got {error:?}");
    };
    assert!(
        matches!(**source, Error::Status { status: 503, .. }),
        "{source:?}"
    );
    assert_eq!(upstream.hits("/img.raw"), 4);
}

#[tokio::test]
async fn a_hanging_server_hits_the_idle_timeout_and_is_retried() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", MIB, 17);
    upstream.fault_times("/img.raw", Fault::Hang(Duration::from_secs(120)), 1);
    let fetcher = fetcher_with_idle_timeout(3, Duration::from_millis(500));
    let download = open(&fetcher, &upstream, "/img.raw").await;
    let (hex, _) = sha256(download).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    assert_eq!(upstream.hits("/img.raw"), 2);
}

#[tokio::test]
async fn not_found_is_fatal_at_once() {
    let upstream = Upstream::start().await;
    let error = fetcher(5)
        .open(&upstream.url("/missing.img"))
        .await
        .err()
        .expect("404");
    assert!(
        matches!(error, Error::Status { status: 404, .. }),
        "{error:?}"
    );
    assert_eq!(upstream.hits("/missing.img"), 1);
}

#[tokio::test]
async fn credentials_never_reach_the_message() {
    let upstream = Upstream::start().await;
    let url = upstream
        .url("/missing.img")
        .replace("http://", "http://user:hunter2@");
    let error = fetcher(1).open(&url).await.err().expect("404");
    let chain = format!("{:?} {}", error, error);
    assert!(!chain.contains("hunter2"), "{chain}");
    assert_eq!(error.to_string(), format!("GET {}: HTTP 404", redact(&url)));
}

#[tokio::test]
async fn a_file_replaced_between_attempts_is_an_error_not_a_splice() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 4 * MIB, 9);
    upstream.fault_times("/img.raw", Fault::DropAfter { bytes: 2 * MIB }, 1);
    let old_etag = upstream.etag("/img.raw");
    let mut download = open(&fetcher(3), &upstream, "/img.raw").await;
    // The resume is only requested when the stream is polled past the drop, so replacing the
    // file now is "between the attempts".
    let first = download.next().await.expect("a chunk").expect("ok");
    assert!(!first.is_empty());
    upstream.add_generated("/img.raw", 4 * MIB, 10);
    let mut received = first.len() as u64;
    let error = loop {
        match download
            .next()
            .await
            .expect("the stream ends with an error")
        {
            Ok(chunk) => received += chunk.len() as u64,
            Err(error) => break error,
        }
    };
    assert!(
        matches!(error, Error::Changed { offset, .. } if offset == received),
        "{error:?}"
    );
    assert_eq!(received, 2 * MIB);
    assert!(download.next().await.is_none(), "nothing after the error");
    let resume = &upstream.requests("/img.raw")[1];
    assert_eq!(resume.if_range.as_deref(), Some(old_etag.as_str()));
    assert_eq!(resume.status, 200);
}

#[tokio::test]
async fn every_compression_decodes_to_the_original() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 2 * MIB + 3, 11);
    let original = upstream.digest("/img.raw", Algo::Sha256);
    for compression in Compression::ALL {
        let path = upstream.add_compressed("/img.raw", compression);
        let catalog = match compression {
            Compression::Gzip => CatalogCompression::Gzip,
            Compression::Xz => CatalogCompression::Xz,
            Compression::Bzip2 => CatalogCompression::Bzip2,
            Compression::Zstd => CatalogCompression::Zstd,
        };
        assert_eq!(CatalogCompression::from_suffix(&path), Some(catalog));
        let download = open(&fetcher(3), &upstream, &path).await;
        let (hex, len) = sha256(decompress(download, Some(catalog)))
            .await
            .expect(&path);
        assert_eq!(hex, original, "{path}");
        assert_eq!(len, 2 * MIB + 3, "{path}");
    }
}

#[tokio::test]
async fn a_compressed_download_resumes_inside_the_decoder() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/img.raw", 2 * MIB, 12);
    let path = upstream.add_compressed("/img.raw", Compression::Gzip);
    upstream.fault_times(&path, Fault::DropAfter { bytes: 500_000 }, 1);
    let download = open(&fetcher(3), &upstream, &path).await;
    let stream = decompress(download, Some(CatalogCompression::Gzip));
    let (hex, _) = sha256(stream).await.expect("download");
    assert_eq!(hex, upstream.digest("/img.raw", Algo::Sha256));
    assert_eq!(upstream.ranges(&path), ["bytes=500000-"]);
}

#[tokio::test]
async fn local_files_are_read() {
    let upstream = Upstream::start().await;
    let file = upstream.dir().join("local.img");
    let data: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write");
    let url = url::Url::from_file_path(&file)
        .expect("file url")
        .to_string();
    let download = fetcher(1).open(&url).await.expect("open");
    assert_eq!(download.length(), Some(data.len() as u64));
    let (hex, _) = sha256(download).await.expect("read");
    assert_eq!(
        hex,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
    );
}

fn algorithm(algo: Algo) -> Algorithm {
    match algo {
        Algo::Md5 => Algorithm::Md5,
        Algo::Sha1 => Algorithm::Sha1,
        Algo::Sha256 => Algorithm::Sha256,
        Algo::Sha512 => Algorithm::Sha512,
    }
}

#[tokio::test]
async fn checksums_resolve_from_every_sums_format() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/images/disk.img", 100_000, 13);
    upstream.add_generated("/images/other.img", 50_000, 14);
    let files = ["/images/disk.img", "/images/other.img"];
    let multi = [
        ("SHA256SUMS", SumsFormat::GnuBinary(Algo::Sha256)),
        ("SHA512SUMS", SumsFormat::GnuText(Algo::Sha512)),
        ("MD5SUMS", SumsFormat::GnuText(Algo::Md5)),
        ("CHECKSUM", SumsFormat::Bsd(Algo::Sha256)),
        ("CHECKSUM.asc", SumsFormat::BsdSigned(Algo::Sha256)),
    ];
    let fetcher = fetcher(3);
    for (name, format) in multi {
        let path = format!("/images/{name}");
        upstream.add_sums(&path, format, &files);
        let checksum = Checksum::Sums {
            url: upstream.url(&path),
            file_name: "disk.img".into(),
        };
        let digest = resolve(&fetcher, &checksum).await.expect(name);
        let algo = match format {
            SumsFormat::GnuBinary(a) | SumsFormat::GnuText(a) => a,
            SumsFormat::Bsd(a) | SumsFormat::BsdSigned(a) => a,
            _ => unreachable!(),
        };
        let want = Digest::new(algorithm(algo), &upstream.digest(files[0], algo)).unwrap();
        assert_eq!(digest, want, "{name}");
    }
    let single = [
        ("disk.img.CHECKSUM", SumsFormat::Capi, Algo::Sha256),
        (
            "disk.img.legacy.CHECKSUM",
            SumsFormat::CapiLegacy,
            Algo::Sha256,
        ),
        (
            "disk.img.sha512",
            SumsFormat::Bare(Algo::Sha512),
            Algo::Sha512,
        ),
    ];
    for (name, format, algo) in single {
        let path = format!("/images/{name}");
        upstream.add_sums(&path, format, &files[..1]);
        let checksum = Checksum::File {
            url: upstream.url(&path),
        };
        let digest = resolve(&fetcher, &checksum).await.expect(name);
        let want = Digest::new(algorithm(algo), &upstream.digest(files[0], algo)).unwrap();
        assert_eq!(digest, want, "{name}");
    }
}

#[tokio::test]
async fn checksum_failures_name_the_url() {
    let upstream = Upstream::start().await;
    upstream.add_generated("/images/disk.img", 1000, 15);
    upstream.add_sums(
        "/SHA256SUMS",
        SumsFormat::GnuText(Algo::Sha256),
        &["/images/disk.img"],
    );
    upstream.add_file("/index.html", "<html><body>Not here</body></html>\n");
    let fetcher = fetcher(3);
    let sums = |url: String, file_name: &str| Checksum::Sums {
        url,
        file_name: file_name.into(),
    };

    let error = resolve(&fetcher, &sums(upstream.url("/SHA256SUMS"), "other.img"))
        .await
        .unwrap_err();
    let url = upstream.url("/SHA256SUMS");
    assert_eq!(
        error.to_string(),
        format!("{url} lists no checksum for `other.img`")
    );

    let error = resolve(&fetcher, &sums(upstream.url("/index.html"), "disk.img"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ChecksumFile { .. }), "{error:?}");

    let error = resolve(&fetcher, &sums(upstream.url("/nope"), "disk.img"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Status { status: 404, .. }),
        "{error:?}"
    );

    upstream.add_generated("/huge", 2 * MIB, 16);
    let error = resolve(
        &fetcher,
        &Checksum::File {
            url: upstream.url("/huge"),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
}
