//! The data directory is the server's alone: private messages, password
//! hashes and uploaded files are in it.
//!
//! - The data directory (and the file store's directory in it) is mode
//!   [`DIR_MODE`] (0700): created so, tightened at start-up if wider.
//! - Every file the server creates in it is mode [`FILE_MODE`] (0600) from
//!   the moment it exists ([`open`], [`temp_file`]); a file found wider at
//!   start-up (from an older version, a copy, a restore) is tightened, with
//!   a log line naming it and its old mode.
//!
//! Symbolic links are never followed when tightening: their target is not
//! the server's to change. Only the directory's own entries are looked at;
//! the file store tightens its own directory the same way.

use crate::core::logsafe::Safe;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the data directory and the directories in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

fn shown(path: &Path) -> String {
    Safe(&path.display().to_string()).to_string()
}

/// Create `dir` (and missing parents) mode 0700, or tighten it to 0700 if
/// it is wider, then tighten every regular file directly in it to 0600.
/// Returns how many entries it tightened.
pub fn private_dir(dir: &Path) -> io::Result<usize> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let mut fixed = 0;
    let meta = fs::metadata(dir)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))?;
        log::warn!(
            "data directory {} was mode {mode:04o}, open to other users; now {DIR_MODE:04o}",
            shown(dir)
        );
        fixed += 1;
    }
    for entry in fs::read_dir(dir)? {
        if tighten(&entry?.path())? {
            fixed += 1;
        }
    }
    Ok(fixed)
}

/// Tighten the regular file at `path` to 0600 if it is wider, with a log
/// line; false if it was fine, is absent, or is not a regular file.
pub fn tighten(path: &Path) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Ok(false);
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & !FILE_MODE == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, Permissions::from_mode(FILE_MODE))?;
    log::warn!(
        "{} was mode {mode:04o}, readable by other users; now {FILE_MODE:04o}",
        shown(path)
    );
    Ok(true)
}

/// Open `path` with `opts`, creating it mode 0600 if `opts` create; an
/// existing file that is wider is tightened (with a log line).
pub fn open(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file = opts.mode(FILE_MODE).open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode & !FILE_MODE != 0 {
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        log::warn!(
            "{} was mode {mode:04o}, readable by other users; now {FILE_MODE:04o}",
            shown(path)
        );
    }
    Ok(file)
}

/// A temp file in `dir` named `prefix...`, mode 0600, deleted unless
/// persisted (renamed into place, keeping its mode).
pub fn temp_file(prefix: &str, dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(FILE_MODE))
        .tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_directory_is_private() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), Permissions::from_mode(0o755)).unwrap();
        let dir = root.path().join("a/data");
        assert_eq!(private_dir(&dir).unwrap(), 0);
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_wide_directory_and_its_files_are_tightened_but_not_links() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let log = dir.join("history.log");
        fs::write(&log, "x").unwrap();
        fs::set_permissions(&log, Permissions::from_mode(0o644)).unwrap();
        let ok = dir.join("accounts.json");
        fs::write(&ok, "{}").unwrap();
        fs::set_permissions(&ok, Permissions::from_mode(0o600)).unwrap();
        let outside = root.path().join("outside");
        fs::write(&outside, "y").unwrap();
        fs::set_permissions(&outside, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        fs::create_dir(dir.join("files")).unwrap();

        assert_eq!(private_dir(&dir).unwrap(), 2, "the directory and the log");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&ok), 0o600);
        assert_eq!(mode(&outside), 0o644, "a link's target is not touched");
        assert_eq!(private_dir(&dir).unwrap(), 0, "nothing left to do");
    }

    #[test]
    fn files_are_created_private_and_reopened_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        open(OpenOptions::new().append(true).create(true), &p).unwrap();
        assert_eq!(mode(&p), 0o600);
        fs::set_permissions(&p, Permissions::from_mode(0o664)).unwrap();
        open(OpenOptions::new().append(true).create(true), &p).unwrap();
        assert_eq!(mode(&p), 0o600);
        let t = temp_file(".t-", dir.path()).unwrap();
        assert_eq!(mode(t.path()), 0o600);
    }
}
