//! Tests of checksum-file parsing: every upstream fixture file, and every format by hand.

use super::*;
use Algorithm::{Md5, Sha1, Sha256, Sha512};

/// The shared folder sits beside the repository.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/upstream/");

/// `fixture entries algorithm` for every checksum file in the fixtures folder.
const FIXTURE_COUNTS: &str = "
    almalinux9/CHECKSUM 6 sha256
    centos7/sha256sum.txt 180 sha256
    centos_stream9/CHECKSUM 96 sha256
    debian13/SHA512SUMS 50 sha512
    rocky9/CHECKSUM 1 sha256
    ubuntu2404/SHA256SUMS 66 sha256";

/// `fixture wanted digest`; digests copied by hand from the files.
const FIXTURE_LOOKUPS: &str = "
    ubuntu2404/SHA256SUMS noble-server-cloudimg-amd64.img sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
    ubuntu2404/SHA256SUMS https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img sha256:ffe6203da54deeb6db5d2a98a83f9ec8e55f149d3f7ba622e1abe5fa966ee3d6
    debian13/SHA512SUMS debian-13-genericcloud-amd64-daily-20260717-2542.qcow2 sha512:fcc52bdff35697583f9331b64c688db6681fea98c024a1db185d8857b167f4e1838ead7037f18c12e432229354b1253f29e881a040ce0f5636801576e715b4b8
    almalinux9/CHECKSUM AlmaLinux-9-GenericCloud-latest.x86_64.qcow2 sha256:c397eed7023e92c841155831b1f47e26300e5bef0f0256c129322307c897a251
    almalinux9/CHECKSUM AlmaLinux-9-GenericCloud-9.8-20260526.x86_64.qcow2 sha256:c397eed7023e92c841155831b1f47e26300e5bef0f0256c129322307c897a251
    almalinux9/CHECKSUM AlmaLinux-9-GenericCloud-ext4-latest.x86_64.qcow2 sha256:53a20d1d73d739f437b45e34fcbda48b7b9856c648fcc9730ce9653e27712092
    centos7/sha256sum.txt CentOS-7-x86_64-GenericCloud-2211.qcow2 sha256:284aab2b23d91318f169ff464bce4d53404a15a0618ceb34562838c59af4adea
    centos7/sha256sum.txt CentOS-7-x86_64-GenericCloud.qcow2c sha256:8540fcfb73b41d2322644b7c4301b52cb1753c6daf9539866214d725870db673
    centos_stream9/CHECKSUM CentOS-Stream-GenericCloud-x86_64-9-latest.x86_64.qcow2 sha256:f3c37dab11b0d4addbddc5a77d4e8906167bcc0cb2c3e0ed9199af6050617bc7
    rocky9/CHECKSUM https://dl.rockylinux.org/pub/rocky/9/images/x86_64/Rocky-9-GenericCloud.latest.x86_64.qcow2 sha256:92c206cc6f790c61583247eefe87890f8828420662c17cacf247cec78ab4eec8";

// Synthetic digests of each length; A and B are the CirrOS 0.6.2 / 0.6.3 sha256.
const A: &str = "07e44a73e54c94d988028515403c1ed762055e01b83a767edf3c2b387f78ce00";
const B: &str = "7d6355852aeb6dbcd191bcda7cd74f1536cfe5cbf8a10495a7283a8396e4b75b";
const M: &str = "0123456789abcdef0123456789abcdef";
const S: &str = "0123456789abcdef0123456789abcdef01234567";
const L: &str = "fcc52bdff35697583f9331b64c688db6681fea98c024a1db185d8857b167f4e1838ead7037f18c12e432229354b1253f29e881a040ce0f5636801576e715b4b8";

/// Reads a fixture and parses it under its real file name, as the fetcher would.
fn fixture(rel: &str) -> (String, ChecksumFile) {
    let text = std::fs::read_to_string(format!("{FIXTURES}{rel}")).expect(rel);
    let file = ChecksumFile::parse(&text, rel.rsplit('/').next()).expect(rel);
    (text, file)
}

fn parse(text: &str, source: Option<&str>) -> ChecksumFile {
    ChecksumFile::parse(text, source).expect("checksum file parses")
}

fn error(text: &str, source: Option<&str>) -> String {
    ChecksumFile::parse(text, source).unwrap_err().to_string()
}

/// `algo:hex` of what `find(wanted)` returns.
fn found(file: &ChecksumFile, wanted: &str) -> Option<String> {
    file.find(wanted).map(|e| e.digest.to_string())
}

fn names(file: &ChecksumFile) -> Vec<&str> {
    file.entries.iter().map(|e| e.file_name.as_str()).collect()
}

fn algorithms(file: &ChecksumFile) -> Vec<Algorithm> {
    file.entries.iter().map(|e| e.digest.algorithm).collect()
}

fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
    table.trim().lines().map(|r| r.split_whitespace().collect())
}

#[test]
fn every_fixture_file_is_covered() {
    let dirs = std::fs::read_dir(FIXTURES).expect("fixtures folder");
    for dir in dirs.map(|d| d.unwrap().path()) {
        for path in std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()) {
            let rel = path.to_string_lossy().replace(FIXTURES, "");
            if rel.ends_with("index.html") {
                // Directory listings: what a mirror serves in place of a missing sums file.
                let text = std::fs::read_to_string(&path).unwrap();
                let parsed = ChecksumFile::parse(&text, Some("SHA256SUMS"));
                assert_eq!(parsed, Err(ChecksumFileError::NoEntries), "{rel}");
            } else {
                let row = format!(" {rel} ");
                assert!(FIXTURE_COUNTS.contains(&row), "{rel} has no row");
            }
        }
    }
}

#[test]
fn fixture_entry_counts_and_algorithms() {
    for row in rows(FIXTURE_COUNTS) {
        let (text, file) = fixture(row[0]);
        let algorithm = Algorithm::from_name(row[2]).unwrap();
        assert_eq!(file.entries.len().to_string(), row[1], "{row:?}");
        let all = vec![algorithm; file.entries.len()];
        assert_eq!(algorithms(&file), all, "{row:?}");
        // No binary marker, BSD parenthesis or comment leaks into a name.
        let bad = [' ', '*', '(', ')', ':'];
        assert!(names(&file).iter().all(|n| !n.contains(bad)));
        // Without a source name the tag or digest length gives the same answer.
        assert_eq!(parse(&text, None), file, "{row:?}");
    }
}

#[test]
fn fixture_lookups() {
    for row in rows(FIXTURE_LOOKUPS) {
        let got = found(&fixture(row[0]).1, row[1]);
        assert_eq!(got.as_deref(), Some(row[2]), "{row:?}");
    }
}

#[test]
fn fixture_single_and_wrong_source_name() {
    let (_, rocky) = fixture("rocky9/CHECKSUM");
    let hex = "92c206cc6f790c61583247eefe87890f8828420662c17cacf247cec78ab4eec8";
    assert_eq!(rocky.single().map(|e| e.digest.hex.as_str()), Some(hex));
    // Another name is not matched by accident; `single()` is the caller's fallback.
    let other = "Rocky-9-GenericCloud-Base.latest.x86_64.qcow2";
    assert!(rocky.find(other).is_none());
    assert!(fixture("almalinux9/CHECKSUM").1.single().is_none());
    // Pointing at the wrong sums file is caught on the first line, with the reason.
    let (text, _) = fixture("ubuntu2404/SHA256SUMS");
    let want = "line 1: sha512 digest must be 128 hex characters, found 64 \
                (algorithm from the checksum file's name)";
    assert_eq!(error(&text, Some("/x/SHA512SUMS")), want);
}

#[test]
fn gnu_text_binary_dot_slash_spaces_crlf_and_bom() {
    let b = B.to_uppercase();
    let text = format!(
        "\u{feff}{A}  p.img\r\n{b} *bin.img\r\n{M}  ./dot.img\n{S}  a b.img\n{L}\ttab.img\n"
    );
    let file = parse(&text, None);
    let want = ["p.img", "bin.img", "./dot.img", "a b.img", "tab.img"];
    assert_eq!(names(&file), want);
    assert_eq!(algorithms(&file), [Sha256, Sha256, Md5, Sha1, Sha512]);
    assert_eq!(file.entries[0].digest.hex, A, "BOM is not in the digest");
    assert_eq!(found(&file, "*bin.img"), Some(format!("sha256:{B}")));
    assert_eq!(found(&file, "dot.img"), Some(format!("md5:{M}")));
    let url = "https://example.org/x/a%20b.img?x=1";
    assert_eq!(found(&file, url), Some(format!("sha1:{S}")));
}

#[test]
fn bsd_tags_name_the_algorithm() {
    let a = A.to_uppercase();
    let text = format!(
        "# x: 1 bytes\n\nSHA256 (a b (1).img) = {a}\nSHA512(c)= {L}\nMD5 (d) = {M}\nBLAKE2b (e) = {L}\n"
    );
    // Each tag beats the file name; the unsupported BLAKE2b line is skipped.
    let file = parse(&text, Some("SHA256SUMS"));
    assert_eq!(names(&file), ["a b (1).img", "c", "d"]);
    assert_eq!(algorithms(&file), [Sha256, Sha512, Md5]);
    assert_eq!(file.entries[0].digest.hex, A);
}

#[test]
fn pgp_clear_signed() {
    let text = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n# Fedora.qcow2: 5 bytes\n\
         SHA256 (Fedora.qcow2) = {A}\n- {B}  escaped.img\n-----BEGIN PGP SIGNATURE-----\n\n\
         {M}  in-signature.img\niQIzBAEBCAAd\n=abcd\n-----END PGP SIGNATURE-----\n"
    );
    let file = parse(&text, Some("Fedora-Cloud-41-1.4-x86_64-CHECKSUM"));
    assert_eq!(names(&file), ["Fedora.qcow2", "escaped.img"]);
    assert_eq!(algorithms(&file), [Sha256, Sha256], "`Hash:` ignored");
    assert_eq!(found(&file, "escaped.img"), Some(format!("sha256:{B}")));
}

#[test]
fn capi_and_bare_digests() {
    let image = "ubuntu-2404-kube-v1.33.9.qcow2";
    let source = Some("ubuntu-2404-kube-v1.33.9.qcow2.CHECKSUM");
    let cases = [
        (format!("{A}  {image}\n"), image.to_string()),
        (format!("{A}  ./{image}\n"), format!("./{image}")),
        (format!("{A}\n"), String::new()),
        (A.to_uppercase(), String::new()),
    ];
    for (text, name) in cases {
        let file = parse(&text, source);
        let single = file.single().expect("one digest");
        assert_eq!((&single.file_name, &*single.digest.hex), (&name, A));
        assert_eq!(file.find(image).is_some(), !name.is_empty());
    }
}

#[test]
fn flatcar_digests_headers() {
    let f = "flatcar_production_openstack_image.img.bz2";
    let text = format!("# MD5 HASH\n{M}  {f}\n# SHA1 HASH\n{S}  {f}\n# SHA512 HASH\n{L}  {f}\n");
    let file = parse(&text, Some("flatcar.img.bz2.DIGESTS"));
    assert_eq!(algorithms(&file), [Md5, Sha1, Sha512]);
    assert_eq!(file.find(f), file.entries.get(2), "strongest wins");
    assert_eq!(file.single(), file.entries.get(2));
    // The header beats the file name, and a digest that disagrees with it is reported.
    let want = "line 2: sha1 digest must be 40 hex characters, found 32 \
                (algorithm from the preceding `# … HASH` header)";
    let text = format!("# SHA1 HASH\n{M}  x\n");
    assert_eq!(error(&text, Some("SHA256SUMS")), want);
}

#[test]
fn digest_problems_name_the_line() {
    let text = format!("{A}  a\n\n{}  b\n", &A[1..]);
    let want = "line 3: sha256 digest must be 64 hex characters, found 63 \
                (algorithm from the checksum file's name)";
    assert_eq!(error(&text, Some("https://x.example/SHA256SUMS")), want);
    let want = "line 2: sha512 digest must be 128 hex characters, found 64 \
                (algorithm from the line's tag)";
    assert_eq!(error(&format!("# c\nSHA512 (x) = {A}\n"), None), want);
    let want = "line 2: digest contains characters that are not hexadecimal \
                (algorithm from the line's tag)";
    let text = format!("{M}  ok\nSHA256 (x) = {}\n", "z".repeat(64));
    assert_eq!(error(&text, None), want);
    let message = error(&format!("{}  x\n", "a".repeat(50)), None);
    assert!(message.starts_with("line 1: digest has 50 hex characters, which fits no"));
}

#[test]
fn garbage_is_skipped_but_an_empty_result_is_an_error() {
    let text = format!("hello world\ncafe  2024 notes\n{A}  good.img\n<html>\nHash: SHA256\n");
    assert_eq!(names(&parse(&text, Some("SHA256SUMS"))), ["good.img"]);
    let junk = ["", "\n# c\n", "cafe  x", "Not Found", "MD6 (x) = 1"];
    for text in junk {
        let parsed = ChecksumFile::parse(text, None);
        assert_eq!(parsed, Err(ChecksumFileError::NoEntries), "{text:?}");
    }
}

#[test]
fn find_prefers_exact_then_base_name() {
    let text = format!("{A}  a/foo.img\n{B}  b/foo.img\nSHA512 (./bar.img) = {L}\n");
    let file = parse(&text, None);
    assert_eq!(found(&file, "b/foo.img"), Some(format!("sha256:{B}")));
    assert_eq!(found(&file, "foo.img"), Some(format!("sha256:{A}")));
    let url = "https://mirror.example/x/bar.img?sig=abc/def.img#frag";
    assert_eq!(found(&file, url), Some(format!("sha512:{L}")));
    assert_eq!(file.find("https://mirror.example/x/"), None);
    assert_eq!(file.find("missing.img"), None);
    assert_eq!(percent_decode("a%2").as_deref(), Some("a%2"));
    assert_eq!(percent_decode("%+f%41").as_deref(), Some("%+fA"));
}

#[test]
fn single_refuses_ambiguity() {
    let one = |text: String| parse(&text, None).single().map(|e| e.file_name.clone());
    assert_eq!(one(format!("{A}  x\n{B}  y\n")), None);
    assert_eq!(one(format!("{A}  x\n{B}  x\n")), None);
    assert_eq!(one(format!("{A}  x\n{A}  y\n")).as_deref(), Some("x"));
    assert_eq!(one(format!("{M}  x\n{A}  y\n")), None);
    assert_eq!(ChecksumFile::default().single(), None);
}

#[test]
fn source_name_inference() {
    let table = "
        SHA256SUMS sha256
        MD5SUMS md5
        SHA1SUMS sha1
        sha256sum.txt sha256
        https://x/a/SHA512SUMS?raw=1 sha512
        /srv/img.qcow2.sha256 sha256
        img.qcow2.SHA512SUM sha512
        CHECKSUM -
        ubuntu-2404-kube-v1.33.9.qcow2.CHECKSUM -
        md5-tool.qcow2.CHECKSUM -
        flatcar.img.bz2.DIGESTS -";
    for row in rows(table) {
        let got = algorithm_from_source_name(row[0]);
        assert_eq!(got.map_or("-", Algorithm::name), row[1], "{row:?}");
    }
}

#[test]
fn algorithm_names_and_lengths() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.name()), Some(a));
        assert_eq!(Algorithm::from_hex_len(a.hex_len()), Some(a));
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }
    assert_eq!(Algorithm::ALL.map(Algorithm::hex_len), [32, 40, 64, 128]);
    let names = Algorithm::ALL.map(Algorithm::name);
    assert_eq!(names, ["md5", "sha1", "sha256", "sha512"]);
    let aliases = ["SHA-256", " MD5 ", "SHA2-512", "sha3-256"].map(Algorithm::from_name);
    assert_eq!(aliases, [Some(Sha256), Some(Md5), Some(Sha512), None]);
    assert_eq!(Algorithm::from_hex_len(63), None);
}

#[test]
fn digest_parse_and_display() {
    let d = Digest::parse(&format!(" SHA-256:{} ", A.to_uppercase())).unwrap();
    assert_eq!((d.algorithm, d.hex.as_str()), (Sha256, A));
    assert_eq!(d.to_string(), format!("sha256:{A}"));
    assert_eq!(d.to_string().parse::<Digest>(), Ok(d.clone()));
    let json = serde_json::json!({"algorithm": "sha256", "hex": A});
    assert_eq!(serde_json::to_value(&d).unwrap(), json);
}

#[test]
fn digest_parse_errors() {
    use DigestError::{MissingAlgorithm, NotHex, UnknownAlgorithm, WrongLength};
    let inputs = [A, "crc32:00", " sha256: 00", "md5:0x", "sha256:07e4…"];
    let errors = inputs.map(|s| Digest::parse(s).unwrap_err());
    let wrong = WrongLength {
        algorithm: Sha256,
        expected: 64,
        found: 2,
    };
    let unknown = UnknownAlgorithm("crc32".into());
    assert_eq!(errors, [MissingAlgorithm, unknown, wrong, NotHex, NotHex]);
    let messages = errors.map(|e| e.to_string());
    let want = "expected `algorithm:hex`, e.g. `sha256:…` (no `:` found)";
    assert_eq!(messages[0], want);
    let want = "unknown checksum algorithm `crc32`; expected md5, sha1, sha256 or sha512";
    assert_eq!(messages[1], want);
    let want = "sha256 digest must be 64 hex characters, found 2";
    assert_eq!(messages[2], want);
    let want = "digest contains characters that are not hexadecimal";
    assert_eq!(messages[3], want);
}
