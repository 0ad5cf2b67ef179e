//! Look-alike names: [`Holders`] indexes the registered, online and held
//! names by skeleton ([`validate::skeleton`]), and a name whose skeleton is
//! that of a different taken name is refused (`name_taken`).

use crate::core::{validate, ConnId, Core, Now};
use crate::protocol::ErrorCode;
use std::collections::hash_map::{Entry, RandomState};
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// What holds a name, in [`Holders`].
pub(crate) const REGISTERED: u8 = 1;
pub(crate) const ONLINE: u8 = 2;
pub(crate) const HELD: u8 = 4;

/// The names that are registered, online or held after a drop, indexed by
/// their skeleton ([`validate::skeleton`]), each with what holds it
/// ([`REGISTERED`], [`ONLINE`], [`HELD`] bits). The maps stay keyed by the
/// exact name; this index only answers "which other name looks like this
/// one", in O(1).
///
/// One entry per online user, so it is kept small: keyed by a keyed hash of
/// the skeleton (no copy of it; chosen names cannot aim at a collision, and
/// [`Holders::others`] compares the skeletons anyway), with the one name a
/// skeleton usually has held inline.
#[derive(Debug, Default)]
pub(crate) struct Holders {
    by_skeleton: HashMap<u64, Names>,
    keys: RandomState,
}

/// The names under one skeleton hash, with what holds each.
#[derive(Debug)]
enum Names {
    One((String, u8)),
    Many(Vec<(String, u8)>),
}

impl Names {
    fn as_mut_slice(&mut self) -> &mut [(String, u8)] {
        match self {
            Names::One(n) => std::slice::from_mut(n),
            Names::Many(v) => v,
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, (String, u8)> {
        match self {
            Names::One(n) => std::slice::from_ref(n).iter(),
            Names::Many(v) => v.iter(),
        }
    }

    fn push(&mut self, name: (String, u8)) {
        match self {
            Names::One(first) => {
                let first = std::mem::take(first);
                *self = Names::Many(vec![first, name]);
            }
            Names::Many(v) => v.push(name),
        }
    }

    /// Remove the `i`th; false if none is left.
    fn remove(&mut self, i: usize) -> bool {
        match self {
            Names::One(_) => false,
            Names::Many(v) => {
                v.swap_remove(i);
                !v.is_empty()
            }
        }
    }
}

impl Holders {
    fn key(&self, name: &str) -> u64 {
        self.keys.hash_one(validate::skeleton(name))
    }

    /// `name` is (`on`) or is no longer held by `what`.
    pub(crate) fn set(&mut self, name: &str, what: u8, on: bool) {
        let key = self.key(name);
        let list = match self.by_skeleton.entry(key) {
            Entry::Vacant(v) => {
                if on {
                    v.insert(Names::One((name.to_string(), what)));
                }
                return;
            }
            Entry::Occupied(o) => o.into_mut(),
        };
        match list.as_mut_slice().iter().position(|(n, _)| n == name) {
            Some(i) if on => list.as_mut_slice()[i].1 |= what,
            Some(i) => {
                let held = &mut list.as_mut_slice()[i].1;
                *held &= !what;
                if *held == 0 && !list.remove(i) {
                    self.by_skeleton.remove(&key);
                }
            }
            None if on => list.push((name.to_string(), what)),
            None => {}
        }
    }

    /// The names other than `name` with its skeleton, and what holds each.
    pub(crate) fn others(&self, name: &str) -> Vec<(String, u8)> {
        let Some(list) = self.by_skeleton.get(&self.key(name)) else {
            return Vec::new();
        };
        let skeleton = validate::skeleton(name);
        list.iter()
            .filter(|(n, _)| n != name && validate::skeleton(n) == skeleton)
            .cloned()
            .collect()
    }

    /// Every held name and what holds it (tests: compare with the maps).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u8> {
        self.by_skeleton
            .values()
            .flat_map(Names::iter)
            .map(|(n, w)| (n.clone(), *w))
            .collect()
    }
}

impl Core {
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
}
