//! Connection ids as the core sees them ([`ConnId`]): the shell's, and the
//! stand-ins for users on other nodes of a cluster; and maps keyed by them
//! ([`ConnMap`]).

use std::collections::HashMap;

/// Identifies a connection to the core. The shell makes it from its slab
/// key (the low 32 bits) and a generation (above), so an id is never reused:
/// output for a connection that closed can never reach a new connection in
/// the same slab slot. The core treats it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The id of the connection in slab slot `slot`, generation `gen`.
    pub fn new(slot: usize, gen: u64) -> ConnId {
        ConnId(((gen & 0xffff_ffff) << 32) | (slot as u64 & 0xffff_ffff))
    }

    /// The id standing for connection number `n` of users on other nodes
    /// of a cluster (see `core::cluster`): never a slab slot's.
    pub fn remote(n: u64) -> ConnId {
        ConnId(REMOTE_BIT | n)
    }

    /// Whether this stands for a user on another node, whose frames that
    /// node sends.
    pub fn is_remote(self) -> bool {
        self.0 & REMOTE_BIT != 0
    }

    /// The shell's slab key.
    pub fn slot(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }
}

/// Set in the ids of users on other nodes. A shell's generations never
/// reach it (2^31 connections).
const REMOTE_BIT: u64 = 1 << 63;

/// A map keyed by connection. Ids are the server's own numbers, never a
/// client's choice, so a fast hash (foldhash) is safe here; maps keyed by
/// names and rooms keep std's SipHash, which resists chosen keys.
pub(crate) type ConnMap<V> = HashMap<ConnId, V, foldhash::fast::RandomState>;

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.slot(), self.0 >> 32)
    }
}
