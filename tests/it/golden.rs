//! Golden vectors, both rewritten by `SETPHOTO_BLESS=1 cargo test --all-features --test it
//! golden` after a deliberate change:
//! - `testdata/golden/hashes.tsv` pins `avatar_hash` for inputs and crop boxes;
//! - `testdata/golden/renditions.tsv` pins the SHA-256 of every rendition's bytes for every
//!   fixture in `testdata/inputs`, cropped, letterboxed and upscaled, with the
//!   `RENDER_VERSION` it was blessed at. The avatar hash is computed before decoding, so only
//!   this file notices a change of output bytes; served files are cached as immutable and
//!   batch skips by hash, so such a change must come with a `RENDER_VERSION` bump.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use setphoto::{Policy, RENDER_VERSION, SetPhotoRequest};
use sha2::{Digest as _, Sha256};

use crate::util::testdata;

/// One golden row: input, crop_x, crop_y, crop_w, upscale.
type Case = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    bool,
);

const CASES: &[Case] = &[
    ("inputs/sample.jpg", None, None, None, false),
    (
        "inputs/sample.jpg",
        Some("10"),
        Some("20"),
        Some("300"),
        false,
    ),
    ("inputs/sample.jpg", None, None, Some("100000"), false),
    ("inputs/sample.jpg", None, None, None, true),
    (
        "inputs/exif6.jpg",
        Some("20"),
        Some("30"),
        Some("240"),
        false,
    ),
    ("inputs/alpha_60x40.png", None, None, None, false),
    ("inputs/transparent.gif", None, None, None, false),
    ("inputs/tiny_1x1.png", None, None, None, true),
];

fn table() -> String {
    let mut out = String::from("input\tcrop_x\tcrop_y\tcrop_w\tupscale\tavatar_hash\n");
    for &(file, x, y, w, upscale) in CASES {
        let request = SetPhotoRequest::from_form(testdata(file), x, y, w).unwrap();
        let prepared =
            setphoto::prepare(&request, &Policy::default().with_upscale(upscale)).unwrap();
        let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
        writeln!(
            out,
            "{file}\t{}\t{}\t{}\t{upscale}\t{}",
            dash(x),
            dash(y),
            dash(w),
            prepared.avatar_hash()
        )
        .unwrap();
    }
    out
}

#[test]
fn avatar_hashes_match_the_golden_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/hashes.tsv");
    let actual = table();
    if std::env::var_os("SETPHOTO_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual, expected,
        "hash vectors changed; if deliberate, bump RENDER_VERSION and bless"
    );
}

#[test]
fn a_change_of_crop_or_quality_changes_the_hash() {
    let bytes = testdata("inputs/sample.jpg");
    let hash = |request: SetPhotoRequest, policy: Policy| {
        setphoto::prepare(&request, &policy).unwrap().avatar_hash()
    };
    let base = hash(
        SetPhotoRequest::new(bytes.clone()).crop(0, 0, 100),
        Policy::default(),
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(1, 0, 100),
            Policy::default()
        )
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 101),
            Policy::default()
        )
    );
    assert_ne!(
        base,
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 100),
            Policy::default().with_jpeg_quality(86)
        )
    );
    // Boxes that clamp to the same square are the same avatar.
    assert_eq!(
        hash(
            SetPhotoRequest::new(bytes.clone()).crop(0, 0, 480),
            Policy::default()
        ),
        hash(
            SetPhotoRequest::new(bytes).crop(0, 0, 9999),
            Policy::default()
        )
    );
}

/// The command that rewrites the goldens, quoted in failure messages.
const BLESS: &str = "SETPHOTO_BLESS=1 cargo test --all-features --test it golden";

/// Where the rendition golden lives, relative to the manifest directory.
const RENDITIONS: &str = "testdata/golden/renditions.tsv";

/// A crop box `(x, y, side)` in oriented coordinates for every fixture in
/// `testdata/inputs`: inside the picture, off centre and smaller than it, so that the crop
/// is neither clamped nor the whole image.
const CROPS: &[(&str, (u32, u32, u32))] = &[
    ("alpha_60x40.png", (10, 5, 30)),
    ("exif6.jpg", (20, 30, 240)),
    ("large_2560x2048_progressive.jpg", (300, 200, 1500)),
    ("opaque.gif", (4, 2, 20)),
    ("sample.jpg", (10, 20, 300)),
    ("square_300.jpg", (50, 40, 200)),
    ("tiny_1x1.png", (0, 0, 1)),
    ("transparent.gif", (4, 2, 20)),
    ("wide_4000x10.png", (1000, 0, 10)),
];

/// How a fixture is rendered for the golden.
const MODES: [&str; 3] = ["crop", "letterbox", "upscale"];

/// A rendition's identity in the golden: fixture, mode, size.
type Key = (String, String, u32);

/// A rendition's recorded output: format extension and SHA-256 of its bytes.
type Output = (String, String);

/// The rendition golden as recorded or as made now.
struct Golden {
    render_version: u32,
    rows: BTreeMap<Key, Output>,
}

/// The request and policy for `fixture` in `mode`.
fn rendition_request(fixture: &str, bytes: Vec<u8>, mode: &str) -> (SetPhotoRequest, Policy) {
    let request = SetPhotoRequest::new(bytes);
    match mode {
        "crop" => {
            let &(_, (x, y, side)) = CROPS
                .iter()
                .find(|(name, _)| *name == fixture)
                .unwrap_or_else(|| panic!("give testdata/inputs/{fixture} a crop box in CROPS"));
            (request.crop(x, y, side), Policy::default())
        }
        "letterbox" => (request, Policy::default()),
        "upscale" => (request, Policy::default().with_upscale(true)),
        other => unreachable!("unknown mode {other}"),
    }
}

/// Renders every fixture in every mode through the public API.
fn current_renditions() -> Golden {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inputs");
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    fixtures.sort();
    for (name, _) in CROPS {
        assert!(
            fixtures.iter().any(|f| f == name),
            "CROPS names {name}, which is not in testdata/inputs"
        );
    }
    let mut rows = BTreeMap::new();
    for fixture in &fixtures {
        let bytes = testdata(&format!("inputs/{fixture}"));
        for mode in MODES {
            let (request, policy) = rendition_request(fixture, bytes.clone(), mode);
            let set = setphoto::process(&request, &policy)
                .unwrap_or_else(|e| panic!("{fixture} {mode}: {e}"));
            for r in set.renditions() {
                let sha = hex::encode(Sha256::digest(r.bytes()));
                let key = (fixture.clone(), mode.to_owned(), r.size());
                let previous = rows.insert(key, (r.format().extension().to_owned(), sha));
                assert!(
                    previous.is_none(),
                    "{fixture} {mode}: two {} px renditions",
                    r.size()
                );
            }
        }
    }
    Golden {
        render_version: RENDER_VERSION,
        rows,
    }
}

impl Golden {
    /// The file's text: a comment, the version line, a header, one row per rendition.
    fn to_tsv(&self) -> String {
        let mut out = format!(
            "# SHA-256 of every rendition's bytes; rewrite with `{BLESS}`.\n\
             render_version\t{}\n\
             fixture\tmode\tsize\tformat\tsha256\n",
            self.render_version
        );
        for ((fixture, mode, size), (format, sha)) in &self.rows {
            writeln!(out, "{fixture}\t{mode}\t{size}\t{format}\t{sha}").unwrap();
        }
        out
    }

    /// Reads the file written by [`Golden::to_tsv`].
    fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().filter(|l| !l.starts_with('#'));
        let render_version = lines
            .next()
            .and_then(|l| l.strip_prefix("render_version\t"))
            .and_then(|v| v.parse().ok())
            .ok_or("no `render_version<TAB>N` line")?;
        if lines.next() != Some("fixture\tmode\tsize\tformat\tsha256") {
            return Err("no header line after the version".into());
        }
        let mut rows = BTreeMap::new();
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            let [fixture, mode, size, format, sha] = fields[..] else {
                return Err(format!("not five fields: {line:?}"));
            };
            let size = size.parse().map_err(|_| format!("bad size: {line:?}"))?;
            rows.insert(
                (fixture.to_owned(), mode.to_owned(), size),
                (format.to_owned(), sha.to_owned()),
            );
        }
        Ok(Self {
            render_version,
            rows,
        })
    }

    /// Checks `actual` against this recorded golden; the error says what to do.
    fn check(&self, actual: &Self) -> Result<(), String> {
        if actual.render_version != self.render_version {
            return Err(format!(
                "RENDER_VERSION is {} but {RENDITIONS} was blessed at {}: re-bless with \
                 `{BLESS}` and commit the golden with the bump",
                actual.render_version, self.render_version
            ));
        }
        let mut changed = Vec::new();
        let mut added = Vec::new();
        for (key @ (fixture, mode, size), output) in &actual.rows {
            match self.rows.get(key) {
                Some(recorded) if recorded == output => {}
                Some((format, sha)) => changed.push(format!(
                    "{fixture} {mode} {size} px: was {format} {sha}, now {} {}",
                    output.0, output.1
                )),
                None => added.push(format!("{fixture} {mode} {size} px: not in the golden")),
            }
        }
        for (fixture, mode, size) in self.rows.keys() {
            if !actual
                .rows
                .contains_key(&(fixture.clone(), mode.clone(), *size))
            {
                changed.push(format!("{fixture} {mode} {size} px: no longer made"));
            }
        }
        if !changed.is_empty() {
            changed.extend(added);
            return Err(format!(
                "output bytes changed without a RENDER_VERSION bump (still {}), {} of {} \
                 renditions differ:\n  {}\nIf the change is deliberate, bump RENDER_VERSION \
                 (src/hash.rs) and re-bless with `{BLESS}`; if not, it is a regression",
                self.render_version,
                changed.len(),
                actual.rows.len(),
                changed.join("\n  ")
            ));
        }
        if !added.is_empty() {
            return Err(format!(
                "renditions missing from {RENDITIONS} (a new fixture?):\n  {}\nRecord them \
                 with `{BLESS}`",
                added.join("\n  ")
            ));
        }
        Ok(())
    }
}

#[test]
fn rendition_bytes_match_the_golden_at_this_render_version() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(RENDITIONS);
    let actual = current_renditions();
    if std::env::var_os("SETPHOTO_BLESS").is_some() {
        std::fs::write(&path, actual.to_tsv()).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{RENDITIONS}: {e}; create it with `{BLESS}`"));
    let recorded = Golden::parse(&text).unwrap_or_else(|e| panic!("{RENDITIONS}: {e}"));
    if let Err(message) = recorded.check(&actual) {
        panic!("{message}");
    }
}

#[test]
fn the_rendition_golden_names_a_changed_rendition_and_a_version_mismatch() {
    let golden = |version: u32, sha: &str| Golden {
        render_version: version,
        rows: BTreeMap::from([
            (
                ("a.png".to_owned(), "crop".to_owned(), 24),
                ("png".to_owned(), "aa".to_owned()),
            ),
            (
                ("b.jpg".to_owned(), "upscale".to_owned(), 512),
                ("jpg".to_owned(), sha.to_owned()),
            ),
        ]),
    };
    let recorded = Golden::parse(&golden(7, "bb").to_tsv()).unwrap();
    assert_eq!(recorded.check(&golden(7, "bb")), Ok(()));

    let changed = recorded.check(&golden(7, "cc")).unwrap_err();
    assert!(
        changed.contains("output bytes changed without a RENDER_VERSION bump")
            && changed.contains("b.jpg upscale 512 px")
            && !changed.contains("a.png"),
        "{changed}"
    );

    let bumped = recorded.check(&golden(8, "cc")).unwrap_err();
    assert!(
        bumped.contains("RENDER_VERSION is 8") && bumped.contains("blessed at 7"),
        "{bumped}"
    );
    assert!(bumped.contains("re-bless"), "{bumped}");

    let mut fewer = golden(7, "bb");
    fewer.rows.retain(|(fixture, _, _), _| fixture == "a.png");
    let vanished = recorded.check(&fewer).unwrap_err();
    assert!(
        vanished.contains("b.jpg upscale 512 px: no longer made"),
        "{vanished}"
    );
    let added = Golden::parse(&fewer.to_tsv())
        .unwrap()
        .check(&golden(7, "bb"))
        .unwrap_err();
    assert!(
        added.contains("b.jpg upscale 512 px: not in the golden")
            && !added.contains("without a RENDER_VERSION bump"),
        "{added}"
    );
}
