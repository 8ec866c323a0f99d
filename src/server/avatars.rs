//! Avatar files: one folder per user under `avatars/`, plus the shared placeholder sets
//! under `avatars/default/`, in the data folder or in an S3 bucket (`--store`), with the
//! same layout in both.
//!
//! Files are named by the set's stem (`<20 hex>_<size>.<ext>`), so a URL names one picture
//! forever and can be cached for a year; a new picture gets new names. A bucket's objects
//! are visible only once complete, as the folder's files are (written to a temporary name
//! and renamed).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::atomic::{is_temporary, write_atomically};
use crate::profile::Profile;
use crate::server::store::{StoredAvatar, id_hash};
use crate::{ImageSet, Policy, RENDITION_SIZES, SetPhotoRequest};

/// What [`AvatarFiles::write_set`] wrote.
#[derive(Debug)]
pub struct Written {
    /// The avatar, as the database records it.
    pub avatar: StoredAvatar,
    /// The files that did not exist before (removed again if the call fails).
    pub created: Vec<String>,
}

/// The folder, under the avatars root, that holds the placeholder sets. Not a valid user
/// id (those are upper-case), so it never collides with a user's folder.
pub const PLACEHOLDER_DIR: &str = "default";

/// The profile keys, in response order, and the size each stands for (0: the original).
pub const IMAGE_KEYS: [(&str, u32); 8] = [
    ("image_24", 24),
    ("image_32", 32),
    ("image_48", 48),
    ("image_72", 72),
    ("image_192", 192),
    ("image_512", 512),
    ("image_1024", 1024),
    ("image_original", 0),
];

/// Where the avatar files are kept (`setphoto serve --store`); both hold
/// `avatars/<user>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStore {
    /// A local folder (shared by replicas only as a shared volume).
    Folder(PathBuf),
    /// An S3 bucket (cargo feature `s3`): keys `<prefix>/avatars/<user>/<name>`, so a
    /// public URL of `https://<bucket endpoint>/<prefix>` serves them straight from it.
    S3 {
        /// The bucket name.
        bucket: String,
        /// Keys start with `<prefix>/` (or nothing, when empty).
        prefix: String,
    },
}

impl FileStore {
    /// Parses `--store`: `s3://BUCKET[/PREFIX]`, or a folder (a path).
    ///
    /// # Errors
    /// A malformed `s3://` URL, another scheme, or an empty path.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(split) = crate::s3::split_url(text) {
            let (bucket, prefix) = split?;
            return Ok(Self::S3 { bucket, prefix });
        }
        if text.contains("://") {
            return Err(format!("{text:?}: use a folder or s3://BUCKET[/PREFIX]"));
        }
        if text.is_empty() {
            return Err("the store is empty".to_owned());
        }
        Ok(Self::Folder(PathBuf::from(text)))
    }

    /// What `/healthz` and the start-up line call it: `folder` or `s3`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Folder(_) => "folder",
            Self::S3 { .. } => "s3",
        }
    }
}

impl std::fmt::Display for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Folder(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Where avatar files live.
#[derive(Debug)]
pub struct AvatarFiles {
    backend: Backend,
    placeholders: Mutex<HashMap<usize, StoredAvatar>>,
}

/// The place behind [`AvatarFiles`].
#[derive(Debug)]
enum Backend {
    /// The avatars root folder.
    Folder(PathBuf),
    /// The bucket, its prefix ending in `avatars`.
    #[cfg(feature = "s3")]
    Bucket(std::sync::Arc<crate::s3::Bucket>),
}

/// Where a file to serve is.
#[derive(Debug)]
pub(crate) enum Located {
    /// A file on disk.
    Path(PathBuf),
    /// An object of the bucket (`<folder>/<name>` below its prefix).
    #[cfg(feature = "s3")]
    Object(std::sync::Arc<crate::s3::Bucket>),
}

impl AvatarFiles {
    /// The files under `root` (created if missing).
    pub fn new(root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(root.join(PLACEHOLDER_DIR))?;
        Ok(Self {
            backend: Backend::Folder(root),
            placeholders: Mutex::new(HashMap::new()),
        })
    }

    /// The files of `store` (its `avatars/`), proven writable.
    ///
    /// # Errors
    /// The folder cannot be created, the bucket does not take a probe object, or
    /// `s3://` support is not built in.
    pub fn open(store: &FileStore) -> io::Result<Self> {
        match store {
            FileStore::Folder(path) => Self::new(path.join("avatars")),
            #[cfg(feature = "s3")]
            FileStore::S3 { bucket, prefix } => {
                let prefix = if prefix.is_empty() {
                    "avatars".to_owned()
                } else {
                    format!("{prefix}/avatars")
                };
                Ok(Self {
                    backend: Backend::Bucket(std::sync::Arc::new(crate::s3::Bucket::open(
                        bucket, &prefix,
                    )?)),
                    placeholders: Mutex::new(HashMap::new()),
                })
            }
            #[cfg(not(feature = "s3"))]
            FileStore::S3 { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this setphoto was built without s3:// support (cargo feature `s3`)",
            )),
        }
    }

    /// `folder` or `s3`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Folder(_) => "folder",
            #[cfg(feature = "s3")]
            Backend::Bucket(_) => "s3",
        }
    }

    /// Checks the store takes a new file now: writes and removes a small one.
    ///
    /// # Errors
    /// What the file system or the bucket said.
    pub fn probe(&self) -> io::Result<()> {
        match &self.backend {
            Backend::Folder(root) => super::ops::probe_writable(root),
            #[cfg(feature = "s3")]
            Backend::Bucket(bucket) => bucket.probe(),
        }
    }

    /// Writes every file of `set` into `folder` (each atomically) and returns what the
    /// database records of it.
    pub fn write_set(&self, folder: &str, set: &ImageSet) -> io::Result<Written> {
        let (created, result) = match &self.backend {
            Backend::Folder(root) => write_folder(&root.join(folder), set),
            #[cfg(feature = "s3")]
            Backend::Bucket(bucket) => bucket.put_all(
                folder,
                set.files()
                    .map(|(name, bytes)| (name, bytes::Bytes::copy_from_slice(bytes)))
                    .collect(),
            ),
        };
        let written = Written {
            avatar: stored(set),
            created,
        };
        match result {
            Ok(()) => Ok(written),
            Err(e) => {
                self.discard(folder, &written);
                Err(e)
            }
        }
    }

    /// Removes the files `written` created: what a setPhoto that failed after writing
    /// leaves behind.
    pub fn discard(&self, folder: &str, written: &Written) {
        self.delete(folder, written.created.iter().map(String::as_str));
    }

    /// Removes the files `names` of `folder` (superseded ones whose grace has passed).
    pub fn remove(&self, folder: &str, names: &[String]) {
        self.delete(
            folder,
            names
                .iter()
                .map(String::as_str)
                .filter(|n| is_avatar_file_name(n)),
        );
    }

    /// Removes the files of `old` in `folder` that `current` does not also use. Errors are
    /// ignored: a file left behind is garbage for the orphan sweep, not a failure of the
    /// call that replaced it.
    pub fn remove_superseded(
        &self,
        folder: &str,
        old: &StoredAvatar,
        current: Option<&StoredAvatar>,
    ) {
        let keep: Vec<&str> = current
            .map(|c| c.file_names().collect())
            .unwrap_or_default();
        self.delete(folder, old.file_names().filter(|n| !keep.contains(n)));
    }

    /// Deletes `names` from `folder`, ignoring errors (see `remove_superseded`).
    fn delete<'a>(&self, folder: &str, names: impl Iterator<Item = &'a str>) {
        for name in names {
            match &self.backend {
                Backend::Folder(root) => {
                    let _ = fs::remove_file(root.join(folder).join(name));
                }
                #[cfg(feature = "s3")]
                Backend::Bucket(bucket) => {
                    let _ = bucket.delete(folder, name);
                }
            }
        }
    }

    /// Removes, from each user's folder, files that look like ours but that no avatar
    /// `referenced` names: what a crash between writing files and committing left behind.
    /// A file written less than `spare_younger` ago is left (another replica sharing the
    /// store may be about to commit it). `referenced` is asked after the store is listed,
    /// so a file committed meanwhile counts as referenced. Returns how many files went.
    pub fn sweep(
        &self,
        referenced: &dyn Fn() -> io::Result<BTreeMap<String, Vec<String>>>,
        spare_younger: Duration,
    ) -> io::Result<usize> {
        match &self.backend {
            Backend::Folder(root) => sweep_folder(root, &referenced()?, spare_younger),
            #[cfg(feature = "s3")]
            Backend::Bucket(bucket) => sweep_bucket(bucket, referenced, spare_younger),
        }
    }

    /// Where the file to serve is, if `folder` and `name` are a well-formed avatar path
    /// (nothing that could leave the avatars root).
    #[must_use]
    pub(crate) fn locate(&self, folder: &str, name: &str) -> Option<Located> {
        let folder_ok = !folder.is_empty()
            && folder.len() <= 64
            && folder.bytes().all(|b| b.is_ascii_alphanumeric());
        if !(folder_ok && is_avatar_file_name(name)) {
            return None;
        }
        Some(match &self.backend {
            Backend::Folder(root) => Located::Path(root.join(folder).join(name)),
            #[cfg(feature = "s3")]
            Backend::Bucket(bucket) => Located::Object(bucket.clone()),
        })
    }

    /// The placeholder set for `user`: one of a few colours, picked by the user id,
    /// generated by the engine on first use and shared by every user of that colour.
    pub fn placeholder(&self, user: &str) -> io::Result<StoredAvatar> {
        let colour = usize::try_from(id_hash(user) % PALETTE.len() as u64).unwrap_or(0);
        let mut cache = self
            .placeholders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stored) = cache.get(&colour) {
            return Ok(stored.clone());
        }
        let picture = placeholder_png(PALETTE[colour]);
        let set = crate::process(&SetPhotoRequest::new(picture), &Policy::default())
            .map_err(|e| io::Error::other(e.to_string()))?;
        let stored = self.write_set(PLACEHOLDER_DIR, &set)?.avatar;
        cache.insert(colour, stored.clone());
        Ok(stored)
    }
}

/// Writes every file of `set` into `dir`, each atomically; returns the names that did not
/// exist before, and the first error.
fn write_folder(dir: &std::path::Path, set: &ImageSet) -> (Vec<String>, io::Result<()>) {
    let mut created = Vec::new();
    let result = (|| {
        fs::create_dir_all(dir)?;
        for (name, bytes) in set.files() {
            let path = dir.join(&name);
            // A name that is already there (the same picture again) belongs to an
            // avatar that may be current: it is rewritten but never removed here.
            let existed = fs::symlink_metadata(&path).is_ok();
            write_atomically(&path, bytes)?;
            if !existed {
                created.push(name);
            }
        }
        // The renames must be durable before the database points at the new names.
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    (created, result)
}

/// The folder side of [`AvatarFiles::sweep`].
fn sweep_folder(
    root: &std::path::Path,
    current: &BTreeMap<String, Vec<String>>,
    spare_younger: Duration,
) -> io::Result<usize> {
    let young = |entry: &fs::DirEntry| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < spare_younger))
    };
    let mut removed = 0;
    for (user, keep) in current {
        let Ok(entries) = fs::read_dir(root.join(user)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = is_temporary(&name) || is_avatar_file_name(&name);
            if ours
                && !keep.contains(&name)
                && !young(&entry)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The bucket side of [`AvatarFiles::sweep`]: the same rule over a listing. A candidate is
/// looked at again just before it goes, so one rewritten since the listing (the same
/// picture uploaded again) is spared.
#[cfg(feature = "s3")]
fn sweep_bucket(
    bucket: &crate::s3::Bucket,
    referenced: &dyn Fn() -> io::Result<BTreeMap<String, Vec<String>>>,
    spare_younger: Duration,
) -> io::Result<usize> {
    let old = |at: std::time::SystemTime| at.elapsed().is_ok_and(|age| age >= spare_younger);
    let listed = bucket.list()?;
    let current = referenced()?;
    let mut removed = 0;
    for object in listed {
        let Some((user, name)) = object.key.split_once('/') else {
            continue;
        };
        let Some(keep) = current.get(user) else {
            continue;
        };
        if !is_avatar_file_name(name) || keep.iter().any(|k| k == name) || !old(object.modified) {
            continue;
        }
        let still_old = bucket
            .head(user, name)?
            .is_some_and(|head| old(head.modified));
        if still_old {
            bucket.delete(user, name)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The URLs of an avatar's files under `base` (`<public url>/avatars/<folder>`).
#[must_use]
pub fn profile_urls(base: &str, avatar: &StoredAvatar) -> Profile {
    let url = |key: &str| {
        let name = avatar.files.get(key).map_or("", String::as_str);
        format!("{base}/{name}")
    };
    Profile {
        avatar_hash: avatar.avatar_hash.clone(),
        image_24: url("image_24"),
        image_32: url("image_32"),
        image_48: url("image_48"),
        image_72: url("image_72"),
        image_192: url("image_192"),
        image_512: url("image_512"),
        image_1024: url("image_1024"),
        image_original: url("image_original"),
    }
}

/// What the database records of a set: its hash and, per profile key, the file name.
fn stored(set: &ImageSet) -> StoredAvatar {
    debug_assert_eq!(RENDITION_SIZES.len() + 1, IMAGE_KEYS.len());
    let files = IMAGE_KEYS
        .iter()
        .map(|&(key, size)| {
            let name = if size == 0 {
                set.original_file_name()
            } else {
                set.rendition_for(size)
                    .map(|r| set.rendition_file_name(r))
                    .unwrap_or_default()
            };
            (key.to_owned(), name)
        })
        .collect();
    StoredAvatar {
        avatar_hash: set.avatar_hash(),
        files,
    }
}

/// `<20 lowercase hex>_<digits or "original">.<jpg|png|gif>`.
fn is_avatar_file_name(name: &str) -> bool {
    let Some((stem, rest)) = name.split_once('_') else {
        return false;
    };
    let Some((size, ext)) = rest.split_once('.') else {
        return false;
    };
    stem.len() == 20
        && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (size == "original"
            || (!size.is_empty() && size.len() <= 4 && size.bytes().all(|b| b.is_ascii_digit())))
        && matches!(ext, "jpg" | "png" | "gif")
}

/// The placeholder colours (background; the figure is drawn lighter).
const PALETTE: [[u8; 3]; 8] = [
    [0x4a, 0x15, 0x4b],
    [0x1d, 0x9b, 0xd1],
    [0x2e, 0xb6, 0x7d],
    [0xe0, 0x1e, 0x5a],
    [0xec, 0xb2, 0x2e],
    [0x36, 0xc5, 0xf0],
    [0x61, 0x61, 0x61],
    [0x8a, 0x4b, 0x08],
];

/// A 512 px PNG of a head-and-shoulders figure on `colour`.
fn placeholder_png(colour: [u8; 3]) -> Vec<u8> {
    const SIDE: u32 = 512;
    let figure = colour.map(|c| c / 2 + 128);
    let image = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (x, y) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let head = (x - 256.0).hypot(y - 200.0) < 96.0;
        let shoulders = y > 330.0 && ((x - 256.0) / 170.0).hypot((y - 470.0) / 140.0) < 1.0;
        image::Rgb(if head || shoulders { figure } else { colour })
    });
    let mut png = Vec::new();
    image
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
        .expect("encoding a PNG into memory cannot fail");
    png
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_file_names() {
        for good in [
            "0123456789abcdef0123_24.jpg",
            "0123456789abcdef0123_original.gif",
        ] {
            assert!(is_avatar_file_name(good), "{good}");
        }
        for bad in [
            "0123456789abcdef0123_24.jpeg",
            "0123456789ABCDEF0123_24.jpg",
            "0123456789abcdef012_24.jpg",
            "0123456789abcdef0123_.jpg",
            "../etc/passwd",
            ".0123456789abcdef0123_24.jpg",
            "setphoto.db",
        ] {
            assert!(!is_avatar_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let files = AvatarFiles::new(tempfile::tempdir().unwrap().path().join("a")).unwrap();
        assert!(files.locate("U1", "0123456789abcdef0123_24.jpg").is_some());
        for (folder, name) in [
            ("..", "0123456789abcdef0123_24.jpg"),
            ("U1/..", "0123456789abcdef0123_24.jpg"),
            ("", "0123456789abcdef0123_24.jpg"),
            ("U1", "../setphoto.db"),
        ] {
            assert!(files.locate(folder, name).is_none(), "{folder} {name}");
        }
    }

    #[test]
    fn placeholders_are_made_once_per_colour_with_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let files = AvatarFiles::new(dir.path().to_owned()).unwrap();
        let a = files.placeholder("U1").unwrap();
        assert_eq!(files.placeholder("U1").unwrap(), a);
        assert_eq!(a.files.len(), IMAGE_KEYS.len());
        assert_eq!(a.avatar_hash.len(), 12);
        for name in a.file_names() {
            let path = dir.path().join(PLACEHOLDER_DIR).join(name);
            assert!(path.is_file(), "{}", path.display());
        }
        // Without upscaling, a 512 px source serves 512 for the 1024 key.
        assert_eq!(a.files["image_1024"], a.files["image_512"]);
    }

    #[test]
    fn sweep_removes_only_unreferenced_files_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let files = AvatarFiles::new(dir.path().to_owned()).unwrap();
        let user = dir.path().join("U1");
        fs::create_dir_all(&user).unwrap();
        let keep = "0123456789abcdef0123_24.jpg";
        for name in [
            keep,
            "ffffffffffffffffffff_24.jpg",
            ".x.tmp-1-2",
            "notes.txt",
        ] {
            fs::write(user.join(name), b"x").unwrap();
        }
        let current = || Ok([("U1".to_owned(), vec![keep.to_owned()])].into());
        // Files younger than the grace are spared (another replica may commit them).
        assert_eq!(
            files
                .sweep(&current, std::time::Duration::from_secs(3600))
                .unwrap(),
            0
        );
        assert_eq!(files.sweep(&current, std::time::Duration::ZERO).unwrap(), 2);
        let mut left: Vec<_> = fs::read_dir(&user)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [keep, "notes.txt"]);
    }
}
