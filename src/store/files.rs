//! The shared file store: files anyone can list and download.
//!
//! On disk, under `DATA_DIR/files/`: one file per stored name, an index
//! `.index.json` (name, size, SHA-256, uploader, time), and uploads in
//! progress as `.upload-*` temp files (tempfile crate). Nothing half-written
//! is ever visible under a stored name:
//!
//! - an upload writes into its temp file; when the last byte is in and the
//!   SHA-256 matches, the temp file is fsynced and renamed to its name without
//!   replacing anything (`persist_noclobber`), and the directory is fsynced;
//! - the index is written to a temp file, fsynced and renamed over the old
//!   one, so it is always either the old or the new list;
//! - at start-up, leftover `.upload-*` files (a server killed mid-upload) are
//!   deleted, and index entries whose file is missing are dropped.
//!
//! Name clashes are refused: a name already stored, or being uploaded, gets
//! a `file_exists` error (files are never overwritten or renamed behind the
//! uploader's back). The quota counts stored files plus uploads in progress.

use crate::protocol::files::FileInfo;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const INDEX: &str = ".index.json";
const UPLOAD_PREFIX: &str = ".upload-";

/// Why the store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Exists(String),
    Uploading(String),
    Quota { size: u64, free: u64, quota: u64 },
    NotFound(String),
    Io(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Exists(n) => write!(
                f,
                "the store already has a file named \"{n}\"; rename your file and upload it again"
            ),
            StoreError::Uploading(n) => write!(
                f,
                "someone is uploading a file named \"{n}\" right now; pick another name"
            ),
            StoreError::Quota { size, free, quota } => write!(
                f,
                "the store is full: {size} bytes do not fit in the {free} bytes left of its {quota}-byte quota"
            ),
            StoreError::NotFound(n) => write!(
                f,
                "no file named \"{n}\" in the store; /files lists what there is"
            ),
            StoreError::Io(e) => write!(f, "the server could not store the file: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err(what: &str, e: io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
}

/// What the core needs from a store. Uploads are identified by a handle.
pub trait FileStore {
    /// Stored files, sorted by name.
    fn list(&self) -> Vec<FileInfo>;
    /// Size and SHA-256 of a stored file.
    fn lookup(&self, name: &str) -> Option<(u64, String)>;
    /// Reserve `name` and create a temp file for `size` bytes.
    fn begin(&mut self, name: &str, size: u64) -> Result<u64, StoreError>;
    /// Write `data` at `offset` of an upload's temp file.
    fn write(&mut self, upload: u64, offset: u64, data: &[u8]) -> Result<(), StoreError>;
    /// Make a complete, verified upload visible under its name.
    fn commit(&mut self, upload: u64, info: FileInfo, sha256: String) -> Result<(), StoreError>;
    /// Throw an upload away.
    fn abort(&mut self, upload: u64);
    /// Read up to `buf.len()` bytes of a stored file at `offset`.
    fn read(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError>;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    size: u64,
    sha256: String,
    uploader: String,
    ts: u64,
}

struct Upload {
    name: String,
    size: u64,
    tmp: tempfile::NamedTempFile,
}

/// The store in a directory.
pub struct DiskStore {
    dir: PathBuf,
    quota: u64,
    index: BTreeMap<String, Entry>,
    uploads: HashMap<u64, Upload>,
    next: u64,
    readers: HashMap<String, File>,
}

impl DiskStore {
    /// Open (creating) the store in `dir`, cleaning up after a crash.
    pub fn open(dir: &Path, quota: u64) -> Result<DiskStore, StoreError> {
        fs::create_dir_all(dir).map_err(|e| io_err(&dir.display().to_string(), e))?;
        let mut index: BTreeMap<String, Entry> = match fs::read(dir.join(INDEX)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Io(format!("{INDEX} is damaged: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io_err(INDEX, e)),
        };
        let entries = fs::read_dir(dir).map_err(|e| io_err("listing the store", e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(UPLOAD_PREFIX) || name.starts_with(".index.json.") {
                log::info!("store: removing unfinished {name}");
                let _ = fs::remove_file(entry.path());
            }
        }
        let before = index.len();
        index.retain(|name, e| {
            let ok = fs::metadata(dir.join(name)).is_ok_and(|m| m.len() == e.size);
            if !ok {
                log::warn!("store: dropping index entry {name}: file missing or wrong size");
            }
            ok
        });
        let store = DiskStore {
            dir: dir.to_path_buf(),
            quota,
            index,
            uploads: HashMap::new(),
            next: 1,
            readers: HashMap::new(),
        };
        if store.index.len() != before {
            store.save_index()?;
        }
        Ok(store)
    }

    fn used(&self) -> u64 {
        self.index.values().map(|e| e.size).sum::<u64>()
            + self.uploads.values().map(|u| u.size).sum::<u64>()
    }

    /// Write the index atomically: temp file, fsync, rename, fsync the directory.
    fn save_index(&self) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(&self.index)
            .map_err(|e| StoreError::Io(format!("encoding the index: {e}")))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".index.json.")
            .tempfile_in(&self.dir)
            .map_err(|e| io_err("index temp file", e))?;
        tmp.write_all(&bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| io_err("writing the index", e))?;
        tmp.persist(self.dir.join(INDEX))
            .map_err(|e| io_err("replacing the index", e.error))?;
        self.sync_dir();
        Ok(())
    }

    fn sync_dir(&self) {
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
    }
}

impl FileStore for DiskStore {
    fn list(&self) -> Vec<FileInfo> {
        self.index
            .iter()
            .map(|(name, e)| FileInfo {
                name: name.clone(),
                size: e.size,
                uploader: e.uploader.clone(),
                ts: e.ts,
            })
            .collect()
    }

    fn lookup(&self, name: &str) -> Option<(u64, String)> {
        self.index.get(name).map(|e| (e.size, e.sha256.clone()))
    }

    fn begin(&mut self, name: &str, size: u64) -> Result<u64, StoreError> {
        if self.index.contains_key(name) || self.dir.join(name).exists() {
            return Err(StoreError::Exists(name.to_string()));
        }
        if self.uploads.values().any(|u| u.name == name) {
            return Err(StoreError::Uploading(name.to_string()));
        }
        let free = self.quota.saturating_sub(self.used());
        if size > free {
            return Err(StoreError::Quota {
                size,
                free,
                quota: self.quota,
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix(UPLOAD_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| io_err("creating the upload's temp file", e))?;
        let id = self.next;
        self.next += 1;
        self.uploads.insert(
            id,
            Upload {
                name: name.to_string(),
                size,
                tmp,
            },
        );
        Ok(id)
    }

    fn write(&mut self, upload: u64, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let u = self
            .uploads
            .get(&upload)
            .ok_or_else(|| StoreError::Io("unknown upload".into()))?;
        u.tmp
            .as_file()
            .write_all_at(data, offset)
            .map_err(|e| io_err("writing the upload", e))
    }

    fn commit(&mut self, upload: u64, info: FileInfo, sha256: String) -> Result<(), StoreError> {
        let u = self
            .uploads
            .remove(&upload)
            .ok_or_else(|| StoreError::Io("unknown upload".into()))?;
        let file = u.tmp.as_file();
        file.set_len(u.size)
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err("flushing the upload", e))?;
        let target = self.dir.join(&u.name);
        u.tmp.persist_noclobber(&target).map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                StoreError::Exists(u.name.clone())
            } else {
                io_err("publishing the upload", e.error)
            }
        })?;
        self.sync_dir();
        self.index.insert(
            u.name.clone(),
            Entry {
                size: u.size,
                sha256,
                uploader: info.uploader,
                ts: info.ts,
            },
        );
        if let Err(e) = self.save_index() {
            // Without its metadata the file must not stay visible.
            self.index.remove(&u.name);
            let _ = fs::remove_file(&target);
            return Err(e);
        }
        Ok(())
    }

    fn abort(&mut self, upload: u64) {
        // Dropping the NamedTempFile deletes it.
        self.uploads.remove(&upload);
    }

    fn read(&mut self, name: &str, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        if !self.index.contains_key(name) {
            return Err(StoreError::NotFound(name.to_string()));
        }
        if !self.readers.contains_key(name) {
            let f = File::open(self.dir.join(name)).map_err(|e| io_err(name, e))?;
            if self.readers.len() >= 64 {
                self.readers.clear();
            }
            self.readers.insert(name.to_string(), f);
        }
        let f = &self.readers[name];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(name, e)),
            }
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> FileInfo {
        FileInfo {
            name: name.into(),
            size: 0,
            uploader: "alice".into(),
            ts: 5,
        }
    }

    #[test]
    fn upload_commit_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskStore::open(dir.path(), 100).unwrap();
        let u = s.begin("a.txt", 5).unwrap();
        s.write(u, 0, b"hel").unwrap();
        s.write(u, 3, b"lo").unwrap();
        assert!(s.list().is_empty(), "invisible until committed");
        assert_eq!(
            s.begin("a.txt", 1),
            Err(StoreError::Uploading("a.txt".into()))
        );
        s.commit(u, info("a.txt"), "ab".into()).unwrap();
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"hello");
        assert!(matches!(s.begin("a.txt", 1), Err(StoreError::Exists(_))));
        let e = s.begin("b", 96).unwrap_err();
        assert!(e.to_string().contains("95 bytes left"), "{e}");
        let mut buf = [0u8; 10];
        assert_eq!(s.read("a.txt", 1, &mut buf).unwrap(), 4);
        // A crashed upload leaves a temp file that the next open removes.
        let u2 = s.begin("c", 3).unwrap();
        s.write(u2, 0, b"xyz").unwrap();
        std::mem::forget(s);
        let s = DiskStore::open(dir.path(), 100).unwrap();
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.lookup("a.txt"), Some((5, "ab".into())));
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(UPLOAD_PREFIX)),
            "{names:?}"
        );
    }
}
