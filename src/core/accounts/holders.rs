//! Look-alike names: [`Holders`] indexes the registered, online and held
//! names by skeleton ([`validate::skeleton`]), and a name whose skeleton is
//! that of a different taken name is refused (`name_taken`).

use crate::core::{validate, ConnId, Core, Now};
use crate::protocol::ErrorCode;
#[cfg(test)]
use std::collections::BTreeMap;
use std::collections::HashMap;

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
            None if on => {
                // Most skeletons have one name: room for exactly that (a
                // first push would make room for 4).
                list.reserve_exact(1);
                list.push((name.to_string(), what));
            }
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
