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
//!   updates the map in memory and queues an [`Effect::SaveAccounts`] with a
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

use super::effect::Effect;
use super::logsafe::Safe;
use super::session::Login;
use super::{validate, ConnId, Core, Now};
use crate::protocol::{ErrorCode, Secret, ServerMsg, PROTOCOL_VERSION};
use crate::store::accounts::{self as store, Account};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

/// Failures from one address for one name before that address is locked
/// out of that name.
pub const PAIR_FREE: u32 = 3;
/// Failures from one address (across names) before it is locked out.
pub const IP_FREE: u32 = 10;
/// Failures for one name from all addresses together before everyone is
/// locked out of it: only distributed guessing gets there.
pub const NAME_FREE: u32 = 100;
/// Longest lockout.
const MAX_LOCK_MS: u64 = 5 * 60 * 1000;
/// Failures older than this are forgotten.
const FORGET_MS: u64 = 60 * 60 * 1000;
/// Addresses (and address-name pairs) remembered at most (oldest failures
/// forgotten first).
const MAX_IPS: usize = 10_000;

/// What holds a name, in [`Holders`].
pub(crate) const REGISTERED: u8 = 1;
pub(crate) const ONLINE: u8 = 2;
pub(crate) const HELD: u8 = 4;

/// The names that are registered, online or held after a drop, indexed by
/// their skeleton ([`validate::skeleton`]), each with what holds it
/// ([`REGISTERED`], [`ONLINE`], [`HELD`] bits). The maps stay keyed by the
/// exact name; this index only answers "which other name looks like this
/// one", in O(1).
#[derive(Debug, Default)]
pub(crate) struct Holders {
    by_skeleton: HashMap<String, Vec<(String, u8)>>,
}

impl Holders {
    /// `name` is (`on`) or is no longer held by `what`.
    pub(crate) fn set(&mut self, name: &str, what: u8, on: bool) {
        let key = validate::skeleton(name);
        if !on && !self.by_skeleton.contains_key(&key) {
            return;
        }
        let list = self.by_skeleton.entry(key.clone()).or_default();
        match list.iter().position(|(n, _)| n == name) {
            Some(i) if on => list[i].1 |= what,
            Some(i) => {
                list[i].1 &= !what;
                if list[i].1 == 0 {
                    list.swap_remove(i);
                }
            }
            None if on => list.push((name.to_string(), what)),
            None => {}
        }
        if list.is_empty() {
            self.by_skeleton.remove(&key);
        }
    }

    /// The names other than `name` with its skeleton, and what holds each.
    pub(crate) fn others(&self, name: &str) -> Vec<(String, u8)> {
        self.by_skeleton
            .get(&validate::skeleton(name))
            .map(|l| l.iter().filter(|(n, _)| n != name).cloned().collect())
            .unwrap_or_default()
    }

    /// Every held name and what holds it (tests: compare with the maps).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u8> {
        self.by_skeleton
            .values()
            .flatten()
            .map(|(n, w)| (n.clone(), *w))
            .collect()
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
    /// Its registration or change is being saved (see [`Save`]).
    Save,
}

/// A change to the accounts map waiting to be on disk.
struct Save {
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
enum Then {
    /// The login that registered the name.
    Login(Box<Login>),
    /// A `change_password` (`registered`: it registered the name).
    Change { registered: bool },
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
    pending: HashMap<ConnId, (u64, Pending)>,
    /// The save in flight: its ticket and the changes it carries.
    saving: Option<(u64, Vec<Save>)>,
    /// Changes made while a save is in flight, for the next one.
    unsaved: Vec<Save>,
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

const HOUR_MS: u64 = 3_600_000;

/// Record a failure for `key` in `map`, keeping at most [`MAX_IPS`] keys
/// (failures older than [`FORGET_MS`] go first, then the oldest); returns
/// its count.
fn record_bounded<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Failures>,
    key: K,
    free: u32,
    now_ms: u64,
) -> u32 {
    if map.len() >= MAX_IPS && !map.contains_key(&key) {
        let cutoff = now_ms.saturating_sub(FORGET_MS);
        map.retain(|_, f| f.last_ms > cutoff);
        if map.len() >= MAX_IPS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| f.last_ms)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
    }
    let f = map.entry(key).or_default();
    f.record(free, now_ms);
    f.count
}

fn wait_text(ms: u64) -> String {
    format!("{} s", ms.div_ceil(1000))
}

impl Core {
    /// Start from the registered names in `accounts` (the accounts file as
    /// read at start-up). Changes are saved through
    /// [`Effect::SaveAccounts`], which the shell runs against that file.
    pub fn set_accounts(&mut self, accounts: BTreeMap<String, Account>) {
        for name in self.accounts.map.keys() {
            self.accounts.holders.set(name, REGISTERED, false);
        }
        for name in accounts.keys() {
            self.accounts.holders.set(name, REGISTERED, true);
        }
        self.accounts.map = accounts;
    }

    /// A different name that `name` could be taken for, and what holds it
    /// ("registered", ...), if there is one: then `name` may not be taken
    /// (logged in under, or registered). `None` for a name that is itself
    /// registered: it is its owner's.
    pub(crate) fn confusable_with(&self, name: &str, now: Now) -> Option<(String, &'static str)> {
        if self.accounts.map.contains_key(name) {
            return None;
        }
        let mut best: Option<(String, &'static str, u8)> = None;
        for (other, what) in self.accounts.holders.others(name) {
            let why = if what & REGISTERED != 0 {
                (0, "which is registered")
            } else if what & ONLINE != 0 {
                (1, "which is online")
            } else if self
                .reserved
                .get(&other)
                .is_some_and(|(_, until)| *until > now.mono_ms)
            {
                (2, "which is held for its owner, who lost their connection")
            } else {
                continue; // a reservation that ran out, about to be released
            };
            if best.as_ref().is_none_or(|b| why.0 < b.2) {
                best = Some((other, why.1, why.0));
            }
        }
        best.map(|(n, why, _)| (n, why))
    }

    /// Refuse `name` with `name_taken` if it is confusable with another
    /// (see [`Core::confusable_with`]); true if it was.
    pub(crate) fn refuse_confusable(
        &mut self,
        conn: ConnId,
        name: &str,
        now: Now,
        re: &str,
    ) -> bool {
        let Some((other, why)) = self.confusable_with(name, now) else {
            return false;
        };
        let m = format!(
            "name \"{name}\" is too much like \"{other}\", {why} (names are compared ignoring case, with i, l and 1 as one letter, 0 and o as one, and trailing dots dropped); pick another name"
        );
        self.auth_error(conn, ErrorCode::NameTaken, m, re);
        true
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

    /// Lockout left for `conn`'s address on `name`, for its address, or
    /// (distributed guessing) for `name`, as a sentence.
    fn locked_out(&self, conn: ConnId, name: &str, now: Now) -> Option<String> {
        let a = &self.accounts;
        let ms = |f: Option<&Failures>| f.and_then(|f| f.locked(now.mono_ms));
        if let Some(ip) = self.guard.ip_of(conn) {
            if let Some(ms) = ms(a.by_pair.get(&(ip, name.to_string()))) {
                return Some(format!(
                    "too many failed attempts for \"{name}\" from your address; try again in {}",
                    wait_text(ms)
                ));
            }
            if let Some(ms) = ms(a.by_ip.get(&ip)) {
                return Some(format!(
                    "too many failed logins from your address; try again in {}",
                    wait_text(ms)
                ));
            }
        }
        let ms = ms(a.by_name.get(name))?;
        Some(format!(
            "too many failed attempts for \"{name}\" from many addresses; try again in {}",
            wait_text(ms)
        ))
    }

    fn record_failure(&mut self, conn: ConnId, name: &str, now: Now) {
        let t = now.mono_ms;
        let f = self.accounts.by_name.entry(name.to_string()).or_default();
        f.record(NAME_FREE, t);
        let ip = self.guard.ip_of(conn);
        let mut count = 0;
        if let Some(ip) = ip {
            record_bounded(&mut self.accounts.by_ip, ip, IP_FREE, t);
            count = record_bounded(
                &mut self.accounts.by_pair,
                (ip, name.to_string()),
                PAIR_FREE,
                t,
            );
        }
        log::warn!(
            "conn {conn} ({}): wrong password for {} ({count} failure(s) in a row from this address)",
            ip.map_or_else(|| "?".into(), |ip| ip.to_string()),
            Safe(name)
        );
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
        if token_ok {
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

    /// Set `name`'s hash in memory and have the accounts file saved; `then`
    /// goes on when the save succeeded (see [`Core::accounts_saved`]).
    fn store_account(&mut self, conn: ConnId, name: &str, hash: String, now: Now, then: Then) {
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
        if self.accounts.saving.is_some() || self.accounts.unsaved.is_empty() {
            return;
        }
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
                self.internal(save.conn, "the server could not save its accounts file", re);
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

    /// A correct password from `conn`'s address for `name`: that address's
    /// failures for that name are forgiven (not its failures on other
    /// names, nor the name's count from everywhere).
    fn forgive(&mut self, conn: ConnId, name: &str) {
        if let Some(ip) = self.guard.ip_of(conn) {
            self.accounts.by_pair.remove(&(ip, name.to_string()));
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
}

#[cfg(test)]
mod tests;
