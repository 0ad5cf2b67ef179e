//! Helpers shared by the simulation tests of names and sessions
//! (`sim_names`, `sim_sessions`): frames, logins from an address, and what
//! came back.
#![allow(dead_code)]

use chat::core::{Config, ConnId};
use chat::protocol::{ClientMsg as C, ErrorCode, Resume, Secret, ServerMsg as S};
use chat::sim::{frames_to, Sim};
use std::net::IpAddr;

pub fn hello(name: &str, password: Option<&str>) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: None,
        password: password.map(Secret::from),
    }
}

pub fn resume(name: &str, session: Option<String>, since: Option<u64>) -> C {
    C::Hello {
        version: 1,
        name: name.into(),
        room: None,
        status: None,
        resume: Some(Resume {
            session,
            rooms: vec![],
            since,
        }),
        password: None,
    }
}

pub fn dm(to: &str, text: &str) -> C {
    C::PrivateMsg {
        to: to.into(),
        text: text.into(),
        cid: Some(format!("c-{text}")),
    }
}

pub fn history_with(peer: &str) -> C {
    C::History {
        room: None,
        peer: Some(peer.into()),
        before: None,
        limit: 500,
    }
}

/// Send `msg` from `conn`, end the turn, return what `conn` got.
pub fn ask(sim: &mut Sim, conn: ConnId, msg: C) -> Vec<S> {
    sim.send(conn, msg);
    let out = sim.turn();
    frames_to(&out, conn)
}

/// A new connection from `ip` sends `msg`; what it got.
pub fn fresh(sim: &mut Sim, conn: ConnId, ip: [u8; 4], msg: C) -> Vec<S> {
    assert!(sim.core.accept(conn, IpAddr::from(ip), sim.now));
    ask(sim, conn, msg)
}

/// The welcome's session token, or a panic showing what came instead.
pub fn welcomed(frames: &[S], who: &str) -> String {
    match frames.first() {
        Some(S::Welcome { session, .. }) => session.clone(),
        _ => panic!("{who} was not welcomed: {frames:?}"),
    }
}

pub fn error(frames: &[S]) -> (ErrorCode, String) {
    frames
        .iter()
        .find_map(|m| match m {
            S::Error { code, message, .. } => Some((*code, message.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error in {frames:?}"))
}

pub fn logout(sim: &mut Sim, conn: ConnId) {
    ask(sim, conn, C::Logout {});
    sim.disconnect(conn);
}

/// The server's defaults, without the login deadline (the fake clock
/// jumps past it while a connection waits on purpose).
pub fn cfg() -> Config {
    let mut cfg = Config::default();
    cfg.limits.login_timeout_ms = 0;
    cfg
}

pub const HOME: [u8; 4] = [10, 0, 0, 1];
pub const AWAY: [u8; 4] = [10, 0, 0, 2];
pub const GUESSER: [u8; 4] = [10, 6, 6, 6];
