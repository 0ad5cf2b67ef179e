//! Connection ids as the core sees them ([`ConnId`]): the shell's, and the
//! stand-ins for users on other nodes of a cluster; and maps keyed by them
//! ([`ConnMap`], and [`ConnTable`] for what every connection has).

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

/// Connections with a slab slot below this are kept in [`ConnTable`]'s
/// vector; the rest (and stand-ins) in its map.
const DENSE_SLOTS: usize = 1 << 16;

/// A table of what the core keeps for every connection (sessions, limits),
/// indexed by the shell's slab slot: slots are reused, so the vector stays
/// about as long as the most connections open at once, and an entry costs
/// its own size (a hash map at 10,000 entries has 16,384 places, every one
/// written). A slot still held by an id whose session the cluster has not
/// ended, stand-ins for other nodes' users, and slots past
/// [`DENSE_SLOTS`] go in a map.
#[derive(Debug)]
pub(crate) struct ConnTable<V> {
    dense: Vec<Option<(ConnId, V)>>,
    sparse: ConnMap<V>,
    len: usize,
}

impl<V> Default for ConnTable<V> {
    fn default() -> Self {
        ConnTable {
            dense: Vec::new(),
            sparse: ConnMap::default(),
            len: 0,
        }
    }
}

impl<V> ConnTable<V> {
    fn dense_slot(id: ConnId) -> Option<usize> {
        (!id.is_remote() && id.slot() < DENSE_SLOTS).then(|| id.slot())
    }

    pub fn get(&self, id: &ConnId) -> Option<&V> {
        if let Some(Some((k, v))) = Self::dense_slot(*id).and_then(|i| self.dense.get(i)) {
            if k == id {
                return Some(v);
            }
        }
        self.sparse.get(id)
    }

    pub fn get_mut(&mut self, id: &ConnId) -> Option<&mut V> {
        if let Some(i) = Self::dense_slot(*id) {
            if let Some(Some((k, _))) = self.dense.get(i) {
                if k == id {
                    return self.dense[i].as_mut().map(|(_, v)| v);
                }
            }
        }
        self.sparse.get_mut(id)
    }

    pub fn contains_key(&self, id: &ConnId) -> bool {
        self.get(id).is_some()
    }

    /// Set `id`'s entry; the one it replaces, if any.
    pub fn insert(&mut self, id: ConnId, v: V) -> Option<V> {
        if let Some(old) = self.get_mut(&id) {
            return Some(std::mem::replace(old, v));
        }
        self.len += 1;
        if let Some(i) = Self::dense_slot(id) {
            if i >= self.dense.len() {
                self.dense.resize_with(i + 1, || None);
            }
            if self.dense[i].is_none() {
                self.dense[i] = Some((id, v));
                return None;
            }
        }
        self.sparse.insert(id, v)
    }

    pub fn remove(&mut self, id: &ConnId) -> Option<V> {
        let dense = Self::dense_slot(*id).and_then(|i| self.dense.get_mut(i));
        let v = match dense {
            Some(place) if place.as_ref().is_some_and(|(k, _)| k == id) => {
                place.take().map(|(_, v)| v)
            }
            _ => self.sparse.remove(id),
        };
        if v.is_some() {
            self.len -= 1;
        }
        v
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnId, &V)> {
        let dense = self.dense.iter().flatten().map(|(k, v)| (k, v));
        dense.chain(self.sparse.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &ConnId> {
        self.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_keeps_two_generations_of_one_slot_and_stand_ins_apart() {
        let mut t = ConnTable::default();
        let old = ConnId::new(3, 1);
        let new = ConnId::new(3, 2);
        let far = ConnId::new(DENSE_SLOTS + 1, 1);
        let remote = ConnId::remote(3);
        assert_eq!(t.insert(old, "old"), None);
        // The slot is reused while the old id is still kept (a cluster
        // session not yet ended): the new one goes beside it.
        assert_eq!(t.insert(new, "new"), None);
        assert_eq!(t.insert(far, "far"), None);
        assert_eq!(t.insert(remote, "remote"), None);
        assert_eq!(t.insert(new, "newer"), Some("new"));
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(&old), Some(&"old"));
        assert_eq!(t.get(&new), Some(&"newer"));
        assert_eq!(t.get(&ConnId::new(3, 9)), None);
        assert_eq!(t.remove(&old), Some("old"));
        assert_eq!(t.remove(&old), None);
        *t.get_mut(&new).unwrap() = "changed";
        let mut all: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort();
        assert_eq!(
            all,
            vec![(far, "far"), (new, "changed"), (remote, "remote")]
        );
        assert_eq!(t.remove(&new), Some("changed"));
        assert_eq!(t.insert(ConnId::new(3, 3), "third"), None);
        assert!(t.contains_key(&ConnId::new(3, 3)) && !t.contains_key(&new));
        assert_eq!(t.len(), 3);
    }
}
