//! Accounts: names protected by a password, and limits on failed logins.
//!
//! - A `hello` with a password for a name nobody registered registers it
//!   (the password is hashed, the name saved with its hash); later logins
//!   under that name need the password (`auth_required` without one,
//!   `bad_password` with a wrong one). A `hello` without a password for an
//!   unregistered name logs in as before. `change_password` sets a new
//!   password (registering the name if it was not).
//! - Hashing is slow on purpose (Argon2id, tens of ms), so the core never
//!   does it itself: it queues an [`AuthJob`] ([`Core::take_auth_jobs`]),
//!   the shell runs it off the event loop and hands back an [`AuthDone`]
//!   ([`Core::auth_done`]), and the login (or change) goes on from there,
//!   with every check of `hello` made again (the world may have moved).
//! - The accounts file is saved off the loop too: a registration or change
//!   updates the map in memory and queues an
//!   [`Effect::SaveAccounts`](super::effect::Effect::SaveAccounts) with a
//!   snapshot; the welcome (or `password_changed`) goes out only when
//!   [`Completion::AccountsSaved`](super::effect::Completion::AccountsSaved)
//!   says it is on disk. A failed save rolls the change back and answers
//!   `internal`. One save is in flight at a time; changes made meanwhile go
//!   together in the next, so a later save never carries a change an earlier
//!   failure took back.
//! - Failed attempts lock out the guessing address, not the account. They
//!   are counted per address and name ([`PAIR_FREE`] free), per address
//!   across names ([`IP_FREE`] free) and per name across all addresses
//!   ([`NAME_FREE`] free, a cap that only distributed guessing reaches);
//!   past the free ones each further failure locks that address out of
//!   that name, that address out of every name, or (the cap) everyone out
//!   of that name, for twice as long as the one before (1 s, 2 s, 4 s, ...
//!   up to 5 min). Attempts while locked out get `too_many_attempts` saying
//!   how long to wait, and are not even checked. So the owner logging in
//!   from another address is not delayed by a guesser. A success clears
//!   the count of its address for that name; an hour without failures
//!   forgets a count.
//! - Confusable names (see [`validate::skeleton`]): a name whose skeleton
//!   is that of a *different* name that is registered, online or held after
//!   a drop is refused at login and registration (`name_taken`, naming the
//!   other name). [`Holders`] indexes those names by skeleton, kept in step
//!   wherever the accounts map, `Core::names` or `Core::reserved` change.
//!   A name that is itself registered is its owner's (it may predate the
//!   rule) and is never refused as confusable.
//! - Private messages belong to a name only while someone can prove it is
//!   theirs: [`Core::dm_floor`] is the id above which a user's private
//!   conversations are theirs to read back (catch-up and `history peer=`):
//!   for a registered name, everything since it was registered; for an
//!   open name, only what came since its session (token) took the name.
//!
//! Passwords are never logged, echoed or kept: a job carries one to the
//! hashing thread and drops it.

mod holders;
mod lockout;
mod save;

pub(crate) use holders::{Holders, HELD, ONLINE, REGISTERED};
use lockout::Failures;
#[cfg(test)]
use lockout::HOUR_MS;
pub use lockout::{IP_FREE, NAME_FREE, PAIR_FREE};
use save::{Save, Then};

use super::logsafe::Safe;
use super::session::Login;
use super::{validate, ConnId, Core, Now};
use crate::protocol::{ErrorCode, Secret, PROTOCOL_VERSION};
use crate::store::accounts::{self as store, Account};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

/// Password work for the shell to run off the event loop.
pub struct AuthJob {
    pub id: u64,
    pub conn: ConnId,
    /// Check this password against this hash first.
    verify: Option<(Secret, String)>,
    /// Then (if the check passed, or there was none) hash this one.
    hash: Option<Secret>,
}

impl fmt::Debug for AuthJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthJob")
            .field("id", &self.id)
            .field("conn", &self.conn)
            .field("verify", &self.verify.is_some())
            .field("hash", &self.hash.is_some())
            .finish()
    }
}

/// The outcome of an [`AuthJob`].
#[derive(Debug)]
pub struct AuthDone {
    pub id: u64,
    pub conn: ConnId,
    verified: Option<bool>,
    hashed: Option<Result<String, String>>,
}

impl AuthJob {
    /// Do the work (slow: run it off the event loop).
    pub fn run(self) -> AuthDone {
        let verified = self
            .verify
            .as_ref()
            .map(|(pw, hash)| store::verify_password(pw.expose(), hash));
        let hashed = match (verified, &self.hash) {
            (Some(false), _) | (_, None) => None,
            (_, Some(pw)) => Some(store::hash_password(pw.expose())),
        };
        AuthDone {
            id: self.id,
            conn: self.conn,
            verified,
            hashed,
        }
    }
}

/// What a connection waits for.
enum Pending {
    Login(Box<Login>),
    Change,
    /// Its registration or change is being saved (see [`Save`]).
    Save,
}

/// The accounts' state in the core.
#[derive(Default)]
pub(crate) struct Accounts {
    map: BTreeMap<String, Account>,
    pending: super::ConnMap<(u64, Pending)>,
    /// The save in flight: its ticket and the changes it carries.
    saving: Option<(u64, Vec<Save>)>,
    /// Changes made while a save is in flight, for the next one.
    unsaved: Vec<Save>,
    /// Accounts other nodes of the cluster registered or changed, not yet
    /// in this node's file.
    others_unsaved: bool,
    jobs: Vec<AuthJob>,
    next_id: u64,
    /// Failures per name, from every address (the distributed cap).
    by_name: HashMap<String, Failures>,
    /// Failures per address, across names.
    by_ip: HashMap<IpAddr, Failures>,
    /// Failures per address and name: what locks a guesser out.
    by_pair: HashMap<(IpAddr, String), Failures>,
    /// Registered, online and held names by skeleton.
    pub(crate) holders: Holders,
    /// For each name with a session token: the highest message id when
    /// that session took the name (see [`Core::dm_floor`]).
    pub(crate) floors: HashMap<String, u64>,
    /// When each address registered names (monotonic ms), for the hourly cap.
    registered_by_ip: HashMap<IpAddr, std::collections::VecDeque<u64>>,
}

impl Accounts {
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.pending.remove(&conn);
    }
}

impl Core {
    /// Start from the registered names in `accounts` (the accounts file as
    /// read at start-up). Changes are saved through
    /// [`Effect::SaveAccounts`](super::effect::Effect::SaveAccounts), which
    /// the shell runs against that file.
    pub fn set_accounts(&mut self, accounts: BTreeMap<String, Account>) {
        for name in self.accounts.map.keys() {
            self.accounts.holders.set(name, REGISTERED, false);
        }
        for name in accounts.keys() {
            self.accounts.holders.set(name, REGISTERED, true);
        }
        self.accounts.map = accounts;
    }
    /// The id above which `name`'s private conversations are theirs to read
    /// back (catch-up and `history peer=`): for a registered name, since it
    /// was registered (all, for accounts older than this rule); for an open
    /// name, since its current session (token) took it; with neither,
    /// nothing before now.
    pub(crate) fn dm_floor(&self, name: &str) -> u64 {
        if let Some(a) = self.accounts.map.get(name) {
            return a.dms_from;
        }
        self.accounts
            .floors
            .get(name)
            .copied()
            .unwrap_or_else(|| self.history.last_id())
    }

    /// Whether `name` is registered.
    pub fn is_registered(&self, name: &str) -> bool {
        self.accounts.map.contains_key(name)
    }

    /// Password work queued since the last call, for the shell to run.
    pub fn take_auth_jobs(&mut self) -> Vec<AuthJob> {
        std::mem::take(&mut self.accounts.jobs)
    }

    fn queue_job(
        &mut self,
        conn: ConnId,
        verify: Option<(Secret, String)>,
        hash: Option<Secret>,
        pending: Pending,
    ) {
        self.accounts.next_id += 1;
        let id = self.accounts.next_id;
        self.accounts.jobs.push(AuthJob {
            id,
            conn,
            verify,
            hash,
        });
        self.accounts.pending.insert(conn, (id, pending));
    }
    /// Whether `login.name` is online or held for someone else, or looks
    /// like another name that is taken (then `login` refuses it with
    /// `name_taken`, no hashing needed).
    fn name_blocked(&self, login: &Login, now: Now) -> bool {
        if self.confusable_with(&login.name, now).is_some() {
            return true;
        }
        let token_ok = login.resume.session.is_some()
            && login.resume.session.as_ref() == self.tokens.get(&login.name);
        // A registered name's password is checked even while the name is
        // online or held: the right one takes the session over.
        if token_ok || self.accounts.map.contains_key(&login.name) {
            return false;
        }
        self.names.contains_key(&login.name)
            || self
                .reserved
                .get(&login.name)
                .is_some_and(|(_, until)| *until > now.mono_ms)
    }

    fn auth_error(&mut self, conn: ConnId, code: ErrorCode, message: String, re: &str) {
        self.error_cid(conn, code, message, re, None);
    }

    /// The password step of a `hello`: `Some(login)` goes on to the rest of
    /// the login now; `None` means it was refused (error sent) or waits for
    /// its password check.
    pub(crate) fn auth_gate(&mut self, conn: ConnId, mut login: Login, now: Now) -> Option<Login> {
        if login.verified {
            return Some(login);
        }
        if self.accounts.pending.contains_key(&conn) {
            self.auth_error(
                conn,
                ErrorCode::SlowDown,
                "your password is being checked; wait for the answer".into(),
                "hello",
            );
            return None;
        }
        // What login() refuses anyway is refused there, before any hashing.
        let max = self.cfg.limits.max_name_chars;
        if login.version != PROTOCOL_VERSION
            || validate::name_max("user", &login.name, max).is_err()
        {
            return Some(login);
        }
        let name = login.name.clone();
        let hash = self.accounts.map.get(&name).map(|a| a.hash.clone());
        let Some(password) = login.password.take() else {
            if hash.is_none() {
                return Some(login); // an open name, as ever
            }
            self.auth_error(
                conn,
                ErrorCode::AuthRequired,
                format!(
                    "the name \"{name}\" is registered: log in with its password (chat-client asks for it; scripts use --password-file or CHAT_PASSWORD), or pick another name"
                ),
                "hello",
            );
            return None;
        };
        if self.name_blocked(&login, now) {
            return Some(login);
        }
        if let Some(why) = self.locked_out(conn, &name, now) {
            self.auth_error(conn, ErrorCode::TooManyAttempts, why, "hello");
            return None;
        }
        match hash {
            Some(hash) => {
                self.queue_job(
                    conn,
                    Some((password, hash)),
                    None,
                    Pending::Login(Box::new(login)),
                );
            }
            None => {
                if let Some(why) = self.registration_refused(conn, now) {
                    self.auth_error(conn, ErrorCode::TooManyAttempts, why, "hello");
                    return None;
                }
                if let Err(why) = store::check_new_password(password.expose()) {
                    self.auth_error(
                        conn,
                        ErrorCode::Invalid,
                        format!("cannot register \"{name}\": {why}"),
                        "hello",
                    );
                    return None;
                }
                self.queue_job(conn, None, Some(password), Pending::Login(Box::new(login)));
            }
        }
        None
    }

    /// `change_password` from a logged-in connection.
    pub(crate) fn change_password(
        &mut self,
        conn: ConnId,
        old: Option<Secret>,
        new: Secret,
        now: Now,
    ) {
        let re = "change_password";
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        if self.accounts.pending.contains_key(&conn) {
            let m = "a password change is already under way; wait for its answer";
            self.auth_error(conn, ErrorCode::SlowDown, m.into(), re);
            return;
        }
        if let Err(why) = store::check_new_password(new.expose()) {
            self.auth_error(conn, ErrorCode::Invalid, why, re);
            return;
        }
        match self.accounts.map.get(&name).map(|a| a.hash.clone()) {
            None => {
                if self.refuse_confusable(conn, &name, now, re) {
                    return;
                }
                if let Some(why) = self.registration_refused(conn, now) {
                    self.auth_error(conn, ErrorCode::TooManyAttempts, why, re);
                    return;
                }
                self.queue_job(conn, None, Some(new), Pending::Change)
            }
            Some(hash) => {
                let Some(old) = old else {
                    let m = format!("\"{name}\" is registered: give its current password too");
                    self.auth_error(conn, ErrorCode::AuthRequired, m, re);
                    return;
                };
                if let Some(why) = self.locked_out(conn, &name, now) {
                    self.auth_error(conn, ErrorCode::TooManyAttempts, why, re);
                    return;
                }
                self.queue_job(conn, Some((old, hash)), Some(new), Pending::Change);
            }
        }
    }

    /// The outcome of an [`AuthJob`] the shell ran.
    pub fn auth_done(&mut self, done: AuthDone, now: Now) {
        let conn = done.conn;
        match self.accounts.pending.get(&conn) {
            Some((id, _)) if *id == done.id => {}
            _ => return, // the connection is gone (its id may be reused)
        }
        let Some((_, pending)) = self.accounts.pending.remove(&conn) else {
            return;
        };
        if self.sessions.get(&conn).is_none_or(|s| s.closing) {
            return;
        }
        match pending {
            Pending::Login(login) => self.login_checked(conn, *login, done, now),
            Pending::Change => self.change_checked(conn, done, now),
            Pending::Save => {}
        }
    }

    fn login_checked(&mut self, conn: ConnId, mut login: Login, done: AuthDone, now: Now) {
        let name = login.name.clone();
        login.verified = true;
        match (done.verified, done.hashed) {
            (Some(false), _) => {
                self.record_failure(conn, &name, now);
                self.auth_error(
                    conn,
                    ErrorCode::BadPassword,
                    format!("wrong password for \"{name}\""),
                    "hello",
                );
            }
            (Some(true), _) => {
                self.forgive(conn, &name);
                self.login(conn, login, now);
            }
            (None, Some(Ok(hash))) => {
                if self.accounts.map.contains_key(&name) {
                    let m = format!(
                        "the name \"{name}\" was registered by someone else a moment ago; pick another name"
                    );
                    self.auth_error(conn, ErrorCode::NameTaken, m, "hello");
                    return;
                }
                if self.name_blocked(&login, now) {
                    self.login(conn, login, now); // refuses it, saying why
                    return;
                }
                self.store_account(conn, &name, hash, now, Then::Login(Box::new(login)));
            }
            (None, Some(Err(e))) => self.internal(conn, &e, "hello"),
            (None, None) => self.internal(conn, "nothing was checked", "hello"),
        }
    }

    fn change_checked(&mut self, conn: ConnId, done: AuthDone, now: Now) {
        let re = "change_password";
        let Some(name) = self.name_of(conn).map(str::to_string) else {
            return;
        };
        match (done.verified, done.hashed) {
            (Some(false), _) => {
                self.record_failure(conn, &name, now);
                let m = "your current password is not that one; nothing changed".to_string();
                self.auth_error(conn, ErrorCode::BadPassword, m, re);
            }
            (_, Some(Ok(hash))) => {
                let registered = !self.accounts.map.contains_key(&name);
                // The world may have moved while hashing.
                if registered && self.refuse_confusable(conn, &name, now, re) {
                    return;
                }
                self.store_account(conn, &name, hash, now, Then::Change { registered });
            }
            (_, Some(Err(e))) => self.internal(conn, &e, re),
            (_, None) => self.internal(conn, "nothing was hashed", re),
        }
    }
    fn internal(&mut self, conn: ConnId, why: &str, re: &str) {
        log::error!("conn {conn}: password check failed: {}", Safe(why));
        self.auth_error(
            conn,
            ErrorCode::Internal,
            format!("the server could not check the password ({why}); try again"),
            re,
        );
    }

    /// The password was fine but the accounts file could not be written:
    /// nothing was registered or changed.
    pub(crate) fn save_failed(&mut self, conn: ConnId, re: &str) {
        self.auth_error(
            conn,
            ErrorCode::Internal,
            "the server could not save its accounts file, so nothing was registered or changed; try again later".into(),
            re,
        );
    }
}

#[cfg(test)]
mod tests;
