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
//! - Failed attempts are counted per name and per address: after
//!   [`NAME_FREE`] (name) or [`IP_FREE`] (address) failures, each further one
//!   locks that name or address out for twice as long as the one before
//!   (1 s, 2 s, 4 s, ... up to 5 min); attempts while locked out get
//!   `too_many_attempts` saying how long to wait, and are not even checked.
//!   A success clears the name's count; an hour without failures forgets
//!   both.
//!
//! Passwords are never logged, echoed or kept: a job carries one to the
//! hashing thread and drops it.

use super::session::Login;
use super::{validate, ConnId, Core, Now};
use crate::protocol::{ErrorCode, Secret, ServerMsg, PROTOCOL_VERSION};
use crate::store::accounts::{self as store, Account};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

/// Failures per name before lockouts start.
pub const NAME_FREE: u32 = 3;
/// Failures per address before lockouts start.
pub const IP_FREE: u32 = 10;
/// Longest lockout.
const MAX_LOCK_MS: u64 = 5 * 60 * 1000;
/// Failures older than this are forgotten.
const FORGET_MS: u64 = 60 * 60 * 1000;
/// Addresses remembered at most (oldest failures forgotten first).
const MAX_IPS: usize = 10_000;

/// Where registered names are kept.
pub trait AccountStore {
    /// Replace the stored accounts with `accounts`.
    fn save(&mut self, accounts: &BTreeMap<String, Account>) -> Result<(), String>;
}

impl AccountStore for store::AccountFile {
    fn save(&mut self, accounts: &BTreeMap<String, Account>) -> Result<(), String> {
        store::AccountFile::save(self, accounts).map_err(|e| e.to_string())
    }
}

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
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    until_ms: u64,
    last_ms: u64,
}

impl Failures {
    fn record(&mut self, free: u32, now_ms: u64) {
        if now_ms.saturating_sub(self.last_ms) > FORGET_MS {
            self.count = 0;
        }
        self.count += 1;
        self.last_ms = now_ms;
        if self.count >= free {
            let lock = (1000u64 << (self.count - free).min(20)).min(MAX_LOCK_MS);
            self.until_ms = now_ms + lock;
        }
    }

    /// Milliseconds of lockout left.
    fn locked(&self, now_ms: u64) -> Option<u64> {
        (self.until_ms > now_ms).then(|| self.until_ms - now_ms)
    }
}

/// The accounts' state in the core.
#[derive(Default)]
pub(crate) struct Accounts {
    map: BTreeMap<String, Account>,
    store: Option<Box<dyn AccountStore>>,
    pending: HashMap<ConnId, (u64, Pending)>,
    jobs: Vec<AuthJob>,
    next_id: u64,
    by_name: HashMap<String, Failures>,
    by_ip: HashMap<IpAddr, Failures>,
    /// When each address registered names (monotonic ms), for the hourly cap.
    registered_by_ip: HashMap<IpAddr, std::collections::VecDeque<u64>>,
}

impl Accounts {
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.pending.remove(&conn);
    }
}

const HOUR_MS: u64 = 3_600_000;

fn wait_text(ms: u64) -> String {
    format!("{} s", ms.div_ceil(1000))
}

impl Core {
    /// Use `store` for registered names, starting from `accounts`.
    pub fn set_accounts(
        &mut self,
        store: Option<Box<dyn AccountStore>>,
        accounts: BTreeMap<String, Account>,
    ) {
        self.accounts.map = accounts;
        self.accounts.store = store;
    }

    /// Whether `name` is registered.
    pub fn is_registered(&self, name: &str) -> bool {
        self.accounts.map.contains_key(name)
    }

    /// Password work queued since the last call, for the shell to run.
    pub fn take_auth_jobs(&mut self) -> Vec<AuthJob> {
        std::mem::take(&mut self.accounts.jobs)
    }

    /// Run queued password work here and now (tests; a shell without a
    /// worker thread).
    pub fn run_auth_jobs(&mut self, now: Now) {
        for job in self.take_auth_jobs() {
            let done = job.run();
            self.auth_done(done, now);
        }
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

    /// Lockout left for `name` or the address of `conn`, as a sentence.
    fn locked_out(&self, conn: ConnId, name: &str, now: Now) -> Option<String> {
        let by_name = self
            .accounts
            .by_name
            .get(name)
            .and_then(|f| f.locked(now.mono_ms));
        if let Some(ms) = by_name {
            return Some(format!(
                "too many failed attempts for \"{name}\"; try again in {}",
                wait_text(ms)
            ));
        }
        let ip = self.guard.ip_of(conn)?;
        let ms = self.accounts.by_ip.get(&ip)?.locked(now.mono_ms)?;
        Some(format!(
            "too many failed logins from your address; try again in {}",
            wait_text(ms)
        ))
    }

    fn record_failure(&mut self, conn: ConnId, name: &str, now: Now) {
        let f = self.accounts.by_name.entry(name.to_string()).or_default();
        f.record(NAME_FREE, now.mono_ms);
        let count = f.count;
        let ip = self.guard.ip_of(conn);
        if let Some(ip) = ip {
            if self.accounts.by_ip.len() >= MAX_IPS && !self.accounts.by_ip.contains_key(&ip) {
                let cutoff = now.mono_ms.saturating_sub(FORGET_MS);
                self.accounts.by_ip.retain(|_, f| f.last_ms > cutoff);
                if self.accounts.by_ip.len() >= MAX_IPS {
                    if let Some(oldest) = self
                        .accounts
                        .by_ip
                        .iter()
                        .min_by_key(|(_, f)| f.last_ms)
                        .map(|(ip, _)| *ip)
                    {
                        self.accounts.by_ip.remove(&oldest);
                    }
                }
            }
            self.accounts
                .by_ip
                .entry(ip)
                .or_default()
                .record(IP_FREE, now.mono_ms);
        }
        log::warn!(
            "conn {conn} ({}): wrong password for {name} ({count} failure(s) in a row)",
            ip.map_or_else(|| "?".into(), |ip| ip.to_string())
        );
    }

    /// Whether `login.name` is online or held for someone else (then
    /// `login` refuses it with `name_taken`, no hashing needed).
    fn name_blocked(&self, login: &Login, now: Now) -> bool {
        let token_ok = login.resume.session.is_some()
            && login.resume.session.as_ref() == self.tokens.get(&login.name);
        if token_ok {
            return false;
        }
        self.names.contains_key(&login.name)
            || self
                .held
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
                self.accounts.by_name.remove(&name);
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
                if !self.store_account(conn, &name, hash, now, "hello") {
                    return;
                }
                log::info!("conn {conn}: {name} registered their name");
                self.login(conn, login, now);
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
                if !self.store_account(conn, &name, hash, now, re) {
                    return;
                }
                self.accounts.by_name.remove(&name);
                log::info!(
                    "conn {conn}: {name} {}",
                    if registered {
                        "registered their name"
                    } else {
                        "changed their password"
                    }
                );
                self.send(conn, &ServerMsg::PasswordChanged { name, registered });
            }
            (_, Some(Err(e))) => self.internal(conn, &e, re),
            (_, None) => self.internal(conn, "nothing was hashed", re),
        }
    }

    /// Save `name` with `hash`; false (and an error sent) if it could not be.
    /// Why `conn`'s address may not register another name now, if so: it
    /// registered `max_registrations_per_ip` names in the last hour.
    fn registration_refused(&mut self, conn: ConnId, now: Now) -> Option<String> {
        let max = self.cfg.limits.max_registrations_per_ip;
        let ip = self.guard.ip_of(conn)?;
        if max == 0 {
            return None;
        }
        let times = self.accounts.registered_by_ip.get_mut(&ip)?;
        while times.front().is_some_and(|t| t + HOUR_MS <= now.mono_ms) {
            times.pop_front();
        }
        if times.len() < max {
            return None;
        }
        let wait = times.front().map_or(0, |t| t + HOUR_MS - now.mono_ms);
        Some(format!(
            "this address registered {} names in the last hour; try again in {} min",
            times.len(),
            wait.div_ceil(60_000)
        ))
    }

    fn store_account(
        &mut self,
        conn: ConnId,
        name: &str,
        hash: String,
        now: Now,
        re: &str,
    ) -> bool {
        let new = !self.accounts.map.contains_key(name);
        let since = self.accounts.map.get(name).map_or(now.unix_ms, |a| a.since);
        let old = self
            .accounts
            .map
            .insert(name.to_string(), Account { hash, since });
        let saved = match self.accounts.store.as_mut() {
            Some(store) => store.save(&self.accounts.map),
            None => Ok(()),
        };
        if let Err(e) = saved {
            match old {
                Some(a) => self.accounts.map.insert(name.to_string(), a),
                None => self.accounts.map.remove(name),
            };
            log::error!("cannot save the accounts file: {e}");
            self.internal(conn, "the server could not save its accounts file", re);
            return false;
        }
        if new {
            if let Some(ip) = self.guard.ip_of(conn) {
                let times = self.accounts.registered_by_ip.entry(ip).or_default();
                times.push_back(now.mono_ms);
            }
        }
        true
    }

    fn internal(&mut self, conn: ConnId, why: &str, re: &str) {
        log::error!("conn {conn}: password check failed: {why}");
        self.auth_error(
            conn,
            ErrorCode::Internal,
            format!("the server could not check the password ({why}); try again"),
            re,
        );
    }
}

#[cfg(test)]
mod tests;
