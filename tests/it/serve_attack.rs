//! `setphoto serve` under loopback attack: clients that hold request bodies open, trickle
//! them, or crowd the body slots must not stall callers with a valid token.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::serve::TestServer;

const FORM: &str = "application/x-www-form-urlencoded";

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Opens a connection and sends `head` (request line and headers), leaving it open.
fn send_head(server: &TestServer, head: &str) -> TcpStream {
    let mut stream = connect(server);
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Reads until the server closes the connection or a read times out; returns what came
/// back and when it ended.
fn read_all(stream: &mut TcpStream) -> (String, Instant) {
    let bytes = read_bytes(stream);
    (String::from_utf8_lossy(&bytes).into_owned(), Instant::now())
}

fn read_bytes(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

const STALLED_INFO: &str = "POST /api/users.info HTTP/1.1\r\nHost: x\r\n\
     Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1\r\n\r\n";

/// Keeps `count` connections holding a stalled anonymous body open until `stop` is set:
/// one the server answers or closes is replaced at once, as a real attacker would.
fn hold_stalled_bodies(
    server: &TestServer,
    count: usize,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<usize> {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let open = move || {
        let mut stream = TcpStream::connect(&addr).ok()?;
        stream.write_all(STALLED_INFO.as_bytes()).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(stream)
    };
    thread::spawn(move || {
        let mut opened = 0;
        let mut streams: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
        while !stop.load(Ordering::Relaxed) {
            for slot in &mut streams {
                let alive = slot.as_mut().is_some_and(|s| {
                    let mut buf = [0u8; 1024];
                    matches!(s.read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
                });
                if !alive {
                    *slot = open();
                    opened += 1;
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
        opened
    })
}

#[test]
fn stalled_anonymous_bodies_do_not_slow_callers_with_a_token() {
    // The default slots and deadlines; only the rate limit is off, for the 100 calls.
    let server = TestServer::with(|c| c.rate_limit_per_minute = 0);
    let token = server.full_token("U0ALICE");
    // The first read of a profile makes the placeholder set: not part of what is timed.
    let warm = server.post("users.profile.get", FORM, b"user=U0ALICE", Some(&token));
    assert_eq!(warm.json()["ok"], true);

    // 64 connections that promise a one-byte body, send none, and carry no token.
    let stop = Arc::new(AtomicBool::new(false));
    let attack = hold_stalled_bodies(&server, 64, stop.clone());
    thread::sleep(Duration::from_millis(300));

    let mut latencies = Vec::with_capacity(100);
    let began = Instant::now();
    for i in 0..100 {
        // Bounded however slow the calls: a stalled server fails the test, not the suite.
        if began.elapsed() > Duration::from_secs(20) {
            break;
        }
        let start = Instant::now();
        // Half with a body (which needs a slot), half by GET with the token in the query.
        let reply = if i % 2 == 0 {
            server.post("users.profile.get", FORM, b"user=U0ALICE", Some(&token))
        } else {
            server.get(&format!("/api/users.profile.get?token={token}"))
        };
        latencies.push(start.elapsed());
        if reply.status != 200 || reply.json()["ok"] != true {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let opened = attack.join().unwrap();
    assert!(opened >= 64, "the attack ran ({opened} connections)");
    assert_eq!(
        latencies.len(),
        100,
        "calls answered ok in time: {latencies:?}"
    );
    latencies.sort();
    let p99 = latencies[98];
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
}

#[test]
fn anonymous_requests_share_few_slots_and_are_answered_ratelimited_when_none_frees() {
    let server = TestServer::with(|c| {
        c.bodies_in_flight = 2;
        c.anonymous_bodies = 1;
        c.slot_wait = Duration::from_millis(300);
    });
    let token = server.full_token("U0BOB");
    let holder = send_head(&server, STALLED_INFO);
    thread::sleep(Duration::from_millis(200));
    // The anonymous share is held: a token in the body waits, then is told to retry.
    let start = Instant::now();
    let body = format!("token={token}&user=U0BOB");
    let busy = server.post("users.info", FORM, body.as_bytes(), None);
    assert_eq!(busy.status, 429, "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(busy.json()["error"], "ratelimited");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    // A token in the header still finds the slot the anonymous share cannot take.
    let served = server.post("users.info", FORM, b"user=U0BOB", Some(&token));
    assert_eq!(served.json()["user"]["id"], "U0BOB");
    drop(holder);
}

#[test]
fn a_token_over_its_limit_is_refused_before_the_body() {
    let server = TestServer::with(|c| c.rate_limit_per_minute = 1);
    let token = server.full_token("U0CAROL");
    assert_eq!(server.method("users.info", &token).status, 200);
    // The client waits for a go-ahead before sending its body: the answer needs none.
    let mut stream = send_head(
        &server,
        &format!(
            "POST /api/users.info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {FORM}\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
        ),
    );
    let start = Instant::now();
    let (response, end) = read_all(&mut stream);
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(response.contains(r#""error":"ratelimited""#), "{response}");
    assert!(end - start < Duration::from_secs(3), "{:?}", end - start);
}

#[test]
fn bodies_that_pause_or_trickle_are_cut_and_steady_ones_are_not() {
    let server = TestServer::with(|c| {
        c.body_idle_timeout = Duration::from_millis(300);
        c.body_min_rate = 1000;
        c.request_timeout = Duration::from_secs(30);
    });
    let token = server.full_token("U0DAN");
    let head = |length: usize| {
        format!(
            "POST /api/users.info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {FORM}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };

    // Part of the body, then silence: cut at the idle deadline, not the whole deadline.
    let mut paused = send_head(&server, &head(1000));
    paused.write_all(b"user=U0DAN&").unwrap();
    let start = Instant::now();
    let (response, end) = read_all(&mut paused);
    assert!(
        response.contains(r#""error":"request_timeout""#),
        "{response}"
    );
    assert!(end - start < Duration::from_secs(3), "{:?}", end - start);

    // A byte every 50 ms never pauses long, but is far below the minimum rate.
    let mut trickle = send_head(&server, &head(1000));
    let start = Instant::now();
    let writer = {
        let mut stream = trickle.try_clone().unwrap();
        thread::spawn(move || {
            for _ in 0..60 {
                if stream.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let (response, end) = read_all(&mut trickle);
    writer.join().unwrap();
    assert!(
        response.contains(r#""error":"request_timeout""#),
        "{response}"
    );
    assert!(end - start < Duration::from_secs(2), "{:?}", end - start);

    // 2 kB every 100 ms for over a second: slower than one read, well above the minimum.
    let mut body = b"user=U0DAN&pad=".to_vec();
    body.resize(30_000, b'a');
    let mut steady = send_head(&server, &head(body.len()));
    for chunk in body.chunks(2000) {
        steady.write_all(chunk).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    let (response, _) = read_all(&mut steady);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""id":"U0DAN""#), "{response}");
}

/// Puts a file of `length` bytes where the server serves `/avatars/U0FILES/<name>`.
fn place_avatar_file(server: &TestServer, name: &str, length: usize) -> Vec<u8> {
    let dir = server.data.path().join("avatars/U0FILES");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

#[test]
fn avatar_files_answer_conditional_head_and_range_requests() {
    let server = TestServer::start();
    let name = "0123456789abcdef0123_192.jpg";
    let bytes = place_avatar_file(&server, name, 5000);
    let path = format!("/avatars/U0FILES/{name}");
    let full = server.get(&path);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, bytes);
    assert_eq!(full.header("content-type"), Some("image/jpeg"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").unwrap().to_owned();
    let modified = full.header("last-modified").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(modified.ends_with(" GMT"), "{modified}");

    let raw = |head: &str| {
        let mut stream = send_head(
            &server,
            &format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        read_all(&mut stream).0
    };
    // The client's copy is current: 304, no body, the validators again.
    for condition in [
        format!("If-None-Match: W/\"other\", {etag}"),
        format!("If-Modified-Since: {modified}"),
    ] {
        let response = raw(&format!("GET {path} HTTP/1.1\r\n{condition}"));
        assert!(
            response.starts_with("HTTP/1.1 304"),
            "{condition}: {response}"
        );
        assert!(response.contains(&etag), "{response}");
        assert!(response.ends_with("\r\n\r\n"), "no body: {response}");
    }
    // Another version named: the whole file.
    let other = raw(&format!("GET {path} HTTP/1.1\r\nIf-None-Match: \"other\""));
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");

    // HEAD: the length, no body.
    let head = raw(&format!("HEAD {path} HTTP/1.1"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 5000"),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "{head}");

    // One range: 206 with exactly those bytes; past the end: 416.
    let mut stream = send_head(
        &server,
        &format!(
            "GET {path} HTTP/1.1\r\nRange: bytes=4990-\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    );
    let part = read_bytes(&mut stream);
    let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&part[..split]);
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(head.contains("bytes 4990-4999/5000"), "{head}");
    assert_eq!(&part[split + 4..], &bytes[4990..]);
    let past = raw(&format!("GET {path} HTTP/1.1\r\nRange: bytes=5000-"));
    assert!(past.starts_with("HTTP/1.1 416"), "{past}");
    assert!(past.contains("bytes */5000"), "{past}");
    // A range for another version: the whole file.
    let stale = raw(&format!(
        "GET {path} HTTP/1.1\r\nRange: bytes=0-9\r\nIf-Range: \"other\""
    ));
    assert!(stale.starts_with("HTTP/1.1 200"), "{stale}");
}

#[test]
fn a_reader_that_stops_is_dropped_and_excess_file_requests_get_503() {
    let server = TestServer::with(|c| {
        c.files_in_flight = 1;
        c.write_timeout = Duration::from_millis(300);
    });
    let name = "0123456789abcdef0123_original.jpg";
    let length = 20 << 20;
    place_avatar_file(&server, name, length);
    let path = format!("/avatars/U0FILES/{name}");

    // Asks for 20 MiB and reads none of it: the socket buffers fill, writes block.
    let mut idle = send_head(&server, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    thread::sleep(Duration::from_millis(100));
    // It holds the one file slot: another request is told to come back.
    let busy = server.get(&path);
    assert_eq!(busy.status, 503, "{:?}", busy.header("retry-after"));
    assert_eq!(busy.header("retry-after"), Some("1"));

    // Past the write deadline the idle reader is dropped and its slot freed.
    let start = Instant::now();
    let served = loop {
        let reply = server.get(&path);
        if reply.status != 503 || start.elapsed() > Duration::from_secs(5) {
            break reply;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(served.status, 200);
    assert_eq!(served.body.len(), length);

    // The dropped reader finds the connection ended, well short of the file.
    let start = Instant::now();
    let mut received = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match idle.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(received < length, "{received}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
