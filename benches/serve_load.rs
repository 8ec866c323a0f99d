//! Load run of `setphoto serve` on loopback: many tokens uploading at once.
//!
//! `cargo bench --bench serve_load` (env `USERS`, `CLIENTS`, `UPLOADS` per user, `IMAGE`: the
//! JPEG uploaded, `testdata/inputs/sample.jpg` unless set). Each
//! client thread owns some users and uploads for them in turn, varying the crop so every
//! upload is a new avatar; afterwards every user's `users.profile.get` must show the hash
//! of their last acknowledged upload.
//!
//! Replicas: `REPLICAS=2 DATABASE=postgres://...` starts that many servers in this process
//! on the one database (and `STORE=s3://...`, with the `AWS_*` variables, or else one
//! shared folder), each with the default engine threads; client thread `c` talks to
//! replica `c % REPLICAS`, and the final check asks a replica other than the one that took
//! the last upload. Prints requests/s, latency percentiles, status
//! counts, lost updates and the process's peak RSS; exits non-zero on any 5xx or lost
//! update.

use std::time::{Duration, Instant};

use setphoto::server::{
    DEFAULT_SCOPES, DEFAULT_TEAM, Database, FileStore, Server, ServerConfig, Store,
};

/// One client thread's latencies, HTTP statuses (0: no answer), and the hash of each of
/// its users' last acknowledged upload.
type ClientRun = (Vec<Duration>, Vec<u16>, Vec<(usize, String)>);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn multipart(image: &[u8], crop_w: u32) -> (String, Vec<u8>) {
    let boundary = "loadboundary0123456789";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"crop_w\"\r\n\r\n{crop_w}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let users = env("USERS", 32);
    let clients = env("CLIENTS", 16);
    let uploads = env("UPLOADS", 8);
    // The JPEG every upload sends (cropped differently each time).
    let image_path = std::env::var("IMAGE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/inputs/sample.jpg").to_owned()
    });
    let image = std::fs::read(&image_path).expect("IMAGE: a JPEG file");
    let replicas = env("REPLICAS", 1).max(1);
    let database = std::env::var("DATABASE")
        .ok()
        .map(|url| Database::parse(&url).expect("DATABASE: sqlite://PATH or postgres://..."));
    let file_store = std::env::var("STORE")
        .ok()
        .map(|url| FileStore::parse(&url).expect("STORE: a folder or s3://BUCKET/PREFIX"));
    assert!(
        replicas == 1 || database.is_some(),
        "REPLICAS > 1 needs a shared DATABASE=postgres://..."
    );
    let data = tempfile::tempdir().unwrap();
    let servers: Vec<Server> = (0..replicas)
        .map(|_| {
            let mut config = ServerConfig::new(data.path());
            config.listen = "127.0.0.1:0".parse().unwrap();
            config.rate_limit_per_minute = 0;
            config.database.clone_from(&database);
            config.store.clone_from(&file_store);
            Server::start(config).unwrap()
        })
        .collect();
    let apis: Vec<String> = servers
        .iter()
        .map(|s| format!("{}/api", s.public_url()))
        .collect();
    let store =
        Store::connect(&database.unwrap_or_else(|| Database::in_folder(data.path()))).unwrap();
    let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let tokens: Vec<String> = (0..users)
        .map(|i| {
            store
                .create_token(&format!("U{i:06}"), DEFAULT_TEAM, &scopes)
                .unwrap()
        })
        .collect();

    let start = Instant::now();
    let results: Vec<ClientRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (tokens, image, api) = (&tokens, &image, &apis[c % replicas]);
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mine: Vec<usize> = (c..tokens.len()).step_by(clients).collect();
                    let (mut latencies, mut statuses, mut last) =
                        (Vec::new(), Vec::new(), Vec::new());
                    for round in 0..uploads {
                        for &u in &mine {
                            let crop = 200 + u32::try_from((round * 7 + u) % 280).unwrap();
                            let (ct, body) = multipart(image, crop);
                            let sent = Instant::now();
                            let response = agent
                                .post(format!("{api}/users.setPhoto"))
                                .header("Authorization", format!("Bearer {}", tokens[u]))
                                .header("Content-Type", ct)
                                .send(&body[..]);
                            latencies.push(sent.elapsed());
                            match response {
                                Ok(mut r) => {
                                    statuses.push(r.status().as_u16());
                                    let json: serde_json::Value = serde_json::from_str(
                                        &r.body_mut().read_to_string().unwrap_or_default(),
                                    )
                                    .unwrap_or_default();
                                    if json["ok"] == true {
                                        let hash = json["profile"]["avatar_hash"]
                                            .as_str()
                                            .unwrap_or("")
                                            .to_owned();
                                        last.retain(|(user, _)| *user != u);
                                        last.push((u, hash));
                                    }
                                }
                                Err(_) => statuses.push(0),
                            }
                        }
                    }
                    (latencies, statuses, last)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wall = start.elapsed();

    let mut latencies: Vec<Duration> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    latencies.sort();
    let statuses: Vec<u16> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    let pct = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let server_errors = statuses.iter().filter(|&&s| s >= 500 || s == 0).count();

    // Lost updates: the final avatar of each user must be their last acknowledged one.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut lost = 0;
    for (c, (u, hash)) in results
        .iter()
        .enumerate()
        .flat_map(|(c, r)| r.2.iter().map(move |last| (c, last)))
    {
        let api = &apis[(c + 1) % replicas];
        let body = agent
            .post(format!("{api}/users.profile.get"))
            .header("Authorization", format!("Bearer {}", tokens[*u]))
            .send_empty()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        if json["profile"]["avatar_hash"].as_str() != Some(hash.as_str()) {
            lost += 1;
        }
    }
    println!(
        "serve_load: {users} users, {clients} client threads, {uploads} uploads each ({} requests, {image_path} cropped), \
         {replicas} replica(s) on {}, engine threads each = {}",
        statuses.len(),
        store.engine(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "  {:.1} requests/s; latency ms p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        statuses.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  200: {ok}, 5xx or no answer: {server_errors}, lost updates: {lost}, peak RSS (server and clients, one process): {} MiB",
        peak_rss_kib().map_or(0, |k| k / 1024)
    );
    for server in servers {
        server.shutdown();
    }
    if server_errors > 0 || lost > 0 || ok != statuses.len() {
        std::process::exit(1);
    }
}
