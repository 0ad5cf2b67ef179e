//! The shared store across a cluster: each file lives on the node that took
//! its upload (its `DATA_DIR/files`), and every node knows every node's
//! files, so `/files` lists them all and `/download` works from any node.
//!
//! A committed upload is published ([`Body::Stored`]); every node adds it
//! to its catalog of other nodes' files, and tells its users who share a
//! room with the uploader. A node that starts publishes its whole store
//! (quietly); a node that goes down is taken out of every catalog. A `download` is sequenced: the node holding the
//! file (the asker's own if it has it, else the first holder by node id)
//! runs it, with the asker's stand-in as receiver: its frames and chunks
//! reach the asker's node as direct messages (see `cluster_files`), read
//! from disk no faster than the asker's node reports them written out.

use super::store_ops::StoredFile;
use super::{ConnId, Core, Now};
use crate::cluster::event::Body;
use crate::protocol::files::FileInfo;
use std::collections::BTreeMap;

/// Other nodes' files a node keeps in its catalog, at most.
pub(crate) const MAX_REMOTE_FILES: usize = 100_000;

/// A relayed download's chunks queued towards a user of another node, at
/// most, before the store reads the next (two 64 KiB chunks).
const REMOTE_ROOM: u64 = 2 * 64 * 1024;

/// Other nodes' files: name -> node -> the file.
pub(crate) type RemoteFiles = BTreeMap<String, BTreeMap<String, StoredFile>>;

impl Core {
    /// A file this node's store committed: in a cluster, published.
    pub(crate) fn cluster_stored(&mut self, file: &StoredFile, now: Now) {
        if self.cluster.is_none() {
            return;
        }
        let body = Body::Stored {
            name: file.name.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            uploader: file.uploader.clone(),
            uploaded: file.ts,
            quiet: false,
        };
        self.publish_event(ConnId(0), body, now);
    }

    /// This node (re)joined: its files are published for the others to list
    /// (they forgot them if it was down). Quiet: no upload notices.
    pub(crate) fn publish_catalog(&mut self, now: Now) {
        let files: Vec<StoredFile> = match self.transfers.store.as_ref() {
            Some(s) => s
                .list()
                .iter()
                .filter_map(|f| s.lookup(&f.name).cloned())
                .collect(),
            None => return,
        };
        for f in files {
            let body = Body::Stored {
                name: f.name,
                size: f.size,
                sha256: f.sha256,
                uploader: f.uploader,
                uploaded: f.ts,
                quiet: true,
            };
            self.publish_event(ConnId(0), body, now);
        }
    }

    /// `node` is down: its files are out of reach, no longer listed.
    pub(crate) fn files_gone(&mut self, node: &str) {
        if let Some(c) = self.cluster.as_deref_mut() {
            c.files.retain(|_, by| {
                by.remove(node);
                !by.is_empty()
            });
        }
    }

    /// Another node stored `file`: in the catalog, and announced here.
    pub(crate) fn stored_elsewhere(&mut self, node: &str, file: StoredFile, quiet: bool) {
        let Some(c) = self.cluster.as_deref_mut() else {
            return;
        };
        let known = c.files.contains_key(&file.name);
        if !known && c.files.len() >= MAX_REMOTE_FILES {
            log::warn!(
                "cluster: the catalog of other nodes' files is full ({MAX_REMOTE_FILES}); {} not listed here",
                super::logsafe::Safe(&file.name)
            );
            return;
        }
        c.files
            .entry(file.name.clone())
            .or_default()
            .insert(node.to_string(), file.clone());
        if !quiet {
            self.announce_upload(&file);
        }
    }

    /// Other nodes' files not in this node's store, for `/files`.
    pub(crate) fn remote_file_list(&self) -> Vec<FileInfo> {
        let Some(c) = self.cluster.as_deref() else {
            return Vec::new();
        };
        let local = |n: &str| {
            self.transfers
                .store
                .as_ref()
                .is_some_and(|s| s.lookup(n).is_some())
        };
        c.files
            .iter()
            .filter(|(name, _)| !local(name))
            .filter_map(|(_, by)| by.values().next())
            .map(|f| FileInfo {
                name: f.name.clone(),
                size: f.size,
                uploader: f.uploader.clone(),
                ts: f.ts,
            })
            .collect()
    }

    /// Whether another node's store has a file called `name`.
    pub(crate) fn stored_elsewhere_as(&self, name: &str) -> bool {
        self.cluster
            .as_deref()
            .is_some_and(|c| c.files.get(name).is_some_and(|by| !by.is_empty()))
    }

    /// The node that runs a download of `name` asked on `origin`: the
    /// origin if it holds the file, else the first holder by node id, else
    /// the origin (which answers that there is no such file).
    pub(crate) fn download_runner(&self, origin: &str, name: &str) -> String {
        let Some(c) = self.cluster.as_deref() else {
            return origin.to_string();
        };
        let mut holders: Vec<&str> = c
            .files
            .get(name)
            .map(|by| by.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let here = self
            .transfers
            .store
            .as_ref()
            .is_some_and(|s| s.lookup(name).is_some());
        if here {
            holders.push(c.node.as_str());
        }
        if holders.contains(&origin) || holders.is_empty() {
            return origin.to_string();
        }
        holders.into_iter().min().unwrap_or(origin).to_string()
    }

    /// Whether download chunks may be read for `conn`, a user of another
    /// node: while few of its chunks are unreported (its node reports each
    /// one written out to the user's socket).
    pub fn remote_room(&self, conn: ConnId) -> bool {
        conn.is_remote() && self.relay.total_of(conn) < REMOTE_ROOM
    }
}
