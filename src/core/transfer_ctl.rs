//! Pause, resume, and what happens to transfers when a user leaves or comes
//! back: interrupted, then resumed once both ends are online. Resuming an
//! upload tops its credit up to the store's window less what the store
//! worker is still writing (`transfer_store`). A transfer resumes only to the
//! same person: a registered name's owner, or the session that holds the
//! token of the one that left; a new session taking a free unregistered name
//! is someone else, and the old session's transfers fail instead.

use super::transfer::Note;
use super::{ConnId, Core, Now};
use crate::protocol::files::TransferState;
use crate::protocol::ErrorCode;

impl Core {
    pub(crate) fn file_pause(&mut self, conn: ConnId, id: u64) {
        if self.my_transfer(conn, id, "file_pause").is_none() {
            return;
        }
        if self.transfers.map.get(&id).map(|t| t.state) != Some(TransferState::InProgress) {
            return self.state_error(conn, id, "pause", "file_pause");
        }
        if let Some(t) = self.transfers.map.get_mut(&id) {
            t.state = TransferState::Paused;
        }
        let by = self.name_of(conn).map(str::to_string);
        self.notify(
            id,
            Note {
                by,
                ..Note::default()
            },
        );
    }

    pub(crate) fn file_resume(&mut self, conn: ConnId, id: u64) {
        let re = "file_resume";
        if self.my_transfer(conn, id, re).is_none() {
            return;
        }
        let by = self.name_of(conn).map(str::to_string);
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        match t.state {
            TransferState::Paused => {
                if let Some(t) = self.transfers.map.get_mut(&id) {
                    t.state = TransferState::InProgress;
                }
                self.notify(
                    id,
                    Note {
                        by,
                        ..Note::default()
                    },
                );
                self.store_refill(id);
            }
            TransferState::Interrupted | TransferState::Resuming => {
                for end in [t.sender.clone(), t.receiver.clone()] {
                    if !self.end_online(&end) {
                        let who = end.unwrap_or_default();
                        return self.error(
                            conn,
                            ErrorCode::TransferState,
                            &format!(
                                "{who} is offline; transfer {id} can continue once they are back"
                            ),
                            re,
                        );
                    }
                }
                if t.receiver.is_none() {
                    self.store_reaccept(id);
                    return;
                }
                if let Some(t) = self.transfers.map.get_mut(&id) {
                    t.state = TransferState::Resuming;
                }
                self.notify(
                    id,
                    Note {
                        by,
                        ..Note::default()
                    },
                );
            }
            _ => self.state_error(conn, id, "resume", re),
        }
    }

    /// User `name` lost their connection or logged out: their transfers are
    /// interrupted (an upload being committed finishes without them), and
    /// an accept of theirs waiting for its prefix hash is forgotten.
    pub(crate) fn transfers_gone(&mut self, name: &str, now: Now) {
        for t in self.transfers.map.values_mut() {
            if t.receiver.as_deref() == Some(name) {
                t.hashing = None;
            }
        }
        let ids: Vec<u64> = self
            .transfers
            .map
            .values()
            .filter(|t| {
                !t.state.is_final()
                    && t.state != TransferState::Interrupted
                    && !t.upload.as_ref().is_some_and(|u| u.committing)
                    && (t.sender.as_deref() == Some(name) || t.receiver.as_deref() == Some(name))
            })
            .map(|t| t.id)
            .collect();
        for id in ids {
            let ttl = self.transfers.limits.interrupted_ttl_ms;
            self.timers
                .set(super::timers::Timer::TransferExpiry(id), now.mono_ms + ttl);
            if let Some(t) = self.transfers.map.get_mut(&id) {
                t.state = TransferState::Interrupted;
                t.credit = 0;
                t.banked = 0;
                log::info!("transfer {id} ({}): interrupted, {name} left", t.name);
            }
            self.transfers.downloads.retain(|d| *d != id);
            let other = self.transfers.map.get(&id).and_then(|t| {
                if t.sender.as_deref() == Some(name) {
                    t.receiver.clone()
                } else {
                    t.sender.clone()
                }
            });
            if let Some(other) = other {
                self.notify(
                    id,
                    Note {
                        by: Some(name.to_string()),
                        only: Some(other),
                        ..Note::default()
                    },
                );
            }
        }
    }

    /// A new session took the unregistered name `name` (no token of the old
    /// one): whoever it is, they are not the person the old session's
    /// transfers were with. Each one still open fails, and the other end is
    /// told why, so a file never resumes to a stranger; the sender may offer
    /// it again.
    pub(crate) fn transfers_orphaned(&mut self, name: &str) {
        let ids: Vec<u64> = self
            .transfers
            .map
            .values()
            .filter(|t| t.sender.as_deref() == Some(name) || t.receiver.as_deref() == Some(name))
            .map(|t| t.id)
            .collect();
        for id in ids {
            let reason = format!(
                "{name}'s session ended and a new session took the unregistered name; offer the file again if it is the same person"
            );
            self.finish(id, TransferState::Failed, None, Some(reason));
        }
    }

    /// User `name` logged in on `conn`: tell them about their unfinished transfers.
    pub(crate) fn transfers_back(&mut self, conn: ConnId, name: &str) {
        let _ = conn;
        let ids: Vec<u64> = self
            .transfers
            .map
            .values()
            .filter(|t| t.sender.as_deref() == Some(name) || t.receiver.as_deref() == Some(name))
            .map(|t| t.id)
            .collect();
        for id in ids {
            self.notify(
                id,
                Note {
                    only: Some(name.to_string()),
                    ..Note::default()
                },
            );
        }
    }
}
