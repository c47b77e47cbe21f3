//! Server non-INVITE transaction (RFC 3261 section 17.2.2).

use super::{class, Outbox, Timer, TimerConfig};
use bytes::Bytes;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// One server non-INVITE transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: State,
    reliable: bool,
    cfg: TimerConfig,
    last_response: Option<Bytes>,
}

impl ServerNonInvite {
    pub fn new(cfg: TimerConfig, reliable: bool) -> Self {
        ServerNonInvite {
            state: State::Trying,
            reliable,
            cfg,
            last_response: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The request arrived again: silent in Trying, else resend the last response.
    pub fn on_retransmission(&mut self, out: &mut Outbox) {
        if matches!(self.state, State::Proceeding | State::Completed) {
            if let Some(r) = &self.last_response {
                out.send.push(r.clone());
            }
        }
    }

    /// The TU responds with `status`.
    pub fn respond(&mut self, now: Instant, status: u16, bytes: Bytes, out: &mut Outbox) {
        if !matches!(self.state, State::Trying | State::Proceeding) {
            return;
        }
        out.send.push(bytes.clone());
        self.last_response = Some(bytes);
        if class(status) == 1 {
            self.state = State::Proceeding;
            return;
        }
        self.state = State::Completed;
        if self.reliable {
            self.state = State::Terminated;
            out.terminated = true;
        } else {
            out.arm(Timer::J, now + self.cfg.t64());
        }
    }

    pub fn on_timer(&mut self, timer: Timer, out: &mut Outbox) {
        if self.state == State::Completed && timer == Timer::J {
            self.state = State::Terminated;
            out.terminated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retransmission_in_trying_is_absorbed_then_final_is_resent() {
        let mut t = ServerNonInvite::new(TimerConfig::default(), false);
        let mut out = Outbox::default();
        t.on_retransmission(&mut out);
        assert!(out.send.is_empty());
        let now = Instant::now();
        t.respond(now, 200, Bytes::from_static(b"200"), &mut out);
        assert_eq!(out.arm, vec![(Timer::J, now + Duration::from_secs(32))]);
        let mut out = Outbox::default();
        t.on_retransmission(&mut out);
        assert_eq!(out.send, vec![Bytes::from_static(b"200")]);
        t.on_timer(Timer::J, &mut out);
        assert!(out.terminated);
    }

    #[test]
    fn tcp_collapses_timer_j_to_zero() {
        let mut t = ServerNonInvite::new(TimerConfig::default(), true);
        let mut out = Outbox::default();
        t.respond(Instant::now(), 200, Bytes::from_static(b"200"), &mut out);
        assert!(out.terminated);
        assert!(out.arm.is_empty());
    }
}
