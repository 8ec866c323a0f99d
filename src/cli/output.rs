//! Writing an avatar set to a folder, and the file:// base URL of that folder.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use crate::ImageSet;

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

/// Writes `bytes` to a temporary name beside `path`, then renames it to `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}-{:?}",
        name.unwrap_or_default(),
        std::process::id(),
        std::thread::current().id()
    ));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

/// The `file://` URL of `dir` (which must exist), without a trailing slash.
pub(crate) fn file_base_url(dir: &Path) -> io::Result<String> {
    let absolute = fs::canonicalize(dir)?;
    let url = url::Url::from_directory_path(&absolute)
        .map_err(|()| io::Error::other(format!("{} has no file URL", absolute.display())))?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}
