//! Avatar files on disk: one folder per user under `<data>/avatars/`, plus the shared
//! placeholder sets under `<data>/avatars/default/`.
//!
//! Files are named by the set's stem (`<20 hex>_<size>.<ext>`), so a URL names one picture
//! forever and can be cached for a year; a new picture gets new names.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

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

/// Where avatar files live.
#[derive(Debug)]
pub struct AvatarFiles {
    root: PathBuf,
    placeholders: Mutex<HashMap<usize, StoredAvatar>>,
}

impl AvatarFiles {
    /// The files under `root` (created if missing).
    pub fn new(root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(root.join(PLACEHOLDER_DIR))?;
        Ok(Self {
            root,
            placeholders: Mutex::new(HashMap::new()),
        })
    }

    /// Writes every file of `set` into `folder` (each atomically) and returns what the
    /// database records of it.
    pub fn write_set(&self, folder: &str, set: &ImageSet) -> io::Result<Written> {
        let dir = self.root.join(folder);
        fs::create_dir_all(&dir)?;
        let mut created = Vec::new();
        let result = (|| {
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
            fs::File::open(&dir)?.sync_all()?;
            Ok(())
        })();
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
        for name in &written.created {
            let _ = fs::remove_file(self.root.join(folder).join(name));
        }
    }

    /// Removes the files `names` of `folder` (superseded ones whose grace has passed).
    pub fn remove(&self, folder: &str, names: &[String]) {
        for name in names.iter().filter(|n| is_avatar_file_name(n)) {
            let _ = fs::remove_file(self.root.join(folder).join(name));
        }
    }

    /// Removes the files of `old` in `folder` that `current` does not also use. Errors are
    /// ignored: a file left behind is garbage for the next start-up sweep, not a failure of
    /// the call that replaced it.
    pub fn remove_superseded(
        &self,
        folder: &str,
        old: &StoredAvatar,
        current: Option<&StoredAvatar>,
    ) {
        let keep: Vec<&str> = current
            .map(|c| c.file_names().collect())
            .unwrap_or_default();
        for name in old.file_names().filter(|n| !keep.contains(n)) {
            let _ = fs::remove_file(self.root.join(folder).join(name));
        }
    }

    /// Removes, from each user's folder, files that look like ours but that no current
    /// avatar uses: what a crash between writing files and committing left behind. A file
    /// modified less than `spare_younger` ago is left (another replica sharing the folder
    /// may be about to commit it). Returns how many files went.
    pub fn sweep(
        &self,
        current: &BTreeMap<String, Vec<String>>,
        spare_younger: std::time::Duration,
    ) -> io::Result<usize> {
        let young = |entry: &fs::DirEntry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < spare_younger))
        };
        let mut removed = 0;
        for (user, keep) in current {
            let Ok(entries) = fs::read_dir(self.root.join(user)) else {
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

    /// The folder the avatar files live in.
    #[must_use]
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The path of a file to serve, if `folder` and `name` are a well-formed avatar path
    /// (nothing that could leave the avatars root).
    #[must_use]
    pub fn path_of(&self, folder: &str, name: &str) -> Option<PathBuf> {
        let folder_ok = !folder.is_empty()
            && folder.len() <= 64
            && folder.bytes().all(|b| b.is_ascii_alphanumeric());
        (folder_ok && is_avatar_file_name(name)).then(|| self.root.join(folder).join(name))
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
        assert!(files.path_of("U1", "0123456789abcdef0123_24.jpg").is_some());
        for (folder, name) in [
            ("..", "0123456789abcdef0123_24.jpg"),
            ("U1/..", "0123456789abcdef0123_24.jpg"),
            ("", "0123456789abcdef0123_24.jpg"),
            ("U1", "../setphoto.db"),
        ] {
            assert!(files.path_of(folder, name).is_none(), "{folder} {name}");
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
        let current = [("U1".to_owned(), vec![keep.to_owned()])].into();
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
