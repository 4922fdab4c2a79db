//! Self-tests of the upstream test server: every feature is hit once with a real HTTP client and
//! its exact behaviour asserted, so later download tests can trust what the server does.
//! Outcomes only, never durations: the machine is noisy.

use std::time::Duration;

use async_compression::tokio::bufread::{BzDecoder, GzipDecoder, XzDecoder, ZstdDecoder};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, LOCATION, RANGE,
};
use sha2::Digest;
use tokio::io::AsyncReadExt;

use crate::upstream::{
    Algo, Compression, Fault, SumsFormat, Upstream, compress, qcow2, qcow2_file,
    qcow2_with_backing, qcow2_with_data_file, raw,
};

fn client() -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120));
    builder.build().expect("client")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.expect("request")
}

async fn get_range(url: &str, range: &str) -> reqwest::Response {
    client()
        .get(url)
        .header(RANGE, range)
        .send()
        .await
        .expect("request")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    let value = response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"));
    value.to_str().expect("ascii header").to_owned()
}

/// Reads a body chunk by chunk until it ends or fails; returns the bytes and whether it failed.
async fn read_until_error(mut response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return (body, false),
            Err(_) => return (body, true),
        }
    }
}

async fn decompress(compression: Compression, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let result = match compression {
        Compression::Gzip => GzipDecoder::new(data).read_to_end(&mut out).await,
        Compression::Xz => XzDecoder::new(data).read_to_end(&mut out).await,
        Compression::Bzip2 => BzDecoder::new(data).read_to_end(&mut out).await,
        Compression::Zstd => ZstdDecoder::new(data).read_to_end(&mut out).await,
    };
    result.expect("decompress");
    out
}

#[tokio::test]
async fn qcow2_is_served_whole_with_headers() {
    let upstream = Upstream::start().await;
    let image = qcow2(4, 1);
    assert!(image.starts_with(b"QFI\xfb"), "qcow2 magic");
    assert_eq!(image, qcow2(4, 1), "same seed, same image");
    assert_ne!(image, qcow2(4, 2), "other seed, other image");
    let path = "/noble/current/noble-server-cloudimg-amd64.img";
    upstream.add_file(path, image.clone());
    upstream.expect_hit(path);

    let response = get(&upstream.url(path)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, ACCEPT_RANGES), "bytes");
    assert_eq!(header(&response, CONTENT_LENGTH), image.len().to_string());
    assert_eq!(header(&response, ETAG), upstream.etag(path));
    let body = response.bytes().await.expect("body");
    assert_eq!(body, image);
    assert_eq!(sha256(&body), upstream.digest(path, Algo::Sha256));

    let head = client()
        .head(upstream.url(path))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, CONTENT_LENGTH), image.len().to_string());
    assert!(head.bytes().await.expect("HEAD body").is_empty());
    let methods: Vec<String> = upstream
        .requests(path)
        .into_iter()
        .map(|hit| hit.method)
        .collect();
    assert_eq!(methods, ["GET", "HEAD"]);
    assert!(upstream.base_url().starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn generated_and_disk_content_stream_the_same_bytes() {
    let upstream = Upstream::start().await;
    let size = 3 * 1024 * 1024 + 17;
    upstream.add_generated("/big.raw", size as u64, 9);
    let expected = raw(size, 9);
    let body = get(&upstream.url("/big.raw"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(body, expected);
    assert_eq!(upstream.digest("/big.raw", Algo::Sha256), sha256(&expected));
    assert_eq!(upstream.size("/big.raw"), size as u64);
    // Unaligned range into the generated stream.
    let part = get_range(&upstream.url("/big.raw"), "bytes=1000003-1070000").await;
    assert_eq!(
        part.bytes().await.expect("body"),
        expected[1_000_003..=1_070_000]
    );

    let file = qcow2_file(upstream.dir(), "disk.qcow2", 8, 3);
    let on_disk = std::fs::read(&file).expect("read qcow2");
    assert!(on_disk.starts_with(b"QFI\xfb"));
    assert!(
        on_disk.len() < 8 << 20,
        "zero blocks make the file smaller than its virtual size"
    );
    upstream.add_disk_file("/disk.qcow2", &file);
    let body = get(&upstream.url("/disk.qcow2"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(body, on_disk);
    assert_eq!(
        upstream.digest("/disk.qcow2", Algo::Sha256),
        sha256(&on_disk)
    );
    let tail = get_range(&upstream.url("/disk.qcow2"), "bytes=70000-").await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.expect("body"), on_disk[70_000..]);
}

#[tokio::test]
async fn compressed_variants_decode_to_the_original() {
    let upstream = Upstream::start().await;
    // Small, as the encoders are slow in debug builds; still several 64 KiB chunks each.
    let image = raw(200_000, 4);
    upstream.add_file("/cirros.img", image.clone());
    upstream.add_generated("/large.raw", 300_005, 5);
    let large = raw(300_005, 5);
    for compression in Compression::ALL {
        let path = upstream.add_compressed("/cirros.img", compression);
        assert_eq!(path, format!("/cirros.img{}", compression.suffix()));
        let body = get(&upstream.url(&path)).await.bytes().await.expect("body");
        assert_ne!(body, image, "{compression:?} actually compresses");
        assert_eq!(
            body,
            compress(&image, compression),
            "{compression:?} is deterministic"
        );
        assert_eq!(
            decompress(compression, &body).await,
            image,
            "{compression:?}"
        );

        // Generated content is compressed to a file on disk and streamed from there.
        let path = upstream.add_compressed("/large.raw", compression);
        let body = get(&upstream.url(&path)).await.bytes().await.expect("body");
        assert_eq!(
            decompress(compression, &body).await,
            large,
            "{compression:?} from disk"
        );
    }
}

#[tokio::test]
async fn sums_files_list_the_right_digests() {
    let upstream = Upstream::start().await;
    let (a, b) = (qcow2(1, 10), raw(5000, 11));
    upstream.add_file("/rel/a.img", a.clone());
    upstream.add_file("/rel/b.qcow2", b.clone());
    let files = ["/rel/a.img", "/rel/b.qcow2"];
    let (a256, b256) = (sha256(&a), sha256(&b));
    let (a512, b512) = (
        hex::encode(sha2::Sha512::digest(&a)),
        hex::encode(sha2::Sha512::digest(&b)),
    );
    let a_md5 = hex::encode(md5::Md5::digest(&a));
    let a_sha1 = hex::encode(sha1::Sha1::digest(&a));
    let (a_len, b_len) = (a.len(), b.len());
    let bsd = format!(
        "# a.img: {a_len} bytes\nSHA256 (a.img) = {a256}\n# b.qcow2: {b_len} bytes\nSHA256 (b.qcow2) = {b256}\n"
    );
    let cases = [
        (
            "/rel/SHA256SUMS",
            SumsFormat::GnuBinary(Algo::Sha256),
            &files[..],
            format!("{a256} *a.img\n{b256} *b.qcow2\n"),
        ),
        (
            "/rel/SHA512SUMS",
            SumsFormat::GnuText(Algo::Sha512),
            &files[..],
            format!("{a512}  a.img\n{b512}  b.qcow2\n"),
        ),
        (
            "/rel/MD5SUMS",
            SumsFormat::GnuText(Algo::Md5),
            &files[..1],
            format!("{a_md5}  a.img\n"),
        ),
        (
            "/rel/SHA1SUMS",
            SumsFormat::GnuBinary(Algo::Sha1),
            &files[..1],
            format!("{a_sha1} *a.img\n"),
        ),
        (
            "/rel/CHECKSUM",
            SumsFormat::Bsd(Algo::Sha256),
            &files[..],
            bsd.clone(),
        ),
        (
            "/rel/a.img.CHECKSUM",
            SumsFormat::Capi,
            &files[..1],
            format!("{a256}  a.img\n"),
        ),
        (
            "/rel/old.CHECKSUM",
            SumsFormat::CapiLegacy,
            &files[..1],
            format!("{a256}  ./a.img\n"),
        ),
        (
            "/rel/a.img.sha256",
            SumsFormat::Bare(Algo::Sha256),
            &files[..1],
            format!("{a256}\n"),
        ),
    ];
    for (path, format, listed, expected) in cases {
        assert_eq!(
            upstream.add_sums(path, format, listed),
            expected,
            "{format:?}"
        );
        let body = get(&upstream.url(path)).await.text().await.expect("text");
        assert_eq!(body, expected, "{format:?} as served");
    }
    let signed = upstream.add_sums(
        "/rel/Fedora-CHECKSUM",
        SumsFormat::BsdSigned(Algo::Sha256),
        &files,
    );
    assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"));
    assert!(signed.contains(&bsd));
    assert!(signed.ends_with("-----END PGP SIGNATURE-----\n"));
}

#[tokio::test]
async fn range_if_range_and_416() {
    let upstream = Upstream::start().await;
    let data = raw(10_000, 12);
    upstream.add_file("/r.img", data.clone());
    let url = upstream.url("/r.img");

    let open = get_range(&url, "bytes=4000-").await;
    assert_eq!(open.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&open, CONTENT_RANGE), "bytes 4000-9999/10000");
    assert_eq!(header(&open, CONTENT_LENGTH), "6000");
    assert_eq!(open.bytes().await.expect("body"), data[4000..]);

    let closed = get_range(&url, "bytes=10-19").await;
    assert_eq!(header(&closed, CONTENT_RANGE), "bytes 10-19/10000");
    assert_eq!(closed.bytes().await.expect("body"), data[10..20]);
    let suffix = get_range(&url, "bytes=-100").await;
    assert_eq!(header(&suffix, CONTENT_RANGE), "bytes 9900-9999/10000");
    let clamped = get_range(&url, "bytes=9990-20000").await;
    assert_eq!(header(&clamped, CONTENT_RANGE), "bytes 9990-9999/10000");

    let beyond = get_range(&url, "bytes=10000-").await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&beyond, CONTENT_RANGE), "bytes */10000");

    let request = |range: &str, if_range: String| {
        client()
            .get(&url)
            .header(RANGE, range)
            .header(IF_RANGE, if_range)
    };
    let matching = request("bytes=5000-", upstream.etag("/r.img"))
        .send()
        .await
        .expect("request");
    assert_eq!(matching.status(), StatusCode::PARTIAL_CONTENT);
    let by_date = request("bytes=5000-", upstream.last_modified("/r.img"))
        .send()
        .await
        .expect("request");
    assert_eq!(by_date.status(), StatusCode::PARTIAL_CONTENT);
    let stale = request("bytes=5000-", "\"stale\"".into())
        .send()
        .await
        .expect("request");
    assert_eq!(
        stale.status(),
        StatusCode::OK,
        "If-Range mismatch sends the whole file"
    );
    assert!(stale.headers().get(CONTENT_RANGE).is_none());
    assert_eq!(stale.bytes().await.expect("body"), data);

    // Replacing the content changes the validators, so an old ETag no longer resumes.
    let old_etag = upstream.etag("/r.img");
    upstream.add_file("/r.img", raw(10_000, 13));
    assert_ne!(upstream.etag("/r.img"), old_etag);
    let replaced = request("bytes=5000-", old_etag.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(replaced.status(), StatusCode::OK);

    let ranges = upstream.ranges("/r.img");
    assert_eq!(ranges[..3], ["bytes=4000-", "bytes=10-19", "bytes=-100"]);
    assert_eq!(ranges.len(), 9);
    let last = upstream.requests("/r.img").pop().expect("hit");
    assert_eq!((last.if_range, last.status), (Some(old_etag), 200));
}

#[tokio::test]
async fn redirects_are_followed() {
    let upstream = Upstream::start().await;
    upstream.add_file(
        "/releases/noble/release-20260101/image.img",
        b"payload".to_vec(),
    );
    upstream.add_redirect(
        "/noble/current/image.img",
        "/releases/noble/release-20260101/image.img",
        302,
    );
    upstream.add_redirect("/moved", "/noble/current/image.img", 301);
    let body = get(&upstream.url("/moved"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(&body[..], b"payload");
    upstream.assert_hit("/moved");
    upstream.assert_hit("/noble/current/image.img");
    upstream.assert_hit("/releases/noble/release-20260101/image.img");

    let manual = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let response = manual
        .expect("client")
        .get(upstream.url("/moved"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&response, LOCATION), "/noble/current/image.img");
}

#[tokio::test]
async fn truncated_body_is_detected() {
    let upstream = Upstream::start().await;
    upstream.add_file("/t.img", raw(200_000, 14));
    upstream.fault("/t.img", Fault::Truncate { keep: 1000 });
    let response = get(&upstream.url("/t.img")).await;
    assert_eq!(
        header(&response, CONTENT_LENGTH),
        "200000",
        "full length is advertised"
    );
    let (body, failed) = read_until_error(response).await;
    assert!(failed, "a short body is a body error");
    assert_eq!(body.len(), 1000);
    upstream.clear_fault("/t.img");
    let body = get(&upstream.url("/t.img"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.len(), 200_000);
}

#[tokio::test]
async fn wrong_content_does_not_match_the_sums_file() {
    let upstream = Upstream::start().await;
    let image = qcow2(1, 15);
    upstream.add_file("/w.img", image.clone());
    let sums = upstream.add_sums(
        "/SHA256SUMS",
        SumsFormat::GnuBinary(Algo::Sha256),
        &["/w.img"],
    );
    upstream.fault("/w.img", Fault::WrongContent);
    let body = get(&upstream.url("/w.img"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.len(), image.len());
    assert!(body.starts_with(b"QFI\xfb"), "still looks like a qcow2");
    assert!(
        !sums.contains(&sha256(&body)),
        "digest differs from the sums file"
    );
    let differing: Vec<usize> = (0..image.len()).filter(|&i| body[i] != image[i]).collect();
    assert_eq!(differing, [image.len() / 2]);
    // Clearing the fault restores the real bytes.
    upstream.clear_fault("/w.img");
    let body = get(&upstream.url("/w.img"))
        .await
        .bytes()
        .await
        .expect("body");
    assert!(sums.starts_with(&sha256(&body)));
}

#[tokio::test]
async fn not_found_and_server_error_then_ok() {
    let upstream = Upstream::start().await;
    assert_eq!(
        get(&upstream.url("/missing")).await.status(),
        StatusCode::NOT_FOUND
    );
    upstream.add_file("/e.img", b"content".to_vec());
    upstream.fault("/e.img", Fault::Status(404));
    assert_eq!(
        get(&upstream.url("/e.img")).await.status(),
        StatusCode::NOT_FOUND
    );
    upstream.fault_times("/e.img", Fault::Status(500), 2);
    assert_eq!(
        get(&upstream.url("/e.img")).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&upstream.url("/e.img")).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let ok = get(&upstream.url("/e.img")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(&ok.bytes().await.expect("body")[..], b"content");
    let statuses: Vec<u16> = upstream
        .requests("/e.img")
        .iter()
        .map(|hit| hit.status)
        .collect();
    assert_eq!(statuses, [404, 500, 500, 200]);
    assert_eq!(upstream.hits("/missing"), 1);
}

#[tokio::test]
async fn trickle_arrives_complete() {
    let upstream = Upstream::start().await;
    let data = raw(8 * 1024 + 3, 16);
    upstream.add_file("/slow.img", data.clone());
    upstream.fault(
        "/slow.img",
        Fault::Trickle {
            bytes: 1024,
            every: Duration::from_millis(2),
        },
    );
    let body = get(&upstream.url("/slow.img"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(body, data);
}

#[tokio::test]
async fn dropped_connection_resumes_with_range() {
    let upstream = Upstream::start().await;
    let size: usize = 3 * 1024 * 1024;
    upstream.add_generated("/d.img", size as u64, 17);
    upstream.add_sums(
        "/SHA256SUMS",
        SumsFormat::GnuBinary(Algo::Sha256),
        &["/d.img"],
    );
    upstream.fault_times("/d.img", Fault::DropAfter { bytes: 1 << 20 }, 1);

    // HEAD neither applies nor consumes the body fault.
    let head = client()
        .head(upstream.url("/d.img"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    let first = get(&upstream.url("/d.img")).await;
    let etag = header(&first, ETAG);
    let (mut body, failed) = read_until_error(first).await;
    assert!(failed, "connection dropped mid-body");
    assert_eq!(body.len(), 1 << 20);

    let resumed = client()
        .get(upstream.url("/d.img"))
        .header(RANGE, format!("bytes={}-", body.len()))
        .header(IF_RANGE, etag)
        .send()
        .await
        .expect("resume");
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    body.extend_from_slice(&resumed.bytes().await.expect("rest"));
    assert_eq!(body.len(), size);
    let sums = get(&upstream.url("/SHA256SUMS"))
        .await
        .text()
        .await
        .expect("sums");
    assert_eq!(sums, format!("{} *d.img\n", sha256(&body)));
    assert_eq!(upstream.ranges("/d.img"), ["bytes=1048576-"]);
}

#[tokio::test]
async fn hang_before_headers_trips_the_client_timeout() {
    let upstream = Upstream::start().await;
    upstream.add_file("/h.img", b"late".to_vec());
    upstream.fault_times("/h.img", Fault::Hang(Duration::from_secs(100)), 1);
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build();
    let error = impatient
        .expect("client")
        .get(upstream.url("/h.img"))
        .send()
        .await
        .expect_err("times out");
    assert!(error.is_timeout(), "{error}");
    // On a loaded machine the server may log the request after the client gave up: wait (bounded).
    for _ in 0..400 {
        if upstream.hits("/h.img") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let hung = upstream.requests("/h.img");
    assert_eq!(
        (hung.len(), hung[0].status),
        (1, 0),
        "request seen, no header sent"
    );
    let body = get(&upstream.url("/h.img"))
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(&body[..], b"late");
    // Dropping the server here cancels the hanging response: no 100 s wait.
}

#[test]
fn unsafe_qcow2_variants_and_sync_start() {
    let backing = qcow2_with_backing();
    assert!(backing.starts_with(b"QFI\xfb"));
    let backing_offset = u64::from_be_bytes(backing[8..16].try_into().expect("8 bytes"));
    assert_ne!(backing_offset, 0, "header points to a backing file name");
    assert!(backing.windows(10).any(|w| w == b"base.qcow2"));

    let external = qcow2_with_data_file();
    let incompatible = u64::from_be_bytes(external[72..80].try_into().expect("8 bytes"));
    assert_ne!(incompatible & 0b100, 0, "external data file bit");

    // A sync test can run a server too; a route expected but never hit fails at drop.
    let upstream = Upstream::start_blocking();
    upstream.add_file("/never.img", backing);
    upstream.expect_hit("/never.img");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(upstream)));
    assert!(
        outcome.is_err(),
        "an unrequested expected route fails the test"
    );
}
