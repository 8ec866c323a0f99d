//! `setphoto batch --out s3://...` against a real S3-compatible server on loopback:
//! moto's standalone server, installed into the target folder by `tests/s3/moto.sh`.
//!
//! Without python3, pip or the package registry the script exits 77: under CI
//! (`CI=true`) that is a failure; elsewhere the test prints a notice and is skipped.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{self, fixture_path as fixture};

/// moto.sh's "could not be installed here" status.
const EXIT_UNAVAILABLE: i32 = 77;

/// A cold install takes one to two minutes; a hung one must not hang the suite.
const START_LIMIT: Duration = Duration::from_secs(10 * 60);

/// moto on a loopback port, stopped (with its server) on drop.
pub(crate) struct Moto {
    script: Child,
    port: u16,
}

impl Moto {
    /// Installs (once) and starts moto; `None` when it cannot be installed here.
    pub(crate) fn start(scratch: &Path, suite: &str) -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let s3_dir = util::beside_build("s3");
        let portfile = scratch.join("moto.port");
        let mut script = Command::new("bash")
            .arg(root.join("tests/s3/moto.sh"))
            .arg("serve")
            .arg(&portfile)
            .env("SETPHOTO_S3_DIR", &s3_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("bash runs");
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&portfile) {
                let port = text.trim().parse().expect("moto.sh writes a port");
                return Some(Self { script, port });
            }
            if let Some(status) = script.try_wait().unwrap() {
                assert_eq!(
                    status.code(),
                    Some(EXIT_UNAVAILABLE),
                    "moto.sh failed: {status}"
                );
                util::skip_or_fail(
                    "moto (an S3-compatible server) cannot be installed here",
                    suite,
                );
                return None;
            }
            assert!(started.elapsed() < START_LIMIT, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The object `bucket/key`, fetched with a signed request (moto refuses anonymous
    /// reads of objects).
    fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt as _;
        let (store, runtime) = self.client(bucket);
        let path = object_store::path::Path::parse(key).unwrap();
        runtime
            .block_on(async { store.get(&path).await?.bytes().await })
            .unwrap_or_else(|e| panic!("GET {key}: {e}"))
            .to_vec()
    }

    /// Writes the object `bucket/key`.
    pub(crate) fn put(&self, bucket: &str, key: &str, bytes: &'static [u8]) {
        use object_store::ObjectStoreExt as _;
        let (store, runtime) = self.client(bucket);
        let path = object_store::path::Path::parse(key).unwrap();
        runtime
            .block_on(store.put(&path, bytes.into()))
            .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
    }

    /// A signed client of `bucket` and a runtime to drive it.
    fn client(&self, bucket: &str) -> (object_store::aws::AmazonS3, tokio::runtime::Runtime) {
        // As in `setphoto batch`: reqwest has no TLS provider of its own in this build.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_bucket_name(bucket)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (store, runtime)
    }

    /// Every key in `bucket` under `prefix` (moto lists for anonymous callers).
    pub(crate) fn keys(&self, bucket: &str, prefix: &str) -> BTreeSet<String> {
        let xml = ureq::get(format!(
            "{}/{bucket}?list-type=2&max-keys=1000&prefix={prefix}",
            self.endpoint()
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"), "{xml}");
        xml.split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_owned())
            .collect()
    }

    pub(crate) fn create_bucket(&self, bucket: &str) {
        ureq::put(format!("{}/{bucket}", self.endpoint()))
            .send_empty()
            .unwrap();
    }

    /// `setphoto batch` with credentials and endpoint pointing at this server.
    fn batch(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_setphoto"))
            .arg("batch")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // TERM, not KILL: the script's trap stops moto_server too.
        let _ = Command::new("kill")
            .arg(self.script.id().to_string())
            .status();
        let _ = self.script.wait();
    }
}

fn report(out: &Output) -> Vec<Value> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn batch_writes_resumes_and_links_into_an_s3_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(moto) = Moto::start(tmp.path(), "the s3:// batch test") else {
        return;
    };
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("team a")).unwrap();
    std::fs::copy(fixture("sample.jpg"), input.join("sample.jpg")).unwrap();
    std::fs::copy(fixture("alpha_60x40.png"), input.join("team a/alpha.png")).unwrap();
    std::fs::write(input.join("broken.jpg"), b"\xff\xd8\xff not really").unwrap();
    moto.create_bucket("avatars");
    let input = input.to_str().unwrap();

    let first = report(&moto.batch(&[input, "--out", "s3://avatars/run/1/", "--quiet"]));
    assert_eq!(first.len(), 3);
    let mut expected_keys = BTreeSet::new();
    for line in &first {
        let id = line["id"].as_str().unwrap();
        if id == "broken.jpg" {
            assert_eq!(line["ok"], false);
            assert_eq!(line["error"], "bad_image");
            continue;
        }
        assert_eq!(line["ok"], true, "{line}");
        let encoded_id = id.replace(' ', "%20");
        let profile = &line["profile"];
        for file in line["files"].as_array().unwrap() {
            let name = file["name"].as_str().unwrap();
            let key = format!("run/1/{id}/{name}");
            let bytes = moto.get("avatars", &key);
            assert_eq!(bytes.len() as u64, file["bytes"], "{key}");
            if let Some(size) = file["size"].as_u64() {
                let image = image::load_from_memory(&bytes).unwrap();
                assert_eq!((image.width(), image.height()), (size as u32, size as u32));
                let url = format!("s3://avatars/run/1/{encoded_id}/{name}");
                assert_eq!(profile[format!("image_{size}")], url.as_str(), "{line}");
            }
            expected_keys.insert(key);
        }
        // The done-record, written last, is the line itself.
        let stem = name_stem(line);
        let record = moto.get("avatars", &format!("run/1/{id}/{stem}.json"));
        let record: Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(record["profile"], *profile);
        expected_keys.insert(format!("run/1/{id}/{stem}.json"));
    }
    // Exactly the sets and their records: no probe or partial object is left behind.
    assert_eq!(moto.keys("avatars", "run/"), expected_keys);

    // A re-run finds every record and uploads nothing new.
    let second = report(&moto.batch(&[input, "--out", "s3://avatars/run/1", "--quiet"]));
    for line in &second {
        if line["ok"] == true {
            assert_eq!(line["skipped"], true, "{line}");
            let earlier = first.iter().find(|l| l["id"] == line["id"]).unwrap();
            assert_eq!(line["profile"], earlier["profile"]);
        }
    }
    assert_eq!(moto.keys("avatars", "run/"), expected_keys);

    // --base-url puts a CDN in front of the bucket's keys.
    let cdn = report(&moto.batch(&[
        input,
        "--out",
        "s3://avatars/run/1",
        "--base-url",
        "https://cdn.example/av/",
        "--quiet",
    ]));
    let alpha = cdn.iter().find(|l| l["id"] == "team a/alpha.png").unwrap();
    assert!(
        alpha["profile"]["image_24"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.example/av/team%20a/"),
        "{alpha}"
    );

    // A bucket that does not exist fails the run before any input, with exit 3.
    let missing = moto.batch(&[input, "--out", "s3://no-such-bucket/x", "--quiet"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(missing.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("s3://no-such-bucket"), "{stderr}");
}

/// The file stem of a report line's set: its original's name without the extension.
fn name_stem(line: &Value) -> String {
    let files = line["files"].as_array().unwrap();
    let original = files
        .iter()
        .find(|f| f.get("size").is_none_or(Value::is_null))
        .unwrap();
    let name = original["name"].as_str().unwrap();
    let (stem, _) = name.rsplit_once('_').unwrap();
    stem.to_owned()
}
