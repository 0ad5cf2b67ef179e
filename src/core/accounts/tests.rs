//! Unit tests of accounts: registration, passwords, lockouts, and the
//! accounts file saved as an effect (a login or change goes on only once it
//! is saved), on a fake clock.
use super::*;
use crate::core::effect::{Completion, Effect};
use crate::core::{Config, Gone, Output};
use crate::protocol::{ClientMsg, ServerMsg};

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

fn hello(name: &str, password: Option<&str>) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: password.map(Secret::from),
    }
}

/// Run the queued effects inline until none are left: password work, and
/// accounts saves (which succeed).
fn settle(core: &mut Core, now: Now) {
    while let Some(e) = core.poll_effect() {
        let done = match e {
            Effect::Auth(job) => Completion::Auth(job.run()),
            Effect::SaveAccounts { ticket, .. } => Completion::AccountsSaved {
                ticket,
                result: Ok(()),
            },
            Effect::Log(b) => Completion::Logged {
                seq: b.seq,
                result: Ok(()),
            },
            _ => continue,
        };
        core.complete(now, done);
    }
}

/// Run password work only; return the accounts saves queued, unanswered.
fn hash_only(core: &mut Core, now: Now) -> Vec<(u64, BTreeMap<String, Account>)> {
    let mut saves = Vec::new();
    while let Some(e) = core.poll_effect() {
        match e {
            Effect::Auth(job) => core.complete(now, Completion::Auth(job.run())),
            Effect::SaveAccounts { ticket, accounts } => saves.push((ticket, accounts)),
            _ => {}
        }
    }
    saves
}

/// Frames to `conn` so far, without running anything.
fn out(core: &mut Core, conn: ConnId) -> Vec<ServerMsg> {
    core.drain()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, o)| match o {
            Output::Frame(b, _) => Some(crate::protocol::binary::server_msg(&b).unwrap()),
            Output::Close(_) | Output::Resume => None,
        })
        .collect()
}

/// Frames to `conn`, after running queued password work and saves.
fn frames(core: &mut Core, conn: ConnId, now: Now) -> Vec<ServerMsg> {
    settle(core, now);
    core.drain()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, o)| match o {
            Output::Frame(b, _) => Some(crate::protocol::binary::server_msg(&b).unwrap()),
            Output::Close(_) | Output::Resume => None,
        })
        .collect()
}

fn code(msgs: &[ServerMsg]) -> Option<ErrorCode> {
    msgs.iter().find_map(|m| match m {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    })
}

fn welcomed(msgs: &[ServerMsg]) -> bool {
    matches!(msgs.first(), Some(ServerMsg::Welcome { .. }))
}

fn core() -> Core {
    let mut cfg = Config::default();
    cfg.limits.login_timeout_ms = 0; // the tests jump far ahead in time
    Core::new(cfg)
}

fn connect(c: &mut Core, conn: ConnId, ip: u8) {
    c.accept(conn, IpAddr::from([10, 0, 0, ip]), at(0));
}

#[test]
fn a_password_registers_then_protects_the_name() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    // Nothing yet: the hash is being computed.
    assert!(c.drain().next().is_none());
    assert!(welcomed(&frames(&mut c, ConnId(1), at(0))));
    assert!(c.is_registered("alice"));
    c.disconnect(ConnId(1), Gone::Abrupt, at(10));
    c.tick(at(60_000)); // past the grace period
    connect(&mut c, ConnId(2), 2);
    c.handle(ConnId(2), hello("alice", None), at(60_000));
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(60_000))),
        Some(ErrorCode::AuthRequired)
    );
    c.handle(ConnId(2), hello("alice", Some("wrong horse")), at(60_000));
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(60_000))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(ConnId(2), hello("alice", Some("correct horse")), at(60_000));
    assert!(welcomed(&frames(&mut c, ConnId(2), at(60_000))));
}

#[test]
fn open_names_stay_open_and_short_passwords_do_not_register() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("bob", None), at(0));
    assert!(welcomed(&frames(&mut c, ConnId(1), at(0))));
    connect(&mut c, ConnId(2), 1);
    c.handle(ConnId(2), hello("carol", Some("short")), at(0));
    let f = frames(&mut c, ConnId(2), at(0));
    assert_eq!(code(&f), Some(ErrorCode::Invalid));
    assert!(!c.is_registered("carol"));
}

#[test]
fn failures_lock_the_name_out_for_longer_and_longer() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    frames(&mut c, ConnId(1), at(0));
    c.handle(ConnId(1), ClientMsg::Logout {}, at(0));
    frames(&mut c, ConnId(1), at(0));
    connect(&mut c, ConnId(2), 2);
    let mut t = 1_000;
    for _ in 0..PAIR_FREE {
        c.handle(ConnId(2), hello("alice", Some("guess guess")), at(t));
        assert_eq!(
            code(&frames(&mut c, ConnId(2), at(t))),
            Some(ErrorCode::BadPassword)
        );
    }
    // Locked out for 1 s: even the right password is not checked.
    c.handle(ConnId(2), hello("alice", Some("correct horse")), at(t + 10));
    let f = frames(&mut c, ConnId(2), at(t + 10));
    assert_eq!(code(&f), Some(ErrorCode::TooManyAttempts));
    assert!(
        matches!(&f[0], ServerMsg::Error { message, .. } if message.contains("try again in 1 s"))
    );
    // Another failure after the lockout doubles it.
    t += 1_000;
    c.handle(ConnId(2), hello("alice", Some("guess guess")), at(t));
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(t))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(
        ConnId(2),
        hello("alice", Some("correct horse")),
        at(t + 1_500),
    );
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(t + 1_500))),
        Some(ErrorCode::TooManyAttempts)
    );
    c.handle(
        ConnId(2),
        hello("alice", Some("correct horse")),
        at(t + 2_000),
    );
    assert!(welcomed(&frames(&mut c, ConnId(2), at(t + 2_000))));
}

#[test]
fn an_address_that_fails_on_many_names_is_locked_out() {
    let mut c = core();
    for i in 0..=IP_FREE {
        let conn = 100 + i as u64;
        connect(&mut c, ConnId(conn), 1);
        c.handle(
            ConnId(conn),
            hello(&format!("u{i}"), Some("the password")),
            at(0),
        );
        frames(&mut c, ConnId(conn), at(0));
    }
    connect(&mut c, ConnId(1), 9);
    // (Logged out first: a wrong password for an online name is checked
    // too, see the takeover tests, but one at a time.)
    for i in 0..=IP_FREE {
        c.disconnect(ConnId(100 + i as u64), Gone::Kicked, at(0));
    }
    c.tick(at(60_000));
    for i in 0..IP_FREE {
        c.handle(
            ConnId(1),
            hello(&format!("u{i}"), Some("not the password")),
            at(60_000),
        );
        assert_eq!(
            code(&frames(&mut c, ConnId(1), at(60_000))),
            Some(ErrorCode::BadPassword)
        );
    }
    c.handle(
        ConnId(1),
        hello(&format!("u{IP_FREE}"), Some("the password")),
        at(60_000),
    );
    let f = frames(&mut c, ConnId(1), at(60_000));
    assert!(
        matches!(&f[0], ServerMsg::Error { code: ErrorCode::TooManyAttempts, message, .. } if message.contains("your address"))
    );
    // Another address is not affected.
    connect(&mut c, ConnId(2), 7);
    c.handle(
        ConnId(2),
        hello(&format!("u{IP_FREE}"), Some("the password")),
        at(60_000),
    );
    assert!(welcomed(&frames(&mut c, ConnId(2), at(60_000))));
}

#[test]
fn change_password_registers_or_needs_the_old_one() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", None), at(0));
    frames(&mut c, ConnId(1), at(0));
    let change = |old: Option<&str>, new: &str| ClientMsg::ChangePassword {
        old: old.map(Secret::from),
        new: Secret::from(new),
    };
    c.handle(ConnId(1), change(None, "first password"), at(0));
    assert!(matches!(
        frames(&mut c, ConnId(1), at(0)).as_slice(),
        [ServerMsg::PasswordChanged {
            registered: true,
            ..
        }]
    ));
    c.handle(ConnId(1), change(None, "second password"), at(0));
    assert_eq!(
        code(&frames(&mut c, ConnId(1), at(0))),
        Some(ErrorCode::AuthRequired)
    );
    c.handle(
        ConnId(1),
        change(Some("wrong password"), "second password"),
        at(0),
    );
    assert_eq!(
        code(&frames(&mut c, ConnId(1), at(0))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(
        ConnId(1),
        change(Some("first password"), "second password"),
        at(0),
    );
    assert!(matches!(
        frames(&mut c, ConnId(1), at(0)).as_slice(),
        [ServerMsg::PasswordChanged {
            registered: false,
            ..
        }]
    ));
    c.handle(ConnId(1), ClientMsg::Logout {}, at(0));
    frames(&mut c, ConnId(1), at(0));
    connect(&mut c, ConnId(2), 1);
    c.handle(ConnId(2), hello("alice", Some("first password")), at(0));
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(0))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(ConnId(2), hello("alice", Some("second password")), at(0));
    assert!(welcomed(&frames(&mut c, ConnId(2), at(0))));
}

#[test]
fn a_check_that_ends_after_its_connection_is_dropped() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let jobs = c.take_auth_jobs();
    assert_eq!(jobs.len(), 1);
    c.disconnect(ConnId(1), Gone::Abrupt, at(1));
    // The slab reuses the key for someone else.
    connect(&mut c, ConnId(1), 2);
    for j in jobs {
        c.auth_done(j.run(), at(2));
    }
    assert!(c.drain().next().is_none());
    assert!(!c.is_registered("alice"));
    assert_eq!(c.online(), 0);
}

#[test]
fn jobs_do_not_show_passwords() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let jobs = c.take_auth_jobs();
    assert!(!format!("{jobs:?}").contains("horse"));
}

#[test]
fn one_address_registers_a_bounded_number_of_names_an_hour() {
    let mut cfg = Config::default();
    cfg.limits.login_timeout_ms = 0;
    cfg.limits.max_registrations_per_ip = 2;
    let mut c = Core::new(cfg);
    for (conn, name) in [(1, "n1"), (2, "n2")] {
        connect(&mut c, ConnId(conn), 7);
        c.handle(ConnId(conn), hello(name, Some("a fine password")), at(0));
        assert!(welcomed(&frames(&mut c, ConnId(conn), at(0))), "{name}");
    }
    // A third name from the same address within the hour is refused, with
    // no password work done; an unprotected login still works.
    connect(&mut c, ConnId(3), 7);
    c.handle(ConnId(3), hello("n3", Some("a fine password")), at(1_000));
    let out = frames(&mut c, ConnId(3), at(1_000));
    assert_eq!(code(&out), Some(ErrorCode::TooManyAttempts), "{out:?}");
    assert!(!c.is_registered("n3"));
    c.handle(ConnId(3), hello("n3", None), at(1_000));
    assert!(welcomed(&frames(&mut c, ConnId(3), at(1_000))));
    // ... and so is registering it with /passwd.
    c.handle(
        ConnId(3),
        ClientMsg::ChangePassword {
            old: None,
            new: Secret::from("a fine password"),
        },
        at(2_000),
    );
    assert_eq!(
        code(&frames(&mut c, ConnId(3), at(2_000))),
        Some(ErrorCode::TooManyAttempts)
    );
    // Another address may; this one may again an hour after its first.
    connect(&mut c, ConnId(4), 8);
    c.handle(ConnId(4), hello("n4", Some("a fine password")), at(3_000));
    assert!(welcomed(&frames(&mut c, ConnId(4), at(3_000))));
    connect(&mut c, ConnId(5), 7);
    c.handle(ConnId(5), hello("n5", Some("a fine password")), at(HOUR_MS));
    assert!(welcomed(&frames(&mut c, ConnId(5), at(HOUR_MS))));
}

#[test]
fn the_server_holds_a_bounded_number_of_registered_names() {
    let mut cfg = Config::default();
    cfg.limits.login_timeout_ms = 0;
    cfg.limits.max_accounts = 2;
    let mut c = Core::new(cfg);
    for (conn, name, ip) in [(1, "n1", 1), (2, "n2", 2)] {
        connect(&mut c, ConnId(conn), ip);
        c.handle(ConnId(conn), hello(name, Some("a fine password")), at(0));
        assert!(welcomed(&frames(&mut c, ConnId(conn), at(0))), "{name}");
    }
    // A third, from yet another address, is refused saying why, with no
    // password work done; the name may still be used open.
    connect(&mut c, ConnId(3), 3);
    c.handle(ConnId(3), hello("n3", Some("a fine password")), at(1_000));
    let out = frames(&mut c, ConnId(3), at(1_000));
    assert_eq!(code(&out), Some(ErrorCode::TooManyAttempts), "{out:?}");
    assert!(
        format!("{out:?}").contains("holds 2 registered names, the most it allows"),
        "{out:?}"
    );
    assert!(c.take_auth_jobs().is_empty());
    assert!(!c.is_registered("n3"));
    c.handle(ConnId(3), hello("n3", None), at(1_000));
    assert!(welcomed(&frames(&mut c, ConnId(3), at(1_000))));
}

/// What the skeleton index should hold, rebuilt from the maps it follows.
fn rebuilt(c: &Core) -> BTreeMap<String, u8> {
    let mut m: BTreeMap<String, u8> = BTreeMap::new();
    for n in c.accounts.map.keys() {
        *m.entry(n.clone()).or_default() |= REGISTERED;
    }
    for n in c.names.keys() {
        *m.entry(n.clone()).or_default() |= ONLINE;
    }
    for n in c.reserved.keys() {
        *m.entry(n.clone()).or_default() |= HELD;
    }
    m
}

fn in_step(c: &Core, when: &str) {
    assert_eq!(c.accounts.holders.snapshot(), rebuilt(c), "after {when}");
}

#[test]
fn the_skeleton_index_stays_in_step_with_names_reservations_and_accounts() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    frames(&mut c, ConnId(1), at(0));
    in_step(&c, "a registration");
    connect(&mut c, ConnId(2), 2);
    c.handle(ConnId(2), hello("bob", None), at(0));
    frames(&mut c, ConnId(2), at(0));
    in_step(&c, "an open login");
    c.disconnect(ConnId(2), Gone::Abrupt, at(10));
    in_step(&c, "a drop (bob held)");
    assert!(c
        .accounts
        .holders
        .others("B0B")
        .iter()
        .any(|(n, w)| n == "bob" && w & HELD != 0));
    c.handle(ConnId(1), ClientMsg::Logout {}, at(20));
    frames(&mut c, ConnId(1), at(20));
    in_step(&c, "a logout (alice still registered)");
    c.tick(at(60_000));
    in_step(&c, "the reservation's expiry");
    assert!(c.accounts.holders.others("Bob").is_empty(), "bob is free");
    // A registration whose save fails is taken back, and so is its entry.
    connect(&mut c, ConnId(3), 3);
    c.handle(
        ConnId(3),
        hello("carol", Some("a fine password")),
        at(60_000),
    );
    let (ticket, _) = hash_only(&mut c, at(60_000)).remove(0);
    in_step(&c, "a registration waiting for its save");
    c.complete(
        at(60_001),
        Completion::AccountsSaved {
            ticket,
            result: Err("disk full".into()),
        },
    );
    in_step(&c, "a failed save");
    assert!(c.accounts.holders.others("CAROL").is_empty());
    // A resume with the token takes a held name back.
    connect(&mut c, ConnId(4), 4);
    c.handle(ConnId(4), hello("dave", None), at(60_002));
    let session = match &frames(&mut c, ConnId(4), at(60_002))[0] {
        ServerMsg::Welcome { session, .. } => session.clone(),
        other => panic!("{other:?}"),
    };
    c.disconnect(ConnId(4), Gone::Abrupt, at(60_003));
    connect(&mut c, ConnId(5), 4);
    let mut h = hello("dave", None);
    if let ClientMsg::Hello { resume, .. } = &mut h {
        *resume = Some(crate::protocol::Resume {
            session: Some(session),
            rooms: vec![],
            since: None,
        });
    }
    c.handle(ConnId(5), h, at(60_004));
    assert!(welcomed(&frames(&mut c, ConnId(5), at(60_004))));
    in_step(&c, "a resume");
    // The accounts file read at start-up replaces what was registered.
    let mut accounts = c.accounts.map.clone();
    accounts.remove("alice");
    accounts.insert(
        "Erin".into(),
        Account {
            hash: "x".into(),
            since: 0,
            dms_from: 0,
        },
    );
    c.set_accounts(accounts);
    in_step(&c, "set_accounts");
}

#[test]
fn a_guesser_is_locked_out_of_the_name_but_the_owner_elsewhere_is_not() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    frames(&mut c, ConnId(1), at(0));
    c.handle(ConnId(1), ClientMsg::Logout {}, at(0));
    frames(&mut c, ConnId(1), at(0));
    connect(&mut c, ConnId(2), 66);
    let mut t = 1_000;
    // The guesser keeps going, one guess per lockout window.
    for round in 0..8 {
        c.handle(ConnId(2), hello("alice", Some("guess guess")), at(t));
        let f = frames(&mut c, ConnId(2), at(t));
        assert_eq!(code(&f), Some(ErrorCode::BadPassword), "round {round}");
        if round + 1 >= PAIR_FREE {
            // Locked out: not even the right password is checked.
            c.handle(ConnId(2), hello("alice", Some("correct horse")), at(t + 1));
            let f = frames(&mut c, ConnId(2), at(t + 1));
            assert!(
                matches!(&f[0], ServerMsg::Error { code: ErrorCode::TooManyAttempts, message, .. }
                    if message.contains("from your address")),
                "round {round}: {f:?}"
            );
        }
        // Meanwhile the owner, from another address, is never delayed.
        let owner = ConnId(100 + round as u64);
        connect(&mut c, owner, 1);
        c.handle(owner, hello("alice", Some("correct horse")), at(t + 2));
        assert!(welcomed(&frames(&mut c, owner, at(t + 2))), "round {round}");
        c.handle(owner, ClientMsg::Logout {}, at(t + 2));
        frames(&mut c, owner, at(t + 2));
        t += 10 * 60 * 1000; // past the longest lockout
    }
}

#[test]
fn the_per_name_cap_stops_guessing_from_many_addresses() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    frames(&mut c, ConnId(1), at(0));
    c.handle(ConnId(1), ClientMsg::Logout {}, at(0));
    frames(&mut c, ConnId(1), at(0));
    let guess = |c: &mut Core, n: u32| {
        let conn = ConnId(1_000 + n as u64);
        c.accept(
            conn,
            IpAddr::from([10, 1, (n / 250) as u8, (n % 250) as u8]),
            at(0),
        );
        c.handle(conn, hello("alice", Some("guess guess")), at(1));
        frames(c, conn, at(1))
    };
    for n in 0..NAME_FREE - 1 {
        assert_eq!(code(&guess(&mut c, n)), Some(ErrorCode::BadPassword), "{n}");
    }
    // Below the cap the owner logs in as ever.
    connect(&mut c, ConnId(2), 1);
    c.handle(ConnId(2), hello("alice", Some("correct horse")), at(2));
    assert!(welcomed(&frames(&mut c, ConnId(2), at(2))));
    c.handle(ConnId(2), ClientMsg::Logout {}, at(2));
    frames(&mut c, ConnId(2), at(2));
    // The cap's failure locks the name for everyone, for a while.
    assert_eq!(
        code(&guess(&mut c, NAME_FREE)),
        Some(ErrorCode::BadPassword)
    );
    connect(&mut c, ConnId(3), 1);
    c.handle(ConnId(3), hello("alice", Some("correct horse")), at(3));
    let f = frames(&mut c, ConnId(3), at(3));
    assert!(
        matches!(&f[0], ServerMsg::Error { code: ErrorCode::TooManyAttempts, message, .. }
            if message.contains("many addresses")),
        "{f:?}"
    );
    c.handle(ConnId(3), hello("alice", Some("correct horse")), at(1_001));
    assert!(welcomed(&frames(&mut c, ConnId(3), at(1_001))));
}

mod saves;
