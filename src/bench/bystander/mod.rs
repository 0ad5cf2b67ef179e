//! Issue 9, "the event loop never waits": how long a bystander waits while
//! somebody else keeps the server busy with frames that are all legal.
//!
//! One client, the **bystander**, logs in to a room of its own and sends
//! `ping` frames on a fixed schedule (every `ping_interval` whether or not
//! the previous one was answered: open loop, so a server that stalls for
//! 300 ms shows as ~150 slow round trips, not one) from its own thread and
//! its own mio `Poll`; each `pong` gives a round trip. A round trip counts
//! for the phase in which its ping was *sent*: first an idle baseline, then
//! each load in turn, all on the same server in one run. Only pings sent
//! while a load's frames are in the server count for that load: from the
//! first frame of a round until the server has answered all of them (the
//! attacker ends each round's frames with a `ping` of its own, a fence, and
//! waits for its `pong`). Setup (filling a room, uploading a file, logging
//! clients in) counts for nothing. A load whose frames take little time is
//! repeated in rounds until it has loaded the server for `min_load`, so that
//! its percentiles rest on a few hundred round trips.
//!
//! The loads ([`Load`]), each from fresh clients:
//! - `receipts`: a helper fills a room with `room_messages` messages (and
//!   waits for every ack); a reader joins and sends one cumulative
//!   `receipt{kind:"delivered"}` per message, `up_to` moving one id at a
//!   time. A round ends when the reader's fence is answered and the helper
//!   (the author) has been told the reader's final marker (or 5 s after the
//!   fence). `receipts4`: four readers do it at once.
//! - `resumes`: a file of `file_size` bytes is uploaded to the shared store;
//!   then `download` is asked `resumes` times and every offer is accepted
//!   with `offset` = the file's size and a wrong `prefix_sha256` (the server
//!   checks a claimed prefix against its copy). A round ends when each
//!   accept has its answer (`file_state` or an error) and the fence is back;
//!   the transfers are then cancelled, outside the measurement.
//! - `hello`: a new connection logs in with one `hello` whose
//!   `resume.rooms` lists up to `resume_rooms` distinct room names, as many
//!   as fit the server's default frame limit, with `type` last (the worst
//!   case for the server's decoder). A round ends at the `welcome` or an
//!   error, and the fence (or when the server closes).
//! - `neighbour`: `neighbours` clients in another room each keep one
//!   `room_msg` in flight (the next one goes when the ack comes) for
//!   `load_time`; history on, the server's default fsync.
//! - `history`: a client in the big room keeps `history_window` requests in
//!   flight for pages of `history_limit` messages below the middle id of
//!   the room (an old part, no longer in the server's recent cache) for
//!   `load_time`; a refused request (`slow_down`) is asked again only once
//!   a page has come, so the window shrinks to what the server allows.
//!
//! Each phase reports what the attacker sent and got back ([`Tally`]: frames
//! by type, errors by code, connections the server closed), the bystander's
//! p50/p99/max and the same against the idle baseline as ratios; the issue's
//! target is p99 at most [`TARGET_P99_RATIO`] times idle under every load.
//! Every wait has a deadline: a load still unfinished `phase_timeout` after
//! it began is abandoned and reported as timed out, and if the bystander's
//! pings are still unanswered well after that, the remaining loads are
//! skipped (the server is still busy) rather than measured on a stalled
//! server.
//!
//! The parts: `config` (loads, options), `pinger` (the bystander's thread
//! and its per-phase round trips), `clients` and `frames` (the attacker's
//! connections and what the server sends them), `tally` and `result` (what
//! a phase reports), `runner` (phases, measurement windows, login and fence
//! pings), and one file per load: `receipts` (with `big_room`, which
//! `history` shares), `resumes`, `hello`, `neighbour`, `history`.

mod big_room;
mod clients;
mod config;
mod frames;
mod hello;
mod history;
mod neighbour;
mod pinger;
mod receipts;
mod result;
mod resumes;
mod runner;
mod tally;

pub use config::{parse_size, BystanderConfig, Load, SERVER_MAX_FRAME};
pub use hello::{huge_hello, room_names};
pub use pinger::{pong_seq, PingBook};
pub use result::{fmt_ratio, ratio, BystanderResult, TARGET_P99_RATIO};
pub use tally::Tally;

use runner::Runner;

/// Run the idle baseline and then each load of `cfg.loads`, handing every
/// phase's result to `emit` as soon as it is known.
pub fn run(
    cfg: &BystanderConfig,
    mut emit: impl FnMut(&BystanderResult) -> Result<(), String>,
) -> Result<(), String> {
    let mut r = Runner::new(cfg)?;
    let idle = r.idle_phase()?;
    emit(&idle)?;
    for &load in &cfg.loads {
        let res = r.load(load);
        emit(&res)?;
    }
    Ok(())
}
