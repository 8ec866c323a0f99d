//! `setphoto::client` and `setphoto upload`: against `setphoto serve` on loopback, and
//! against a scripted server for the unhappy paths.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use setphoto::CropBox;
use setphoto::client::{Client, ClientConfig, ClientError, RetryPolicy};

use crate::serve::TestServer;
use crate::util::{fixture_path, setphoto, testdata};

/// What the scripted server does with one connection.
enum Step {
    /// Answer with this status, extra headers and body.
    Reply(u16, &'static str, String),
    /// Read the request, then close without answering.
    Close,
    /// Wait, then answer 200 with this body.
    Slow(Duration, String),
}

/// A one-request-per-connection HTTP server that plays `steps` in order and keeps every
/// request's raw bytes.
struct Scripted {
    base: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/api/", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            for step in steps {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let request = read_request(&mut stream);
                seen.lock().unwrap().push(request);
                let (status, headers, body) = match step {
                    Step::Close => continue,
                    Step::Reply(status, headers, body) => (status, headers, body),
                    Step::Slow(wait, body) => {
                        std::thread::sleep(wait);
                        (200, "", body)
                    }
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
            }
        });
        Self {
            base,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn client(&self, retry: RetryPolicy, timeout: Duration) -> Client {
        Client::new(
            ClientConfig::new("xoxp-test-token")
                .base_url(&self.base)
                .timeout(timeout)
                .retry(retry),
        )
        .unwrap()
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // Unblock a pending accept so the thread sees the flag and ends.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(
            self.base
                .trim_start_matches("http://")
                .trim_end_matches("/api/"),
        );
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if data.len() >= end + 4 + length {
                return data;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ..RetryPolicy::default()
    }
}

fn ok_body() -> String {
    let base = "http://h/avatars/U1/0123456789abcdef0123";
    serde_json::json!({"ok": true, "profile": {
        "avatar_hash": "0123456789ab",
        "image_24": format!("{base}_24.jpg"), "image_32": format!("{base}_32.jpg"),
        "image_48": format!("{base}_48.jpg"), "image_72": format!("{base}_72.jpg"),
        "image_192": format!("{base}_192.jpg"), "image_512": format!("{base}_512.jpg"),
        "image_1024": format!("{base}_1024.jpg"), "image_original": format!("{base}_original.jpg"),
    }})
    .to_string()
}

const LONG: Duration = Duration::from_secs(20);

#[test]
fn the_request_is_what_slack_expects_byte_for_byte() {
    let server = Scripted::new(vec![Step::Reply(200, "", ok_body())]);
    let image = testdata("inputs/square_300.jpg");
    let profile = server
        .client(RetryPolicy::none(), LONG)
        .set_photo(image.clone(), Some(CropBox::new(10, 20, 30).unwrap()))
        .unwrap();
    assert_eq!(profile.avatar_hash, "0123456789ab");
    let request = server.requests.lock().unwrap()[0].clone();
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(request[..end].to_vec()).unwrap();
    let body = &request[end + 4..];
    assert!(
        head.starts_with("POST /api/users.setPhoto HTTP/1.1\r\n"),
        "{head}"
    );
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
    };
    assert_eq!(
        header("authorization").as_deref(),
        Some("Bearer xoxp-test-token")
    );
    let content_type = header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    assert_eq!(header("content-length").unwrap(), body.len().to_string());
    let mut expected = Vec::new();
    for (name, value) in [("crop_x", "10"), ("crop_y", "20"), ("crop_w", "30")] {
        write!(
            expected,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    write!(expected, "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").unwrap();
    expected.extend_from_slice(&image);
    write!(expected, "\r\n--{boundary}--\r\n").unwrap();
    assert!(body == expected.as_slice(), "the multipart body differs");
    assert!(
        !body.windows(b"token".len()).any(|w| w == b"token"),
        "the token travels only in the header"
    );
}

#[test]
fn rate_limited_then_success_waits_for_retry_after() {
    let server = Scripted::new(vec![
        Step::Reply(
            429,
            "Retry-After: 1\r\n",
            r#"{"ok":false,"error":"ratelimited"}"#.into(),
        ),
        Step::Reply(200, "", ok_body()),
    ]);
    let start = Instant::now();
    let result = server
        .client(fast_retries(3), LONG)
        .set_photo(testdata("inputs/tiny_1x1.png"), None);
    assert!(result.is_ok(), "{result:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.count(), 2);
}

#[test]
fn server_errors_and_closed_connections_are_retried_with_backoff() {
    let server = Scripted::new(vec![
        Step::Reply(503, "", "busy".into()),
        Step::Close,
        Step::Reply(503, "", String::new()),
        Step::Reply(200, "", ok_body()),
    ]);
    let result = server
        .client(fast_retries(3), LONG)
        .set_photo(testdata("inputs/tiny_1x1.png"), None);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(server.count(), 4);
}

#[test]
fn retries_are_bounded() {
    let server = Scripted::new(
        (0..5)
            .map(|_| Step::Reply(503, "", "down".into()))
            .collect(),
    );
    let result = server.client(fast_retries(2), LONG).profile_get();
    match result {
        Err(ClientError::InvalidResponse { status: 503, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(server.count(), 3, "one attempt and two retries");
    let limited = Scripted::new(
        (0..3)
            .map(|_| {
                Step::Reply(
                    429,
                    "Retry-After: 0\r\n",
                    r#"{"ok":false,"error":"ratelimited"}"#.into(),
                )
            })
            .collect(),
    );
    let error = limited
        .client(fast_retries(1), LONG)
        .profile_get()
        .unwrap_err();
    assert_eq!(error.code(), "ratelimited");
    assert_eq!(limited.count(), 2);
}

#[test]
fn ok_false_is_not_retried_and_keeps_the_body() {
    let body = r#"{"ok":false,"error":"invalid_auth"}"#;
    let server = Scripted::new(vec![
        Step::Reply(200, "", body.into()),
        Step::Reply(200, "", ok_body()),
    ]);
    let error = server
        .client(fast_retries(3), LONG)
        .set_photo(testdata("inputs/tiny_1x1.png"), None)
        .unwrap_err();
    assert_eq!(error.code(), "invalid_auth");
    assert_eq!(error.body(), Some(body));
    assert_eq!(server.count(), 1);
}

#[test]
fn a_body_that_is_not_slack_json_is_an_invalid_response() {
    for body in [
        "<html>502 Bad Gateway</html>",
        r#"{"profile":{}}"#,
        r#"{"ok":true,"profile":{"avatar_hash":"XYZ"}}"#,
    ] {
        let server = Scripted::new(vec![Step::Reply(200, "", body.into())]);
        let error = server
            .client(fast_retries(3), LONG)
            .set_photo(testdata("inputs/tiny_1x1.png"), None)
            .unwrap_err();
        assert_eq!(error.code(), "invalid_response", "{body}: {error}");
        assert_eq!(server.count(), 1, "{body}");
    }
}

#[test]
fn a_slow_server_hits_the_timeout() {
    let server = Scripted::new(vec![Step::Slow(Duration::from_secs(3), ok_body())]);
    let start = Instant::now();
    let error = server
        .client(RetryPolicy::none(), Duration::from_millis(400))
        .set_photo(testdata("inputs/tiny_1x1.png"), None)
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Transport { attempts: 1, .. }),
        "{error:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn normalize_refuses_a_bad_file_before_any_network() {
    let server = Scripted::new(vec![Step::Reply(200, "", ok_body())]);
    let client = server.client(RetryPolicy::none(), LONG);
    let error = client
        .set_photo_normalized(
            b"<html>not an image</html>".to_vec(),
            None,
            &setphoto::Policy::default(),
        )
        .unwrap_err();
    assert_eq!(error.code(), "bad_image");
    assert_eq!(server.count(), 0);
    assert!(
        !format!("{client:?}").contains("xoxp-test-token"),
        "Debug never shows the token"
    );
}

#[test]
fn upload_read_back_and_delete_against_setphoto_serve() {
    let server = TestServer::start();
    let token = server.full_token("U0UPLOAD");
    let client =
        Client::new(ClientConfig::new(&token).base_url(format!("{}/api/", server.base))).unwrap();
    let profile = client
        .set_photo(
            testdata("inputs/sample.jpg"),
            Some(CropBox::new(0, 0, 400).unwrap()),
        )
        .unwrap();
    assert_eq!(client.current_avatar_hash().unwrap(), profile.avatar_hash);
    let identity = client.identity().unwrap();
    assert_eq!(
        identity.json["user"]["image_192"],
        profile.image_192.as_str()
    );
    let info = client.users_info("U0UPLOAD").unwrap();
    assert_eq!(
        info.json["user"]["profile"]["avatar_hash"],
        profile.avatar_hash.as_str()
    );
    // --normalize uploads the square the engine made: at most 1024, no crop left to do.
    let big = testdata("inputs/wide_4000x10.png");
    let answer = client
        .set_photo_normalized(big, None, &setphoto::Policy::default())
        .unwrap();
    let url = answer.json["profile"]["image_original"].as_str().unwrap();
    let original = server.fetch(url).body;
    let picture = image::load_from_memory(&original).unwrap();
    assert_eq!((picture.width(), picture.height()), (1024, 1024));
    client.delete_photo().unwrap();
    assert_ne!(client.current_avatar_hash().unwrap(), profile.avatar_hash);
    let stranger =
        Client::new(ClientConfig::new("xoxp-nobody").base_url(format!("{}/api/", server.base)))
            .unwrap();
    assert_eq!(stranger.profile_get().unwrap_err().code(), "invalid_auth");
}

#[test]
fn the_upload_command_prints_the_body_and_sets_the_exit_status() {
    let server = TestServer::start();
    let token = server.full_token("U0CLI");
    let api = format!("{}/api/", server.base);
    let image = fixture_path("sample.jpg");
    let image = image.to_str().unwrap();
    let out = setphoto(&[
        "upload",
        image,
        "--base-url",
        &api,
        "--token",
        &token,
        "--crop-w",
        "300",
        "--verify",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["ok"], true);
    let everything = [out.stdout.clone(), out.stderr.clone()].concat();
    assert!(
        !String::from_utf8_lossy(&everything).contains(&token),
        "the token is never printed"
    );
    // The endpoint's refusal: its body, exit 1.
    let out = setphoto(&[
        "upload",
        fixture_path("../golden/hashes.tsv").to_str().unwrap(),
        "--base-url",
        &api,
        "--token",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["error"],
        "bad_image"
    );
    // No token at all: a usage error; an unreachable endpoint: exit 3 with a message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args(["upload", image, "--base-url", &api])
        .env_remove("SLACK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args([
            "upload",
            image,
            "--base-url",
            "http://127.0.0.1:9/api/",
            "--retries",
            "0",
        ])
        .env("SLACK_TOKEN", &token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn upload_from_a_manifest_uses_each_rows_token_and_reports_every_row() {
    let server = TestServer::start();
    let (ann, ben) = (server.full_token("U0ANN"), server.full_token("U0BEN"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_path("sample.jpg"), dir.path().join("a.jpg")).unwrap();
    std::fs::copy(fixture_path("alpha_60x40.png"), dir.path().join("b.png")).unwrap();
    std::fs::write(dir.path().join("c.jpg"), b"not an image").unwrap();
    let manifest = dir.path().join("m.csv");
    std::fs::write(
        &manifest,
        format!("id,path,crop_w,token\nann,a.jpg,300,{ann}\nben,b.png,,{ben}\nbad,c.jpg,,\n"),
    )
    .unwrap();
    let api = format!("{}/api/", server.base);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args([
            "upload",
            "--from",
            manifest.to_str().unwrap(),
            "--base-url",
            &api,
            "--quiet",
            "--rate",
            "0",
        ])
        .env("SLACK_TOKEN", &ann)
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(out.status.code(), Some(1), "one row failed");
    assert_eq!(
        (lines[0]["id"].as_str(), lines[0]["ok"].as_bool()),
        (Some("ann"), Some(true))
    );
    assert_eq!(
        (lines[1]["id"].as_str(), lines[1]["ok"].as_bool()),
        (Some("ben"), Some(true))
    );
    assert_eq!(
        lines[2]["error"], "bad_image",
        "the default token uploads the rest"
    );
    for (token, line) in [(&ann, &lines[0]), (&ben, &lines[1])] {
        let client = Client::new(ClientConfig::new(token).base_url(&api)).unwrap();
        assert_eq!(
            client.current_avatar_hash().unwrap(),
            line["profile"]["avatar_hash"].as_str().unwrap()
        );
    }
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert!(
        !text.contains(&ann) && !text.contains(&ben),
        "tokens are never printed"
    );
}
