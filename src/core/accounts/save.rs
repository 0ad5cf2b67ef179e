//! The save path: a registration or password change updates the accounts
//! map in memory and queues an [`Effect::SaveAccounts`] with a snapshot, one
//! save in flight at a time; when it is on disk the login (or
//! `password_changed`) goes on, and a failed save takes the change back.

use super::holders::REGISTERED;
use super::Pending;
use crate::core::effect::Effect;
use crate::core::logsafe::Safe;
use crate::core::session::Login;
use crate::core::{ConnId, Core, Now};
use crate::protocol::ServerMsg;
use crate::store::accounts::Account;
use std::net::IpAddr;

/// A change to the accounts map waiting to be on disk.
pub(super) struct Save {
    /// The connection's `pending` id while it waits.
    id: u64,
    conn: ConnId,
    name: String,
    /// The entry the change replaced (restored if the save fails).
    old: Option<Account>,
    /// The hash it set (so a rollback touches only its own change).
    hash: String,
    /// The registration counted against this address, if one.
    registered_from: Option<(IpAddr, u64)>,
    /// What follows a successful save.
    then: Then,
}

/// What a successful save goes on with.
pub(super) enum Then {
    /// The login that registered the name.
    Login(Box<Login>),
    /// A `change_password` (`registered`: it registered the name).
    Change { registered: bool },
}

impl Core {
    /// Set `name`'s hash in memory and have the accounts file saved; `then`
    /// goes on when the save succeeded (see [`Core::accounts_saved`]).
    pub(super) fn store_account(
        &mut self,
        conn: ConnId,
        name: &str,
        hash: String,
        now: Now,
        then: Then,
    ) {
        let new = !self.accounts.map.contains_key(name);
        let since = self.accounts.map.get(name).map_or(now.unix_ms, |a| a.since);
        // Private messages from here on are the owner's; a session that
        // registers its name keeps what it had since it took the name.
        let dms_from = match (self.accounts.map.get(name), &then) {
            (Some(a), _) => a.dms_from,
            (None, Then::Login(login)) => {
                let resumed = login.resume.session.is_some()
                    && login.resume.session.as_ref() == self.tokens.get(name);
                match self.accounts.floors.get(name) {
                    Some(f) if resumed => *f,
                    _ => self.history.last_id(),
                }
            }
            (None, Then::Change { .. }) => self.dm_floor(name),
        };
        let old = self.accounts.map.insert(
            name.to_string(),
            Account {
                hash: hash.clone(),
                since,
                dms_from,
            },
        );
        self.accounts.holders.set(name, REGISTERED, true);
        // Counted now, so registrations waiting for their save count too.
        let registered_from = match (new, self.guard.ip_of(conn)) {
            (true, Some(ip)) => {
                let times = self.accounts.registered_by_ip.entry(ip).or_default();
                times.push_back(now.mono_ms);
                Some((ip, now.mono_ms))
            }
            _ => None,
        };
        self.accounts.next_id += 1;
        let id = self.accounts.next_id;
        self.accounts.pending.insert(conn, (id, Pending::Save));
        self.accounts.unsaved.push(Save {
            id,
            conn,
            name: name.to_string(),
            old,
            hash,
            registered_from,
            then,
        });
        self.save_accounts();
    }

    /// Queue a save of the whole map if changes wait and none is in flight.
    fn save_accounts(&mut self) {
        let nothing = self.accounts.unsaved.is_empty() && !self.accounts.others_unsaved;
        if self.accounts.saving.is_some() || nothing {
            return;
        }
        self.accounts.others_unsaved = false;
        self.accounts.next_id += 1;
        let ticket = self.accounts.next_id;
        let saves = std::mem::take(&mut self.accounts.unsaved);
        self.accounts.saving = Some((ticket, saves));
        self.effects.push_back(Effect::SaveAccounts {
            ticket,
            accounts: self.accounts.map.clone(),
        });
    }

    /// The accounts file save `ticket` finished: its changes go on (the
    /// welcome, or `password_changed`), or are taken back with an
    /// `internal` error. Then the changes made meanwhile are saved.
    pub(crate) fn accounts_saved(&mut self, ticket: u64, result: Result<(), String>, now: Now) {
        let saves = match self.accounts.saving.take() {
            Some((t, saves)) if t == ticket => saves,
            other => {
                self.accounts.saving = other;
                return;
            }
        };
        if let Err(e) = &result {
            log::error!(
                "cannot save the accounts file: {e}; {} change(s) taken back",
                saves.len()
            );
        }
        for save in saves.into_iter().rev() {
            let ok = result.is_ok();
            if !ok {
                self.roll_back(&save);
            } else if let Some(account) = self.accounts.map.get(&save.name) {
                // Every other node of a cluster learns it (and saves it).
                let account = account.clone();
                self.cluster_account(save.name.clone(), account, now);
            }
            let waiting = self.accounts.pending.get(&save.conn).map(|(id, _)| *id) == Some(save.id);
            if !waiting {
                continue; // the connection is gone; the change stands (or not)
            }
            self.accounts.pending.remove(&save.conn);
            if self.sessions.get(&save.conn).is_none_or(|s| s.closing) {
                continue;
            }
            let re = match save.then {
                Then::Login(_) => "hello",
                Then::Change { .. } => "change_password",
            };
            if !ok {
                self.save_failed(save.conn, re);
                continue;
            }
            let (conn, name) = (save.conn, save.name);
            match save.then {
                Then::Login(login) => {
                    log::info!("conn {conn}: {} registered their name", Safe(&name));
                    self.login(conn, *login, now);
                }
                Then::Change { registered } => {
                    if self.name_of(conn) != Some(name.as_str()) {
                        continue;
                    }
                    self.forgive(conn, &name);
                    log::info!(
                        "conn {conn}: {} {}",
                        Safe(&name),
                        if registered {
                            "registered their name"
                        } else {
                            "changed their password"
                        }
                    );
                    self.send(conn, &ServerMsg::PasswordChanged { name, registered });
                }
            }
        }
        self.save_accounts();
    }

    /// Another node registered `name` or changed its password: the same
    /// here, saved to this node's file too.
    pub(crate) fn account_from_cluster(&mut self, name: String, account: Account) {
        if self.accounts.map.get(&name) == Some(&account) {
            return;
        }
        self.accounts.holders.set(&name, REGISTERED, true);
        self.accounts.map.insert(name, account);
        self.accounts.others_unsaved = true;
        self.save_accounts();
    }

    /// Take back a change that could not be saved (if nothing replaced it
    /// since), and its count against the address.
    fn roll_back(&mut self, save: &Save) {
        if self.accounts.map.get(&save.name).map(|a| &a.hash) == Some(&save.hash) {
            match &save.old {
                Some(a) => self.accounts.map.insert(save.name.clone(), a.clone()),
                None => {
                    self.accounts.holders.set(&save.name, REGISTERED, false);
                    self.accounts.map.remove(&save.name)
                }
            };
        }
        if let Some((ip, at)) = save.registered_from {
            if let Some(times) = self.accounts.registered_by_ip.get_mut(&ip) {
                if let Some(i) = times.iter().rposition(|t| *t == at) {
                    times.remove(i);
                }
            }
        }
    }
}
