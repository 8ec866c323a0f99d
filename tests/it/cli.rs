//! `setphoto process` as a user runs it: exit codes, JSON on stdout, files on disk.

#![cfg(feature = "cli")]

use std::process::Output;

use crate::util::{fixture_path, setphoto, validate_schema};

/// A fixture's path as a command-line argument.
fn fixture(name: &str) -> String {
    fixture_path(name).to_string_lossy().into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line on stdout: {text:?}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn process_writes_the_set_and_prints_the_success_body() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("my avatars");
    let out = setphoto(&[
        "process",
        &fixture("sample.jpg"),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = json(&out);
    assert_eq!(body["ok"], true);
    if let Some(result) = validate_schema("users.setPhoto.response.json", &body) {
        result.unwrap();
    }
    let profile = body["profile"].as_object().unwrap();
    let stem_prefix = profile["avatar_hash"].as_str().unwrap();
    for (key, url) in profile.iter().filter(|(k, _)| k.starts_with("image_")) {
        let url = url::Url::parse(url.as_str().unwrap()).unwrap();
        assert_eq!(url.scheme(), "file");
        let path = url.to_file_path().unwrap();
        assert!(path.is_file(), "{key}: {} is missing", path.display());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(stem_prefix), "{name}");
        let size = key.trim_start_matches("image_");
        let expected_suffix = match size {
            "original" => "_original.jpg".to_owned(),
            "1024" | "512" => "_512.jpg".to_owned(), // 640x480 letterboxed: 640 square
            s => format!("_{s}.jpg"),
        };
        assert!(name.ends_with(&expected_suffix), "{key} -> {name}");
    }
    let original = std::fs::read(
        url::Url::parse(profile["image_original"].as_str().unwrap())
            .unwrap()
            .to_file_path()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(original, std::fs::read(fixture("sample.jpg")).unwrap());
}

#[test]
fn base_url_and_crop_flags_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let out = setphoto(&[
        "process",
        &fixture("sample.jpg"),
        "--out",
        dir.path().to_str().unwrap(),
        "--base-url",
        "https://cdn.example/av/",
        "--crop-x",
        "10",
        "--crop-w",
        "200",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let body = json(&out);
    let url = body["profile"]["image_192"].as_str().unwrap();
    assert!(
        url.starts_with("https://cdn.example/av/") && url.ends_with("_192.jpg"),
        "{url}"
    );
    assert!(
        body["profile"]["image_512"]
            .as_str()
            .unwrap()
            .ends_with("_192.jpg")
    );
}

#[test]
fn the_original_is_cleaned_unless_metadata_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("padded.jpg");
    let mut bytes = std::fs::read(fixture("exif6.jpg")).unwrap();
    let picture_len = bytes.len();
    bytes.extend(b"TRAILING-SECRET");
    std::fs::write(&upload, &bytes).unwrap();
    let original_of = |extra: &[&str]| {
        let out_dir = dir.path().join(format!("out{}", extra.len()));
        let out = setphoto(
            &[
                &["process", upload.to_str().unwrap(), "--out"][..],
                &[out_dir.to_str().unwrap()],
                extra,
            ]
            .concat(),
        );
        assert_eq!(out.status.code(), Some(0), "{extra:?}");
        let body = json(&out);
        let url = url::Url::parse(body["profile"]["image_original"].as_str().unwrap()).unwrap();
        let hash = body["profile"]["avatar_hash"].as_str().unwrap().to_owned();
        (std::fs::read(url.to_file_path().unwrap()).unwrap(), hash)
    };
    let (cleaned, hash) = original_of(&[]);
    assert_eq!(cleaned, bytes[..picture_len]);
    let (kept, kept_hash) = original_of(&["--keep-original-metadata"]);
    assert_eq!(kept, bytes);
    assert_eq!(kept_hash, hash);
}

#[test]
fn the_jpeg_effort_flag_names_another_set_of_fewer_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |effort: &str| {
        let out_dir = dir.path().join(effort);
        let out = setphoto(&[
            "process",
            &fixture("sample.jpg"),
            "--out",
            out_dir.to_str().unwrap(),
            "--jpeg-effort",
            effort,
        ]);
        assert_eq!(out.status.code(), Some(0), "{effort}");
        let body = json(&out);
        let hash = body["profile"]["avatar_hash"].as_str().unwrap().to_owned();
        let url = url::Url::parse(body["profile"]["image_192"].as_str().unwrap()).unwrap();
        (
            hash,
            std::fs::metadata(url.to_file_path().unwrap())
                .unwrap()
                .len(),
        )
    };
    let (standard_hash, standard_bytes) = run("standard");
    let (smallest_hash, smallest_bytes) = run("smallest");
    assert_ne!(standard_hash, smallest_hash);
    assert!(
        smallest_bytes < standard_bytes,
        "{smallest_bytes} >= {standard_bytes}"
    );
    assert_eq!(
        setphoto(&["process", &fixture("sample.jpg"), "--jpeg-effort", "most"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn refused_images_print_the_error_body_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let not_an_image = dir.path().join("photo.jpg");
    std::fs::write(&not_an_image, b"<html>not a picture</html>").unwrap();
    let out = setphoto(&[
        "process",
        not_an_image.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json(&out),
        serde_json::json!({"ok": false, "error": "bad_image"})
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).is_empty(),
        "a message on stderr"
    );

    for crop in [
        &["--crop-w", "abc"][..],
        &["--crop-x", "-1", "--crop-w", "10"],
        &["--crop-y", "3"],
    ] {
        let out = setphoto(&[&["process", &fixture("sample.jpg")][..], crop].concat());
        assert_eq!(out.status.code(), Some(1), "{crop:?}");
        assert_eq!(json(&out)["error"], "invalid_arguments", "{crop:?}");
    }

    let out = setphoto(&[
        "process",
        &fixture("sample.jpg"),
        "--policy",
        "documented",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "640x480 is within the documented policy"
    );
    let out = setphoto(&[
        "process",
        &fixture("wide_4000x10.png"),
        "--policy",
        "documented",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"], "too_large");
}

#[test]
fn oversized_files_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jpg");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(21 * 1024 * 1024).unwrap(); // sparse: nothing is written or read
    let out = setphoto(&[
        "process",
        big.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"], "too_large");
}

#[cfg(unix)]
#[test]
fn a_device_is_not_read_forever() {
    let out = setphoto(&["process", "/dev/zero"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "not a regular file: a usage error"
    );
}

/// A FIFO is refused from its metadata, never opened: opening one for reading would wait
/// for a writer forever. A folder is refused the same way.
#[cfg(unix)]
#[test]
fn a_fifo_or_a_folder_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("upload.jpg");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    for (path, kind) in [(fifo.as_path(), "a FIFO"), (dir.path(), "a folder")] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
            .arg("process")
            .arg(path)
            .arg("--out")
            .arg(dir.path().join("out"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("setphoto process {} hung", path.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{kind}: a usage error");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(kind), "{stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["process"][..],
        &["process", "/no/such/file.jpg"],
        &["process", "x.jpg", "--no-such-flag"],
        &["frobnicate"],
        &["process", "x.jpg", "--policy", "lenient"],
    ] {
        let out = setphoto(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_shows_an_example_for_each_subcommand() {
    let out = setphoto(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("setphoto process "));
    let out = setphoto(&["process", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Example:") && text.contains("setphoto process "),
        "{text}"
    );
}
