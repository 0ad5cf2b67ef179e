//! The core's heap per idle logged-in user, counted by a counting allocator
//! (this test binary's global allocator): 10,000 connections log in to rooms
//! of 100, as `chat-bench idle` does, and the live bytes they added, over
//! their number, must stay under a bound. What is counted is what the core
//! asked for (not the allocator's size classes, nor the shell's `Conn`), so
//! the figure is deterministic; the bound is generous, to catch a field or
//! map that makes every user pay again, not a few bytes.

use chat::core::{Config, ConnId, Core, Now};
use chat::protocol::{ClientMsg, PROTOCOL_VERSION};
use chat::sim::Runner;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Live bytes: requested sizes of allocations not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Users logged in, as `make bench`'s largest idle run.
const USERS: u64 = 10_000;
/// Members per room, as `chat-bench idle`.
const ROOM: u64 = 100;
/// Heap bytes the core may keep per idle logged-in user. Measured: 1,604
/// before issue 15's memory work, 870 after it.
const BOUND: isize = 1_100;

fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

fn hello(name: String, room: String) -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        name,
        room: Some(room),
        status: None,
        resume: None,
        password: None,
    }
}

#[test]
fn an_idle_logged_in_user_costs_the_core_a_bounded_heap() {
    let mut cfg = Config::default();
    cfg.limits.max_connections = 0;
    cfg.limits.max_connections_per_ip = 0;
    let mut core = Core::new(cfg);
    let mut runner = Runner::new();
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut spare = Vec::new();
    let mut turn = |core: &mut Core, runner: &mut Runner, now: Now| {
        core.end_of_turn();
        runner.run(core, now);
        spare = core.take_output(std::mem::take(&mut spare));
        spare.clear();
        spare.shrink_to(4096);
    };
    // Whatever the first login makes once (the database, the output vector)
    // is not per user.
    core.accept(ConnId(1 << 40), ip, at(0));
    core.handle(
        ConnId(1 << 40),
        hello("warm-up".into(), "warm-up".into()),
        at(0),
    );
    turn(&mut core, &mut runner, at(0));
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..USERS {
        let now = at(1 + i / 10);
        let conn = ConnId(i + 1);
        core.accept(conn, ip, now);
        let name = format!("i5f3a9c-{i}");
        let room = format!("i5f3a9c-r{}", i / ROOM);
        core.handle(conn, hello(name, room), now);
        // A login burst's turns: a few hundred frames each.
        if i % 256 == 255 {
            turn(&mut core, &mut runner, now);
        }
    }
    turn(&mut core, &mut runner, at(1 + USERS / 10));
    let per_user = (LIVE.load(Ordering::Relaxed) - before) / USERS as isize;
    eprintln!("core heap per idle logged-in user: {per_user} bytes");
    assert_eq!(core.online(), USERS as usize + 1);
    assert!(
        per_user <= BOUND,
        "{per_user} bytes per idle user, more than {BOUND}"
    );
}
