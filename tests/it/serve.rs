//! `setphoto::server` over real loopback HTTP: the wire behaviour the Slack SDKs rely on.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use setphoto::server::{DEFAULT_SCOPES, DEFAULT_TEAM, Server, ServerConfig, Store};

use crate::util::{load_schema, testdata, validate_against, validate_schema};

/// A server on an ephemeral loopback port with its own data folder.
pub struct TestServer {
    pub server: Option<Server>,
    pub data: tempfile::TempDir,
    pub base: String,
    agent: ureq::Agent,
}

impl TestServer {
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let server = start_on(data.path(), adjust);
        let base = server.public_url().to_owned();
        let mut this = Self::at(base, data);
        this.server = Some(server);
        this
    }

    /// A client of a server running elsewhere (another process) at `base`.
    pub fn at(base: String, data: tempfile::TempDir) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            server: None,
            data,
            base,
            agent,
        }
    }

    pub fn token(&self, user: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        Store::open(self.data.path())
            .unwrap()
            .create_token(user, DEFAULT_TEAM, &scopes)
            .unwrap()
    }

    pub fn full_token(&self, user: &str) -> String {
        self.token(user, DEFAULT_SCOPES)
    }

    /// POSTs `body` with `content_type` to `/api/<method>`; returns status, headers, body.
    pub fn post(
        &self,
        method: &str,
        content_type: &str,
        body: &[u8],
        bearer: Option<&str>,
    ) -> Reply {
        let mut request = self
            .agent
            .post(format!("{}/api/{method}", self.base))
            .header("Content-Type", content_type);
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Reply::from(request.send(body).unwrap())
    }

    pub fn get(&self, path_and_query: &str) -> Reply {
        Reply::from(
            self.agent
                .get(format!("{}{path_and_query}", self.base))
                .call()
                .unwrap(),
        )
    }

    pub fn set_photo(&self, token: &str, image: &[u8], crop: &[(&str, &str)]) -> Reply {
        let mut parts = vec![Part::file(
            "image",
            "upload.bin",
            "application/octet-stream",
            image,
        )];
        parts.extend(crop.iter().map(|(k, v)| Part::text(k, v)));
        let (ct, body) = multipart(&parts);
        self.post("users.setPhoto", &ct, &body, Some(token))
    }

    pub fn method(&self, method: &str, token: &str) -> Reply {
        self.post(
            method,
            "application/x-www-form-urlencoded",
            format!("token={token}").as_bytes(),
            None,
        )
    }

    pub fn fetch(&self, url: &str) -> Reply {
        Reply::from(self.agent.get(url).call().unwrap())
    }
}

fn start_on(data: &Path, adjust: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig::new(data);
    config.listen = "127.0.0.1:0".parse().unwrap();
    adjust(&mut config);
    Server::start(config).unwrap()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn from(mut response: ureq::http::Response<ureq::Body>) -> Self {
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(100 << 20)
            .read_to_vec()
            .unwrap();
        Self {
            status: response.status().as_u16(),
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body, after checking it is labelled as Slack labels it.
    pub fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{self:?}"
        );
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The error code of an HTTP 200 `ok:false` body.
    pub fn error(&self) -> String {
        assert_eq!(self.status, 200, "application errors are HTTP 200");
        let json = self.json();
        assert_eq!(json["ok"], false, "{json}");
        json["error"].as_str().unwrap().to_owned()
    }
}

/// One multipart part.
pub struct Part<'a> {
    name: &'a str,
    file: Option<(&'a str, &'a str)>,
    bytes: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn text(name: &'a str, value: &'a str) -> Self {
        Self {
            name,
            file: None,
            bytes: value.as_bytes(),
        }
    }

    pub fn file(name: &'a str, filename: &'a str, content_type: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            name,
            file: Some((filename, content_type)),
            bytes,
        }
    }
}

/// A multipart/form-data body and its Content-Type.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----setphotoTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for part in parts {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"",
            part.name
        )
        .unwrap();
        if let Some((filename, content_type)) = part.file {
            write!(
                body,
                "; filename=\"{filename}\"\r\nContent-Type: {content_type}"
            )
            .unwrap();
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Sends raw bytes on a fresh connection and reads until the server closes it or
/// `patience` passes; returns what came back and how long it took.
fn raw_exchange(base: &str, request: &[u8], patience: Duration) -> (String, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    let start = Instant::now();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

fn image_size(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).unwrap();
    (image.width(), image.height())
}

const PROFILE_KEYS: [&str; 9] = [
    "avatar_hash",
    "image_24",
    "image_32",
    "image_48",
    "image_72",
    "image_192",
    "image_512",
    "image_1024",
    "image_original",
];

#[test]
fn set_photo_stores_serves_and_reads_back_the_avatar() {
    let server = TestServer::start();
    let token = server.full_token("U0ALICE");
    let reply = server.set_photo(&token, &testdata("inputs/sample.jpg"), &[]);
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["ok"], true, "{body}");
    if let Some(result) = validate_schema("users.setPhoto.response.json", &body) {
        result.unwrap();
    }
    let profile = body["profile"].as_object().unwrap();
    assert_eq!(profile.keys().collect::<Vec<_>>().len(), 9);
    // 640x480, letterboxed to 640: 512 is the largest rendition and serves the 1024 key.
    for (key, side) in [
        ("image_24", 24),
        ("image_32", 32),
        ("image_48", 48),
        ("image_72", 72),
        ("image_192", 192),
        ("image_512", 512),
        ("image_1024", 512),
    ] {
        let url = profile[key].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/avatars/U0ALICE/", server.base)),
            "{url}"
        );
        let file = server.fetch(url);
        assert_eq!(file.status, 200, "{url}");
        assert_eq!(file.header("content-type"), Some("image/jpeg"));
        assert!(
            file.header("cache-control")
                .unwrap()
                .contains("max-age=31536000")
        );
        assert_eq!(image_size(&file.body), (side, side), "{key}");
    }
    let original = server.fetch(profile["image_original"].as_str().unwrap());
    assert_eq!(
        original.body,
        testdata("inputs/sample.jpg"),
        "the original is served unchanged"
    );

    // Every read method shows the same avatar.
    let read = server.method("users.profile.get", &token).json();
    assert_eq!(read["ok"], true, "{read}");
    for key in PROFILE_KEYS {
        assert_eq!(read["profile"][key], body["profile"][key], "{key}");
    }
    assert_eq!(read["profile"]["is_custom_image"], true);
    let info = server.method("users.info", &token).json();
    if let Some(schema) = load_schema("users.info.response.json") {
        validate_against(&schema, &info).unwrap();
    }
    assert_eq!(info["user"]["id"], "U0ALICE");
    assert_eq!(
        info["user"]["profile"]["avatar_hash"],
        body["profile"]["avatar_hash"]
    );
    assert_eq!(
        info["user"]["profile"]["image_72"],
        body["profile"]["image_72"]
    );
    let identity = server.method("users.identity", &token).json();
    if let Some(schema) = load_schema("users.identity.response.json") {
        validate_against(&schema, &identity).unwrap();
    }
    assert_eq!(identity["user"]["image_512"], body["profile"]["image_512"]);
    assert!(
        identity["user"].get("image_1024").is_none(),
        "identity has 24..512 only"
    );
    // users.profile.set's response carries the same profile object.
    if let Some(schema) = load_schema("users.profile.set.response.json") {
        let mut as_set = read.clone();
        as_set["username"] = Value::from("u0alice");
        validate_against(&schema, &as_set).unwrap();
    }
}

#[test]
fn crop_and_png_alpha_round_trip() {
    let server = TestServer::start();
    let token = server.full_token("U0BOB");
    let body = server
        .set_photo(
            &token,
            &testdata("inputs/sample.jpg"),
            &[("crop_x", "100"), ("crop_y", "50"), ("crop_w", "300")],
        )
        .json();
    let expected = setphoto::process(
        &setphoto::SetPhotoRequest::new(testdata("inputs/sample.jpg")).crop(100, 50, 300),
        &setphoto::Policy::default(),
    )
    .unwrap();
    assert_eq!(
        body["profile"]["avatar_hash"],
        expected.avatar_hash().as_str()
    );
    let png = server
        .set_photo(&token, &testdata("inputs/alpha_60x40.png"), &[])
        .json();
    let file = server.fetch(png["profile"]["image_24"].as_str().unwrap());
    assert_eq!(file.header("content-type"), Some("image/png"));
}

#[test]
fn delete_photo_falls_back_to_a_placeholder_and_removes_the_files() {
    let server = TestServer::start();
    let token = server.full_token("U0CAROL");
    let set = server
        .set_photo(&token, &testdata("inputs/square_300.jpg"), &[])
        .json();
    let folder = server.data.path().join("avatars/U0CAROL");
    assert!(std::fs::read_dir(&folder).unwrap().count() > 0);
    // Python's sync client sends argument-less calls as an empty JSON body.
    let deleted = server.post(
        "users.deletePhoto",
        "application/json;charset=utf-8",
        b"",
        Some(&token),
    );
    assert_eq!(deleted.json(), serde_json::json!({"ok": true}));
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "old files removed"
    );
    let old = server.fetch(set["profile"]["image_72"].as_str().unwrap());
    assert_eq!(old.status, 404);
    let read = server.method("users.profile.get", &token).json();
    assert_eq!(read["profile"]["is_custom_image"], false);
    assert_ne!(
        read["profile"]["avatar_hash"],
        set["profile"]["avatar_hash"]
    );
    for key in ["image_24", "image_192", "image_512"] {
        let url = read["profile"][key].as_str().unwrap();
        assert!(url.contains("/avatars/default/"), "{url}");
        let file = server.fetch(url);
        assert_eq!(file.status, 200);
        let side: u32 = key["image_".len()..].parse().unwrap();
        assert_eq!(image_size(&file.body), (side, side));
    }
}

#[test]
fn tokens_scopes_and_the_form_field_winning_over_the_header() {
    let server = TestServer::start();
    let token = server.full_token("U0DAVE");
    let read_only = server.token("U0DAVE", &["users:read"]);
    let image = testdata("inputs/square_300.jpg");
    let (ct, body) = multipart(&[Part::file("image", "a.jpg", "image/jpeg", &image)]);
    assert_eq!(
        server.post("users.setPhoto", &ct, &body, None).error(),
        "not_authed"
    );
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &body, Some("xoxp-unknown"))
            .error(),
        "invalid_auth"
    );
    let scope = server.post("users.setPhoto", &ct, &body, Some(&read_only));
    assert_eq!(scope.error(), "missing_scope");
    assert_eq!(scope.json()["needed"], "users.profile:write");
    assert_eq!(server.method("users.info", &read_only).json()["ok"], true);
    // The form field wins: a good header does not rescue a bad field, and the reverse.
    let (ct, bad_field) = multipart(&[
        Part::text("token", "xoxp-wrong"),
        Part::file("image", "a.jpg", "image/jpeg", &image),
    ]);
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &bad_field, Some(&token))
            .error(),
        "invalid_auth"
    );
    let (ct, good_field) = multipart(&[
        Part::text("token", &token),
        Part::file("image", "a.jpg", "image/jpeg", &image),
    ]);
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &good_field, Some("xoxp-wrong"))
            .json()["ok"],
        true
    );
    // GET with the query string works too.
    let info = server
        .get(&format!("/api/users.info?token={token}&user=U0DAVE"))
        .json();
    assert_eq!(info["user"]["id"], "U0DAVE");
    assert_eq!(
        server
            .get(&format!("/api/users.info?token={token}&user=U0NOBODY"))
            .error(),
        "user_not_found"
    );
    assert_eq!(
        server
            .get(&format!("/api/users.nope?token={token}"))
            .error(),
        "unknown_method"
    );
    // Any prefix before /api/ works, as a client's base_url may hold one.
    assert_eq!(
        server
            .get(&format!("/slack/v1/api/users.info?token={token}"))
            .json()["ok"],
        true
    );
}

#[test]
fn bad_uploads_are_http_200_with_slack_codes() {
    let server = TestServer::start();
    let token = server.full_token("U0ERIN");
    let webp = b"RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00";
    // A lying filename and Content-Type do not matter: the bytes are sniffed.
    let (ct, body) = multipart(&[Part::file("image", "photo.jpg", "image/jpeg", webp)]);
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &body, Some(&token))
            .error(),
        "bad_image"
    );
    let png = testdata("inputs/alpha_60x40.png");
    let (ct, body) = multipart(&[Part::file("image", "x.gif", "image/gif", &png)]);
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &body, Some(&token))
            .json()["ok"],
        true
    );
    // An image sent as a text field (old Node SDKs with streams), or none at all.
    let (ct, body) = multipart(&[Part::text("image", "[object Object]")]);
    assert_eq!(
        server
            .post("users.setPhoto", &ct, &body, Some(&token))
            .error(),
        "bad_image"
    );
    assert_eq!(server.method("users.setPhoto", &token).error(), "bad_image");
    let reply = server.post(
        "users.setPhoto",
        "application/x-www-form-urlencoded",
        b"image=abc",
        Some(&token),
    );
    assert_eq!(reply.error(), "bad_image");
    // Crop arguments.
    let jpeg = testdata("inputs/square_300.jpg");
    for crop in [
        &[("crop_w", "0")][..],
        &[("crop_x", "5")],
        &[("crop_w", "-1")],
        &[("crop_x", "300"), ("crop_w", "10")],
    ] {
        assert_eq!(
            server.set_photo(&token, &jpeg, crop).error(),
            "invalid_arguments",
            "{crop:?}"
        );
    }
    // Broken multipart framing.
    let reply = server.post("users.setPhoto", "multipart/form-data; boundary=abc", b"--abc\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a\"\r\n\r\nnever ends", Some(&token));
    assert_eq!(reply.error(), "invalid_form_data");
    let reply = server.post("users.setPhoto", "multipart/form-data", b"x", Some(&token));
    assert_eq!(reply.error(), "invalid_form_data");
    // Engine limits keep their codes.
    let frames = crate::bombs::gif_with_frames(2, 2, 150);
    assert_eq!(
        server.set_photo(&token, &frames, &[]).error(),
        "too_many_frames"
    );
}

#[test]
fn bodies_over_the_limit_are_refused_without_being_read() {
    let server = TestServer::with(|c| c.max_body_bytes = 16 * 1024);
    let token = server.full_token("U0FRAN");
    // Declared too large: answered at once, though not one body byte was sent.
    let head = format!(
        "POST /api/users.setPhoto HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n"
    );
    let (response, took) = raw_exchange(&server.base, head.as_bytes(), Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""error":"too_large""#), "{response}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Chunked, so the size is only known by counting: cut off once past the limit.
    let mut chunked = format!(
        "POST /api/users.setPhoto HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..10 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend_from_slice(&[b'x'; 0x1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (response, _) = raw_exchange(&server.base, &chunked, Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""error":"too_large""#), "{response}");
    // A client that writes its whole body before reading (as most do) still gets the
    // answer, not a reset: a refused body within reach is read and thrown away first.
    let big = vec![b'x'; 1 << 20];
    let (ct, body) = multipart(&[Part::file("image", "big.jpg", "image/jpeg", &big)]);
    for _ in 0..5 {
        let reply = server.post("users.setPhoto", &ct, &body, Some(&token));
        assert_eq!(reply.error(), "too_large");
    }
    // One that waits for `100 Continue` is answered without being asked for its body.
    let head = format!(
        "POST /api/users.setPhoto HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    let (response, took) = raw_exchange(&server.base, head.as_bytes(), Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""error":"too_large""#), "{response}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // The server still serves.
    assert_eq!(server.method("users.info", &token).json()["ok"], true);
}

#[test]
fn argument_bodies_that_are_not_multipart_are_capped_small() {
    let server = TestServer::start();
    let token = server.full_token("U0PAIRS");
    // 2 MiB of empty pairs would be a million allocations; it is refused unread instead.
    let pairs = "a&".repeat(1 << 20);
    let reply = server.post(
        "users.info",
        "application/x-www-form-urlencoded",
        pairs.as_bytes(),
        Some(&token),
    );
    assert_eq!(reply.error(), "too_large");
    let reply = server.post(
        "users.info",
        "application/x-www-form-urlencoded",
        b"a&b&user=U0PAIRS",
        Some(&token),
    );
    assert_eq!(reply.json()["user"]["id"], "U0PAIRS");
}

#[test]
fn slow_clients_are_cut_off() {
    let server = TestServer::with(|c| {
        c.header_timeout = Duration::from_millis(300);
        c.request_timeout = Duration::from_millis(600);
    });
    // Headers that never finish: the connection is closed after the header deadline.
    let (response, took) = raw_exchange(
        &server.base,
        b"POST /api/users.info HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    );
    assert!(took < Duration::from_secs(5), "{took:?} {response:?}");
    assert!(!response.contains("\"ok\":true"));
    // A body that stalls: answered request_timeout after the whole-request deadline.
    let (response, took) = raw_exchange(
        &server.base,
        b"POST /api/users.setPhoto HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n",
        Duration::from_secs(10),
    );
    assert!(
        response.contains(r#""error":"request_timeout""#),
        "{response}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn rate_limits_are_per_token_and_method_with_retry_after() {
    let server = TestServer::with(|c| c.rate_limit_per_minute = 3);
    let token = server.full_token("U0GUS");
    let other = server.full_token("U0GUS");
    for _ in 0..3 {
        assert_eq!(server.method("users.profile.get", &token).status, 200);
    }
    let limited = server.method("users.profile.get", &token);
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(
        limited.json(),
        serde_json::json!({"ok": false, "error": "ratelimited"})
    );
    assert_eq!(
        server.method("users.info", &token).status,
        200,
        "another method"
    );
    assert_eq!(
        server.method("users.profile.get", &other).status,
        200,
        "another token"
    );
}

#[test]
fn a_restart_loses_nothing() {
    let mut server = TestServer::start();
    let token = server.full_token("U0HAL");
    let set = server
        .set_photo(&token, &testdata("inputs/square_300.jpg"), &[])
        .json();
    server.server.take().unwrap().shutdown();
    let again = start_on(server.data.path(), |_| {});
    server.base = again.public_url().to_owned();
    let read = server.method("users.profile.get", &token).json();
    assert_eq!(
        read["profile"]["avatar_hash"],
        set["profile"]["avatar_hash"]
    );
    let url = read["profile"]["image_192"].as_str().unwrap();
    assert_eq!(server.fetch(url).status, 200);
    again.shutdown();
}

#[test]
fn leftovers_of_a_crash_are_swept_at_start_up() {
    let mut server = TestServer::start();
    let token = server.full_token("U0IDA");
    let set = server
        .set_photo(&token, &testdata("inputs/square_300.jpg"), &[])
        .json();
    server.server.take().unwrap().shutdown();
    // What a crash after writing files but before committing would leave.
    let folder = server.data.path().join("avatars/U0IDA");
    std::fs::write(folder.join("ffffffffffffffffffff_24.jpg"), b"x").unwrap();
    std::fs::write(folder.join(".ffffffffffffffffffff_48.jpg.tmp-1-1"), b"x").unwrap();
    let again = start_on(server.data.path(), |_| {});
    let names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let stem = &set["profile"]["image_24"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()[..20];
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with(stem)),
        "{names:?}"
    );
    again.shutdown();
}

#[test]
fn concurrent_uploads_for_one_user_leave_one_consistent_avatar() {
    // No grace: superseded files go at once (serve_grace.rs covers the grace).
    let server = TestServer::with(|c| {
        c.rate_limit_per_minute = 0;
        c.keep_old = Duration::ZERO;
    });
    let token = server.full_token("U0JOE");
    let image = testdata("inputs/sample.jpg");
    let hashes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (server, token, image) = (&server, &token, &image);
                scope.spawn(move || {
                    let side = (200 + 10 * i).to_string();
                    let body = server.set_photo(token, image, &[("crop_w", &side)]).json();
                    assert_eq!(body["ok"], true, "{body}");
                    body["profile"]["avatar_hash"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let read = server.method("users.profile.get", &token).json();
    let current = read["profile"]["avatar_hash"].as_str().unwrap();
    assert!(
        hashes.iter().any(|h| h == current),
        "{current} not among {hashes:?}"
    );
    // Exactly the current avatar's files remain, and all of them are served.
    let folder = server.data.path().join("avatars/U0JOE");
    let stem = &read["profile"]["image_24"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()[..20];
    let names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with(stem)),
        "superseded files remain: {names:?}"
    );
    for key in PROFILE_KEYS.iter().skip(1) {
        assert_eq!(
            server.fetch(read["profile"][key].as_str().unwrap()).status,
            200,
            "{key}"
        );
    }
}

#[test]
fn avatar_paths_cannot_leave_the_avatars_folder() {
    let server = TestServer::start();
    for path in [
        "/avatars/../setphoto.db",
        "/avatars/U1/../../setphoto.db",
        "/avatars/%2e%2e/setphoto.db",
        "/avatars/default/",
        "/nothing",
    ] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
}

/// A `setphoto serve` process that has printed its start-up line.
pub struct Started {
    /// The process.
    pub child: std::process::Child,
    /// Its stderr lines after the start-up line, as they come.
    pub lines: std::sync::mpsc::Receiver<String>,
    /// The start-up line.
    pub first: String,
    /// The URL it listens on (`http://ADDR`), from the start-up line.
    pub base: String,
}

/// Starts `command` (the `setphoto` binary with `serve` and its flags) with stdin and
/// stdout closed and stderr read line by line, each line echoed to the test's stderr after
/// `label`, and waits up to `wait` for the start-up line.
pub fn start_serve(mut command: std::process::Command, label: &str, wait: Duration) -> Started {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let label = label.to_owned();
    // Read to the end even when nobody listens, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{label}: {line}");
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(wait).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in the start-up line: {first}"))
        .to_owned();
    Started {
        child,
        lines,
        first,
        base,
    }
}

/// Eight uploads at once for the user of `token`, alternating between `first` and
/// `second`, each a different crop of `image`; each must be acknowledged. Their
/// `avatar_hash`es.
pub fn eight_uploads_at_once(
    (first, second): (&TestServer, &TestServer),
    token: &str,
    image: &[u8],
) -> Vec<String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let via = if i % 2 == 0 { first } else { second };
                s.spawn(move || {
                    let crop = (200 + 20 * i).to_string();
                    let json = via.set_photo(token, image, &[("crop_w", &crop)]).json();
                    assert_eq!(json["ok"], true, "{json}");
                    json["profile"]["avatar_hash"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
