//! `setphoto serve --database postgres://...`: a real PostgreSQL server started for the
//! test (`initdb` + `pg_ctl` on a temporary folder and a loopback port), and two server
//! replicas on it.
//!
//! Without PostgreSQL's server binaries the tests print a notice and pass; under CI
//! (`CI=true`) that is a failure (`.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use setphoto::server::{DEFAULT_SCOPES, DEFAULT_TEAM, Database, ServerConfig, Store};

use crate::serve::{TestServer, eight_uploads_at_once};
use crate::util::{skip_or_fail, testdata};

/// A PostgreSQL server of the test's own, stopped when dropped.
pub(crate) struct Postgres {
    bin: PathBuf,
    data: tempfile::TempDir,
    /// `runuser -u postgres --` when the tests run as root (the server refuses root).
    as_user: Vec<String>,
    url: String,
}

impl Postgres {
    /// Starts a server, or `None` (after the notice) where none can run.
    pub(crate) fn start() -> Option<Self> {
        let Some(bin) = server_binaries() else {
            skip_or_fail(
                "PostgreSQL's initdb and pg_ctl were not found",
                "the PostgreSQL store tests",
            );
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        let as_user = if is_root() {
            // The cluster's folder must belong to the user the server runs as.
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.path())
                .status()
                .is_ok_and(|s| s.success());
            if !owned {
                skip_or_fail(
                    "no postgres user to run the server as",
                    "the PostgreSQL store tests",
                );
                return None;
            }
            ["runuser", "-u", "postgres", "--"]
                .map(str::to_owned)
                .to_vec()
        } else {
            Vec::new()
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = data.path().join("cluster");
        let postgres = Self {
            url: format!("postgres://setphoto@127.0.0.1:{port}/postgres"),
            bin,
            data,
            as_user,
        };
        postgres.run(
            "initdb",
            &[
                "-D",
                path_str(&cluster),
                "-U",
                "setphoto",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            path_str(postgres.data.path())
        );
        postgres.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&cluster),
                "-o",
                &options,
                "-l",
                path_str(&postgres.data.path().join("log")),
                "-w",
                "start",
            ],
        );
        Some(postgres)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let (program, before) = match self.as_user.split_first() {
            Some((first, rest)) => (PathBuf::from(first), rest.to_vec()),
            None => (self.bin.join(tool), Vec::new()),
        };
        let mut command = Command::new(program);
        command.args(before);
        if !self.as_user.is_empty() {
            command.arg(self.bin.join(tool));
        }
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub(crate) fn database(&self) -> Database {
        Database::parse(&self.url).unwrap()
    }

    /// The URL replicas are given.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let cluster = self.data.path().join("cluster");
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run(
                "pg_ctl",
                &["-D", path_str(&cluster), "-m", "immediate", "stop"],
            );
        }));
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The folder of `initdb` and `pg_ctl`: on the PATH, or Debian's versioned folder.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

#[test]
fn the_store_migrates_once_and_works_the_same_on_postgres() {
    let Some(pg) = Postgres::start() else { return };
    // Two replicas starting at once apply the schema once between them.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Store::connect(&pg.database()).unwrap());
        let b = s.spawn(|| Store::connect(&pg.database()).unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.engine(), "postgres");
    let token = a
        .create_token("U0PG", DEFAULT_TEAM, &["users:read".to_owned()])
        .unwrap();
    let caller = b.authenticate(&token).unwrap().unwrap();
    assert_eq!(caller.user_id, "U0PG");
    assert!(b.authenticate("xoxp-nope").unwrap().is_none());
    assert!(
        a.create_token("U0PG", "T99999999", &["users:read".to_owned()])
            .is_err()
    );
    b.update_profile(
        "U0PG",
        &[
            ("real_name".into(), "Zoë".into()),
            ("title".into(), "Chief".into()),
        ],
    )
    .unwrap();
    let user = a.user("U0PG").unwrap().unwrap();
    assert_eq!(user.real_name, "Zoë");
    assert_eq!(user.fields["title"], "Chief");
    b.ping().unwrap();
    drop((a, b));
    // A third start finds the schema current.
    Store::connect(&pg.database()).unwrap();
}

/// Two servers on `pg` sharing one data folder (as on a shared volume, until the object
/// store lands), each configured further by `adjust`.
fn replicas(pg: &Postgres, adjust: impl Fn(&mut ServerConfig)) -> (TestServer, TestServer) {
    let first = TestServer::with(|c| {
        c.database = Some(pg.database());
        adjust(c);
    });
    let folder = first.data.path().to_owned();
    let second = TestServer::with(|c| {
        c.database = Some(pg.database());
        c.data_dir = folder;
        adjust(c);
    });
    (first, second)
}

#[test]
fn two_replicas_on_one_postgres_serve_each_others_uploads() {
    let Some(pg) = Postgres::start() else { return };
    let (first, second) = replicas(&pg, |_| {});
    let token = Store::connect(&pg.database())
        .unwrap()
        .create_token(
            "U0TWO",
            DEFAULT_TEAM,
            &DEFAULT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let health = second.get("/healthz").json();
    assert_eq!(health["database"], "postgres", "{health}");

    let mut last_hash = String::new();
    for (i, (via, crop_w)) in [(&first, "300"), (&second, "320"), (&first, "340")]
        .into_iter()
        .enumerate()
    {
        let reply = via.set_photo(
            &token,
            &testdata("inputs/sample.jpg"),
            &[("crop_w", crop_w)],
        );
        let json = reply.json();
        assert_eq!(json["ok"], true, "upload {i}: {json}");
        // Read back through the other replica: the profile and every file.
        let other = if std::ptr::eq(via, &first) {
            &second
        } else {
            &first
        };
        let profile = other.method("users.profile.get", &token).json();
        // Each replica names its own public URL; the files are the same.
        let file = |json: &serde_json::Value, key: &str| {
            let url = json["profile"][key].as_str().unwrap().to_owned();
            url.rsplit_once("/avatars/").unwrap().1.to_owned()
        };
        assert_eq!(
            file(&profile, "image_72"),
            file(&json, "image_72"),
            "upload {i}"
        );
        let url = profile["profile"]["image_192"].as_str().unwrap();
        assert!(url.starts_with(&other.base), "{url}");
        let fetched = other.fetch(url);
        assert_eq!(fetched.status, 200, "{url}");
        last_hash = profile["profile"]["avatar_hash"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let info = second.method("users.info", &token).json();
    assert_eq!(
        info["user"]["profile"]["avatar_hash"],
        last_hash.as_str(),
        "{info}"
    );
}

#[test]
fn concurrent_uploads_for_one_user_through_two_replicas_leave_one_acknowledged_avatar() {
    let Some(pg) = Postgres::start() else { return };
    let (first, second) = replicas(&pg, |c| c.rate_limit_per_minute = 0);
    let scopes: Vec<String> = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    let token = Store::connect(&pg.database())
        .unwrap()
        .create_token("U0RACE", DEFAULT_TEAM, &scopes)
        .unwrap();
    let image = testdata("inputs/sample.jpg");
    // Eight uploads at once, alternating replicas, each a different crop.
    let acknowledged = eight_uploads_at_once((&first, &second), &token, &image);
    // Both replicas agree on one current avatar, one that was acknowledged, and every
    // one of its files resolves through either.
    let on_first = first.method("users.profile.get", &token).json();
    let on_second = second.method("users.profile.get", &token).json();
    let hash = on_first["profile"]["avatar_hash"].as_str().unwrap();
    assert_eq!(on_second["profile"]["avatar_hash"], hash);
    assert!(
        acknowledged.iter().any(|h| h == hash),
        "{hash} not in {acknowledged:?}"
    );
    for server in [&first, &second] {
        let profile = server.method("users.profile.get", &token).json();
        for key in [
            "image_24",
            "image_72",
            "image_192",
            "image_512",
            "image_original",
        ] {
            let url = profile["profile"][key].as_str().unwrap();
            assert_eq!(server.fetch(url).status, 200, "{url}");
        }
    }
}

#[test]
fn rate_limits_hold_across_replicas() {
    let Some(pg) = Postgres::start() else { return };
    let (first, second) = replicas(&pg, |c| {
        c.rate_limit_per_minute = 4;
        c.auth_failures_per_minute = 3;
    });
    let token = Store::connect(&pg.database())
        .unwrap()
        .create_token("U0RATE", DEFAULT_TEAM, &["users:read".to_owned()])
        .unwrap();
    // Four users.info calls a minute in all, whichever replica answers them.
    for via in [&first, &second, &first, &second] {
        assert_eq!(via.method("users.info", &token).json()["ok"], true);
    }
    for via in [&first, &second] {
        let reply = via.method("users.info", &token);
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
