//! `setphoto serve`: a failed setPhoto leaves no file behind, and superseded files stay
//! served for the grace period (`keep_old`), then the sweeper removes them.

use std::time::{Duration, Instant};

use setphoto::{Policy, SetPhotoRequest};

use crate::serve::TestServer;
use crate::util::testdata;

fn names_in(folder: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_failed_set_photo_removes_what_it_wrote() {
    let server = TestServer::start();
    let token = server.full_token("U0FAIL");
    let image = testdata("inputs/square_300.jpg");
    // The names the upload will get; a folder in place of the last one makes its rename
    // fail after every other file has been written.
    let set = setphoto::process(&SetPhotoRequest::new(image.clone()), &Policy::default()).unwrap();
    let names: Vec<String> = set.files().map(|(name, _)| name).collect();
    let folder = server.data.path().join("avatars/U0FAIL");
    let blocker = folder.join(names.last().unwrap());
    std::fs::create_dir_all(blocker.join("inside")).unwrap();
    assert_eq!(
        server.set_photo(&token, &image, &[]).error(),
        "internal_error"
    );
    assert_eq!(
        names_in(&folder),
        vec![names.last().unwrap().clone()],
        "only the blocker remains"
    );
    // Nothing was recorded: the user still has the placeholder, and once the obstacle is
    // gone the same upload succeeds.
    let read = server.method("users.profile.get", &token).json();
    assert_eq!(read["profile"]["is_custom_image"], false);
    std::fs::remove_dir_all(&blocker).unwrap();
    assert_eq!(server.set_photo(&token, &image, &[]).json()["ok"], true);
    assert_eq!(names_in(&folder).len(), names.len());
}

#[test]
fn superseded_files_stay_served_for_the_grace_then_go() {
    let grace = Duration::from_millis(1500);
    let server = TestServer::with(|c| {
        c.keep_old = grace;
        c.rate_limit_per_minute = 0;
    });
    let token = server.full_token("U0GRACE");
    let first = server
        .set_photo(&token, &testdata("inputs/square_300.jpg"), &[])
        .json();
    let old_url = first["profile"]["image_72"].as_str().unwrap().to_owned();
    let second = server
        .set_photo(&token, &testdata("inputs/sample.jpg"), &[])
        .json();
    let set_at = Instant::now();
    let new_url = second["profile"]["image_72"].as_str().unwrap().to_owned();
    assert_ne!(old_url, new_url);
    // Within the grace the old URL still resolves.
    assert_eq!(server.fetch(&old_url).status, 200);
    let deadline = set_at + grace * 4;
    loop {
        let status = server.fetch(&old_url).status;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the old file outlived its grace");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(set_at.elapsed() >= grace, "removed before its grace passed");
    assert_eq!(server.fetch(&new_url).status, 200, "the current file stays");
    let stem = &new_url.rsplit('/').next().unwrap()[..20];
    let names = names_in(&server.data.path().join("avatars/U0GRACE"));
    assert!(names.iter().all(|n| n.starts_with(stem)), "{names:?}");
}

#[test]
fn a_picture_set_again_within_the_grace_is_not_swept() {
    let grace = Duration::from_millis(600);
    let server = TestServer::with(|c| {
        c.keep_old = grace;
        c.rate_limit_per_minute = 0;
    });
    let token = server.full_token("U0AGAIN");
    let a = testdata("inputs/square_300.jpg");
    let first = server.set_photo(&token, &a, &[]).json();
    server.set_photo(&token, &testdata("inputs/sample.jpg"), &[]);
    // A again: its files are current, no longer superseded.
    let again = server.set_photo(&token, &a, &[]).json();
    assert_eq!(first["profile"]["image_72"], again["profile"]["image_72"]);
    std::thread::sleep(grace * 3);
    for key in ["image_24", "image_72", "image_original"] {
        let url = again["profile"][key].as_str().unwrap();
        assert_eq!(server.fetch(url).status, 200, "{key}");
    }
}

#[test]
fn files_in_their_grace_survive_a_restart() {
    let mut server = TestServer::start();
    let token = server.full_token("U0KEEP");
    let first = server
        .set_photo(&token, &testdata("inputs/square_300.jpg"), &[])
        .json();
    server.set_photo(&token, &testdata("inputs/sample.jpg"), &[]);
    let old = first["profile"]["image_72"].as_str().unwrap().to_owned();
    let file = old.rsplit('/').next().unwrap().to_owned();
    drop(server.server.take());
    // A new server on the same data folder: its start-up sweep keeps the file.
    let mut config = setphoto::server::ServerConfig::new(server.data.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let again = setphoto::server::Server::start(config).unwrap();
    server.base = again.public_url().to_owned();
    server.server = Some(again);
    let reply = server.get(&format!("/avatars/U0KEEP/{file}"));
    assert_eq!(
        reply.status, 200,
        "the start-up sweep kept a file in its grace"
    );
}
