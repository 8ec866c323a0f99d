//! `setphoto serve --memory`: a burst of large uploads queues within the memory budget
//! instead of multiplying, and every one of them succeeds.

use std::process::{Child, Command};
use std::time::Duration;

use setphoto::server::{DEFAULT_SCOPES, DEFAULT_TEAM, Store};

use crate::bombs::gradient_png;
use crate::serve::{Part, multipart, start_serve};

const MIB: u64 = 1 << 20;

/// A `setphoto serve` process, killed when dropped.
struct ServeProcess {
    child: Child,
    base: String,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    fn start(data: &std::path::Path, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_setphoto"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rate-limit",
                "0",
                "--data",
            ])
            .arg(data)
            .args(args);
        let started = start_serve(command, "serve", Duration::from_secs(60));
        Self {
            child: started.child,
            base: started.base,
        }
    }

    /// The peak resident set of the process so far, from `/proc/PID/status`.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }
}

#[test]
fn a_burst_of_large_uploads_queues_within_the_memory_budget() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc here: the memory budget test needs VmHWM");
        return;
    }
    // A 7071x7071 16-bit RGBA PNG cropped to 1500 px decodes at full size: each needs
    // about 250 MiB (its estimate is 263 MiB), so under a 300 MiB budget they run one at a
    // time although --jobs would let all four run at once (about 1 GB together).
    let png = gradient_png(7071, 7071, true);
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let tokens: Vec<String> = (0..4)
        .map(|i| {
            store
                .create_token(&format!("U0BURST{i}"), DEFAULT_TEAM, &scopes)
                .unwrap()
        })
        .collect();
    drop(store);
    let budget = 300 * MIB;
    let server = ServeProcess::start(data.path(), &["--jobs", "4", "--memory", "300MiB"]);
    let before = server.peak_rss();
    let (content_type, body) = multipart(&[
        Part::file("image", "big.png", "image/png", &png),
        Part::text("crop_x", "100"),
        Part::text("crop_y", "200"),
        Part::text("crop_w", "1500"),
    ]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let url = format!("{}/api/users.setPhoto", server.base);
    std::thread::scope(|scope| {
        let handles: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (agent, url, content_type, body) = (&agent, &url, &content_type, &body);
                scope.spawn(move || {
                    let mut reply = agent
                        .post(url)
                        .header("Content-Type", content_type)
                        .header("Authorization", format!("Bearer {token}"))
                        .send(body.as_slice())
                        .unwrap();
                    let json: serde_json::Value =
                        serde_json::from_slice(&reply.body_mut().read_to_vec().unwrap()).unwrap();
                    json
                })
            })
            .collect();
        for handle in handles {
            let json = handle.join().unwrap();
            assert_eq!(json["ok"], true, "{json}");
        }
    });
    let peak = server.peak_rss();
    eprintln!(
        "server peak RSS {} MiB (at start {} MiB), budget {} MiB",
        peak / MIB,
        before / MIB,
        budget / MIB
    );
    // The budget (the spare buffers are held back inside it), what the process held
    // before, the four bodies (each read and parsed) and the allocator's slack.
    let bound = budget + before + 4 * 2 * png.len() as u64 + 16 * MIB;
    assert!(
        peak <= bound,
        "peak RSS {} MiB over {} MiB",
        peak / MIB,
        bound / MIB
    );
}
