//! The benchmark suite behind `chat-bench` and `make bench`.
//!
//! One process drives a server with many non-blocking connections on one
//! mio `Poll`, so that on a 2-core machine the server gets a core and the
//! load generator the other; every scenario reports the generator's own CPU
//! so a saturated generator shows. The same workloads run against Redis
//! (RESP pub/sub) for a side-by-side figure.
//!
//! - [`fanout`]: S members of one room, P publishing (scenarios 1 and 2), on
//!   one server or spread over a cluster's nodes (section 8).
//! - [`idle`]: C idle logged-in connections: login time, memory per connection (3).
//! - [`relay`]: the plain byte relay baseline for transfers (4).
//! - [`transfer`]: file transfers relayed by the server (4, and the load of 5).
//! - [`rtt`]: chat round-trip latency, idle and beside transfers (5).
//! - [`bystander`]: a bystander's ping round trips, idle and while another
//!   client sends a load of legal frames (issue 9).
//! - [`history`], [`history_run`]: the history database: start-up, reads
//!   and search on millions of stored messages, and the write rate (issue 11).
//! - [`report`]: bench/RESULTS.md from the scenarios' JSON lines.
//! - [`stats`], [`procfs`], [`resp`], [`wire`], [`net`]: the parts;
//!   [`commandstats`]: what a cluster's Redis ran (`INFO commandstats`).

pub mod bystander;
pub mod commandstats;
pub mod fanout;
pub mod history;
pub mod history_run;
pub mod idle;
pub mod net;
pub mod procfs;
pub mod relay;
pub mod report;
pub mod resp;
pub mod rtt;
pub mod stats;
pub mod transfer;
pub mod wire;
