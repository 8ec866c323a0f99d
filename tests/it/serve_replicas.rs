//! Stateless replicas: two `setphoto serve` processes on one real PostgreSQL
//! (`--database`) and one S3-compatible server (`--store s3://`, moto), each with a data
//! folder of its own.
//!
//! Without PostgreSQL's server binaries or moto the tests print a notice and pass; under
//! CI (`CI=true`) that is a failure (see `serve_postgres` and `batch_s3`).

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use setphoto::server::{DEFAULT_SCOPES, DEFAULT_TEAM, Store};

use crate::batch_s3::Moto;
use crate::serve::{Part, TestServer, eight_uploads_at_once, multipart, start_serve};
use crate::serve_postgres::Postgres;
use crate::util::testdata;

const BUCKET: &str = "replicas";
const PREFIX: &str = "team";

/// The profile keys whose URLs a test fetches.
const IMAGE_KEYS: [&str; 8] = [
    "image_24",
    "image_32",
    "image_48",
    "image_72",
    "image_192",
    "image_512",
    "image_1024",
    "image_original",
];

/// PostgreSQL and moto with a bucket, or `None` (after the notice) where either is missing.
pub(crate) struct Backends {
    pg: Postgres,
    moto: Moto,
    scratch: tempfile::TempDir,
}

impl Backends {
    pub(crate) fn start() -> Option<Self> {
        let scratch = tempfile::tempdir().unwrap();
        let pg = Postgres::start()?;
        let moto = Moto::start(scratch.path(), "the replica tests")?;
        moto.create_bucket(BUCKET);
        Some(Self { pg, moto, scratch })
    }

    /// The S3 credentials and endpoint, as a replica's environment.
    fn aws(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .to_vec()
    }

    /// What `tests/sdk/run.sh` needs to start its server on these backends.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let mut env = self.aws();
        env.push(("SETPHOTO_DATABASE".to_owned(), self.pg.url().to_owned()));
        env.push((
            "SETPHOTO_STORE".to_owned(),
            format!("s3://{BUCKET}/{PREFIX}"),
        ));
        env
    }

    fn token(&self, user: &str) -> String {
        let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        Store::connect(&self.pg.database())
            .unwrap()
            .create_token(user, DEFAULT_TEAM, &scopes)
            .unwrap()
    }

    /// A `setphoto serve` process on these backends, with `flags` added.
    fn replica(&self, flags: &[&str]) -> Replica {
        let data = tempfile::tempdir_in(self.scratch.path()).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_setphoto"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-access-log",
                "--jobs",
                "1",
            ])
            .arg("--data")
            .arg(data.path())
            .args(["--database", self.pg.url()])
            .args(["--store", &format!("s3://{BUCKET}/{PREFIX}")])
            .args(flags)
            .envs(self.aws());
        let started = start_serve(command, "replica", Duration::from_secs(60));
        // setphoto serve: listening on http://ADDR (API URL/api/, database D, store KIND WHERE)
        assert!(
            started.first.ends_with(&format!(
                "database postgres, store s3 s3://{BUCKET}/{PREFIX})"
            )),
            "{}",
            started.first
        );
        let (child, addr) = (started.child, started.base);
        Replica {
            client: TestServer::at(addr, data),
            child,
        }
    }

    /// Every avatar object of `user` in the bucket (names only).
    fn objects(&self, user: &str) -> BTreeSet<String> {
        let folder = format!("{PREFIX}/avatars/{user}/");
        self.moto
            .keys(BUCKET, &folder)
            .into_iter()
            .map(|key| key.strip_prefix(&folder).unwrap().to_owned())
            .collect()
    }
}

/// A server process and a client of it; killed when dropped.
struct Replica {
    client: TestServer,
    child: Child,
}

impl Replica {
    /// `kill -9`.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl std::ops::Deref for Replica {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.client
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file names of a `profile` object's image URLs (the part after the user folder).
fn file_names(profile: &serde_json::Value) -> BTreeSet<String> {
    IMAGE_KEYS
        .iter()
        .map(|key| {
            let url = profile[key].as_str().unwrap();
            url.rsplit_once('/').unwrap().1.to_owned()
        })
        .collect()
}

/// Asserts every image URL of `user`'s profile, as `via` gives it, resolves through `via`.
fn assert_profile_resolves(via: &TestServer, token: &str) -> serde_json::Value {
    let profile = via.method("users.profile.get", token).json();
    assert_eq!(profile["ok"], true, "{profile}");
    for key in IMAGE_KEYS {
        let url = profile["profile"][key].as_str().unwrap();
        assert!(url.starts_with(&via.base), "{url}");
        let fetched = via.fetch(url);
        assert_eq!(fetched.status, 200, "{url}");
        assert!(!fetched.body.is_empty(), "{url}");
    }
    profile["profile"].clone()
}

#[test]
fn two_replicas_on_postgres_and_s3_share_uploads_order_and_limits() {
    let Some(backends) = Backends::start() else {
        return;
    };
    let first = backends.replica(&["--auth-failures", "3"]);
    let second = backends.replica(&["--auth-failures", "3"]);
    for replica in [&first, &second] {
        let health = replica.get("/healthz").json();
        assert_eq!(health["ok"], true, "{health}");
        assert_eq!(health["database"], "postgres", "{health}");
        assert_eq!(health["store"], "s3", "{health}");
    }
    // The probes leave nothing behind.
    assert!(
        backends
            .moto
            .keys(BUCKET, PREFIX)
            .iter()
            .all(|k| k.starts_with(&format!("{PREFIX}/avatars/"))),
        "{:?}",
        backends.moto.keys(BUCKET, PREFIX)
    );

    // Uploads through one replica read back through the other: profile, info, identity,
    // and the files, byte for byte, with ranges and validators.
    let token = backends.token("U0SHARE");
    let image = testdata("inputs/sample.jpg");
    for (via, other, crop_w) in [(&first, &second, "300"), (&second, &first, "340")] {
        let set = via.set_photo(&token, &image, &[("crop_w", crop_w)]).json();
        assert_eq!(set["ok"], true, "{set}");
        let profile = assert_profile_resolves(other, &token);
        assert_eq!(profile["avatar_hash"], set["profile"]["avatar_hash"]);
        assert_eq!(file_names(&profile), file_names(&set["profile"]));
        let info = other.method("users.info", &token).json();
        assert_eq!(
            info["user"]["profile"]["avatar_hash"], profile["avatar_hash"],
            "{info}"
        );
        let identity = other.method("users.identity", &token).json();
        assert_eq!(
            identity["user"]["image_192"], profile["image_192"],
            "{identity}"
        );
        // The same bytes through either replica.
        let url = profile["image_512"].as_str().unwrap();
        let whole = other.fetch(url);
        let name = url.rsplit_once("/avatars/").unwrap().1;
        let mine = via.get(&format!("/avatars/{name}"));
        assert_eq!(whole.body, mine.body);
        assert_eq!(whole.header("etag"), mine.header("etag"));
        assert_eq!(whole.header("content-type"), Some("image/jpeg"));
        let len = whole.body.len();
        let ranged = ureq::get(url)
            .header("Range", "bytes=10-99")
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap();
        assert_eq!(ranged, whole.body[10..100]);
        let head = ureq::head(url).call().unwrap();
        assert_eq!(
            head.headers()["content-length"].to_str().unwrap(),
            len.to_string()
        );
        let etag = whole.header("etag").unwrap();
        let cached = ureq::get(url)
            .header("If-None-Match", etag)
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap();
        assert_eq!(cached.status(), 304);
    }
    let missing = first.get("/avatars/U0SHARE/0123456789abcdef0123_24.jpg");
    assert_eq!(missing.status, 404);

    // Eight uploads at once for one user, alternating replicas: both agree on one current
    // avatar, one that was acknowledged, and its files resolve through either.
    let racer = backends.token("U0RACE");
    let acknowledged = eight_uploads_at_once((&first, &second), &racer, &image);
    let on_first = assert_profile_resolves(&first, &racer);
    let on_second = assert_profile_resolves(&second, &racer);
    assert_eq!(on_first["avatar_hash"], on_second["avatar_hash"]);
    let hash = on_first["avatar_hash"].as_str().unwrap();
    assert!(
        acknowledged.iter().any(|h| h == hash),
        "{hash} not in {acknowledged:?}"
    );

    // Twenty users.info calls a minute (the default) in all, whichever replica answers.
    let limited = backends.token("U0RATE");
    for i in 0..20 {
        let via = if i % 2 == 0 { &first } else { &second };
        assert_eq!(via.method("users.info", &limited).json()["ok"], true, "{i}");
    }
    for via in [&first, &second] {
        let reply = via.method("users.info", &limited);
        assert_eq!(reply.status, 429);
        assert!(reply.header("retry-after").is_some());
    }
    // Three failed authentications from this address in all, then both refuse it.
    for (i, via) in [&first, &second, &first].into_iter().enumerate() {
        assert_eq!(
            via.method("users.info", &format!("xoxp-guess-{i}")).error(),
            "invalid_auth"
        );
    }
    for via in [&first, &second] {
        assert_eq!(via.method("users.info", "xoxp-guess-9").status, 429);
    }
}

/// One upload through `base`, without panicking when the replica is gone.
fn try_upload(base: &str, token: &str, image: &[u8], crop_w: &str) -> Option<String> {
    let (content_type, body) = multipart(&[
        Part::file("image", "upload.bin", "application/octet-stream", image),
        Part::text("crop_w", crop_w),
    ]);
    let mut response = ureq::post(format!("{base}/api/users.setPhoto"))
        .header("Content-Type", &content_type)
        .header("Authorization", &format!("Bearer {token}"))
        .send(&body[..])
        .ok()?;
    let json: serde_json::Value =
        serde_json::from_slice(&response.body_mut().read_to_vec().ok()?).ok()?;
    (json["ok"] == true).then(|| json["profile"]["avatar_hash"].as_str().unwrap().to_owned())
}

#[test]
fn kill_9_of_one_replica_mid_burst_leaves_the_other_consistent() {
    let Some(backends) = Backends::start() else {
        return;
    };
    // No grace for superseded files, and a short orphan age, so that after the burst the
    // bucket must hold exactly the current avatars' files.
    let flags = ["--rate-limit", "0", "--keep-old", "0", "--orphan-age", "3s"];
    let mut doomed = backends.replica(&flags);
    let survivor = backends.replica(&flags);
    let users = ["U0KILLA", "U0KILLB", "U0KILLC"];
    let tokens: Vec<String> = users.iter().map(|u| backends.token(u)).collect();
    let image = testdata("inputs/sample.jpg");
    // An orphan as a crashed replica leaves it: a file no avatar names.
    backends.moto.put(
        BUCKET,
        &format!("{PREFIX}/avatars/{}/ffffffffffffffffffff_24.jpg", users[0]),
        b"orphan",
    );

    let stop = AtomicBool::new(false);
    let doomed_base = doomed.base.clone();
    let survivor_base = survivor.base.clone();
    let acknowledged = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (stop, tokens, image) = (&stop, &tokens, &image);
                let base = if w % 2 == 0 {
                    &doomed_base
                } else {
                    &survivor_base
                };
                s.spawn(move || {
                    let mut ok = 0;
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let token = &tokens[(w + i) % tokens.len()];
                        let crop = (160 + 8 * ((w * 7 + i) % 30)).to_string();
                        ok += usize::from(try_upload(base, token, image, &crop).is_some());
                        i += 1;
                    }
                    ok
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        doomed.kill();
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .sum::<usize>()
    });
    assert!(acknowledged > 0);

    // The survivor serves every user's current avatar whole.
    let current: Vec<BTreeSet<String>> = tokens
        .iter()
        .map(|token| file_names(&assert_profile_resolves(&survivor, token)))
        .collect();
    // After the orphan age, its sweep leaves exactly the current files in the bucket.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leftover: Vec<(usize, BTreeSet<String>)> = current
            .iter()
            .enumerate()
            .map(|(i, names)| (i, &backends.objects(users[i]) - names))
            .filter(|(_, extra)| !extra.is_empty())
            .collect();
        if leftover.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "orphans left: {leftover:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    for (i, names) in current.iter().enumerate() {
        let stored = backends.objects(users[i]);
        let missing: Vec<_> = names.difference(&stored).collect();
        assert!(missing.is_empty(), "{}: {missing:?}", users[i]);
    }
    let health = survivor.get("/healthz").json();
    assert_eq!(health["ok"], true, "{health}");
}
