//! Batch inputs: a folder walked recursively, or a JSON Lines / CSV manifest. Both stream:
//! memory grows with one directory listing or one manifest line, not the collection.

use std::fs;
use std::io::{self, BufRead as _, BufReader};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// One image to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// Stable identifier: the path relative to the input folder, or the manifest's `id`.
    pub(crate) id: String,
    /// Where the image is read from.
    pub(crate) path: PathBuf,
    /// The crop fields as written in the manifest.
    pub(crate) crop_x: Option<String>,
    /// See `crop_x`.
    pub(crate) crop_y: Option<String>,
    /// See `crop_x`.
    pub(crate) crop_w: Option<String>,
    /// A manifest's per-row token (`setphoto upload --from` only; `batch` ignores it).
    pub(crate) token: Option<String>,
}

/// A manifest line that could not be read, reported as a rejected input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    /// `line N` of the manifest.
    pub(crate) id: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

/// What an input yields: an item, or a line that names none.
pub(crate) type Entry = Result<Item, BadLine>;

/// Opens `input` as a stream of entries; a folder walk skips the canonical paths in
/// `exclude` (the output folder and the report). A manifest row's path must stay inside
/// the manifest's folder unless `allow_outside`. Errors here fail the whole run.
pub(crate) fn open(
    input: &Path,
    exclude: &[PathBuf],
    allow_outside: bool,
) -> io::Result<Box<dyn Iterator<Item = Entry> + Send>> {
    let meta = fs::metadata(input)?;
    if meta.is_dir() {
        return Ok(Box::new(FolderWalk::new(input, exclude.to_vec())?));
    }
    let parent = input.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let base = Base {
        dir: parent.to_path_buf(),
        // Containment is judged on real paths: a link inside the folder may lead out.
        canonical: (!allow_outside)
            .then(|| fs::canonicalize(parent))
            .transpose()?,
    };
    let ext = input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl" | "ndjson") => {
            let lines = BufReader::new(fs::File::open(input)?).lines();
            Ok(Box::new(lines.enumerate().filter_map(move |(n, line)| {
                let line = match line {
                    Ok(line) if line.trim().is_empty() => return None,
                    Ok(line) => line,
                    Err(e) => return Some(Err(bad_line(n + 1, e))),
                };
                Some(
                    serde_json::from_str::<ManifestRow>(&line)
                        .map_err(|e| bad_line(n + 1, e))
                        .and_then(|row| row.into_item(&base, n + 1)),
                )
            })))
        }
        Some("csv") => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_path(input)
                .map_err(io::Error::other)?;
            let headers = reader.headers().map_err(io::Error::other)?.clone();
            for needed in ["id", "path"] {
                if !headers.iter().any(|h| h == needed) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the CSV manifest has no `{needed}` column"),
                    ));
                }
            }
            Ok(Box::new(
                reader
                    .into_deserialize::<ManifestRow>()
                    .enumerate()
                    .map(move |(n, row)| {
                        // Line numbers count the header as line 1.
                        row.map_err(|e| bad_line(n + 2, e))
                            .and_then(|row| row.into_item(&base, n + 2))
                    }),
            ))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "INPUT must be a folder, a .jsonl manifest or a .csv manifest",
        )),
    }
}

fn bad_line(n: usize, e: impl std::fmt::Display) -> BadLine {
    BadLine {
        id: format!("line {n}"),
        message: e.to_string(),
    }
}

/// A manifest row. Crop values may be written as strings or numbers.
#[derive(Debug, Deserialize)]
struct ManifestRow {
    id: String,
    path: String,
    #[serde(default, deserialize_with = "text_or_number")]
    crop_x: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    crop_y: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    crop_w: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// The folder manifest paths are relative to.
struct Base {
    dir: PathBuf,
    /// Its canonical path when rows must stay inside it (no `--allow-outside`).
    canonical: Option<PathBuf>,
}

impl ManifestRow {
    fn into_item(self, base: &Base, line: usize) -> Result<Item, BadLine> {
        check_id(&self.id).map_err(|m| bad_line(line, m))?;
        let path = base.dir.join(&self.path);
        if let Some(root) = &base.canonical {
            check_inside(&self.path, &path, root).map_err(|message| BadLine {
                id: self.id.clone(),
                message,
            })?;
        }
        Ok(Item {
            id: self.id,
            path,
            crop_x: self.crop_x,
            crop_y: self.crop_y,
            crop_w: self.crop_w,
            token: self.token.filter(|t| !t.is_empty()),
        })
    }
}

/// An id becomes a folder under DEST: it must be a plain relative path.
fn check_id(id: &str) -> Result<(), String> {
    let path = Path::new(id);
    let plain = !id.is_empty()
        && !id.contains('\\')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(format!(
            "id {id:?} must be a relative path without `..`, `.` or a root"
        ))
    }
}

/// Refuses a manifest path that leaves the manifest's folder `root` (canonical): an
/// absolute path, a `..` that climbs above it, or (when `joined` exists) a link that
/// leads out of it. A path that does not exist is left to the read, which reports it.
fn check_inside(written: &str, joined: &Path, root: &Path) -> Result<(), String> {
    let outside = || {
        format!(
            "path {written:?} is outside the manifest's folder \
             (give --allow-outside to read files anywhere)"
        )
    };
    let mut depth = 0usize;
    for component in Path::new(written).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(outside)?,
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    match fs::canonicalize(joined) {
        Ok(real) if !real.starts_with(root) => Err(outside()),
        _ => Ok(()),
    }
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Value>::deserialize(d)? {
        None => None,
        Some(Value::Text(t)) if t.is_empty() => None, // an empty CSV cell
        Some(Value::Text(t)) => Some(t),
        Some(Value::Number(n)) => Some(n.to_string()),
    })
}

/// A depth-first walk of a folder, each directory's entries in name order. Hidden files
/// (a leading `.`) and the `exclude`d paths are skipped. Symbolic links are followed only
/// to files inside the folder; links to directories are never followed, so the walk
/// cannot loop. A folder or entry that cannot be read becomes a rejected line, never a
/// silent gap.
struct FolderWalk {
    root: PathBuf,
    exclude: Vec<PathBuf>,
    /// Directories still to list, and the sorted entries of the ones being read.
    stack: Vec<Vec<PathBuf>>,
}

impl FolderWalk {
    fn new(root: &Path, exclude: Vec<PathBuf>) -> io::Result<Self> {
        let root = fs::canonicalize(root)?;
        let first = sorted_entries(&root)?;
        Ok(Self {
            root,
            exclude,
            stack: vec![first],
        })
    }

    /// The id of a path under the root: its components, each [`escape_name`]d, joined
    /// with `/`.
    fn id(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .components()
            .map(|c| escape_name(c.as_os_str()))
            .collect::<Vec<_>>()
            .join("/")
    }

    fn unreadable(&self, path: &Path, e: &io::Error) -> Entry {
        Err(BadLine {
            id: self.id(path),
            message: format!("cannot read {}: {e}", path.display()),
        })
    }
}

/// A file name as id text, reversibly: UTF-8 is kept, `%` becomes `%25` and each byte
/// that is not UTF-8 becomes `%XX` (upper-case hex). Two names that differ only in such
/// bytes keep distinct ids, where a lossy conversion would give both the same id and the
/// same output folder.
fn escape_name(name: &std::ffi::OsStr) -> String {
    let mut text = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        text.push_str(&chunk.valid().replace('%', "%25"));
        for byte in chunk.invalid() {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    // Reverse order, so `pop` yields them in name order.
    entries.sort_by(|a, b| b.cmp(a));
    Ok(entries)
}

impl Iterator for FolderWalk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(path) = top.pop() else {
                self.stack.pop();
                continue;
            };
            if self.exclude.contains(&path) {
                continue;
            }
            let link_meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) => return Some(self.unreadable(&path, &e)),
            };
            if link_meta.is_dir() {
                match sorted_entries(&path) {
                    Ok(entries) => self.stack.push(entries),
                    Err(e) => return Some(self.unreadable(&path, &e)),
                }
                continue;
            }
            if link_meta.file_type().is_symlink() {
                let inside = fs::canonicalize(&path)
                    .is_ok_and(|target| target.starts_with(&self.root) && target.is_file());
                if !inside {
                    continue;
                }
            } else if !link_meta.is_file() {
                continue;
            }
            return Some(Ok(Item {
                id: self.id(&path),
                path,
                crop_x: None,
                crop_y: None,
                crop_w: None,
                token: None,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_plain_relative_paths() {
        for good in ["a", "a/b.jpg", "team/alice"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "a\\b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_escaped_reversibly() {
        use std::os::unix::ffi::OsStrExt as _;
        let name = |b: &[u8]| escape_name(std::ffi::OsStr::from_bytes(b));
        assert_eq!(name(b"caf\xE9.jpg"), "caf%E9.jpg");
        assert_eq!(name(b"caf\xFF.jpg"), "caf%FF.jpg");
        assert_eq!(name("café 100%.jpg".as_bytes()), "café 100%25.jpg");
        assert_ne!(
            name(b"%E9"),
            name(b"\xE9"),
            "a literal `%` cannot pose as a byte"
        );
    }

    #[test]
    fn manifest_paths_stay_inside_the_manifest_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        for good in ["a.jpg", "sub/a.jpg", "sub/../a.jpg", "./a.jpg"] {
            assert!(
                check_inside(good, &root.join(good), &root).is_ok(),
                "{good}"
            );
        }
        for bad in ["/etc/passwd", "../a.jpg", "sub/../../a.jpg", ".."] {
            let err = check_inside(bad, &root.join(bad), &root).unwrap_err();
            assert!(err.contains("--allow-outside"), "{bad}: {err}");
        }
    }
}
