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
//!
//! The core never calls this: it keeps a [`Catalog`] of its own (made from
//! [`DiskStore::catalog`] at start-up) and queues [`StoreJob`]s, which the
//! store worker (or the simulation) runs here with [`DiskStore::run`]:
//! writes, commits, chunk reads and prefix hashes. The checks made here too
//! (name, quota) are the disk's last word; the core has made them already.

use crate::core::logsafe::Safe;
use crate::core::store_ops::{Catalog, StoreDone, StoreJob, StoredFile};
use crate::protocol::files::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const INDEX: &str = ".index.json";
const UPLOAD_PREFIX: &str = ".upload-";

/// Why the store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    Exists(String),
    Uploading(String),
    Quota {
        size: u64,
        free: u64,
        quota: u64,
    },
    NotFound(String),
    /// Writing, committing or listing failed.
    Io(String),
    /// A stored file could not be read back.
    Unreadable(String),
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
            StoreError::Unreadable(e) => {
                write!(f, "the server could not read the stored file: {e}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn io_err(what: &str, e: io::Error) -> StoreError {
    StoreError::Io(format!("{what}: {e}"))
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

/// The store in a directory: the store worker's (or the simulation's) side
/// of [`StoreJob`]s. The core never calls it; it keeps its own [`Catalog`].
pub struct DiskStore {
    dir: PathBuf,
    quota: u64,
    index: BTreeMap<String, Entry>,
    /// Uploads in progress, by transfer id.
    uploads: HashMap<u64, Upload>,
    readers: HashMap<String, File>,
    /// Writes and commits fail as on a full disk (tests).
    fail_writes: bool,
    /// Set when the server shuts down: a prefix hash stops early.
    stop: Arc<AtomicBool>,
}

impl DiskStore {
    /// Open (creating) the store in `dir`, cleaning up after a crash.
    pub fn open(dir: &Path, quota: u64) -> Result<DiskStore, StoreError> {
        // 0700, every file in it 0600 (stored files, the index, temp files).
        super::perms::private_dir(dir).map_err(|e| io_err(&dir.display().to_string(), e))?;
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
                log::info!("store: removing unfinished {}", Safe(&name));
                let _ = fs::remove_file(entry.path());
            }
        }
        let before = index.len();
        index.retain(|name, e| {
            let ok = fs::metadata(dir.join(name)).is_ok_and(|m| m.len() == e.size);
            if !ok {
                log::warn!(
                    "store: dropping index entry {}: file missing or wrong size",
                    Safe(name)
                );
            }
            ok
        });
        let store = DiskStore {
            dir: dir.to_path_buf(),
            quota,
            index,
            uploads: HashMap::new(),
            readers: HashMap::new(),
            fail_writes: false,
            stop: Arc::default(),
        };
        if store.index.len() != before {
            store.save_index()?;
        }
        Ok(store)
    }

    /// What the core starts from: the stored files and the quota.
    pub fn catalog(&self) -> Catalog {
        let files = self.index.iter().map(|(name, e)| StoredFile {
            name: name.clone(),
            size: e.size,
            sha256: e.sha256.clone(),
            uploader: e.uploader.clone(),
            ts: e.ts,
        });
        Catalog::new(files, self.quota)
    }

    /// A flag that, once set, makes a prefix hash under way (and any later
    /// one) give up: the server is shutting down.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Make every write and commit fail as on a full disk (tests), or stop
    /// doing so.
    pub fn inject_failure(&mut self, fail: bool) {
        self.fail_writes = fail;
    }

    /// Run one job; `None` for a job that has no answer (`Abort`).
    pub fn run(&mut self, job: StoreJob) -> Option<StoreDone> {
        Some(match job {
            StoreJob::Begin { upload, name, size } => StoreDone::Begun {
                upload,
                result: self.begin(upload, &name, size),
            },
            StoreJob::Write {
                upload,
                offset,
                data,
            } => StoreDone::Written {
                upload,
                len: data.len() as u64,
                result: self.write(upload, offset, &data),
            },
            StoreJob::Commit { upload, file } => {
                let result = self.commit(upload, &file);
                StoreDone::Committed {
                    upload,
                    file,
                    result,
                }
            }
            StoreJob::Abort { upload } => {
                // Dropping the NamedTempFile deletes it.
                self.uploads.remove(&upload);
                return None;
            }
            StoreJob::Read {
                transfer,
                name,
                offset,
                len,
            } => StoreDone::Read {
                transfer,
                offset,
                result: self.read(&name, offset, len),
            },
            StoreJob::HashPrefix {
                transfer,
                ticket,
                name,
                len,
            } => StoreDone::Hashed {
                transfer,
                ticket,
                result: self.hash_prefix(&name, len),
            },
        })
    }

    fn used(&self) -> u64 {
        self.index.values().map(|e| e.size).sum::<u64>()
            + self.uploads.values().map(|u| u.size).sum::<u64>()
    }

    /// Reserve `name` and create a temp file for `size` bytes. The core
    /// checked names and quota already; this is the disk's word on it.
    fn begin(&mut self, upload: u64, name: &str, size: u64) -> Result<(), StoreError> {
        if self.index.contains_key(name) || self.dir.join(name).exists() {
            return Err(StoreError::Exists(name.to_string()));
        }
        if self.uploads.values().any(|u| u.name == name) || self.uploads.contains_key(&upload) {
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
        let tmp = super::perms::temp_file(UPLOAD_PREFIX, &self.dir)
            .map_err(|e| io_err("creating the upload's temp file", e))?;
        self.uploads.insert(
            upload,
            Upload {
                name: name.to_string(),
                size,
                tmp,
            },
        );
        Ok(())
    }

    /// Write `data` at `offset` of an upload's temp file.
    fn write(&mut self, upload: u64, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let u = self
            .uploads
            .get(&upload)
            .ok_or_else(|| StoreError::Io("unknown upload".into()))?;
        if self.fail_writes {
            return Err(injected("writing the upload"));
        }
        u.tmp
            .as_file()
            .write_all_at(data, offset)
            .map_err(|e| io_err("writing the upload", e))
    }

    /// Make a complete, verified upload visible under its name. The upload
    /// is gone afterwards, committed or not.
    fn commit(&mut self, upload: u64, file: &StoredFile) -> Result<(), StoreError> {
        let u = self
            .uploads
            .remove(&upload)
            .ok_or_else(|| StoreError::Io("unknown upload".into()))?;
        if self.fail_writes {
            return Err(injected("flushing the upload"));
        }
        let f = u.tmp.as_file();
        f.set_len(u.size)
            .and_then(|_| f.sync_all())
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
                sha256: file.sha256.clone(),
                uploader: file.uploader.clone(),
                ts: file.ts,
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

    fn reader(&mut self, name: &str) -> Result<&File, StoreError> {
        if !self.index.contains_key(name) {
            return Err(StoreError::NotFound(name.to_string()));
        }
        if !self.readers.contains_key(name) {
            let f = File::open(self.dir.join(name)).map_err(|e| read_err(name, e))?;
            if self.readers.len() >= 64 {
                self.readers.clear();
            }
            self.readers.insert(name.to_string(), f);
        }
        Ok(&self.readers[name])
    }

    /// Up to `len` bytes of a stored file at `offset` (fewer at its end).
    fn read(&mut self, name: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        let f = self.reader(name)?;
        let mut buf = vec![0u8; len];
        let got = read_full(f, &mut buf, offset).map_err(|e| read_err(name, e))?;
        buf.truncate(got);
        Ok(buf)
    }

    /// SHA-256 (hex) of the first `len` bytes of a stored file; an error if
    /// the file is shorter. Its cost grows with `len`: run off the loop.
    fn hash_prefix(&mut self, name: &str, len: u64) -> Result<String, StoreError> {
        self.reader(name)?;
        let f = &self.readers[name];
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; HASH_BUF];
        let mut at = 0;
        while at < len {
            if self.stop.load(Ordering::Relaxed) {
                return Err(StoreError::Unreadable("the server is shutting down".into()));
            }
            let want = (len - at).min(HASH_BUF as u64) as usize;
            let got = read_full(f, &mut buf[..want], at).map_err(|e| read_err(name, e))?;
            if got == 0 {
                return Err(StoreError::Unreadable(format!(
                    "{name} is shorter than {len} bytes"
                )));
            }
            hasher.update(&buf[..got]);
            at += got as u64;
        }
        Ok(hex(&hasher.finalize()))
    }

    /// Write the index atomically: temp file, fsync, rename, fsync the directory.
    fn save_index(&self) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(&self.index)
            .map_err(|e| StoreError::Io(format!("encoding the index: {e}")))?;
        let mut tmp = super::perms::temp_file(".index.json.", &self.dir)
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

/// Bytes hashed per read of a prefix.
const HASH_BUF: usize = 1 << 20;

/// Read into `buf` at `offset` until it is full or the file ends.
fn read_full(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_err(name: &str, e: io::Error) -> StoreError {
    StoreError::Unreadable(format!("{name}: {e}"))
}

/// The error an injected failure gives: what a full disk says.
fn injected(what: &str) -> StoreError {
    io_err(what, io::Error::from_raw_os_error(28))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> StoredFile {
        StoredFile {
            name: name.into(),
            size,
            sha256: "ab".into(),
            uploader: "alice".into(),
            ts: 5,
        }
    }

    fn run(s: &mut DiskStore, job: StoreJob) -> StoreDone {
        s.run(job).expect("an answer")
    }

    #[test]
    fn upload_commit_read_hash_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskStore::open(dir.path(), 100).unwrap();
        let begin = |upload, name: &str, size| StoreJob::Begin {
            upload,
            name: name.into(),
            size,
        };
        let write = |upload, offset, data: &[u8]| StoreJob::Write {
            upload,
            offset,
            data: data.to_vec(),
        };
        assert!(matches!(
            run(&mut s, begin(1, "a.txt", 5)),
            StoreDone::Begun { result: Ok(()), .. }
        ));
        assert!(matches!(
            run(&mut s, write(1, 0, b"hel")),
            StoreDone::Written {
                len: 3,
                result: Ok(()),
                ..
            }
        ));
        run(&mut s, write(1, 3, b"lo"));
        assert!(s.catalog().list().is_empty(), "invisible until committed");
        assert!(matches!(
            run(&mut s, begin(2, "a.txt", 1)),
            StoreDone::Begun {
                result: Err(StoreError::Uploading(_)),
                ..
            }
        ));
        let done = run(
            &mut s,
            StoreJob::Commit {
                upload: 1,
                file: file("a.txt", 5),
            },
        );
        assert!(
            matches!(done, StoreDone::Committed { result: Ok(()), .. }),
            "{done:?}"
        );
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"hello");
        assert!(matches!(
            run(&mut s, begin(3, "a.txt", 1)),
            StoreDone::Begun {
                result: Err(StoreError::Exists(_)),
                ..
            }
        ));
        match run(&mut s, begin(4, "b", 96)) {
            StoreDone::Begun { result: Err(e), .. } => {
                assert!(e.to_string().contains("95 bytes left"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let read = StoreJob::Read {
            transfer: 9,
            name: "a.txt".into(),
            offset: 1,
            len: 10,
        };
        match run(&mut s, read) {
            StoreDone::Read {
                transfer: 9,
                offset: 1,
                result: Ok(b),
            } => assert_eq!(b, b"ello"),
            other => panic!("{other:?}"),
        }
        let hash = |len| StoreJob::HashPrefix {
            transfer: 9,
            ticket: 2,
            name: "a.txt".into(),
            len,
        };
        match run(&mut s, hash(3)) {
            StoreDone::Hashed {
                ticket: 2,
                result: Ok(h),
                ..
            } => {
                assert_eq!(h, hex(&Sha256::digest(b"hel")))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run(&mut s, hash(6)),
            StoreDone::Hashed { result: Err(_), .. }
        ));
        // A crashed upload leaves a temp file that the next open removes.
        run(&mut s, begin(5, "c", 3));
        run(&mut s, write(5, 0, b"xyz"));
        std::mem::forget(s);
        let s = DiskStore::open(dir.path(), 100).unwrap();
        let c = s.catalog();
        assert_eq!(c.list().len(), 1);
        assert_eq!(
            c.lookup("a.txt").map(|f| (f.size, f.sha256.as_str())),
            Some((5, "ab"))
        );
        assert_eq!(c.used(), 5);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(UPLOAD_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn injected_failures_fail_writes_and_commits_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskStore::open(dir.path(), 100).unwrap();
        run(
            &mut s,
            StoreJob::Begin {
                upload: 1,
                name: "f".into(),
                size: 2,
            },
        );
        s.inject_failure(true);
        match run(
            &mut s,
            StoreJob::Write {
                upload: 1,
                offset: 0,
                data: b"ab".to_vec(),
            },
        ) {
            StoreDone::Written { result: Err(e), .. } => {
                assert!(e.to_string().contains("No space left on device"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let done = run(
            &mut s,
            StoreJob::Commit {
                upload: 1,
                file: file("f", 2),
            },
        );
        assert!(
            matches!(done, StoreDone::Committed { result: Err(_), .. }),
            "{done:?}"
        );
        assert!(s.run(StoreJob::Abort { upload: 1 }).is_none());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
