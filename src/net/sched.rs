//! A connection's write scheduler: control and chat frames strictly first,
//! then file chunks round-robin across the connection's transfers, one chunk
//! at a time.
//!
//! Exactly one frame at a time is "committed" (the head: the one being
//! written, maybe partly). When it is done, the next head is the oldest
//! control frame if there is one, else the first chunk of the transfer at the
//! front of the ring, which then moves to the back (pop front, push back, as
//! quinn-proto does for streams). So a chat frame queued at any moment waits
//! behind at most the one chunk already being written, and N busy transfers
//! alternate chunk by chunk. A vectored write covers the head and the control
//! frames behind it, never a second chunk.
//!
//! Byte counts: [`OutQueue::queued`] is control frames plus the head; chunks
//! waiting in the ring are counted apart ([`OutQueue::chunk_bytes`]); the
//! outbound limit looks at both. Each chunk written out in full is reported
//! ([`OutQueue::take_sent_chunks`]), so the core passes a receiver's credit
//! on only as its connection actually drains.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::rc::Rc;

/// Frames gathered into one vectored write at most (Linux's IOV_MAX): a
/// fan-out turn leaves many small frames per connection, and each `writev`
/// costs a system call.
const MAX_IOV: usize = 1024;
/// Frames per write that fit an iovec on the stack (more take a `Vec`).
const SMALL_IOV: usize = 32;
/// Slots an emptied control queue keeps (16 bytes each); a bigger one is freed.
const KEPT_SLOTS: usize = 4;

#[derive(Debug, Default)]
pub struct OutQueue {
    ctrl: VecDeque<Rc<[u8]>>,
    ctrl_bytes: usize,
    /// The frame being written, and how much of it is out.
    head: Option<(Rc<[u8]>, usize)>,
    /// File chunks: most connections never send one, so their state is
    /// boxed, made on the first chunk and dropped once all is out and
    /// reported (an idle connection's queue is 72 bytes, not 152).
    chunks: Option<Box<Chunks>>,
}

/// The chunk side of an [`OutQueue`].
#[derive(Debug, Default)]
struct Chunks {
    /// Transfers with chunks waiting, in round-robin order.
    ring: VecDeque<(u64, VecDeque<Rc<[u8]>>)>,
    bytes: usize,
    frames: usize,
    /// The transfer the head is a chunk of.
    head: Option<u64>,
    /// Transfers whose chunks were written out in full since the last
    /// [`OutQueue::take_sent_chunks`], one entry a chunk.
    sent: Vec<u64>,
}

impl Chunks {
    fn is_idle(&self) -> bool {
        self.ring.is_empty() && self.head.is_none() && self.sent.is_empty()
    }
}

impl OutQueue {
    pub fn new() -> OutQueue {
        OutQueue::default()
    }

    /// Queue a control or chat frame.
    pub fn push_ctrl(&mut self, frame: Rc<[u8]>) {
        self.ctrl_bytes += frame.len();
        self.ctrl.push_back(frame);
    }

    /// Queue a chunk of `transfer`, behind its earlier chunks.
    pub fn push_chunk(&mut self, transfer: u64, frame: Rc<[u8]>) {
        let c = self.chunks.get_or_insert_with(Box::default);
        c.bytes += frame.len();
        c.frames += 1;
        match c.ring.iter_mut().find(|(t, _)| *t == transfer) {
            Some((_, q)) => q.push_back(frame),
            None => c.ring.push_back((transfer, VecDeque::from([frame]))),
        }
    }

    /// Bytes of control frames and of the head not yet written.
    pub fn queued(&self) -> usize {
        self.ctrl_bytes + self.head.as_ref().map_or(0, |(f, off)| f.len() - off)
    }

    /// Bytes of chunks waiting behind the head.
    pub fn chunk_bytes(&self) -> usize {
        self.chunks.as_ref().map_or(0, |c| c.bytes)
    }

    /// Chunk frames waiting behind the head.
    pub fn chunk_frames(&self) -> usize {
        self.chunks.as_ref().map_or(0, |c| c.frames)
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
            && self.ctrl.is_empty()
            && self.chunks.as_ref().is_none_or(|c| c.ring.is_empty())
    }

    /// Drop everything (the connection is going away).
    pub fn clear(&mut self) {
        *self = OutQueue::default();
    }

    /// Drop everything but the head (the frame being written, maybe partly).
    pub fn clear_behind_head(&mut self) {
        let head = self.head.take();
        let head_chunk = self.chunks.as_mut().and_then(|c| c.head.take());
        *self = OutQueue::default();
        self.head = head;
        if let Some(t) = head_chunk {
            self.chunks = Some(Box::new(Chunks {
                head: Some(t),
                ..Chunks::default()
            }));
        }
    }

    /// Make sure there is a head if anything is queued.
    fn promote(&mut self) {
        if self.head.is_some() {
            return;
        }
        if let Some(f) = self.ctrl.pop_front() {
            self.ctrl_bytes -= f.len();
            self.head = Some((f, 0));
            return;
        }
        let Some(c) = self.chunks.as_mut() else {
            return;
        };
        let Some((t, mut q)) = c.ring.pop_front() else {
            return;
        };
        if let Some(f) = q.pop_front() {
            c.bytes -= f.len();
            c.frames -= 1;
            self.head = Some((f, 0));
            c.head = Some(t);
        }
        if !q.is_empty() {
            c.ring.push_back((t, q));
        }
    }

    /// The next whole frame in send order, as if it were written at once
    /// (for tests and for a caller that writes frame by frame).
    pub fn pop_frame(&mut self) -> Option<Rc<[u8]>> {
        self.promote();
        let (f, _) = self.head.take()?;
        self.head_done();
        Some(f)
    }

    /// The transfers whose chunks went out in full since the last call (one
    /// entry a chunk, in the order written): the core gives their credit on.
    pub fn take_sent_chunks(&mut self) -> Vec<u64> {
        let Some(c) = self.chunks.as_mut() else {
            return Vec::new();
        };
        let sent = std::mem::take(&mut c.sent);
        if c.is_idle() {
            self.chunks = None;
        }
        sent
    }

    /// The head went out in full: a chunk's transfer is reported.
    fn head_done(&mut self) {
        if let Some(c) = self.chunks.as_mut() {
            if let Some(t) = c.head.take() {
                c.sent.push(t);
            }
        }
    }

    /// Write until everything is out or `w` would block.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        loop {
            self.promote();
            let Some((head, off)) = &self.head else {
                self.shrink();
                return Ok(());
            };
            let more = self.ctrl.len().min(MAX_IOV - 1);
            let head = IoSlice::new(&head[*off..]);
            let frames = self.ctrl.iter().take(more).map(|f| IoSlice::new(f));
            let wrote = if more < SMALL_IOV {
                // The usual few frames: an iovec on the stack, no allocation.
                let mut slices = [IoSlice::new(&[]); SMALL_IOV];
                slices[0] = head;
                for (slot, f) in slices[1..].iter_mut().zip(frames) {
                    *slot = f;
                }
                w.write_vectored(&slices[..1 + more])
            } else {
                let mut slices = Vec::with_capacity(1 + more);
                slices.push(head);
                slices.extend(frames);
                w.write_vectored(&slices)
            };
            match wrote {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.advance(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Give back queue memory once drained: an idle connection keeps at
    /// most [`KEPT_SLOTS`] slots (a member of a busy room gets a frame or two
    /// per turn, and regrowing its queue from nothing each time was 5 % of
    /// the loop's instructions in a callgrind run at S=1000, logins
    /// included); the chunk state goes once its sent chunks are taken.
    fn shrink(&mut self) {
        if self.ctrl.is_empty() && self.ctrl.capacity() > KEPT_SLOTS {
            self.ctrl = VecDeque::new();
        }
        if let Some(c) = self.chunks.as_mut() {
            if c.ring.is_empty() && c.ring.capacity() > 0 {
                c.ring = VecDeque::new();
            }
            if c.is_idle() {
                self.chunks = None;
            }
        }
    }

    /// `n` bytes of the head and the control frames behind it went out.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some((f, off)) = self.head.as_mut() else {
                return;
            };
            let left = f.len() - *off;
            if n < left {
                *off += n;
                return;
            }
            n -= left;
            self.head = None;
            self.head_done();
            if n > 0 {
                // The write went on into the control frames behind the head.
                match self.ctrl.pop_front() {
                    Some(f) => {
                        self.ctrl_bytes -= f.len();
                        self.head = Some((f, 0));
                    }
                    None => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: &str) -> Rc<[u8]> {
        Rc::from(tag.as_bytes())
    }

    fn order(q: &mut OutQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop_frame())
            .map(|f| String::from_utf8_lossy(&f).into_owned())
            .collect()
    }

    #[test]
    fn chunks_alternate_round_robin() {
        let mut q = OutQueue::new();
        for t in 1..=3u64 {
            for i in 0..3 {
                q.push_chunk(t, frame(&format!("t{t}c{i}")));
            }
        }
        assert_eq!(q.chunk_frames(), 9);
        assert_eq!(
            order(&mut q),
            ["t1c0", "t2c0", "t3c0", "t1c1", "t2c1", "t3c1", "t1c2", "t2c2", "t3c2"]
        );
        assert!(q.is_empty());
        assert_eq!((q.chunk_bytes(), q.queued()), (0, 0));
    }

    #[test]
    fn uneven_transfers_keep_alternating() {
        let mut q = OutQueue::new();
        q.push_chunk(1, frame("a0"));
        q.push_chunk(1, frame("a1"));
        q.push_chunk(1, frame("a2"));
        q.push_chunk(2, frame("b0"));
        assert_eq!(q.pop_frame().as_deref(), Some(&b"a0"[..]));
        // A transfer that shows up later joins the ring at the back.
        q.push_chunk(3, frame("c0"));
        assert_eq!(order(&mut q), ["b0", "a1", "c0", "a2"]);
    }

    #[test]
    fn chat_goes_before_the_next_chunk_at_any_moment() {
        // N transfers with chunks queued; a chat frame enqueued after k chunks
        // went out is the very next frame, for every k.
        let n = 4u64;
        let per = 5;
        for k in 0..(n as usize * per) {
            let mut q = OutQueue::new();
            for i in 0..per {
                for t in 0..n {
                    q.push_chunk(t, frame(&format!("chunk{t}.{i}")));
                }
            }
            for _ in 0..k {
                assert!(q.pop_frame().is_some());
            }
            q.push_ctrl(frame("chat"));
            assert_eq!(q.pop_frame().as_deref(), Some(&b"chat"[..]), "after {k}");
        }
    }

    /// A writer that takes at most `cap` bytes per call and then blocks.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        calls: usize,
        max_calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.calls == self.max_calls {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls += 1;
            let n = b.len().min(self.cap);
            self.out.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn chat_waits_behind_at_most_the_partly_written_chunk() {
        let mut q = OutQueue::new();
        q.push_chunk(1, frame("AAAAAAAAAA"));
        q.push_chunk(2, frame("BBBBBBBBBB"));
        let mut w = Trickle {
            out: Vec::new(),
            cap: 4,
            calls: 0,
            max_calls: 1,
        };
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, b"AAAA");
        q.push_ctrl(frame("hi"));
        q.push_ctrl(frame("yo"));
        assert_eq!(q.queued(), 6 + 4);
        w.max_calls = usize::MAX;
        q.write_to(&mut w).unwrap();
        assert_eq!(
            String::from_utf8(w.out).unwrap(),
            "AAAAAAAAAAhiyoBBBBBBBBBB"
        );
        assert!(q.is_empty());
        assert_eq!(q.queued(), 0);
    }

    /// A writer that takes everything, one vectored call at a time.
    struct Sink(Vec<u8>, usize);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            self.1 = self.1.max(bufs.len());
            let mut n = 0;
            for b in bufs {
                self.0.extend_from_slice(b);
                n += b.len();
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_go_out_in_order_on_either_iovec_and_a_small_queue_is_kept() {
        for count in [1, 3, SMALL_IOV - 1, SMALL_IOV, SMALL_IOV + 1, 200] {
            let mut q = OutQueue::new();
            let want: String = (0..count).map(|i| format!("<{i}>")).collect();
            for i in 0..count {
                q.push_ctrl(frame(&format!("<{i}>")));
            }
            let mut w = Sink(Vec::new(), 0);
            q.write_to(&mut w).unwrap();
            assert_eq!(String::from_utf8(w.0).unwrap(), want, "{count} frames");
            assert!(w.1 <= MAX_IOV);
            assert!(q.is_empty());
            // Small queues keep their few slots for the next frames; a big
            // one is given back.
            let kept = q.ctrl.capacity();
            if count <= KEPT_SLOTS {
                assert!(kept > 0 && kept <= KEPT_SLOTS, "{count}: kept {kept}");
            } else {
                assert_eq!(kept, 0, "{count}: kept {kept}");
            }
        }
    }
}
