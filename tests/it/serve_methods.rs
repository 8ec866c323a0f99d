//! `setphoto serve`: auth.test and api.test, the failed-authentication throttle, and
//! users.profile.set's field rules (control characters, `*_normalized`, long values,
//! keys Slack has and keys it does not).

use serde_json::Value;

use crate::serve::{Part, TestServer, multipart};

fn form(server: &TestServer, method: &str, token: &str, pairs: &[(&str, &str)]) -> Value {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.append_pair("token", token);
    for (k, v) in pairs {
        body.append_pair(k, v);
    }
    server
        .post(
            method,
            "application/x-www-form-urlencoded",
            body.finish().as_bytes(),
            None,
        )
        .json()
}

#[test]
fn auth_test_answers_who_the_token_is_in_slacks_shape() {
    let server = TestServer::start();
    // Any valid token will do, whatever its scopes.
    let token = server.token("U0AUTH", &["users:read"]);
    let json = server.method("auth.test", &token).json();
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["user_id"], "U0AUTH");
    assert_eq!(json["team_id"], setphoto::server::DEFAULT_TEAM);
    assert_eq!(json["url"], format!("{}/", server.base));
    assert!(
        json["user"].as_str().is_some_and(|u| !u.is_empty()),
        "{json}"
    );
    assert!(json["team"].is_string(), "{json}");
    assert_eq!(json["is_enterprise_install"], false);
    assert_eq!(
        server.method("auth.test", "xoxp-nope").error(),
        "invalid_auth"
    );
    assert_eq!(server.get("/api/auth.test").error(), "not_authed");
}

#[test]
fn api_test_echoes_its_arguments_without_a_token() {
    let server = TestServer::start();
    let json = server.get("/api/api.test?foo=bar&token=secret").json();
    assert_eq!(
        json,
        serde_json::json!({"ok": true, "args": {"foo": "bar"}})
    );
    let json = server.get("/api/api.test?error=my_error").json();
    assert_eq!(
        json,
        serde_json::json!({"ok": false, "error": "my_error", "args": {"error": "my_error"}})
    );
}

#[test]
fn failed_authentications_are_throttled_per_address() {
    let server = TestServer::with(|c| c.auth_failures_per_minute = 10);
    let good = server.full_token("U0GOOD");
    let mut codes = Vec::new();
    for i in 0..30 {
        let reply = server.post(
            "users.profile.get",
            "application/x-www-form-urlencoded",
            b"",
            Some(&format!("xoxp-guess-{i}")),
        );
        codes.push((reply.status, reply.header("retry-after").map(str::to_owned)));
    }
    // The burst is answered invalid_auth, the rest 429 with Retry-After.
    assert!(codes[..10].iter().all(|(s, _)| *s == 200), "{codes:?}");
    assert!(
        codes[10..].iter().all(|(s, r)| *s == 429 && r.is_some()),
        "{codes:?}"
    );
    // The address is refused before any token it sends is looked up, a good one too: a
    // guesser cannot tell a hit from a miss.
    let reply = server.post(
        "users.profile.get",
        "application/x-www-form-urlencoded",
        b"",
        Some(&good),
    );
    assert_eq!(reply.status, 429);
    // Calls without a token are not failures of authentication.
    let off = TestServer::with(|c| c.auth_failures_per_minute = 0);
    for i in 0..30 {
        let t = format!("xoxp-guess-{i}");
        assert_eq!(off.method("users.info", &t).error(), "invalid_auth");
    }
}

#[test]
fn profile_text_is_cleaned_normalized_and_limited_like_slacks() {
    let server = TestServer::start();
    let token = server.full_token("U0PROF");
    let profile = serde_json::json!({
        "real_name": "Zoë\u{0} \u{1b}Ångström\r\n\u{202e}",
        "display_name": "zo\u{7f}e",
        "title": "Chief\tEngineer",
        "status_text": "busy",
        "unknown_key": "ignored",
        "status_expiration": 0,
        "fields": {},
    });
    let json = form(
        &server,
        "users.profile.set",
        &token,
        &[("profile", &profile.to_string())],
    );
    assert_eq!(json["ok"], true, "{json}");
    let p = &json["profile"];
    assert_eq!(p["real_name"], "Zoë Ångström");
    assert_eq!(p["real_name_normalized"], "Zoe Angstrom");
    assert_eq!(p["display_name"], "zoe");
    assert_eq!(p["title"], "Chief Engineer");
    assert_eq!(p["status_text"], "busy");
    assert!(p.get("unknown_key").is_none(), "{p}");
    if let Some(checked) = crate::util::validate_schema("users.profile.set.response.json", &json) {
        checked.unwrap();
    }

    // name + value stores a field Slack has; a key Slack does not have changes nothing.
    let json = form(
        &server,
        "users.profile.set",
        &token,
        &[("name", "title"), ("value", "CTO")],
    );
    assert_eq!(json["profile"]["title"], "CTO", "{json}");
    let json = form(
        &server,
        "users.profile.set",
        &token,
        &[("name", "no_such_field"), ("value", "x")],
    );
    assert_eq!(json["ok"], true, "{json}");
    let read = server
        .get(&format!("/api/users.profile.get?token={token}"))
        .json();
    assert_eq!(read["profile"]["title"], "CTO");
    assert!(read["profile"].get("no_such_field").is_none());

    // Too long after cleaning, the wrong type, and a multipart value over 64 KiB.
    let long = "a".repeat(81);
    for pairs in [
        vec![("name", "real_name"), ("value", long.as_str())],
        vec![("profile", r#"{"title": 7}"#)],
    ] {
        assert_eq!(
            form(&server, "users.profile.set", &token, &pairs)["error"],
            "invalid_profile"
        );
    }
    let huge = "b".repeat(65 * 1024);
    let (ct, body) = multipart(&[
        Part::text("token", &token),
        Part::text("name", "title"),
        Part::text("value", &huge),
    ]);
    assert_eq!(
        server.post("users.profile.set", &ct, &body, None).error(),
        "invalid_profile"
    );
}
