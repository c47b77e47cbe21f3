//! Batched UDP I/O: `sendmmsg` for a tick's datagrams to many destinations and
//! `recvmmsg` for everything waiting, one system call per batch. The buffers
//! are allocated once and reused: no allocation per packet.
//!
//! Works on any non-blocking UDP socket's raw fd; with tokio, call it inside
//! `UdpSocket::try_io` so readiness is cleared on `WouldBlock`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use socket2::SockAddr;

/// Datagrams per system call (stack arrays of this many headers).
const CHUNK: usize = 64;

/// The largest datagram a batch slot holds (RTP here is 172 bytes).
pub const SLOT: usize = 1500;

/// Datagrams queued for one `sendmmsg`, each to its own destination.
#[derive(Default)]
pub struct SendBatch {
    data: Vec<u8>,
    lens: Vec<usize>,
    dests: Vec<SockAddr>,
    /// Datagrams already sent from the front (after a partial send).
    sent: usize,
}

impl SendBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a copy of `bytes` for `to`. Longer than [`SLOT`]: truncated.
    pub fn push(&mut self, to: SocketAddr, bytes: &[u8]) {
        let i = self.lens.len();
        let n = bytes.len().min(SLOT);
        let end = (i + 1) * SLOT;
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        if let (Some(slot), Some(src)) = (self.data.get_mut(i * SLOT..i * SLOT + n), bytes.get(..n))
        {
            slot.copy_from_slice(src);
        }
        self.lens.push(n);
        self.dests.push(SockAddr::from(to));
    }

    /// Datagrams not sent yet.
    pub fn len(&self) -> usize {
        self.lens.len() - self.sent
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything queued (keeps the buffers).
    pub fn clear(&mut self) {
        self.lens.clear();
        self.dests.clear();
        self.sent = 0;
    }

    /// Sends what is queued. Returns how many went out; `WouldBlock` (nothing
    /// sent, the rest stays queued) when the socket buffer is full. An error
    /// for one datagram (e.g. ICMP refused) drops that datagram and is returned
    /// after the ones before it went out.
    pub fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut total = 0;
        while self.sent < self.lens.len() {
            let n = (self.lens.len() - self.sent).min(CHUNK);
            // SAFETY: all-zero is a valid value for these plain C structs.
            let mut iov: [libc::iovec; CHUNK] = unsafe { std::mem::zeroed() };
            let mut hdrs: [libc::mmsghdr; CHUNK] = unsafe { std::mem::zeroed() };
            for k in 0..n {
                let i = self.sent + k;
                let (Some(len), Some(dest), Some(slot), Some(v), Some(h)) = (
                    self.lens.get(i),
                    self.dests.get(i),
                    self.data.get_mut(i * SLOT..(i + 1) * SLOT),
                    iov.get_mut(k),
                    hdrs.get_mut(k),
                ) else {
                    return Err(io::Error::other("send batch out of step"));
                };
                v.iov_base = slot.as_mut_ptr().cast();
                v.iov_len = *len;
                h.msg_hdr.msg_name = dest.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = dest.len();
                h.msg_hdr.msg_iov = v;
                h.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: `hdrs[..n]` point into `iov`, `self.data` and
            // `self.dests`, all alive and unmoved for the call.
            let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock || total > 0 {
                    return if total > 0 { Ok(total) } else { Err(e) };
                }
                // The first datagram failed: drop it and report.
                self.sent += 1;
                self.finish_if_done();
                return Err(e);
            }
            let r = r as usize;
            self.sent += r;
            total += r;
            if r < n {
                // The next one would block or failed; the caller retries.
                break;
            }
        }
        self.finish_if_done();
        Ok(total)
    }

    fn finish_if_done(&mut self) {
        if self.sent >= self.lens.len() {
            self.clear();
        }
    }
}

/// Buffers for one `recvmmsg` of up to `capacity` datagrams.
pub struct RecvBatch {
    data: Vec<u8>,
    lens: Vec<usize>,
    srcs: Vec<Option<SocketAddr>>,
    // SAFETY-relevant: sockaddr storage the kernel writes into.
    names: Vec<libc::sockaddr_storage>,
    filled: usize,
}

// The raw storage holds no pointers between calls.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, CHUNK);
        RecvBatch {
            data: vec![0; capacity * SLOT],
            lens: vec![0; capacity],
            srcs: vec![None; capacity],
            // SAFETY: all-zero is a valid sockaddr_storage.
            names: vec![unsafe { std::mem::zeroed() }; capacity],
            filled: 0,
        }
    }

    /// Receives what is waiting (up to the capacity) without blocking.
    /// Returns how many datagrams; `WouldBlock` when none.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.filled = 0;
        let cap = self.lens.len();
        // SAFETY: all-zero is a valid value for these plain C structs.
        let mut iov: [libc::iovec; CHUNK] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; CHUNK] = unsafe { std::mem::zeroed() };
        for ((slot, name), (v, h)) in self
            .data
            .chunks_mut(SLOT)
            .zip(self.names.iter_mut())
            .zip(iov.iter_mut().zip(hdrs.iter_mut()))
            .take(cap)
        {
            v.iov_base = slot.as_mut_ptr().cast();
            v.iov_len = slot.len();
            h.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `hdrs[..cap]` point into `iov`, `self.data` and `self.names`,
        // alive and unmoved for the call; the kernel writes at most the lengths given.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                cap as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = r as usize;
        for k in 0..n {
            let (Some(h), Some(name), Some(len), Some(src)) = (
                hdrs.get(k),
                self.names.get(k),
                self.lens.get_mut(k),
                self.srcs.get_mut(k),
            ) else {
                break;
            };
            *len = (h.msg_len as usize).min(SLOT);
            // SAFETY: the kernel filled `name` with `msg_namelen` bytes.
            let addr = unsafe { SockAddr::new(*name, h.msg_hdr.msg_namelen) };
            *src = addr.as_socket();
        }
        self.filled = n;
        Ok(n)
    }

    /// The `i`-th datagram of the last `recv`: its source and bytes.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.filled {
            return None;
        }
        let src = (*self.srcs.get(i)?)?;
        let len = *self.lens.get(i)?;
        Some((src, self.data.get(i * SLOT..i * SLOT + len)?))
    }

    /// Datagrams from the last `recv`.
    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }
}

/// Sends what `batch` holds on a tokio socket, waiting for writability when the
/// socket buffer is full. Datagrams refused one by one (ICMP) are dropped and counted.
pub async fn send_all(sock: &tokio::net::UdpSocket, batch: &mut SendBatch) -> u64 {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut errors = 0;
    while !batch.is_empty() {
        match sock.try_io(tokio::io::Interest::WRITABLE, || batch.send(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if sock.writable().await.is_err() {
                    batch.clear();
                }
            }
            Err(_) => errors += 1,
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    fn bound() -> std::net::UdpSocket {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// Receives until `want` datagrams or two seconds.
    fn drain(sock: &std::net::UdpSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut rb = RecvBatch::new(64);
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while got.len() < want && Instant::now() < deadline {
            match rb.recv(sock.as_raw_fd()) {
                Ok(n) => {
                    assert!(n > 0);
                    for i in 0..rb.len() {
                        let (from, b) = rb.get(i).unwrap();
                        got.push((from, b.to_vec()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    #[test]
    fn batch_of_n_packets_to_m_destinations_all_arrive_and_batch_recv_gets_them() {
        let sender = bound();
        let receivers: Vec<_> = (0..5).map(|_| bound()).collect();
        let mut batch = SendBatch::new();
        // 300 datagrams: more than one sendmmsg chunk, in one batch.
        for i in 0..300u32 {
            let to = receivers[i as usize % 5].local_addr().unwrap();
            batch.push(to, &i.to_be_bytes().repeat(43)); // 172 bytes
        }
        let mut sent = 0;
        while !batch.is_empty() {
            sent += batch.send(sender.as_raw_fd()).unwrap();
        }
        assert_eq!(sent, 300);
        let from = sender.local_addr().unwrap();
        for (r, sock) in receivers.iter().enumerate() {
            let got = drain(sock, 60);
            assert_eq!(got.len(), 60, "receiver {r}");
            for (k, (src, bytes)) in got.iter().enumerate() {
                assert_eq!(*src, from);
                assert_eq!(bytes.len(), 172);
                let i = u32::from_be_bytes(bytes[..4].try_into().unwrap());
                assert_eq!(i as usize, r + 5 * k, "in order per destination");
            }
        }
    }

    #[test]
    fn recv_on_an_empty_socket_would_block() {
        let s = bound();
        let mut rb = RecvBatch::new(8);
        let e = rb.recv(s.as_raw_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(rb.is_empty() && rb.get(0).is_none());
    }

    #[tokio::test]
    async fn send_all_on_a_tokio_socket_delivers_the_batch() {
        let tx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rx = bound();
        let mut batch = SendBatch::new();
        for i in 0..100u8 {
            batch.push(rx.local_addr().unwrap(), &[i; 10]);
        }
        assert_eq!(send_all(&tx, &mut batch).await, 0);
        assert!(batch.is_empty());
        assert_eq!(drain(&rx, 100).len(), 100);
    }
}
