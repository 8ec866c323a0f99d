//! `setphoto serve` for operators: `/healthz`, `/metrics`, the access log and
//! `--trust-proxy`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::serve::{TestServer, start_serve};
use crate::util::testdata;

/// The value of the metric line that starts with `series` (name and labels), if any.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn healthz_is_ready_names_the_backends_and_fails_when_the_folder_goes() {
    let server = TestServer::start();
    let reply = server.get("/healthz");
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["database"], "sqlite");
    assert_eq!(json["store"], "folder");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // The probe leaves no file behind.
    let avatars = server.data.path().join("avatars");
    let names: Vec<_> = std::fs::read_dir(&avatars)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().contains("healthz")),
        "{names:?}"
    );

    std::fs::remove_dir_all(&avatars).unwrap();
    let reply = server.get("/healthz");
    assert_eq!(reply.status, 503);
    let json = reply.json();
    assert_eq!(json["ok"], false, "{json}");
    assert!(json["store_error"].is_string(), "{json}");
    assert!(json.get("database_error").is_none(), "{json}");
}

#[test]
fn metrics_count_requests_images_and_bytes_in_a_fixed_label_set() {
    let server = TestServer::start();
    let token = server.full_token("U0METRIC");
    let ok = server.set_photo(&token, &testdata("inputs/sample.jpg"), &[]);
    assert_eq!(ok.json()["ok"], true);
    assert_eq!(
        server.set_photo(&token, b"not an image", &[]).error(),
        "bad_image"
    );
    let url = ok.json()["profile"]["image_72"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = server.fetch(&url);
    assert_eq!(file.status, 200);
    // Names a client makes up never become labels.
    assert_eq!(server.get("/api/made.up.method").error(), "unknown_method");
    assert_eq!(server.get("/no/such/page").status, 404);

    let reply = server.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        reply.header("content-type")
    );
    let text = String::from_utf8(reply.body).unwrap();
    let count = |series: &str| metric(&text, series).unwrap_or_else(|| panic!("{series}\n{text}"));
    assert_eq!(
        count(r#"setphoto_requests_total{endpoint="users.setPhoto",code="ok",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(
            r#"setphoto_requests_total{endpoint="users.setPhoto",code="bad_image",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        count(
            r#"setphoto_requests_total{endpoint="unknown_method",code="unknown_method",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        count(r#"setphoto_requests_total{endpoint="avatars",code="-",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(r#"setphoto_requests_total{endpoint="not_found",code="-",status="404"}"#),
        1.0
    );
    assert!(!text.contains("made.up"), "{text}");
    assert_eq!(
        count(r#"setphoto_images_processed_total{outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        count(r#"setphoto_images_processed_total{outcome="bad_image"}"#),
        1.0
    );
    assert_eq!(
        count(r#"setphoto_request_duration_seconds_count{endpoint="users.setPhoto"}"#),
        2.0
    );
    assert_eq!(
        count("setphoto_avatar_bytes_served_total"),
        file.body.len() as f64
    );
    assert_eq!(count("setphoto_engine_queue_depth"), 0.0);
    assert_eq!(count("setphoto_engine_busy"), 0.0);
    assert_eq!(count("setphoto_bodies_in_flight"), 0.0);
}

/// `setphoto serve` as a process, with its stderr read line by line.
struct ServeProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: String,
    _data: tempfile::TempDir,
}

impl ServeProcess {
    fn start(flags: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_setphoto"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args(flags);
        let started = start_serve(command, "serve", Duration::from_secs(30));
        let addr = started
            .base
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("start-up line: {}", started.first))
            .to_owned();
        Self {
            child: started.child,
            lines: started.lines,
            addr,
            _data: data,
        }
    }

    /// Sends one request with `headers` and returns the status code.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("response: {response}"))
    }

    /// The access-log lines written so far (JSON objects of target `setphoto::access`),
    /// waiting until there are at least `want` of them.
    fn access_lines(&self, want: usize) -> Vec<Value> {
        let mut found = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while found.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{} of {want} access lines: {found:?}", found.len()));
            let json: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if json["target"] == "setphoto::access" {
                found.push(json);
            }
        }
        found
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn the_access_log_is_json_never_holds_a_token_and_trusts_only_named_proxies() {
    let serve = ServeProcess::start(&[
        "--log-format",
        "json",
        "--trust-proxy",
        "127.0.0.1/32",
        "--auth-failures",
        "2",
    ]);
    let bad = "/api/users.info?token=xoxp-not-a-real-token-123";
    // Two failures from one forwarded client spend its allowance; the third is refused.
    let alice = [("X-Forwarded-For", "6.6.6.6, 198.51.100.7")];
    assert_eq!(serve.get(bad, &alice), 200);
    assert_eq!(serve.get(bad, &alice), 200);
    assert_eq!(serve.get(bad, &alice), 429);
    // Another client behind the same proxy is not throttled with it.
    let bob = [("X-Forwarded-For", "198.51.100.8")];
    assert_eq!(serve.get(bad, &bob), 200);
    assert_eq!(serve.get("/healthz", &[]), 200);

    let lines = serve.access_lines(5);
    let clients: Vec<&str> = lines
        .iter()
        .map(|l| l["client"].as_str().unwrap())
        .collect();
    assert_eq!(
        clients,
        [
            "198.51.100.7",
            "198.51.100.7",
            "198.51.100.7",
            "198.51.100.8",
            "127.0.0.1"
        ]
    );
    let statuses: Vec<u64> = lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 429, 200, 200]);
    assert_eq!(lines[0]["code"], "invalid_auth");
    assert_eq!(lines[2]["code"], "ratelimited");
    assert_eq!(lines[0]["endpoint"], "users.info");
    assert_eq!(lines[0]["method"], "GET");
    assert_eq!(lines[0]["path"], "/api/users.info");
    assert_eq!(lines[4]["endpoint"], "healthz");
    assert!(
        lines.iter().all(|l| l["ms"].as_f64().is_some()),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l["level"] == "INFO"), "{lines:?}");
    let all = serde_json::to_string(&lines).unwrap();
    assert!(!all.contains("xoxp-not-a-real-token"), "{all}");
}

#[test]
fn without_trust_proxy_a_forwarded_address_is_ignored() {
    let serve = ServeProcess::start(&["--log-format", "json", "--auth-failures", "1"]);
    let bad = "/api/users.info?token=xoxp-guess";
    assert_eq!(serve.get(bad, &[("X-Forwarded-For", "198.51.100.1")]), 200);
    // A new forged address does not buy a new allowance.
    assert_eq!(serve.get(bad, &[("X-Forwarded-For", "198.51.100.2")]), 429);
    let lines = serve.access_lines(2);
    assert!(
        lines.iter().all(|l| l["client"] == "127.0.0.1"),
        "{lines:?}"
    );
}

#[test]
fn no_access_log_keeps_stderr_to_the_start_up_line() {
    let serve = ServeProcess::start(&["--no-access-log"]);
    assert_eq!(serve.get("/healthz", &[]), 200);
    assert_eq!(serve.get("/api/api.test", &[]), 200);
    // The requests were answered, so any access line would have been written by now.
    assert!(
        serve
            .lines
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "a log line with --no-access-log"
    );
}
