//! Batched sends: a tick's frames, one per call on as many sockets, go
//! into an io_uring as `SendMsg` entries and leave with one `io_uring_enter`
//! per `SLOTS` frames instead of one `sendto` each. (`sendmmsg` batches only
//! within one socket; every call has its own.)
//!
//! Each entry's packet, address and msghdr live in a fixed arena slot that
//! is not reused before its completion has been reaped, and the arena is
//! allocated once: nothing is allocated per packet. The sockets are
//! non-blocking, so a full socket buffer completes with EAGAIN, counted as a
//! send error exactly as `sendto`'s WouldBlock is.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{opcode, types, IoUring, Probe};
use socket2::SockAddr;

/// Frames in flight before the batch is submitted (also the ring's size).
const SLOTS: usize = 1024;
/// Room for a 20 ms G.711 frame with its RTP header and SRTP tag.
pub(super) const SLOT_BYTES: usize = 256;

struct Slot {
    buf: [u8; SLOT_BYTES],
    addr: SockAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
}

fn arena(n: usize) -> Box<[Slot]> {
    let any = SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0)));
    (0..n)
        .map(|_| Slot {
            buf: [0; SLOT_BYTES],
            addr: any.clone(),
            // SAFETY: all-zero iovec and msghdr are valid (null, empty).
            iov: unsafe { std::mem::zeroed() },
            msg: unsafe { std::mem::zeroed() },
        })
        .collect()
}

/// A worker's ring and packet arena. Not `Send` (the msghdrs point into the
/// arena): each worker thread builds its own.
pub(super) struct UringSender {
    ring: IoUring,
    slots: Box<[Slot]>,
    /// Slots filled (and pushed) since the last submit.
    queued: usize,
    /// Completions since the last `take_counts`.
    sent: u64,
    failed: u64,
}

impl UringSender {
    /// A ring, if the kernel offers io_uring with `SendMsg`.
    pub(super) fn new() -> io::Result<Self> {
        Self::with_slots(SLOTS)
    }

    fn with_slots(n: usize) -> io::Result<Self> {
        let ring = IoUring::new(n as u32)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::SendMsg::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring has no SendMsg (kernel before 5.3)",
            ));
        }
        let slots = arena(n);
        Ok(UringSender {
            ring,
            slots,
            queued: 0,
            sent: 0,
            failed: 0,
        })
    }

    /// Queues one datagram from `fd` to `to`; `write` fills the packet into
    /// the slot's buffer and returns its length (None: nothing to send,
    /// counted as a send error). Submits first when the arena is full.
    pub(super) fn queue(
        &mut self,
        fd: RawFd,
        to: SocketAddr,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) {
        if self.queued == self.slots.len() {
            self.submit();
        }
        let Some(slot) = self.slots.get_mut(self.queued) else {
            self.failed += 1;
            return;
        };
        let Some(len) = write(&mut slot.buf).filter(|&n| n <= SLOT_BYTES) else {
            self.failed += 1;
            return;
        };
        slot.addr = SockAddr::from(to);
        slot.iov = libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        // SAFETY: zeroed msghdr is valid; its pointers go to this slot, which
        // stays put (boxed arena) and untouched until the completion is reaped.
        slot.msg = unsafe { std::mem::zeroed() };
        slot.msg.msg_name = slot.addr.as_ptr() as *mut libc::c_void;
        slot.msg.msg_namelen = slot.addr.len();
        slot.msg.msg_iov = &mut slot.iov;
        slot.msg.msg_iovlen = 1;
        let entry = opcode::SendMsg::new(types::Fd(fd), &slot.msg)
            .build()
            .user_data(self.queued as u64);
        // SAFETY: the entry's msghdr, address and buffer live in the arena
        // until `submit` has reaped this entry's completion.
        let pushed = unsafe { self.ring.submission().push(&entry) }.is_ok();
        if pushed {
            self.queued += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Submits what is queued with one syscall, waits for every completion
    /// (UDP sends on non-blocking sockets complete at once) and counts them.
    pub(super) fn submit(&mut self) {
        let mut reaped = 0;
        let mut attempts = 0;
        while reaped < self.queued {
            match self.ring.submit_and_wait(self.queued - reaped) {
                Ok(_) => {}
                Err(e)
                    if attempts < 8
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                        ) =>
                {
                    attempts += 1;
                }
                Err(e) => {
                    // Not seen in practice. The kernel may still read the
                    // old arena: leak it rather than reuse it.
                    tracing::error!(error = %e, "io_uring submit failed; frames counted as send errors");
                    self.failed += (self.queued - reaped) as u64;
                    let fresh = arena(self.slots.len());
                    Box::leak(std::mem::replace(&mut self.slots, fresh));
                    break;
                }
            }
            for cqe in self.ring.completion() {
                reaped += 1;
                if cqe.result() >= 0 {
                    self.sent += 1;
                } else {
                    self.failed += 1;
                }
            }
        }
        self.queued = 0;
    }

    /// (sent, failed) since the last call.
    pub(super) fn take_counts(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.sent),
            std::mem::take(&mut self.failed),
        )
    }
}

impl Drop for UringSender {
    fn drop(&mut self) {
        // The arena must outlive every entry the kernel holds.
        self.submit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn a_batch_from_several_sockets_arrives_and_is_counted() {
        let mut u = UringSender::with_slots(8).expect("io_uring available on this kernel");
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let to = rx.local_addr().unwrap();
        let senders: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        // More than the arena: the batch is submitted part-way.
        let total = 8 * 2 + 5;
        for i in 0..total {
            let s = &senders[i % senders.len()];
            u.queue(s.as_raw_fd(), to, |buf| {
                buf[..4].copy_from_slice(&(i as u32).to_be_bytes());
                Some(4)
            });
        }
        u.queue(senders[0].as_raw_fd(), to, |_| None);
        u.submit();
        assert_eq!(u.take_counts(), (total as u64, 1));
        let mut seen = vec![false; total];
        let mut buf = [0u8; 16];
        for _ in 0..total {
            let (n, from) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(n, 4);
            assert!(senders.iter().any(|s| s.local_addr().unwrap() == from));
            seen[u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "every datagram once");
    }
}
