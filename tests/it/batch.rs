//! `setphoto batch`: report lines, outputs, resume, shards, manifests, exit codes.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{fixture_path as fixture, setphoto};

/// `setphoto batch INPUT --out DEST`, the arguments every test starts from.
fn batch<'a>(input: &'a Path, dest: &'a Path) -> [&'a str; 4] {
    [
        "batch",
        input.to_str().unwrap(),
        "--out",
        dest.to_str().unwrap(),
    ]
}

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
    let report = run_ok(&batch(&input, &dest));
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
    let args = batch(&input, &dest);
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
    let args = batch(&input, &dest);
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
        let part = run_ok(&[&batch(&input, &dest)[..], &["--shard", &shard]].concat());
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
    let strict = setphoto(&[&batch(&input, &dest)[..], &["--strict", "--quiet"]].concat());
    assert_eq!(strict.status.code(), Some(1), "a rejection with --strict");
    assert!(strict.stderr.is_empty(), "--quiet prints nothing");
    let plain = setphoto(&batch(&input, &dest));
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
        &batch(&input, &dest)[..],
        &["--report", report.to_str().unwrap()],
    ]
    .concat();
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
        "--allow-outside",
    ]);
    assert_eq!(report["zero"]["error"], "bad_image");
    let message = report["zero"]["message"].as_str().unwrap();
    assert!(message.contains("a device"), "{message}");
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

/// Runs `setphoto` with `args`, killing it after `limit`: a hang fails the test instead of
/// stalling the suite.
#[cfg(unix)]
fn setphoto_within(args: &[&str], limit: std::time::Duration) -> Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("setphoto {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn a_manifest_row_naming_a_fifo_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mkfifo(&dir.join("pipe.jpg"));
    std::fs::copy(fixture("sample.jpg"), dir.join("s.jpg")).unwrap();
    std::fs::write(
        dir.join("m.jsonl"),
        "{\"id\":\"pipe\",\"path\":\"pipe.jpg\"}\n{\"id\":\"good\",\"path\":\"s.jpg\"}\n",
    )
    .unwrap();
    let report = dir.join("report.jsonl");
    let out = setphoto_within(
        &[
            "batch",
            dir.join("m.jsonl").to_str().unwrap(),
            "--out",
            dir.join("o").to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--quiet",
        ],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&report).unwrap();
    let by_id: BTreeMap<String, Value> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(by_id["pipe"]["error"], "bad_image");
    let message = by_id["pipe"]["message"].as_str().unwrap();
    assert!(message.contains("a FIFO"), "{message}");
    assert_eq!(by_id["good"]["ok"], true);
}

#[test]
fn manifest_paths_must_stay_inside_its_folder_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(fixture("sample.jpg"), tmp.path().join("outside.jpg")).unwrap();
    std::fs::copy(fixture("sample.jpg"), dir.join("inside.jpg")).unwrap();
    let absolute = tmp.path().join("outside.jpg");
    let manifest = dir.join("m.csv");
    std::fs::write(
        &manifest,
        format!(
            "id,path\nabs,{}\nup,../outside.jpg\nsneaky,sub/../../outside.jpg\n\
             fine,sub/../inside.jpg\n",
            absolute.display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str], out: &str| {
        let mut args = vec!["batch", manifest.to_str().unwrap(), "--out", out, "--quiet"];
        args.extend(extra);
        run_ok(&args)
    };
    let strict = run(&[], tmp.path().join("o1").to_str().unwrap());
    for id in ["abs", "up", "sneaky"] {
        assert_eq!(strict[id]["error"], "invalid_arguments", "{id}");
        let message = strict[id]["message"].as_str().unwrap();
        assert!(
            message.contains("outside the manifest's folder"),
            "{id}: {message}"
        );
    }
    assert_eq!(strict["fine"]["ok"], true);
    assert!(!tmp.path().join("o1/abs").exists());

    let open = run(
        &["--allow-outside"],
        tmp.path().join("o2").to_str().unwrap(),
    );
    for id in ["abs", "up", "sneaky", "fine"] {
        assert_eq!(open[id]["ok"], true, "{id}: {:?}", open[id]);
    }
}

#[cfg(unix)]
#[test]
fn a_link_in_the_manifest_folder_does_not_lead_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("sample.jpg"), tmp.path().join("outside.jpg")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside.jpg"), dir.join("link.jpg")).unwrap();
    std::fs::write(
        dir.join("m.jsonl"),
        "{\"id\":\"l\",\"path\":\"link.jpg\"}\n",
    )
    .unwrap();
    let report = run_ok(&[
        "batch",
        dir.join("m.jsonl").to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(report["l"]["error"], "invalid_arguments");
}

#[cfg(target_os = "linux")]
#[test]
fn names_differing_only_in_non_utf8_bytes_keep_distinct_ids() {
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for name in [&b"a\xE9.jpg"[..], b"a\xE8.jpg", b"a%E9.jpg"] {
        let path = input.join(std::ffi::OsStr::from_bytes(name));
        std::fs::copy(fixture("sample.jpg"), path).unwrap();
    }
    let dest = tmp.path().join("out");
    let report = run_ok(&[&batch(&input, &dest)[..], &["--quiet"]].concat());
    let ids: Vec<&str> = report.keys().map(String::as_str).collect();
    assert_eq!(ids, ["a%25E9.jpg", "a%E8.jpg", "a%E9.jpg"]);
    for id in ids {
        assert_eq!(report[id]["ok"], true, "{id}");
        assert!(dest.join(id).is_dir(), "{id} has its own folder");
    }
}

/// The report is written line by line as inputs finish: here the manifest is a FIFO fed
/// one row at a time, and the first row's line must be in the report file while the run
/// still waits for the second row.
#[cfg(unix)]
#[test]
fn the_report_is_flushed_per_line() {
    use std::io::Write as _;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(fixture("sample.jpg"), dir.join("s.jpg")).unwrap();
    let manifest = dir.join("m.jsonl");
    mkfifo(&manifest);
    let report = dir.join("report.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_setphoto"))
        .args(["batch", manifest.to_str().unwrap(), "--out"])
        .arg(dir.join("o"))
        .arg("--report")
        .arg(&report)
        .args(["--quiet", "--jobs", "1"])
        .spawn()
        .unwrap();
    // Opening a FIFO for writing waits for its reader: on a thread, so a setphoto that
    // never opens it fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let writer_path = manifest.clone();
    std::thread::spawn(move || {
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        fifo.write_all(b"{\"id\":\"first\",\"path\":\"s.jpg\"}\n")
            .unwrap();
        fifo.flush().unwrap();
        // Hold the FIFO open until told to send the last row.
        let _ = rx.recv();
        let _ = fifo.write_all(b"{\"id\":\"second\",\"path\":\"s.jpg\"}\n");
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        seen = std::fs::read_to_string(&report).unwrap_or_default();
        if seen.contains("\"first\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    let _ = tx.send(());
    let finished = (0..1500).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        child.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = child.kill();
        // Unblock the writer thread if setphoto never opened the FIFO.
        let _ = std::fs::File::open(&manifest);
    }
    assert!(running, "the run ended before its second row was written");
    assert!(
        seen.contains("\"first\""),
        "no line in the report while the run waited: {seen:?}"
    );
    assert!(finished, "setphoto did not finish");
    let text = std::fs::read_to_string(&report).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn leftover_temporary_files_of_a_killed_run_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(fixture("sample.jpg"), input.join("s.jpg")).unwrap();
    let dest = tmp.path().join("out");
    let folder = dest.join("s.jpg");
    std::fs::create_dir_all(&folder).unwrap();
    // What a run killed mid-write leaves: our temporary pattern, written an hour ago.
    let leftover = folder.join(".0123456789abcdef0123_512.jpg.tmp-4242-7");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for path in [
        &leftover,
        &folder.join("user-notes.tmp-1"),
        &folder.join(".keep"),
    ] {
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(hour_ago).unwrap();
    }
    let report = run_ok(&[&batch(&input, &dest)[..], &["--quiet"]].concat());
    assert_eq!(report["s.jpg"]["ok"], true);
    assert!(!leftover.exists(), "the leftover temporary file was swept");
    assert!(
        folder.join("user-notes.tmp-1").exists() && folder.join(".keep").exists(),
        "files not of our pattern stay"
    );
    let names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".tmp-") && n.starts_with('.')),
        "{names:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_budget_smaller_than_every_image_runs_them_one_at_a_time_to_the_end() {
    // Every estimate is over 1 MiB (24 MiB of renditions and encoders alone): each image
    // asks for the whole budget and runs alone; none waits forever.
    let tmp = tempfile::tempdir().unwrap();
    let input = input_folder(tmp.path());
    let dest = tmp.path().join("out");
    let args = [
        &batch(&input, &dest)[..],
        &["--jobs", "4", "--memory", "1MiB"],
    ]
    .concat();
    let out = setphoto_within(&args, std::time::Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0));
    let report = lines(&out);
    assert_eq!(report.len(), 5);
    let done = report.values().filter(|l| l["ok"] == true).count();
    assert_eq!(done, 4, "{report:?}");
}

#[test]
fn a_memory_budget_that_is_not_a_size_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["lots", "12parsecs", "1000"] {
        let out = setphoto(&[
            "batch",
            tmp.path().to_str().unwrap(),
            "--out",
            tmp.path().join("out").to_str().unwrap(),
            "--memory",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
    }
}
