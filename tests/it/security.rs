//! Hostile or broken input: no secret in any output, bounded memory, safe writes, private CAs.
//!
//! Everything here runs without the sandbox: plans are computed against an empty cloud, the
//! network is the in-process upstream mirror (plain, or behind a TLS front made here with a
//! certificate from a test CA), and the binary is run for `validate`, `plan` and `update`.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image_manager::glance::ObservedState;
use image_manager::plan::{self, Policy, Prune, render};
use image_manager::transfer::Error;
use image_manager::transfer::fetch::{FetchOptions, Fetcher};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::catalogs::write_catalog;
use crate::cli::{image_manager, run};
use crate::plan::resolve;
use crate::upstream::{Algo, Fault, SumsFormat, Upstream};

const TAG: &str = "managed_by_image_manager";
/// The example: a password and a signature that must never be shown.
const SIGNED: &str = "https://u:secret@host/x?X-Amz-Signature=sig";

fn leaks(text: &str) -> bool {
    text.contains("secret") || text.contains("Signature=sig") || text.contains("sig2")
}

/// One definition whose download and checksum URLs carry credentials and signatures (where
/// they belong: `mirror_url` and the checksum file), and whose public `url` has a signed
/// query (a warning, not an error).
fn signed_catalog() -> String {
    format!(
        "images:\n  - name: Signed\n    format: raw\n    min_disk: 1\n    min_ram: 64\n    \
         meta:\n      os_distro: testos\n      os_version: '1'\n    versions:\n      \
         - version: '1'\n        url: https://host/x?X-Amz-Signature=sig\n        \
         mirror_url: {SIGNED}\n        \
         checksums_url: https://u:secret@host/SUMS?temp_url_sig=sig2\n"
    )
}

// ------------------------------------------------------------------ redaction ----

#[test]
fn plan_text_and_json_show_no_password_or_signature() {
    let (_dir, path) = write_catalog(&[signed_catalog()["images:\n".len()..].to_owned()]);
    let desired = resolve(&path, TAG);
    let observed = ObservedState {
        projects: Default::default(),
        import_methods: Vec::new(),
        cloud: "test".into(),
        project_id: None,
        images: Vec::new(),
    };
    let policy = Policy {
        managed_tag: TAG.into(),
        prune: Prune::None,
        method: None,
    };
    let plan = plan::plan(&desired, &observed, &policy);
    assert_eq!(plan.steps.len(), 2, "a create and its publish: {plan:?}");
    let text = render::text(&plan, false).to_string();
    assert!(!leaks(&text), "{text}");
    assert!(
        text.contains("https://host/x?X-Amz-Signature=REDACTED"),
        "{text}"
    );
    let json = plan::json::to_string(std::slice::from_ref(&plan));
    assert!(!leaks(&json), "{json}");
    assert!(
        json.contains("https://host/SUMS?temp_url_sig=REDACTED"),
        "{json}"
    );
    // The plan itself keeps the real URLs: apply downloads from them.
    assert!(format!("{plan:?}").contains("secret"));
}

#[test]
fn credentials_in_url_are_an_error_at_their_position_and_a_query_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    let catalog = signed_catalog().replace(
        "url: https://host/x?X-Amz-Signature=sig\n",
        &format!("url: {SIGNED}\n"),
    );
    fs::write(&file, &catalog).unwrap();
    let out = image_manager().arg("validate").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let f = file.display();
    let want = format!("{f}:11:14: error: `url` carries credentials");
    assert!(stdout.lines().any(|l| l.starts_with(&want)), "{stdout}");
    assert!(!leaks(&stdout), "{stdout}");

    // plan refuses it before connecting anywhere, without showing it.
    let out = image_manager()
        .args(["plan", "--images"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nothing was planned") && !leaks(&stderr),
        "{stderr}"
    );

    fs::write(&file, signed_catalog()).unwrap();
    let out = image_manager().arg("validate").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let want = format!("{f}:11:14: warning: `url` has a query string");
    assert!(stdout.lines().any(|l| l.starts_with(&want)), "{stdout}");
    assert!(stdout.contains("mirror_url"), "{stdout}");
}

// ------------------------------------------------------------------ size caps ----

fn fetcher() -> Fetcher {
    Fetcher::new(&FetchOptions::default()).unwrap()
}

/// A terabyte without `Content-Length`: only a reader that stops at its limit survives it.
fn endless(up: &Upstream, path: &str) {
    up.add_generated(path, 1 << 40, 7);
    up.fault(path, Fault::NoLength);
}

#[tokio::test]
async fn small_reads_stop_at_their_limit_on_an_endless_body() {
    let up = Upstream::start().await;
    endless(&up, "/endless");
    let started = Instant::now();
    let url = up.url("/endless").replace("http://", "http://u:secret@");
    let error = fetcher()
        .bytes(&url, 1024 * 1024, "an index page")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "{} is larger than 1048576 bytes, too large for an index page",
            up.url("/endless")
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A generic upstream (`latest_url` + `latest_checksum_url`) served by `up` under `/alma`.
fn generic_catalog(base: &str) -> String {
    format!(
        "images:\n  - name: AlmaLinux 9\n    format: qcow2\n    meta:\n      os_distro: almalinux\n      \
         os_version: '9'\n    latest_url: {base}/alma/Alma-latest.qcow2\n    \
         latest_checksum_url: {base}/alma/CHECKSUM\n    versions:\n      - version: '20260301'\n        \
         url: {base}/alma/Alma-20260301.qcow2\n        checksum: sha256:{zero}\n        \
         build_date: 2026-03-01\n",
        zero = "0".repeat(64),
    )
}

fn serve_generic(up: &Upstream) {
    let (dated, latest) = ("/alma/Alma-20260526.qcow2", "/alma/Alma-latest.qcow2");
    up.add_file(dated, &b"alma 9.8"[..]);
    up.add_file(latest, &b"alma 9.8"[..]);
    up.add_sums(
        "/alma/CHECKSUM",
        SumsFormat::GnuText(Algo::Sha256),
        &[dated, latest],
    );
}

fn update(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(image_manager()
        .args(["update", "--images"])
        .arg(dir)
        .args(args))
}

#[test]
fn update_stops_reading_an_endless_sums_file() {
    let up = Upstream::start_blocking();
    endless(&up, "/alma/CHECKSUM");
    let dir = tempfile::tempdir().unwrap();
    let catalog = generic_catalog(&up.base_url());
    fs::write(dir.path().join("alma.yaml"), catalog).unwrap();
    let started = Instant::now();
    let (code, _, stderr) = update(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let want = format!(
        "AlmaLinux 9: failed: {} is larger than 1048576 bytes, too large for a checksum file",
        up.url("/alma/CHECKSUM")
    );
    assert!(stderr.contains(&want), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

// -------------------------------------------------------------- update --write ----

#[test]
fn update_write_never_follows_a_planted_temp_name_and_keeps_permissions() {
    let up = Upstream::start_blocking();
    serve_generic(&up);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alma.yaml");
    fs::write(&file, generic_catalog(&up.base_url())).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    // The name earlier versions wrote to, planted as a symlink to a file outside.
    let victim = tempfile::NamedTempFile::new().unwrap();
    fs::write(victim.path(), "precious\n").unwrap();
    let planted = dir.path().join(".alma.yaml.image-manager-update");
    std::os::unix::fs::symlink(victim.path(), &planted).unwrap();

    let (code, _, stderr) = update(dir.path(), &["--write"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fs::read_to_string(victim.path()).unwrap(), "precious\n");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("version: '20260526'"), "{text}");
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file is left behind: {left:?}");
}

// ------------------------------------------------------------- file: URLs ----

#[test]
fn file_urls_need_allow_file_urls_and_stay_inside_it() {
    let up = Upstream::start_blocking();
    serve_generic(&up);
    let mirror = tempfile::tempdir().unwrap();
    let sums = up.digest("/alma/Alma-latest.qcow2", Algo::Sha256);
    fs::write(
        mirror.path().join("CHECKSUM"),
        format!("{sums}  Alma-latest.qcow2\n{sums}  Alma-20260526.qcow2\n"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sums_url = url::Url::from_file_path(mirror.path().join("CHECKSUM")).unwrap();
    let catalog =
        generic_catalog(&up.base_url()).replace(&up.url("/alma/CHECKSUM"), sums_url.as_str());
    fs::write(dir.path().join("alma.yaml"), catalog).unwrap();

    let (code, _, stderr) = update(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--allow-file-urls"), "{stderr}");

    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().to_str().unwrap();
    let (code, _, stderr) = update(dir.path(), &["--allow-file-urls", outside]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("outside the --allow-file-urls directory"),
        "{stderr}"
    );

    let inside = mirror.path().to_str().unwrap();
    let (code, stdout, stderr) = update(dir.path(), &["--allow-file-urls", inside]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("+      - version: '20260526'"), "{stdout}");
}

// ------------------------------------------------------------------ CA bundle ----

/// HTTPS in front of an [`Upstream`]: TLS with a certificate for 127.0.0.1 issued by a test CA,
/// the decrypted bytes relayed to the plain mirror. Stops when dropped.
struct TlsFront {
    addr: SocketAddr,
    ca_pem: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TlsFront {
    fn start(up: &Upstream) -> TlsFront {
        let backend: SocketAddr = up.base_url()["http://".len()..].parse().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let Ok(mut tls) = acceptor.accept(socket).await else {
                                return;
                            };
                            let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await
                            else {
                                return;
                            };
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                        });
                    }
                };
                tokio::select! {
                    () = serve => {}
                    _ = stopped => {}
                }
            });
        });
        TlsFront {
            addr,
            ca_pem: ca.pem(),
            _stop: stop,
        }
    }

    fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

#[tokio::test]
async fn a_private_ca_is_refused_by_default_and_trusted_with_a_bundle() {
    let up = Upstream::start().await;
    up.add_file("/SUMS", &b"hello\n"[..]);
    let tls = TlsFront::start(&up);
    let url = format!("{}/SUMS", tls.base_url());
    let error = fetcher().bytes(&url, 1024, "x").await.unwrap_err();
    let chain = format!("{:?}", anyhow::Error::from(error));
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    fs::write(&bundle, &tls.ca_pem).unwrap();
    let trusting = Fetcher::new(&FetchOptions {
        ca_bundle: Some(bundle),
        ..FetchOptions::default()
    })
    .unwrap();
    assert_eq!(trusting.bytes(&url, 1024, "x").await.unwrap(), b"hello\n");
}

#[test]
fn update_trusts_a_private_ca_from_the_flag_or_ssl_cert_file() {
    let up = Upstream::start_blocking();
    serve_generic(&up);
    let tls = TlsFront::start(&up);
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("alma.yaml"),
        generic_catalog(&tls.base_url()),
    )
    .unwrap();
    let bundle = tempfile::NamedTempFile::new().unwrap();
    fs::write(bundle.path(), &tls.ca_pem).unwrap();

    let (code, _, stderr) = update(dir.path(), &["--timeout", "5"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    let flag = bundle.path().to_str().unwrap();
    let (code, stdout, stderr) = update(dir.path(), &["--ca-bundle", flag]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("+      - version: '20260526'"), "{stdout}");

    let out = image_manager()
        .env("SSL_CERT_FILE", bundle.path())
        .args(["update", "--images"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}
