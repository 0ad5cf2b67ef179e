//! The fan-out run's counters ([`Tally`]): deliveries checked against each
//! publisher's sequence and window, acks, receipts sent and received, and
//! the latency histogram; kept apart from the connections so that a read
//! callback can update them while a connection is borrowed.

use super::super::stats::Histogram;
use super::super::wire;

pub(super) struct Pub {
    pub(super) peer: usize,
    pub(super) sent: u64,
    /// Messages read by every receiving member (all sequence numbers below).
    pub(super) done: u64,
    pub(super) acked: u64,
    pub(super) flagged: bool,
}

/// Counters and figures of one run.
pub(super) struct Tally {
    pub(super) publishers: usize,
    pub(super) t_warm: u64,
    pub(super) t_stop: u64,
    pub(super) hist: Histogram,
    pub(super) delivered_total: u64,
    pub(super) delivered_window: u64,
    pub(super) published_window: u64,
    pub(super) expected: u64,
    pub(super) last_seq: Vec<u64>,
    pub(super) order_errors: u64,
    pub(super) server_errors: u64,
    pub(super) first_error: Option<String>,
    pub(super) fatal: Option<String>,
    pub(super) notices: u64,
    pub(super) pubs: Vec<Pub>,
    pub(super) topup: Vec<u32>,
    /// W counters per publisher: readers so far of each message in flight
    /// (slot `seq % W`).
    pub(super) readers: Vec<u32>,
    pub(super) window: u64,
    /// Receiving members per message.
    pub(super) fanout: u32,
    /// `delivered` receipts the members sent: in all, and between warm-up
    /// and stop.
    pub(super) receipts_total: u64,
    pub(super) receipts_window: u64,
    /// `receipts` frames the server sent the authors.
    pub(super) receipt_frames_in: u64,
}

impl Tally {
    /// Before setup: `publishers` publishers on the given peers, `members`
    /// receiving members, `window` messages in flight each, `fanout`
    /// receivers per message.
    pub(super) fn new(pub_peers: Vec<usize>, members: usize, window: u64, fanout: u32) -> Tally {
        let publishers = pub_peers.len();
        Tally {
            publishers,
            t_warm: u64::MAX,
            t_stop: u64::MAX,
            hist: Histogram::new(),
            delivered_total: 0,
            delivered_window: 0,
            published_window: 0,
            expected: 0,
            last_seq: vec![0; members * publishers],
            order_errors: 0,
            server_errors: 0,
            first_error: None,
            fatal: None,
            notices: 0,
            pubs: pub_peers
                .into_iter()
                .map(|peer| Pub {
                    peer,
                    sent: 0,
                    done: 0,
                    acked: 0,
                    flagged: false,
                })
                .collect(),
            topup: Vec::new(),
            readers: vec![0; publishers * window as usize],
            window,
            fanout,
            receipts_total: 0,
            receipts_window: 0,
            receipt_frames_in: 0,
        }
    }

    /// A member sent a `delivered` receipt at `now`.
    #[inline]
    pub(super) fn on_receipt_sent(&mut self, now: u64) {
        self.receipts_total += 1;
        if now >= self.t_warm && now < self.t_stop {
            self.receipts_window += 1;
        }
    }

    #[inline]
    pub(super) fn on_message(&mut self, recv: Option<u32>, text: &[u8], now: u64) {
        let Some(recv) = recv else {
            self.note_error("message on a connection that is not a member".into());
            return;
        };
        let Some(st) = wire::read_stamp(text) else {
            self.note_error("message without a bench stamp".into());
            return;
        };
        self.delivered_total += 1;
        if now >= self.t_warm && now < self.t_stop {
            self.delivered_window += 1;
        }
        if st.ts_ns >= self.t_warm && st.ts_ns < self.t_stop {
            self.hist.record(now.saturating_sub(st.ts_ns));
        }
        let p = st.publisher as usize;
        if p >= self.publishers {
            self.note_error(format!("message from unknown publisher {p}"));
            return;
        }
        let slot = recv as usize * self.publishers + p;
        if self.last_seq[slot] != st.seq {
            self.order_errors += 1;
        }
        self.last_seq[slot] = st.seq + 1;
        let pb = &mut self.pubs[p];
        if st.seq < pb.done || st.seq >= pb.done + self.window {
            self.note_error(format!(
                "message {} of publisher {p} outside its window",
                st.seq
            ));
            return;
        }
        let base = p * self.window as usize;
        let w = self.window;
        self.readers[base + (st.seq % w) as usize] += 1;
        // Retire the oldest messages once every member has read them.
        let mut retired = false;
        while pb.done < pb.sent && self.readers[base + (pb.done % w) as usize] == self.fanout {
            self.readers[base + (pb.done % w) as usize] = 0;
            pb.done += 1;
            retired = true;
        }
        if retired && !pb.flagged {
            pb.flagged = true;
            self.topup.push(p as u32);
        }
    }

    pub(super) fn on_ack(&mut self, publ: Option<u32>, recipients: u64) {
        match publ {
            Some(p) => {
                self.pubs[p as usize].acked += 1;
                self.expected += recipients;
            }
            None => self.note_error("ack on a connection that does not publish".into()),
        }
    }

    pub(super) fn note_error(&mut self, e: String) {
        self.server_errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}
