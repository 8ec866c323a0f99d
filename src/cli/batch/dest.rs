//! Where `setphoto batch` puts each input's files: a folder (a path or a `file://` URL),
//! or an S3 bucket (`s3://bucket/prefix`, with the `s3` feature).
//!
//! Either way an input's files go under `<id>/`, each one whole or not at all: a folder
//! gets temporary names and renames, an object store makes an object visible only once
//! its upload completes. The done-record is written last by the caller.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::super::args::Target;
use super::super::output;
use crate::ImageSet;

/// An opened, writable destination.
pub(crate) struct Dest {
    place: Place,
    /// The `--out` argument as given, for messages.
    name: String,
    /// `--base-url`: replaces the destination's own URL in profiles.
    base_url: Option<String>,
    /// When this run opened the destination: temporary files older than this are
    /// leftovers of an earlier run.
    opened: SystemTime,
}

/// Slack for coarse file-system clocks: a temporary file this close to the run's start
/// may be this run's own (two manifest rows with one id) and is left alone.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

enum Place {
    Folder(PathBuf),
    #[cfg(feature = "s3")]
    Bucket(crate::s3::Bucket),
}

impl Dest {
    /// Opens `target`, creating a folder if needed, and proves it writable by writing and
    /// removing a probe: a wrong path, bucket or credential fails here, before any input.
    pub(crate) fn open(target: &Target, base_url: Option<&str>) -> io::Result<Self> {
        let place = match target {
            Target::Folder(path) => {
                fs::create_dir_all(path)?;
                let probe = path.join(format!(".setphoto-probe-{}", std::process::id()));
                fs::write(&probe, b"")?;
                fs::remove_file(probe)?;
                Place::Folder(path.clone())
            }
            #[cfg(feature = "s3")]
            Target::S3 { bucket, prefix } => {
                Place::Bucket(crate::s3::Bucket::open(bucket, prefix)?)
            }
            #[cfg(not(feature = "s3"))]
            Target::S3 { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this setphoto was built without s3:// support (cargo feature `s3`)",
                ));
            }
        };
        Ok(Self {
            place,
            name: target.to_string(),
            base_url: base_url.map(|u| u.trim_end_matches('/').to_owned()),
            opened: SystemTime::now(),
        })
    }

    /// Removes from `<id>/` the temporary files (our own pattern only) that an earlier,
    /// killed run left, and returns how many went. Only files last written before this run
    /// began go: one being written now by this run or a concurrent shard is newer. The
    /// sweep is per input rather than over all of DEST, so it costs one folder listing per
    /// input, and shards sharing DEST never touch each other's folders. An object store
    /// has nothing to sweep: an upload becomes visible only whole.
    pub(crate) fn sweep(&self, id: &str) -> usize {
        // Without the `s3` feature the match has one arm; with it, two.
        #[allow(clippy::infallible_destructuring_match)]
        let path = match &self.place {
            Place::Folder(path) => path,
            #[cfg(feature = "s3")]
            Place::Bucket(_) => return 0,
        };
        let Ok(entries) = fs::read_dir(path.join(id)) else {
            return 0;
        };
        let cutoff = self.opened.checked_sub(CLOCK_SLACK).unwrap_or(self.opened);
        entries
            .flatten()
            .filter(|entry| {
                let name = entry.file_name();
                let stale = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                crate::atomic::is_temporary(&name.to_string_lossy())
                    && entry.file_type().is_ok_and(|t| t.is_file())
                    && stale
            })
            .filter(|entry| fs::remove_file(entry.path()).is_ok())
            .count()
    }

    /// The folder, when the destination is one: the input walk must not enter it.
    pub(crate) fn folder(&self) -> Option<&Path> {
        match &self.place {
            Place::Folder(path) => Some(path),
            #[cfg(feature = "s3")]
            Place::Bucket(_) => None,
        }
    }

    /// The bytes of `<id>/<name>`, or `None` when it does not exist or cannot be read
    /// (either way the input is simply done again).
    pub(crate) fn read(&self, id: &str, name: &str) -> Option<Vec<u8>> {
        match &self.place {
            Place::Folder(path) => fs::read(path.join(id).join(name)).ok(),
            #[cfg(feature = "s3")]
            Place::Bucket(bucket) => bucket.get(id, name).ok().flatten(),
        }
    }

    /// Writes every file of `set` under `<id>/`, each whole.
    pub(crate) fn write_set(&self, id: &str, set: &ImageSet) -> io::Result<()> {
        match &self.place {
            Place::Folder(path) => output::write_set(set, &path.join(id)),
            #[cfg(feature = "s3")]
            Place::Bucket(bucket) => set
                .files()
                .try_for_each(|(name, bytes)| bucket.put(id, &name, bytes)),
        }
    }

    /// Writes `<id>/<name>` whole: never visible half-written under its final name.
    pub(crate) fn write(&self, id: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        match &self.place {
            Place::Folder(path) => {
                let dir = path.join(id);
                fs::create_dir_all(&dir)?;
                output::write_atomically(&dir.join(name), bytes)
            }
            #[cfg(feature = "s3")]
            Place::Bucket(bucket) => bucket.put(id, name, bytes),
        }
    }

    /// The base URL of `<id>/`'s files in a profile, without a trailing slash:
    /// `--base-url` + `/<id>` when given, else the folder's `file://` URL or the object's
    /// `s3://` URL.
    pub(crate) fn base_url(&self, id: &str) -> io::Result<String> {
        if let Some(base) = &self.base_url {
            return Ok(join_url(base, id));
        }
        match &self.place {
            Place::Folder(path) => output::file_base_url(&path.join(id)),
            #[cfg(feature = "s3")]
            Place::Bucket(bucket) => Ok(join_url(&bucket.url(), id)),
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.trim_end_matches('/'))
    }
}

/// `base` + `/` + `id`, each segment of `id` percent-encoded for a URL path.
fn join_url(base: &str, id: &str) -> String {
    let mut url = base.trim_end_matches('/').to_owned();
    for segment in id.split('/') {
        url.push('/');
        url.extend(
            url::form_urlencoded::byte_serialize(segment.as_bytes()).map(|s| {
                // form encoding writes a space as `+`; a path wants `%20`.
                if s == "+" { "%20" } else { s }
            }),
        );
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_per_segment_in_urls() {
        assert_eq!(
            join_url("https://cdn.example/av/", "team a/ü#1.jpg"),
            "https://cdn.example/av/team%20a/%C3%BC%231.jpg"
        );
    }
}
