//! The shared file store as the core sees it: the jobs it hands to the store
//! worker ([`StoreJob`], run by `store::files::DiskStore::run`), their
//! answers ([`StoreDone`]), and the [`Catalog`] it keeps in memory so that
//! `list_files`, a `download`'s lookup and an `upload`'s name and quota
//! checks answer without a disk.
//!
//! Uploads are named by their transfer id, so the core can queue an upload's
//! writes before the worker has even created its temp file: the worker runs
//! store jobs one at a time in the order queued (a write follows its
//! upload's `Begin`, a `Commit` its last write, an `Abort` whatever came
//! before it).

use crate::protocol::files::FileInfo;
use crate::store::files::StoreError;
use std::collections::{BTreeMap, HashMap};

/// A stored file: what the index on disk says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub size: u64,
    /// SHA-256 of the contents, lower-case hex (checked at upload).
    pub sha256: String,
    pub uploader: String,
    /// Upload time, Unix milliseconds (UTC).
    pub ts: u64,
}

/// A shared-store job.
#[derive(Debug)]
pub enum StoreJob {
    /// Reserve `name` for upload `upload` (a transfer id) and create its temp
    /// file; answered by [`StoreDone::Begun`].
    Begin {
        upload: u64,
        name: String,
        size: u64,
    },
    /// Write `data` at `offset` of the upload's temp file; answered by
    /// [`StoreDone::Written`].
    Write {
        upload: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// Make a complete, verified upload visible under its name (fsync,
    /// rename without replacing, index saved); answered by
    /// [`StoreDone::Committed`].
    Commit { upload: u64, file: StoredFile },
    /// Throw an upload's temp file away (no answer).
    Abort { upload: u64 },
    /// Read `len` bytes of a stored file at `offset` for download
    /// `transfer`; answered by [`StoreDone::Read`].
    Read {
        transfer: u64,
        name: String,
        offset: u64,
        len: usize,
    },
    /// SHA-256 of the first `len` bytes of a stored file (a download resumed
    /// with `prefix_sha256`); answered by [`StoreDone::Hashed`].
    HashPrefix {
        transfer: u64,
        ticket: u64,
        name: String,
        len: u64,
    },
}

impl StoreJob {
    /// The answer to this job when it cannot be run at all (no store);
    /// `None` for a job that has no answer.
    pub fn refuse(self, e: StoreError) -> Option<StoreDone> {
        Some(match self {
            StoreJob::Begin { upload, .. } => StoreDone::Begun {
                upload,
                result: Err(e),
            },
            StoreJob::Write { upload, data, .. } => StoreDone::Written {
                upload,
                len: data.len() as u64,
                result: Err(e),
            },
            StoreJob::Commit { upload, file } => StoreDone::Committed {
                upload,
                file,
                result: Err(e),
            },
            StoreJob::Abort { .. } => return None,
            StoreJob::Read {
                transfer, offset, ..
            } => StoreDone::Read {
                transfer,
                offset,
                result: Err(e),
            },
            StoreJob::HashPrefix {
                transfer, ticket, ..
            } => StoreDone::Hashed {
                transfer,
                ticket,
                result: Err(e),
            },
        })
    }
}

/// A finished shared-store job.
#[derive(Debug)]
pub enum StoreDone {
    Begun {
        upload: u64,
        result: Result<(), StoreError>,
    },
    Written {
        upload: u64,
        /// Bytes the write carried (written or not).
        len: u64,
        result: Result<(), StoreError>,
    },
    Committed {
        upload: u64,
        file: StoredFile,
        result: Result<(), StoreError>,
    },
    Read {
        transfer: u64,
        offset: u64,
        /// The bytes read: fewer than asked if the file is shorter.
        result: Result<Vec<u8>, StoreError>,
    },
    Hashed {
        transfer: u64,
        ticket: u64,
        /// Lower-case hex SHA-256 of the prefix.
        result: Result<String, StoreError>,
    },
}

/// What the core knows of the store: its files, the uploads that have a
/// name and bytes reserved, and the quota over both.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    files: BTreeMap<String, StoredFile>,
    /// Upload (transfer id) -> (name, size): reserved until committed or
    /// aborted.
    uploads: HashMap<u64, (String, u64)>,
    stored_bytes: u64,
    reserved_bytes: u64,
    quota: u64,
}

impl Catalog {
    /// A catalog of `files` (as found on disk) under `quota` bytes.
    pub fn new(files: impl IntoIterator<Item = StoredFile>, quota: u64) -> Catalog {
        let mut c = Catalog {
            quota,
            ..Catalog::default()
        };
        for f in files {
            c.publish(f);
        }
        c
    }

    /// Stored files, sorted by name.
    pub fn list(&self) -> Vec<FileInfo> {
        self.files
            .values()
            .map(|f| FileInfo {
                name: f.name.clone(),
                size: f.size,
                uploader: f.uploader.clone(),
                ts: f.ts,
            })
            .collect()
    }

    /// A stored file by name.
    pub fn lookup(&self, name: &str) -> Option<&StoredFile> {
        self.files.get(name)
    }

    /// Bytes stored plus bytes reserved by uploads in progress.
    pub fn used(&self) -> u64 {
        self.stored_bytes + self.reserved_bytes
    }

    /// Whether an upload of `size` bytes as `name` may start; if not, why.
    pub fn check(&self, name: &str, size: u64) -> Result<(), StoreError> {
        if self.files.contains_key(name) {
            return Err(StoreError::Exists(name.to_string()));
        }
        if self.uploads.values().any(|(n, _)| n == name) {
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
        Ok(())
    }

    /// Reserve `name` and `size` bytes for upload `upload` (after
    /// [`Catalog::check`]).
    pub fn reserve(&mut self, upload: u64, name: &str, size: u64) {
        self.uploads.insert(upload, (name.to_string(), size));
        self.reserved_bytes += size;
    }

    /// Upload `upload` ended (committed, failed or aborted): its name and
    /// bytes are free again. Nothing if it held none.
    pub fn release(&mut self, upload: u64) {
        if let Some((_, size)) = self.uploads.remove(&upload) {
            self.reserved_bytes -= size;
        }
    }

    /// A file became visible in the store.
    pub fn publish(&mut self, file: StoredFile) {
        self.stored_bytes += file.size;
        if let Some(old) = self.files.insert(file.name.clone(), file) {
            self.stored_bytes -= old.size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> StoredFile {
        StoredFile {
            name: name.into(),
            size,
            sha256: "00".into(),
            uploader: "alice".into(),
            ts: 1,
        }
    }

    #[test]
    fn names_and_quota_are_reserved_until_released() {
        let mut c = Catalog::new([file("a", 40)], 100);
        assert_eq!(c.check("a", 1), Err(StoreError::Exists("a".into())));
        c.check("b", 50).unwrap();
        c.reserve(1, "b", 50);
        assert_eq!(c.check("b", 1), Err(StoreError::Uploading("b".into())));
        let e = c.check("c", 11).unwrap_err();
        assert!(e.to_string().contains("10 bytes left"), "{e}");
        c.release(1);
        c.release(1); // twice is harmless
        assert_eq!(c.used(), 40);
        c.check("c", 60).unwrap();
        c.reserve(2, "c", 60);
        c.publish(file("c", 60));
        c.release(2);
        assert_eq!(c.used(), 100);
        assert_eq!(c.list().len(), 2);
        assert_eq!(c.lookup("c").map(|f| f.size), Some(60));
    }
}
