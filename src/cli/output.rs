//! Writing an avatar set to a folder, and the file:// base URL of that folder.

use std::fs;
use std::io::{self, Read as _};
use std::path::Path;

pub(crate) use crate::atomic::write_atomically;
use crate::error::Limit;
use crate::{Error, ImageSet};

/// Why an input file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Missing, unreadable, or not a regular file (a pipe, a device, a folder).
    Io(io::Error),
    /// More bytes than the policy allows; never read past `max + 1`.
    TooLarge(Error),
}

/// Reads a regular file of at most `max` bytes, without ever holding more than `max + 1`.
///
/// The file type is checked from the path's metadata *before* opening, because opening a
/// FIFO for reading blocks until a writer appears: a FIFO, a device, a socket or a folder
/// is refused at once, never opened. The open handle's metadata is checked again (the path
/// may have changed in between), and the read is capped, so a growing file cannot exhaust
/// memory either.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::Io(not_regular(&meta.file_type())));
    }
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::Io(not_regular(&meta.file_type())));
    }
    let too_large = |bytes: u64| ReadError::TooLarge(Error::TooLarge(Limit::Bytes { bytes, max }));
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    let len = bytes.len() as u64;
    if len > max {
        return Err(too_large(len));
    }
    Ok(bytes)
}

/// The error for a path that is not a regular file, naming what it is.
fn not_regular(kind: &fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file (it is {})", file_kind(kind)),
    )
}

/// What a non-regular file is, in words.
fn file_kind(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "neither a file nor a folder"
    }
}

/// Writes every file of `set` into `dir` (created if missing). Each file is written to a
/// temporary name and renamed, so no half-written file is ever visible under its final
/// name.
pub(crate) fn write_set(set: &ImageSet, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, bytes) in set.files() {
        write_atomically(&dir.join(&name), bytes)?;
    }
    Ok(())
}

/// The `file://` URL of `dir` (which must exist), without a trailing slash.
pub(crate) fn file_base_url(dir: &Path) -> io::Result<String> {
    let absolute = fs::canonicalize(dir)?;
    let url = url::Url::from_directory_path(&absolute)
        .map_err(|()| io::Error::other(format!("{} has no file URL", absolute.display())))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
