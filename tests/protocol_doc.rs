//! Keeps docs/PROTOCOL.md honest: every JSON example is a real frame (it parses as `ClientMsg`
//! or `ServerMsg` and re-serializes byte for byte), every frame type is documented, and the
//! annotated example session replays against the real server.

mod common;

use chat::protocol::{ClientMsg, ServerMsg};
use common::*;
use serde_json::Value;
use std::collections::HashMap;

const DOC: &str = include_str!("../docs/PROTOCOL.md");

fn json_examples() -> Vec<&'static str> {
    doc_json_examples(DOC)
}

#[test]
fn every_json_example_is_a_real_frame_byte_for_byte() {
    let examples = json_examples();
    assert!(
        examples.len() > 30,
        "found only {} examples",
        examples.len()
    );
    for ex in examples {
        let client = serde_json::from_str::<ClientMsg>(ex)
            .ok()
            .map(|m| serde_json::to_string(&m).unwrap());
        let server = serde_json::from_str::<ServerMsg>(ex)
            .ok()
            .map(|m| serde_json::to_string(&m).unwrap());
        assert!(
            client.as_deref() == Some(ex) || server.as_deref() == Some(ex),
            "example is not a frame as the types serialize it:\n  doc:    {ex}\n  client: {client:?}\n  server: {server:?}"
        );
    }
}

#[test]
fn every_frame_type_has_a_section() {
    let examples = json_examples();
    let tags: Vec<String> = examples
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let client = CLIENT_FRAME_TYPES;
    let server = [
        "welcome",
        "error",
        "pong",
        "ack",
        "message",
        "joined",
        "left",
        "notice",
        "typing",
        "receipts",
        "room_list",
        "user_list",
        "call_ringing",
        "call_incoming",
        "call_accepted",
        "call_ended",
        "bye",
        "file_state",
        "file_list",
        "password_changed",
    ];
    for t in client.iter().chain(server.iter()) {
        assert!(DOC.contains(&format!("### `{t}`")), "no section for {t}");
        assert!(tags.iter().any(|x| x == t), "no JSON example for {t}");
    }
    // Every error code is in the table.
    for code in chat::protocol::error_code::ALL {
        let code = serde_json::to_value(code).unwrap();
        let code = code.as_str().unwrap();
        assert!(
            DOC.contains(&format!("| `{code}` |")),
            "error table lacks {code}"
        );
    }
}

/// Server-assigned numbers in the doc's example (message and call ids) mapped to the real ones.
#[derive(Default)]
struct Ids {
    msg: HashMap<u64, u64>,
    call: HashMap<u64, u64>,
}

impl Ids {
    /// Rewrite a documented frame with real ids; drop fields that cannot match (`ts`, `server`).
    fn translate(&self, v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("ts");
                m.remove("server");
                for (k, x) in m.iter_mut() {
                    let map = match k.as_str() {
                        "id" | "up_to" | "delivered" | "read" => Some(&self.msg),
                        "call" => Some(&self.call),
                        _ => None,
                    };
                    match (map, x.as_u64()) {
                        (Some(map), Some(n)) if n != 0 => {
                            if let Some(real) = map.get(&n) {
                                *x = Value::from(*real);
                            }
                        }
                        _ => self.translate(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.translate(x)),
            _ => {}
        }
    }

    /// Learn ids from a received frame against its documented form.
    fn learn(&mut self, doc: &Value, real: &Value) {
        if let (Value::Object(d), Value::Object(r)) = (doc, real) {
            for (k, map) in [("id", &mut self.msg), ("call", &mut self.call)] {
                if let (Some(dn), Some(rn)) = (
                    d.get(k).and_then(Value::as_u64),
                    r.get(k).and_then(Value::as_u64),
                ) {
                    map.entry(dn).or_insert(rn);
                }
            }
        }
    }
}

#[test]
fn the_example_session_replays_against_the_server() {
    let section = DOC
        .split("## Example session")
        .nth(1)
        .expect("an Example session section");
    let block = section.split("```").nth(1).expect("a fenced block");
    let server = Server::start(&[]);
    let mut clients: HashMap<String, Client> = HashMap::new();
    clients.insert("alice".into(), Client::login(server.addr(), "alice"));
    let mut ids = Ids::default();
    let mut pending: Option<(String, Vec<ClientMsg>)> = None;

    fn flush(
        clients: &mut HashMap<String, Client>,
        addr: std::net::SocketAddr,
        p: &mut Option<(String, Vec<ClientMsg>)>,
    ) {
        if let Some((who, msgs)) = p.take() {
            let c = clients.entry(who.clone()).or_insert_with(|| {
                let mut c = Client::connect(addr);
                c.name = who.clone();
                c
            });
            c.send_batch(&msgs);
        }
    }

    for line in block.lines().skip(1) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('(') {
            continue;
        }
        if let Some((who, json)) = t.split_once('→') {
            let who = who.trim().to_string();
            let mut v: Value = serde_json::from_str(json.trim()).unwrap();
            ids.translate(&mut v);
            let msg: ClientMsg = serde_json::from_value(v)
                .unwrap_or_else(|e| panic!("not a client frame: {t}: {e}"));
            // Consecutive frames from one client go out in one write.
            match &mut pending {
                Some((w, msgs)) if *w == who => msgs.push(msg),
                _ => {
                    flush(&mut clients, server.addr(), &mut pending);
                    pending = Some((who, vec![msg]));
                }
            }
        } else if let Some((who, json)) = t.split_once('←') {
            flush(&mut clients, server.addr(), &mut pending);
            let who = who.trim();
            let doc: Value = serde_json::from_str(json.trim()).unwrap();
            let c = clients
                .get_mut(who)
                .unwrap_or_else(|| panic!("{who} receives before sending anything"));
            let got = c.recv_what(&format!("the documented frame {t}"));
            let real = serde_json::to_value(&got).unwrap();
            ids.learn(&doc, &real);
            let (mut want, mut have) = (doc, real);
            ids.translate(&mut want);
            if let Value::Object(m) = &mut have {
                m.remove("ts");
                m.remove("server");
                m.remove("session");
                m.remove("boot");
                m.remove("files_key");
            }
            if let Value::Object(m) = &mut want {
                m.remove("session");
                m.remove("boot");
                m.remove("files_key");
            }
            assert_eq!(have, want, "example line: {t}");
        } else {
            panic!("cannot read example line {t:?}");
        }
    }
    flush(&mut clients, server.addr(), &mut pending);
    for (name, c) in clients.iter_mut() {
        if name == "bob" {
            c.expect_closed();
        } else {
            c.expect_quiet();
        }
    }
}
