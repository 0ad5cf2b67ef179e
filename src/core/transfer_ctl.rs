//! Pause, resume, and what happens to transfers when a user leaves or comes
//! back: interrupted, then resumed once both ends are online. Resuming an
//! upload tops its credit up to the store's window less what the store
//! worker is still writing (`transfer_store`). A transfer resumes only to the
//! same person: a registered name's owner, or a client presenting the token
//! of the session the transfer belongs to; a new session taking a free
//! unregistered name is someone else, and the old session's transfers fail.

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
        if self.confirm_held(id) {
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
                self.relay_credit(id); // a browser's download grants again
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

    /// The other end of transfer `id` resumes or accepts it: if it was held
    /// for a new session of an open name, that is the confirmation, and all
    /// it does (true). The newcomer is shown the transfer as it stands, as a
    /// login would have shown it, and it resumes like any interrupted
    /// transfer from there: either end's next `/resume`.
    pub(crate) fn confirm_held(&mut self, id: u64) -> bool {
        let Some(newcomer) = self.transfers.held.remove(&id) else {
            return false;
        };
        log::info!(
            "transfer {id}: confirmed for the new session of {}",
            super::logsafe::Safe(&newcomer)
        );
        let other = self.transfers.map.get(&id).and_then(|t| {
            if t.sender.as_deref() == Some(newcomer.as_str()) {
                t.receiver.clone()
            } else {
                t.sender.clone()
            }
        });
        self.notify(
            id,
            Note {
                only: Some(newcomer.clone()),
                ..Note::default()
            },
        );
        self.notify(
            id,
            Note {
                only: other,
                reason: Some(format!(
                    "confirmed: the new {newcomer} sees it now; it continues when either of you resumes it"
                )),
                ..Note::default()
            },
        );
        true
    }

    /// User `name` lost their connection or logged out: their transfers are
    /// interrupted (an upload being committed finishes without them), and
    /// an accept of theirs waiting for its prefix hash is forgotten.
    pub(crate) fn transfers_gone(&mut self, name: &str, now: Now) {
        self.sinks_gone(None, Some(name));
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

    /// Keep a new transfer, noting which session each user end's transfers
    /// belong to (the one online now).
    pub(crate) fn add_transfer(&mut self, t: super::transfer::Transfer) {
        for end in [&t.sender, &t.receiver].into_iter().flatten() {
            if let Some(token) = self.tokens.get(end) {
                self.transfers
                    .owners
                    .entry(end.clone())
                    .or_insert_with(|| token.clone());
            }
        }
        self.transfers.map.insert(t.id, t);
    }

    /// `name` logged in, presenting `presented` (the token of the session
    /// its client last had, if any) and getting `token`. If `name` is not
    /// registered and its open transfers belong to another session, the
    /// newcomer may be someone else: each of those transfers is held (the
    /// newcomer does not see it, and it cannot move) and the other end is
    /// told why; it continues only once the other end resumes it (its
    /// confirmation), or fails when the interruption times out. A client
    /// coming back with its old token, even after the grace period, is the
    /// same session.
    pub(crate) fn transfers_orphaned(&mut self, name: &str, presented: Option<&str>, token: &str) {
        let ids: Vec<u64> = self
            .transfers
            .map
            .values()
            .filter(|t| t.sender.as_deref() == Some(name) || t.receiver.as_deref() == Some(name))
            .map(|t| t.id)
            .collect();
        if ids.is_empty() {
            self.transfers.owners.remove(name);
            return;
        }
        let owner = self.transfers.owners.get(name).map(String::as_str);
        if !self.is_registered(name) && owner.is_some() && owner != presented {
            // Only between two people: the store's files are everyone's to
            // download, and an upload finishes only with the bytes whose
            // SHA-256 was declared, so those resume to whoever has the name.
            let between_people = |id: &u64| {
                self.transfers
                    .map
                    .get(id)
                    .is_some_and(|t| t.sender.is_some() && t.receiver.is_some())
            };
            let ids: Vec<u64> = ids.into_iter().filter(between_people).collect();
            for id in ids {
                self.transfers.held.insert(id, name.to_string());
                let reason = format!(
                    "{name}'s session ended and a new session took the unregistered name; /resume {id} to continue with the new {name}, /cancel {id} to stop"
                );
                let other = self.transfers.map.get(&id).and_then(|t| {
                    if t.sender.as_deref() == Some(name) {
                        t.receiver.clone()
                    } else {
                        t.sender.clone()
                    }
                });
                self.notify(
                    id,
                    Note {
                        reason: Some(reason),
                        only: other,
                        ..Note::default()
                    },
                );
            }
        }
        self.transfers
            .owners
            .insert(name.to_string(), token.to_string());
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
