use openstack_sdk::config::{Auth, CloudConfig};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::glance::json_props;

fn cloud(auth_type: Option<&str>, edit: impl FnOnce(&mut Auth)) -> CloudConfig {
    let mut auth = Auth {
        auth_url: Some("https://keystone.example:5000/v3".into()),
        ..Auth::default()
    };
    edit(&mut auth);
    CloudConfig {
        auth: Some(auth),
        auth_type: auth_type.map(str::to_owned),
        ..CloudConfig::default()
    }
}

fn secret(s: &str) -> Option<SecretString> {
    Some(SecretString::from(s.to_owned()))
}

#[test]
fn password_login_by_name_with_project_scope() {
    let config = cloud(None, |a| {
        a.username = Some("admin".into());
        a.password = secret("pw");
        a.user_domain_name = Some("Default".into());
        a.project_name = Some("admin".into());
        a.project_domain_name = Some("Default".into());
    });
    let login = login(&config).unwrap();
    assert_eq!(
        login.url.as_str(),
        "https://keystone.example:5000/v3/auth/tokens"
    );
    assert_eq!(
        login.body,
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": "pw"}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }})
    );
}

#[test]
fn scope_falls_back_to_the_users_domain_then_default() {
    let config = cloud(Some("password"), |a| {
        a.user_id = Some("u1".into());
        a.password = secret("pw");
        a.user_domain_id = Some("d1".into());
        a.project_name = Some("p".into());
    });
    let body = login(&config).unwrap().body;
    assert_eq!(
        body["auth"]["identity"]["password"]["user"],
        json!({"id": "u1", "password": "pw"})
    );
    assert_eq!(
        body["auth"]["scope"],
        json!({"project": {"name": "p", "domain": {"id": "d1"}}})
    );

    let config = cloud(Some("v3password"), |a| {
        a.username = Some("u".into());
        a.password = secret("pw");
        a.project_name = Some("p".into());
    });
    let body = login(&config).unwrap().body;
    assert_eq!(
        body["auth"]["scope"]["project"]["domain"],
        json!({"id": "default"})
    );
    assert_eq!(
        body["auth"]["identity"]["password"]["user"]["domain"],
        json!({"id": "default"})
    );

    for (edit, scope) in [
        (
            Box::new(|a: &mut Auth| a.project_id = Some("pid".into())) as Box<dyn Fn(&mut Auth)>,
            json!({"project": {"id": "pid"}}),
        ),
        (
            Box::new(|a: &mut Auth| a.domain_name = Some("dn".into())),
            json!({"domain": {"name": "dn"}}),
        ),
        (
            Box::new(|a: &mut Auth| a.system_scope = Some("all".into())),
            json!({"system": {"all": true}}),
        ),
    ] {
        let config = cloud(None, |a| {
            a.username = Some("u".into());
            a.password = secret("pw");
            edit(a);
        });
        assert_eq!(login(&config).unwrap().body["auth"]["scope"], scope);
    }
    let unscoped = cloud(None, |a| {
        a.username = Some("u".into());
        a.password = secret("pw");
    });
    assert!(
        login(&unscoped).unwrap().body["auth"]
            .get("scope")
            .is_none()
    );
}

#[test]
fn application_credential_login_takes_no_scope() {
    let config = cloud(Some("v3applicationcredential"), |a| {
        a.application_credential_id = Some("ac".into());
        a.application_credential_secret = secret("s3");
        a.project_name = Some("ignored".into());
    });
    assert_eq!(
        login(&config).unwrap().body,
        json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": "ac", "secret": "s3"}}}})
    );
    let by_name = cloud(Some("v3applicationcredential"), |a| {
        a.application_credential_name = Some("ci".into());
        a.application_credential_secret = secret("s3");
        a.username = Some("demo".into());
    });
    assert_eq!(
        login(&by_name).unwrap().body["auth"]["identity"]["application_credential"],
        json!({"name": "ci", "secret": "s3", "user": {"name": "demo", "domain": {"id": "default"}}})
    );
    // Without auth_type, a lone application-credential secret means that kind of login.
    let implied = cloud(None, |a| {
        a.application_credential_id = Some("ac".into());
        a.application_credential_secret = secret("s3");
    });
    assert_eq!(
        auth_kind(&implied).unwrap(),
        AuthKind::ApplicationCredential
    );
}

#[test]
fn token_login_and_unsupported_kinds() {
    let config = cloud(Some("v3token"), |a| {
        a.token = secret("gAAAA");
        a.project_id = Some("p".into());
    });
    let body = login(&config).unwrap().body;
    assert_eq!(
        body["auth"]["identity"],
        json!({"methods": ["token"], "token": {"id": "gAAAA"}})
    );
    assert_eq!(auth_kind(&config).unwrap(), AuthKind::Token);
    let oidc = cloud(Some("v3oidcpassword"), |_| {});
    let err = login(&oidc).err().unwrap();
    assert!(err.contains("not supported"), "{err}");
    let missing = cloud(Some("password"), |a| a.username = Some("u".into()));
    assert!(login(&missing).err().unwrap().contains("auth.password"));
}

#[test]
fn tokens_url_for_every_way_of_writing_auth_url() {
    for (auth_url, tokens) in [
        ("http://k:5000/v3", "http://k:5000/v3/auth/tokens"),
        ("http://k:5000/v3/", "http://k:5000/v3/auth/tokens"),
        ("http://k:5000", "http://k:5000/v3/auth/tokens"),
        ("https://k/identity", "https://k/identity/v3/auth/tokens"),
        (
            "https://k/identity/v3?x=1",
            "https://k/identity/v3/auth/tokens",
        ),
    ] {
        assert_eq!(tokens_url(auth_url).unwrap().as_str(), tokens, "{auth_url}");
    }
    assert!(
        tokens_url("http://k:5000/v2.0")
            .unwrap_err()
            .contains("v2.0")
    );
    assert!(tokens_url("ftp://k/").is_err());
    let err = tokens_url("http://user:pw@k:99999/").unwrap_err();
    assert!(!err.contains("pw"), "{err}");
}

fn answer(catalog: serde_json::Value) -> Vec<u8> {
    json!({"token": {
        "expires_at": "2026-12-04T18:00:00.000000Z",
        "issued_at": "2026-12-04T17:00:00.000000Z",
        "project": {"id": "p1", "name": "admin"},
        "catalog": catalog,
    }})
    .to_string()
    .into_bytes()
}

fn glance(endpoints: serde_json::Value) -> serde_json::Value {
    json!([
        {"type": "identity", "endpoints": [{"interface": "public", "region_id": "R1", "url": "http://k/v3"}]},
        {"type": "image", "name": "glance", "endpoints": endpoints},
    ])
}

#[test]
fn a_token_answer_is_read() {
    let body = answer(glance(json!([])));
    let t = token(Some("gAAAA"), &body).unwrap();
    assert_eq!(t.value.expose_secret(), "gAAAA");
    assert_eq!(t.project_id.as_deref(), Some("p1"));
    assert_eq!(t.lifetime, std::time::Duration::from_secs(3600));
    assert!(!format!("{t:?}").contains("gAAAA"));
    assert!(token(None, &body).unwrap_err().contains("X-Subject-Token"));
    assert!(
        token(Some("t"), b"<html>")
            .unwrap_err()
            .contains("not JSON")
    );
    assert!(
        token(Some("t"), b"{\"token\": {}}")
            .unwrap_err()
            .contains("expires_at")
    );
}

#[test]
fn the_image_endpoint_is_chosen_by_interface_and_region() {
    let endpoints = json!([
        {"interface": "internal", "region_id": "R1", "url": "http://internal:9292"},
        {"interface": "public", "region_id": "R1", "region": "R1", "url": "http://r1:9292"},
        {"interface": "public", "region_id": "R2", "url": "http://r2:9292/image"},
    ]);
    let t = token(Some("t"), &answer(glance(endpoints))).unwrap();
    let pick = |i: Option<&str>, r: Option<&str>| t.image_endpoint(i, r).map(|u| u.to_string());
    assert_eq!(pick(None, None).unwrap(), "http://r1:9292/");
    assert_eq!(
        pick(Some("public"), Some("R2")).unwrap(),
        "http://r2:9292/image"
    );
    assert_eq!(
        pick(Some("internalURL"), Some("R1")).unwrap(),
        "http://internal:9292/"
    );
    let err = pick(Some("public"), Some("R9")).unwrap_err();
    assert!(err.contains("R9") && err.contains("R1, R2"), "{err}");
    assert!(pick(Some("admin"), None).unwrap_err().contains("admin"));
    let unscoped = token(Some("t"), &answer(json!([]))).unwrap();
    assert!(
        unscoped
            .image_endpoint(None, None)
            .unwrap_err()
            .contains("scoped")
    );
}

#[test]
fn version_discovery_keeps_the_catalogs_origin() {
    let catalog = Url::parse("http://glance.example:9292").unwrap();
    let doc = |href: &str| {
        json!({"versions": [
            {"id": "v1.1", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://glance.example:9292/v1/"}]},
            {"id": "v2.17", "status": "CURRENT", "links": [{"rel": "self", "href": href}]},
        ]})
        .to_string()
        .into_bytes()
    };
    let v2 = |href: &str| v2_from_versions(&catalog, &doc(href)).unwrap().to_string();
    assert_eq!(
        v2("http://glance.example:9292/v2/"),
        "http://glance.example:9292/v2/"
    );
    assert_eq!(
        v2("http://glance.example:9292/v2"),
        "http://glance.example:9292/v2/"
    );
    // A Glance behind a proxy that names another host: the catalog's origin is kept.
    assert_eq!(
        v2("http://10.0.0.5:9292/v2/"),
        "http://glance.example:9292/v2/"
    );
    let prefixed = Url::parse("https://cloud.example/image").unwrap();
    assert_eq!(
        v2_from_versions(&prefixed, &doc("https://cloud.example/image/v2/"))
            .unwrap()
            .as_str(),
        "https://cloud.example/image/v2/"
    );
    let only_v1 = json!({"versions": [{"id": "v1.0", "status": "SUPPORTED"}]}).to_string();
    assert!(v2_from_versions(&catalog, only_v1.as_bytes()).is_err());
    assert!(is_versioned_v2(&Url::parse("http://g/v2").unwrap()));
    assert!(is_versioned_v2(
        &Url::parse("http://g/image/v2.0/").unwrap()
    ));
    assert!(!is_versioned_v2(&Url::parse("http://g/image").unwrap()));
}

/// The keys a token or version-discovery answer uses.
const KEYS: &[&str] = &[
    "token",
    "expires_at",
    "issued_at",
    "project",
    "id",
    "catalog",
    "type",
    "endpoints",
    "interface",
    "region_id",
    "region",
    "url",
    "versions",
    "values",
    "status",
    "links",
    "rel",
    "href",
];

/// Arbitrary JSON shaped like Keystone's answers.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    json_props::json_value(
        &[
            "2026-12-04T18:00:00Z",
            "image",
            "public",
            "v2.3",
            "http://g:9292/v2/",
        ],
        KEYS,
    )
}

proptest! {
    /// Keystone and Glance answers are outside data: no shape of them makes us panic.
    #[test]
    fn prop_keystone_answers_of_any_shape_never_panic(
        value in json_value(),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        region in prop::option::of("R[12]"),
    ) {
        let text = value.to_string();
        for body in [text.as_bytes(), &bytes[..]] {
            if let Ok(t) = token(Some("t"), body) {
                let _ = t.image_endpoint(Some("public"), region.as_deref());
                let _ = t.image_endpoint(None, None);
            }
            let catalog = Url::parse("http://g:9292/").unwrap();
            if let Ok(url) = v2_from_versions(&catalog, body) {
                prop_assert_eq!(url.origin(), catalog.origin());
                prop_assert!(url.path().ends_with('/'));
            }
        }
    }
}

proptest! {
    /// A real-shaped token answer with up to four of its values replaced by arbitrary JSON (a
    /// careless proxy, a Keystone of another version, a hostile endpoint): an answer or an
    /// error, never a panic, and a chosen endpoint is always an absolute URL.
    #[test]
    fn prop_keystone_mutated_token_answers_never_panic(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..4),
        interface in prop::option::of("public|internal|admin"),
        region in prop::option::of("R[12]"),
    ) {
        let mut value: serde_json::Value = serde_json::from_slice(&answer(glance(json!([
            {"interface": "public", "region_id": "R1", "region": "R1", "url": "http://g:9292"},
            {"interface": "internal", "region_id": "R2", "url": "http://g2:9292/v2/"},
        ]))))
        .unwrap();
        json_props::mutate(&mut value, mutations);
        let body = value.to_string();
        if let Ok(t) = token(Some("t"), body.as_bytes())
            && let Ok(url) = t.image_endpoint(interface.as_deref(), region.as_deref())
        {
            prop_assert!(url.has_host(), "{}", url);
        }
    }
}
