//! The accounts file as an effect: a registration or a password change
//! is answered only once it is saved, a failed save is taken back, and
//! saves go one at a time.

use super::*;

#[test]
fn a_registration_is_welcomed_only_once_the_accounts_file_is_saved() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let saves = hash_only(&mut c, at(0));
    assert!(out(&mut c, ConnId(1)).is_empty(), "nothing before the save");
    assert_eq!(saves.len(), 1);
    let (ticket, snapshot) = &saves[0];
    assert!(
        snapshot.contains_key("alice"),
        "the save carries the new name"
    );
    // Meanwhile the name is taken: nobody else registers it.
    assert!(c.is_registered("alice"));
    c.complete(
        at(1),
        Completion::AccountsSaved {
            ticket: *ticket,
            result: Ok(()),
        },
    );
    assert!(welcomed(&out(&mut c, ConnId(1))));
}

#[test]
fn a_failed_save_takes_the_registration_back() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let (ticket, _) = hash_only(&mut c, at(0)).remove(0);
    let disk_full = Completion::AccountsSaved {
        ticket,
        result: Err("No space left on device".into()),
    };
    c.complete(at(1), disk_full);
    let f = out(&mut c, ConnId(1));
    assert!(
        matches!(&f[..], [ServerMsg::Error { code: ErrorCode::Internal, message, re: Some(re), .. }]
            if message.contains("could not save its accounts file, so nothing was registered") && re == "hello"),
        "{f:?}"
    );
    assert!(!c.is_registered("alice"), "rolled back");
    assert_eq!(c.online(), 0, "not logged in");
    // Once the disk is back, the same hello registers.
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(2));
    assert!(welcomed(&frames(&mut c, ConnId(1), at(2))));
    assert!(c.is_registered("alice"));
}

#[test]
fn a_failed_save_keeps_the_old_password() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("first password")), at(0));
    assert!(welcomed(&frames(&mut c, ConnId(1), at(0))));
    c.handle(
        ConnId(1),
        ClientMsg::ChangePassword {
            old: Some(Secret::from("first password")),
            new: Secret::from("second password"),
        },
        at(0),
    );
    let before = c.accounts.map["alice"].hash.clone();
    let (ticket, snapshot) = hash_only(&mut c, at(0)).remove(0);
    assert_ne!(
        snapshot["alice"].hash, before,
        "the save carries the new hash"
    );
    // A second change while the first is being saved is told to wait.
    c.handle(
        ConnId(1),
        ClientMsg::ChangePassword {
            old: Some(Secret::from("first password")),
            new: Secret::from("third password"),
        },
        at(0),
    );
    assert_eq!(code(&out(&mut c, ConnId(1))), Some(ErrorCode::SlowDown));
    let failed = Completion::AccountsSaved {
        ticket,
        result: Err("No space left on device".into()),
    };
    c.complete(at(1), failed);
    assert_eq!(c.accounts.map["alice"].hash, before, "rolled back");
    let f = out(&mut c, ConnId(1));
    assert!(
        matches!(&f[..], [ServerMsg::Error { code: ErrorCode::Internal, re: Some(re), .. }] if re == "change_password"),
        "{f:?}"
    );
    c.handle(ConnId(1), ClientMsg::Logout {}, at(2));
    frames(&mut c, ConnId(1), at(2));
    connect(&mut c, ConnId(2), 1);
    c.handle(ConnId(2), hello("alice", Some("second password")), at(3));
    assert_eq!(
        code(&frames(&mut c, ConnId(2), at(3))),
        Some(ErrorCode::BadPassword)
    );
    c.handle(ConnId(2), hello("alice", Some("first password")), at(4));
    assert!(welcomed(&frames(&mut c, ConnId(2), at(4))));
}

#[test]
fn saves_go_one_at_a_time_and_a_failure_is_not_saved_later() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    connect(&mut c, ConnId(2), 2);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let first = hash_only(&mut c, at(0));
    c.handle(ConnId(2), hello("bob", Some("battery staple")), at(0));
    assert!(
        hash_only(&mut c, at(0)).is_empty(),
        "bob's save waits for alice's"
    );
    assert!(out(&mut c, ConnId(2)).is_empty());
    let (ticket, _) = first[0].clone();
    c.complete(
        at(1),
        Completion::AccountsSaved {
            ticket,
            result: Err("disk full".into()),
        },
    );
    assert_eq!(code(&out(&mut c, ConnId(1))), Some(ErrorCode::Internal));
    // Bob's save follows, without alice's change that failed.
    let mut next = hash_only(&mut c, at(1));
    assert_eq!(next.len(), 1);
    let (ticket, snapshot) = next.remove(0);
    assert_eq!(snapshot.keys().collect::<Vec<_>>(), ["bob"]);
    // A stale answer (an old ticket) changes nothing.
    c.complete(
        at(2),
        Completion::AccountsSaved {
            ticket: first[0].0,
            result: Ok(()),
        },
    );
    assert!(out(&mut c, ConnId(2)).is_empty());
    c.complete(
        at(2),
        Completion::AccountsSaved {
            ticket,
            result: Ok(()),
        },
    );
    assert!(welcomed(&out(&mut c, ConnId(2))));
    assert!(c.is_registered("bob") && !c.is_registered("alice"));
}

#[test]
fn a_save_that_ends_after_its_connection_is_dropped() {
    let mut c = core();
    connect(&mut c, ConnId(1), 1);
    c.handle(ConnId(1), hello("alice", Some("correct horse")), at(0));
    let (ticket, _) = hash_only(&mut c, at(0)).remove(0);
    c.disconnect(ConnId(1), Gone::Abrupt, at(1));
    connect(&mut c, ConnId(1), 2); // the key is reused
    c.complete(
        at(2),
        Completion::AccountsSaved {
            ticket,
            result: Ok(()),
        },
    );
    assert!(c.drain().next().is_none(), "nobody is welcomed");
    assert!(c.is_registered("alice"), "the name is saved all the same");
    assert_eq!(c.online(), 0);
}
