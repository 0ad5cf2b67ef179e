//! Unit tests of accounts: registration, passwords, lockouts, on a fake clock.
use super::*;
use crate::core::{Config, Gone, Output};
use crate::protocol::{parse_body, ClientMsg};

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

/// Frames to `conn`, after running queued password work.
fn frames(core: &mut Core, conn: ConnId, now: Now) -> Vec<ServerMsg> {
    core.run_auth_jobs(now);
    core.drain()
        .filter(|(c, _)| *c == conn)
        .filter_map(|(_, o)| match o {
            Output::Frame(b, _) => Some(parse_body::<ServerMsg>(&b[4..]).unwrap()),
            Output::Close(_) => None,
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
    connect(&mut c, 1, 1);
    c.handle(1, hello("alice", Some("correct horse")), at(0));
    // Nothing yet: the hash is being computed.
    assert!(c.drain().next().is_none());
    assert!(welcomed(&frames(&mut c, 1, at(0))));
    assert!(c.is_registered("alice"));
    c.disconnect(1, Gone::Abrupt, at(10));
    c.tick(at(60_000)); // past the grace period
    connect(&mut c, 2, 2);
    c.handle(2, hello("alice", None), at(60_000));
    assert_eq!(
        code(&frames(&mut c, 2, at(60_000))),
        Some(ErrorCode::AuthRequired)
    );
    c.handle(2, hello("alice", Some("wrong horse")), at(60_000));
    assert_eq!(
        code(&frames(&mut c, 2, at(60_000))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(2, hello("alice", Some("correct horse")), at(60_000));
    assert!(welcomed(&frames(&mut c, 2, at(60_000))));
}

#[test]
fn open_names_stay_open_and_short_passwords_do_not_register() {
    let mut c = core();
    connect(&mut c, 1, 1);
    c.handle(1, hello("bob", None), at(0));
    assert!(welcomed(&frames(&mut c, 1, at(0))));
    connect(&mut c, 2, 1);
    c.handle(2, hello("carol", Some("short")), at(0));
    let f = frames(&mut c, 2, at(0));
    assert_eq!(code(&f), Some(ErrorCode::Invalid));
    assert!(!c.is_registered("carol"));
}

#[test]
fn failures_lock_the_name_out_for_longer_and_longer() {
    let mut c = core();
    connect(&mut c, 1, 1);
    c.handle(1, hello("alice", Some("correct horse")), at(0));
    frames(&mut c, 1, at(0));
    c.handle(1, ClientMsg::Logout, at(0));
    frames(&mut c, 1, at(0));
    connect(&mut c, 2, 2);
    let mut t = 1_000;
    for _ in 0..NAME_FREE {
        c.handle(2, hello("alice", Some("guess guess")), at(t));
        assert_eq!(
            code(&frames(&mut c, 2, at(t))),
            Some(ErrorCode::BadPassword)
        );
    }
    // Locked out for 1 s: even the right password is not checked.
    c.handle(2, hello("alice", Some("correct horse")), at(t + 10));
    let f = frames(&mut c, 2, at(t + 10));
    assert_eq!(code(&f), Some(ErrorCode::TooManyAttempts));
    assert!(
        matches!(&f[0], ServerMsg::Error { message, .. } if message.contains("try again in 1 s"))
    );
    // Another failure after the lockout doubles it.
    t += 1_000;
    c.handle(2, hello("alice", Some("guess guess")), at(t));
    assert_eq!(
        code(&frames(&mut c, 2, at(t))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(2, hello("alice", Some("correct horse")), at(t + 1_500));
    assert_eq!(
        code(&frames(&mut c, 2, at(t + 1_500))),
        Some(ErrorCode::TooManyAttempts)
    );
    c.handle(2, hello("alice", Some("correct horse")), at(t + 2_000));
    assert!(welcomed(&frames(&mut c, 2, at(t + 2_000))));
}

#[test]
fn an_address_that_fails_on_many_names_is_locked_out() {
    let mut c = core();
    for i in 0..=IP_FREE {
        let conn = 100 + i as usize;
        connect(&mut c, conn, 1);
        c.handle(conn, hello(&format!("u{i}"), Some("the password")), at(0));
        frames(&mut c, conn, at(0));
    }
    connect(&mut c, 1, 9);
    for i in 0..IP_FREE {
        c.handle(1, hello(&format!("u{i}"), Some("not the password")), at(0));
        // Online names are refused as taken before any check: log them out first.
    }
    let f = frames(&mut c, 1, at(0));
    assert!(f.iter().all(|m| matches!(
        m,
        ServerMsg::Error {
            code: ErrorCode::NameTaken,
            ..
        }
    )));
    for i in 0..=IP_FREE {
        c.disconnect(100 + i as usize, Gone::Kicked, at(0));
    }
    c.tick(at(60_000));
    for i in 0..IP_FREE {
        c.handle(
            1,
            hello(&format!("u{i}"), Some("not the password")),
            at(60_000),
        );
        assert_eq!(
            code(&frames(&mut c, 1, at(60_000))),
            Some(ErrorCode::BadPassword)
        );
    }
    c.handle(
        1,
        hello(&format!("u{IP_FREE}"), Some("the password")),
        at(60_000),
    );
    let f = frames(&mut c, 1, at(60_000));
    assert!(
        matches!(&f[0], ServerMsg::Error { code: ErrorCode::TooManyAttempts, message, .. } if message.contains("your address"))
    );
    // Another address is not affected.
    connect(&mut c, 2, 7);
    c.handle(
        2,
        hello(&format!("u{IP_FREE}"), Some("the password")),
        at(60_000),
    );
    assert!(welcomed(&frames(&mut c, 2, at(60_000))));
}

#[test]
fn change_password_registers_or_needs_the_old_one() {
    let mut c = core();
    connect(&mut c, 1, 1);
    c.handle(1, hello("alice", None), at(0));
    frames(&mut c, 1, at(0));
    let change = |old: Option<&str>, new: &str| ClientMsg::ChangePassword {
        old: old.map(Secret::from),
        new: Secret::from(new),
    };
    c.handle(1, change(None, "first password"), at(0));
    assert!(matches!(
        frames(&mut c, 1, at(0)).as_slice(),
        [ServerMsg::PasswordChanged {
            registered: true,
            ..
        }]
    ));
    c.handle(1, change(None, "second password"), at(0));
    assert_eq!(
        code(&frames(&mut c, 1, at(0))),
        Some(ErrorCode::AuthRequired)
    );
    c.handle(1, change(Some("wrong password"), "second password"), at(0));
    assert_eq!(
        code(&frames(&mut c, 1, at(0))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(1, change(Some("first password"), "second password"), at(0));
    assert!(matches!(
        frames(&mut c, 1, at(0)).as_slice(),
        [ServerMsg::PasswordChanged {
            registered: false,
            ..
        }]
    ));
    c.handle(1, ClientMsg::Logout, at(0));
    frames(&mut c, 1, at(0));
    connect(&mut c, 2, 1);
    c.handle(2, hello("alice", Some("first password")), at(0));
    assert_eq!(
        code(&frames(&mut c, 2, at(0))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(2, hello("alice", Some("second password")), at(0));
    assert!(welcomed(&frames(&mut c, 2, at(0))));
}

#[test]
fn a_check_that_ends_after_its_connection_is_dropped() {
    let mut c = core();
    connect(&mut c, 1, 1);
    c.handle(1, hello("alice", Some("correct horse")), at(0));
    let jobs = c.take_auth_jobs();
    c.disconnect(1, Gone::Abrupt, at(1));
    // The slab reuses the key for someone else.
    connect(&mut c, 1, 2);
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
    connect(&mut c, 1, 1);
    c.handle(1, hello("alice", Some("correct horse")), at(0));
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
        connect(&mut c, conn, 7);
        c.handle(conn, hello(name, Some("a fine password")), at(0));
        assert!(welcomed(&frames(&mut c, conn, at(0))), "{name}");
    }
    // A third name from the same address within the hour is refused, with
    // no password work done; an unprotected login still works.
    connect(&mut c, 3, 7);
    c.handle(3, hello("n3", Some("a fine password")), at(1_000));
    let out = frames(&mut c, 3, at(1_000));
    assert_eq!(code(&out), Some(ErrorCode::TooManyAttempts), "{out:?}");
    assert!(!c.is_registered("n3"));
    c.handle(3, hello("n3", None), at(1_000));
    assert!(welcomed(&frames(&mut c, 3, at(1_000))));
    // ... and so is registering it with /passwd.
    c.handle(
        3,
        ClientMsg::ChangePassword {
            old: None,
            new: Secret::from("a fine password"),
        },
        at(2_000),
    );
    assert_eq!(
        code(&frames(&mut c, 3, at(2_000))),
        Some(ErrorCode::TooManyAttempts)
    );
    // Another address may; this one may again an hour after its first.
    connect(&mut c, 4, 8);
    c.handle(4, hello("n4", Some("a fine password")), at(3_000));
    assert!(welcomed(&frames(&mut c, 4, at(3_000))));
    connect(&mut c, 5, 7);
    c.handle(5, hello("n5", Some("a fine password")), at(HOUR_MS));
    assert!(welcomed(&frames(&mut c, 5, at(HOUR_MS))));
}
