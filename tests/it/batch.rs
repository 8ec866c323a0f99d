//! `setphoto batch`: report lines, outputs, resume, shards, manifests, exit codes.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{fixture_path as fixture, setphoto};

/// A folder with good images, a duplicate, a non-image and a nested folder.
fn input_folder(root: &Path) -> PathBuf {
    let dir = root.join("in");
    std::fs::create_dir_all(dir.join("team")).unwrap();
    for name in ["sample.jpg", "alpha_60x40.png", "transparent.gif"] {
        std::fs::copy(fixture(name), dir.join(name)).unwrap();
    }
    std::fs::copy(fixture("sample.jpg"), dir.join("team/copy.jpg")).unwrap();
    std::fs::write(dir.join("team/notes.txt"), b"not a picture").unwrap();
    std::fs::write(dir.join(".hidden.jpg"), b"skipped").unwrap();
    dir
}

/// The report lines by id.
fn lines(out: &Output) -> BTreeMap<String, Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn run_ok(args: &[&str]) -> BTreeMap<String, Value> {
    let out = setphoto(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out)
}

#[test]
fn a_folder_gives_one_line_per_input_and_files_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = tmp.path().join("out");
    let report = run_ok(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ]);
    let ids: Vec<&str> = report.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "alpha_60x40.png",
            "sample.jpg",
            "team/copy.jpg",
            "team/notes.txt",
            "transparent.gif"
        ]
    );
    assert_eq!(report["team/notes.txt"]["ok"], false);
    assert_eq!(report["team/notes.txt"]["error"], "bad_image");
    assert_eq!(
        report["sample.jpg"]["profile"]["avatar_hash"],
        report["team/copy.jpg"]["profile"]["avatar_hash"],
        "duplicates get the same hash"
    );
    for id in [
        "alpha_60x40.png",
        "sample.jpg",
        "team/copy.jpg",
        "transparent.gif",
    ] {
        let line = &report[id];
        assert_eq!(line["ok"], true, "{id}");
        assert!(line["elapsed_ms"].is_u64());
        let files = line["files"].as_array().unwrap();
        assert!(files.len() >= 2, "{id}");
        for f in files {
            let path = dest.join(id).join(f["name"].as_str().unwrap());
            let len = std::fs::metadata(&path).unwrap().len();
            assert_eq!(len, f["bytes"].as_u64().unwrap(), "{}", path.display());
        }
        let url = line["profile"]["image_24"].as_str().unwrap();
        let path = url::Url::parse(url).unwrap().to_file_path().unwrap();
        assert!(
            path.starts_with(dest.canonicalize().unwrap().join(id)),
            "{url}"
        );
    }
}

#[test]
fn a_resumed_run_redoes_nothing_and_force_redoes_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = tmp.path().join("out");
    let args = [
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ];
    let first = run_ok(&args);
    let modified = |id: &str| {
        std::fs::read_dir(dest.join(id))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
            .max()
            .unwrap()
    };
    let before = modified("sample.jpg");
    let second = run_ok(&args);
    for (id, line) in &second {
        if line["ok"] == true {
            assert_eq!(line["skipped"], true, "{id}");
            assert_eq!(line["profile"], first[id]["profile"], "{id}");
        } else {
            assert!(
                line.get("skipped").is_none(),
                "rejections are retried: {id}"
            );
        }
    }
    assert_eq!(modified("sample.jpg"), before, "no file was rewritten");

    // Skipped inputs report where their files are reached from now.
    let moved = run_ok(&[&args[..], &["--base-url", "https://cdn.example/a b/"]].concat());
    let line = &moved["team/copy.jpg"];
    assert_eq!(line["skipped"], true);
    let url = line["profile"]["image_512"].as_str().unwrap();
    let name = first["team/copy.jpg"]["profile"]["image_512"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .1;
    assert_eq!(url, format!("https://cdn.example/a b/team/copy.jpg/{name}"));

    let forced = run_ok(&[&args[..], &["--force"]].concat());
    assert!(forced.values().all(|l| l.get("skipped").is_none()));
}

#[test]
fn an_interrupted_input_is_redone() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = tmp.path().join("out");
    let args = [
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ];
    let first = run_ok(&args);
    // As if killed before the done-record was renamed into place.
    let stem = first["sample.jpg"]["files"][0]["name"].as_str().unwrap()[..20].to_owned();
    let record = dest.join("sample.jpg").join(format!("{stem}.json"));
    std::fs::rename(
        &record,
        dest.join("sample.jpg").join(format!(".{stem}.json.tmp-1")),
    )
    .unwrap();
    let second = run_ok(&args);
    assert!(second["sample.jpg"].get("skipped").is_none(), "redone");
    assert_eq!(second["alpha_60x40.png"]["skipped"], true);
    assert!(record.is_file(), "the record is back");
}

#[test]
fn shards_cover_every_input_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    for i in 0..20 {
        std::fs::write(input.join(format!("junk-{i}.bin")), b"x").unwrap();
    }
    let all = run_ok(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        tmp.path().join("all").to_str().unwrap(),
    ]);
    let mut seen: Vec<String> = Vec::new();
    for k in 0..3 {
        let shard = format!("{k}/3");
        let dest = tmp.path().join(format!("shard{k}"));
        let part = run_ok(&[
            "batch",
            input.to_str().unwrap(),
            "--out",
            dest.to_str().unwrap(),
            "--shard",
            &shard,
        ]);
        assert!(
            !part.is_empty() && part.len() < all.len(),
            "shard {shard} has {}",
            part.len()
        );
        seen.extend(part.into_keys());
    }
    seen.sort();
    let expected: Vec<String> = all.into_keys().collect();
    assert_eq!(seen, expected);
    for bad in ["3/3", "1/0", "x/2", "1"] {
        let out = setphoto(&[
            "batch",
            input.to_str().unwrap(),
            "--out",
            "o",
            "--shard",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

#[test]
fn manifests_carry_ids_paths_and_crops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(fixture("sample.jpg"), dir.join("s.jpg")).unwrap();
    std::fs::write(
        dir.join("m.csv"),
        "id,path,crop_x,crop_y,crop_w\nalice,s.jpg,10,20,100\nbob,s.jpg,,,\ncarol,missing.jpg,,,\n\
         dave,s.jpg,,,0\n../evil,s.jpg,,,\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("m.jsonl"),
        "{\"id\":\"alice\",\"path\":\"s.jpg\",\"crop_x\":10,\"crop_y\":\"20\",\"crop_w\":100}\n\
         {\"id\":\"bob\",\"path\":\"s.jpg\"}\n\nnot json\n",
    )
    .unwrap();
    let csv = run_ok(&[
        "batch",
        dir.join("m.csv").to_str().unwrap(),
        "--out",
        dir.join("o1").to_str().unwrap(),
    ]);
    assert_eq!(csv["alice"]["ok"], true);
    assert_eq!(
        csv["alice"]["files"][0]["size"], 72,
        "a 100 px box makes 72 and below"
    );
    assert_eq!(csv["bob"]["ok"], true);
    assert_ne!(
        csv["alice"]["profile"]["avatar_hash"],
        csv["bob"]["profile"]["avatar_hash"]
    );
    assert_eq!(csv["carol"]["error"], "bad_image");
    assert_eq!(csv["dave"]["error"], "invalid_arguments");
    assert_eq!(csv["line 6"]["error"], "invalid_arguments", "{csv:?}");
    assert!(!dir.join("evil").exists());

    let jsonl = run_ok(&[
        "batch",
        dir.join("m.jsonl").to_str().unwrap(),
        "--out",
        dir.join("o2").to_str().unwrap(),
    ]);
    assert_eq!(
        jsonl["alice"]["profile"]["avatar_hash"],
        csv["alice"]["profile"]["avatar_hash"]
    );
    assert_eq!(jsonl["bob"]["ok"], true);
    assert_eq!(jsonl["line 4"]["error"], "invalid_arguments");
}

#[test]
fn exit_status_follows_the_written_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = tmp.path().join("out");
    let strict = setphoto(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
        "--strict",
        "--quiet",
    ]);
    assert_eq!(strict.status.code(), Some(1), "a rejection with --strict");
    assert!(strict.stderr.is_empty(), "--quiet prints nothing");
    let plain = setphoto(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(plain.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        stderr.contains("images/s") && stderr.contains("p99"),
        "{stderr}"
    );

    let missing = setphoto(&[
        "batch",
        tmp.path().join("nope.csv").to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(3));
    let bad_header = tmp.path().join("bad.csv");
    std::fs::write(&bad_header, "name,file\na,b\n").unwrap();
    let out = setphoto(&[
        "batch",
        bad_header.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let a_file = tmp.path().join("a-file");
    std::fs::write(&a_file, b"").unwrap();
    let out = setphoto(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        a_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "output not writable");
}

#[test]
fn an_output_folder_inside_the_input_is_never_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = input.join("avatars");
    let report = input.join("report.jsonl");
    let args = [
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    for _ in 0..2 {
        let out = setphoto(&args);
        assert_eq!(out.status.code(), Some(0));
        let text = std::fs::read_to_string(&report).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        assert!(
            ids.iter()
                .all(|id| !id.starts_with("avatars") && id != "report.jsonl"),
            "{ids:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_manifest_naming_a_device_gets_a_line_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("m.jsonl");
    std::fs::write(&manifest, "{\"id\":\"zero\",\"path\":\"/dev/zero\"}\n").unwrap();
    let report = run_ok(&[
        "batch",
        manifest.to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(report["zero"]["error"], "bad_image");
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_input_tree_are_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let outside = tmp.path().join("outside.jpg");
    std::fs::copy(fixture("sample.jpg"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, input.join("link-out.jpg")).unwrap();
    std::os::unix::fs::symlink(input.join("sample.jpg"), input.join("link-in.jpg")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), input.join("loop")).unwrap();
    let report = run_ok(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert!(!report.contains_key("link-out.jpg"));
    assert_eq!(report["link-in.jpg"]["ok"], true);
    assert!(!report.keys().any(|k| k.starts_with("loop")));
}
