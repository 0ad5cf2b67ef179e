//! The shell's part in file transfers: open the shared store under the data
//! directory (its catalog to the core, the store itself to the store worker,
//! see `workers`), keep chunk frames as received bytes, and ask the core for
//! store downloads' next chunks only when a connection's chunk slot is free
//! and it is under the high watermark (so memory stays constant). The core
//! answers a pull with a read for the store worker, one per download at a
//! time; the chunk frame comes out when the read completes.

use super::{Server, ServerConfig, ServerError};
use crate::core::transfer::FileLimits;
use crate::core::{Core, Now};
use crate::store::files::DiskStore;

/// Rounds of chunk reads asked for per turn (a connection's downloads get
/// one each per round) before other work gets its go.
const PULL_ROUNDS: usize = 16;

/// File-transfer settings of the server.
#[derive(Debug, Clone)]
pub struct FileConfig {
    pub limits: FileLimits,
    /// Most bytes the shared store may hold (stored plus uploads in progress).
    pub store_quota: u64,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            limits: FileLimits::default(),
            store_quota: 10 << 30,
        }
    }
}

/// Open `DATA_DIR/files`: what it holds to the core, the store to the
/// workers.
pub(super) fn attach_store(cfg: &ServerConfig, core: &mut Core) -> Result<DiskStore, ServerError> {
    let dir = cfg.data_dir.join("files");
    let store = DiskStore::open(&dir, cfg.files.store_quota).map_err(|e| ServerError::DataDir {
        path: dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    core.set_file_store(Some(store.catalog()), cfg.files.limits.clone());
    Ok(store)
}

impl Server {
    /// Whether some download could move right now (then the poll must not sleep).
    pub(super) fn downloads_ready(&self) -> bool {
        let high = self.cfg.high_watermark;
        self.core.download_conns().into_iter().any(|id| {
            self.core.remote_room(id)
                || self
                    .conns
                    .get(super::key_of(id).0)
                    .is_some_and(|c| c.id == id && !c.closing && c.chunk_slot_free(high))
        })
    }

    /// Have the next download chunks read for connections whose chunk slot
    /// is free (each download has at most one read in flight, so this ends
    /// quickly), and hand the reads to the store worker.
    pub(super) fn pump_downloads(&mut self, now: Now) {
        let high = self.cfg.high_watermark;
        for _ in 0..PULL_ROUNDS {
            let mut pulled = false;
            for id in self.core.download_conns() {
                // (A user of another node: while its node keeps up.)
                let free = self.core.remote_room(id)
                    || self
                        .conns
                        .get(super::key_of(id).0)
                        .is_some_and(|c| c.id == id && !c.closing && c.chunk_slot_free(high));
                if free && self.core.pull_chunk(id) {
                    pulled = true;
                }
            }
            if !pulled {
                return;
            }
            self.dispatch(now);
            self.flush_dirty();
        }
    }
}
