//! SIP over TCP from the public network: at most so many open connections
//! per source IP, and a connection that carried no complete message for the
//! idle time is closed (slow or silent peers cannot hold sockets forever).
//! Sans-IO: the shell opens and closes sockets, this says which.
//!
//! A connection still in use is kept however quiet: the shell says which are
//! (a live call's dialog, or a registered phone's binding that we would call
//! it on: phones re-register far less often than the idle time).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Conn {
    ip: IpAddr,
    last_message: Instant,
}

/// Open connections by id. See the module docs.
#[derive(Debug)]
pub struct TcpGuard {
    per_source: usize,
    idle: Duration,
    conns: HashMap<u64, Conn>,
    per_ip: HashMap<IpAddr, usize>,
}

impl TcpGuard {
    pub fn new(per_source: usize, idle: Duration) -> Self {
        TcpGuard {
            per_source,
            idle,
            conns: HashMap::new(),
            per_ip: HashMap::new(),
        }
    }

    /// A new connection from `ip`: `false` when it is over the source's cap
    /// (close it at once; it is not counted). `capped` false exempts the
    /// source (a trunk).
    pub fn open(&mut self, now: Instant, conn: u64, ip: IpAddr, capped: bool) -> bool {
        let open = self.per_ip.get(&ip).copied().unwrap_or(0);
        if capped && open >= self.per_source {
            return false;
        }
        self.per_ip.insert(ip, open + 1);
        self.conns.insert(
            conn,
            Conn {
                ip,
                last_message: now,
            },
        );
        true
    }

    /// A whole message arrived on `conn`.
    pub fn message(&mut self, now: Instant, conn: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_message = now;
        }
    }

    /// `conn` is gone (closed by either side). Idempotent.
    pub fn closed(&mut self, conn: u64) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        match self.per_ip.get_mut(&c.ip) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.per_ip.remove(&c.ip);
            }
        }
    }

    /// Connections idle at `now` that are not `in_use`: close them (and call
    /// `closed`). Their idle clock restarts when in use, so a call's end
    /// gives its connection a full idle period.
    pub fn idle(&mut self, now: Instant, in_use: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut out = Vec::new();
        for (id, c) in self.conns.iter_mut() {
            if in_use(*id) {
                c.last_message = now;
            } else if now.saturating_duration_since(c.last_message) >= self.idle {
                out.push(*id);
            }
        }
        out.sort_unstable();
        out
    }

    /// Open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connections_beyond_the_cap_per_source_are_refused() {
        let mut g = TcpGuard::new(2, Duration::from_secs(300));
        let t = Instant::now();
        assert!(g.open(t, 1, ip("10.0.0.1"), true));
        assert!(g.open(t, 2, ip("10.0.0.1"), true));
        assert!(!g.open(t, 3, ip("10.0.0.1"), true));
        assert!(g.open(t, 4, ip("10.0.0.2"), true), "another source");
        assert!(g.open(t, 5, ip("10.0.0.1"), false), "a trunk is not capped");
        g.closed(1);
        g.closed(1);
        assert!(g.open(t, 6, ip("10.0.0.1"), false));
        assert_eq!(g.open_connections(), 4);
        g.closed(5);
        g.closed(6);
        assert!(
            g.open(t, 7, ip("10.0.0.1"), true),
            "room again after closes"
        );
    }

    #[test]
    fn a_connection_without_messages_for_the_idle_time_is_closed_unless_in_use() {
        let idle = Duration::from_secs(300);
        let mut g = TcpGuard::new(8, idle);
        let t0 = Instant::now();
        g.open(t0, 1, ip("10.0.0.1"), true);
        g.open(t0, 2, ip("10.0.0.1"), true);
        g.open(t0, 3, ip("10.0.0.1"), true);
        g.message(t0 + Duration::from_secs(200), 2);
        let t = t0 + idle;
        assert_eq!(g.idle(t, |c| c == 3), vec![1]);
        assert_eq!(g.idle(t + Duration::from_secs(200), |_| false), vec![1, 2]);
        // 3 was in use until t: a full idle period from then.
        assert_eq!(g.idle(t + idle, |_| false), vec![1, 2, 3]);
    }
}
