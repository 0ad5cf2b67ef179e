//! The `resumes` load: a file uploaded to the shared store (setup), then
//! `download` asked again and again, every offer accepted at the file's end
//! with a wrong `prefix_sha256`, so that the server checks a claimed prefix
//! against its copy; the transfers are cancelled outside the measurement.

use super::frames::Ev;
use super::runner::{user, Phase, Runner};
use crate::bench::transfer::{block, push_chunk, sha256_of, CHUNK};
use crate::protocol::{encode, ClientMsg};
use base64::Engine;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Bytes queued on the uploader's socket before it waits for room.
const SEND_QUEUE: usize = 256 * 1024;

impl Runner<'_> {
    /// Upload `size` bytes to the store as `name`; the seconds it took.
    fn upload(&mut self, name: &str, size: u64, deadline: Instant) -> Result<f64, String> {
        let t0 = Instant::now();
        let u = self.login(
            &[format!("{}-u", self.cfg.tag)],
            &format!("up{}", self.cfg.tag),
            deadline,
        )?[0];
        let blk = block();
        let b64 = base64::engine::general_purpose::STANDARD;
        let full = b64.encode(&blk);
        let last = b64.encode(&blk[..(size % CHUNK as u64) as usize]);
        let sha = sha256_of(&blk, size);
        let up = encode(&ClientMsg::Upload {
            name: name.to_string(),
            size,
            sha256: sha,
            cid: Some("up".into()),
        });
        self.net.send(u, &up, "upload", 1);
        let (mut id, mut credit, mut sent) = (None, 0u64, 0u64);
        loop {
            if Instant::now() > deadline {
                return Err(format!(
                    "upload: {sent} of {size} bytes sent within {} s",
                    self.cfg.phase_timeout.as_secs()
                ));
            }
            let mut done = false;
            for ev in self.pump_for(u)? {
                match ev {
                    Ev::FileState { id: t, state, .. } => {
                        id = Some(t);
                        match state.as_str() {
                            "completed" => done = true,
                            "failed" | "cancelled" | "rejected" | "interrupted" => {
                                return Err(format!("upload: the transfer ended {state}"))
                            }
                            _ => {}
                        }
                    }
                    Ev::FileCredit { bytes } => credit += bytes,
                    Ev::Error { code, message, .. } => {
                        return Err(format!("upload: {code}: {message}"))
                    }
                    Ev::Closed => return Err("upload: the server closed the uploader".into()),
                    _ => {}
                }
            }
            if done {
                break;
            }
            let Some(t) = id else { continue };
            let mut chunk = Vec::new();
            while sent < size && self.net.pending(u) + chunk.len() < SEND_QUEUE {
                let len = (size - sent).min(CHUNK as u64);
                if credit < len {
                    break;
                }
                push_chunk(
                    &mut chunk,
                    t,
                    sent,
                    if len == CHUNK as u64 { &full } else { &last },
                );
                sent += len;
                credit -= len;
            }
            if !chunk.is_empty() {
                self.net.send(u, &chunk, "file_chunk", 0);
            }
        }
        self.net.close(u);
        Ok(t0.elapsed().as_secs_f64())
    }

    pub(super) fn resumes(&mut self, p: &mut Phase) -> Result<String, String> {
        let deadline = self.deadline(p);
        let size = self.cfg.file_size.max(1);
        let n = self.cfg.resumes.max(1);
        let name = format!("bystander-{}.bin", self.cfg.tag);
        let up_s = self.upload(&name, size, deadline)?;
        let a = self.login(
            &[user(&self.cfg.tag, p, "d")],
            &format!("dl{}", self.cfg.tag),
            deadline,
        )?[0];
        let wrong = Some("0".repeat(64));
        let mut states: BTreeMap<String, u64> = BTreeMap::new();
        let mut accepts = 0u64;
        while self.more(p) {
            self.on(p);
            let cids: Vec<String> = (0..n).map(|k| format!("d{}-{k}", p.rounds)).collect();
            let mut buf = Vec::new();
            for c in &cids {
                buf.extend_from_slice(&encode(&ClientMsg::Download {
                    name: name.clone(),
                    cid: Some(c.clone()),
                }));
            }
            self.net.send(a, &buf, "download", n as u64);
            let mut waiting: HashSet<String> = cids.into_iter().collect();
            let mut accepted: Vec<u64> = Vec::new();
            let mut answered: HashSet<u64> = HashSet::new();
            let mut accept_errors = 0usize;
            let mut fence = None;
            let mut fenced = false;
            let mut closed = false;
            loop {
                if fence.is_none() && waiting.is_empty() {
                    fence = Some(self.fence(a));
                }
                if closed || (fenced && answered.len() + accept_errors >= accepted.len()) {
                    break;
                }
                if self.timed_out(p) {
                    break;
                }
                for ev in self.pump_for(a)? {
                    match ev {
                        Ev::FileState {
                            id,
                            state,
                            offset,
                            cid,
                        } => {
                            if state == "pending" && cid.as_ref().is_some_and(|c| waiting.remove(c))
                            {
                                let acc = encode(&ClientMsg::FileAccept {
                                    id,
                                    offset: size,
                                    prefix_sha256: wrong.clone(),
                                });
                                self.net.send(a, &acc, "file_accept", 1);
                                accepted.push(id);
                                accepts += 1;
                            } else if accepted.contains(&id)
                                && state != "pending"
                                && answered.insert(id)
                            {
                                let key = match state.as_str() {
                                    "in_progress" if offset == 0 => {
                                        "in_progress from 0 (prefix refused)".to_string()
                                    }
                                    "in_progress" if offset == size => {
                                        "in_progress at the end (prefix accepted!)".to_string()
                                    }
                                    _ => format!("{state} at offset {offset}"),
                                };
                                *states.entry(key).or_default() += 1;
                            }
                        }
                        Ev::Error { re, cid, .. } => match re.as_deref() {
                            Some("download") => {
                                if let Some(c) = cid {
                                    waiting.remove(&c);
                                } else {
                                    waiting.clear();
                                }
                            }
                            // Refused accepts (`slow_down` while prefix
                            // checks run, say), with or without `re`.
                            _ => accept_errors += 1,
                        },
                        Ev::Pong { seq } if Some(seq) == fence => fenced = true,
                        Ev::Closed => closed = true,
                        _ => {}
                    }
                }
            }
            self.off(p);
            p.rounds += 1;
            if closed || p.timed_out {
                break;
            }
            // Clean up, unmeasured.
            let mut buf = Vec::new();
            for &id in &accepted {
                buf.extend_from_slice(&encode(&ClientMsg::FileCancel { id }));
            }
            self.net.send(a, &buf, "file_cancel", accepted.len() as u64);
            let f = self.fence(a);
            'cancel: loop {
                if self.timed_out(p) {
                    break;
                }
                for ev in self.pump_for(a)? {
                    match ev {
                        Ev::Pong { seq } if seq == f => break 'cancel,
                        Ev::Closed => break 'cancel,
                        _ => {}
                    }
                }
            }
        }
        let states: Vec<String> = states.iter().map(|(k, v)| format!("{v} {k}")).collect();
        Ok(format!(
            "{} uploaded to the store in {up_s:.1} s (setup); per round {n} downloads, each \
             offer accepted with offset {size} and a wrong prefix_sha256 ({accepts} accepts \
             in all), then a fence ping; answers: {}",
            crate::bench::report::bytes(size as f64),
            if states.is_empty() {
                "none".to_string()
            } else {
                states.join(", ")
            }
        ))
    }
}
