//! Client INVITE transaction (RFC 3261 section 17.1.1, RFC 6026 section 7.2),
//! used by the dialer. The ACK for a non-2xx final is built by the caller and
//! handed in with the response, since it copies the request's headers.

use super::{class, Outbox, Timer, TimerConfig, TxSignal};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Proceeding,
    /// A 3xx-6xx arrived and was ACKed; absorbing retransmits (Timer D).
    Completed,
    /// RFC 6026: a 2xx arrived; further 2xx go to the TU until Timer M.
    Accepted,
    Terminated,
}

/// One client INVITE transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: State,
    reliable: bool,
    cfg: TimerConfig,
    request: Bytes,
    interval: Duration,
    ack: Option<Bytes>,
}

impl ClientInvite {
    /// Sends the INVITE and arms A (UDP only) and B.
    pub fn new(
        now: Instant,
        cfg: TimerConfig,
        reliable: bool,
        request: Bytes,
        out: &mut Outbox,
    ) -> Self {
        out.send.push(request.clone());
        if !reliable {
            out.arm(Timer::A, now + cfg.t1);
        }
        out.arm(Timer::B, now + cfg.t64());
        ClientInvite {
            state: State::Calling,
            reliable,
            cfg,
            request,
            interval: cfg.t1,
            ack: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A response matched. `ack` is the ACK to send for a 3xx-6xx. Returns
    /// whether the TU should see the response.
    pub fn on_response(
        &mut self,
        now: Instant,
        status: u16,
        ack: Option<Bytes>,
        out: &mut Outbox,
    ) -> bool {
        match (self.state, class(status)) {
            (State::Calling | State::Proceeding, 1) => {
                self.state = State::Proceeding;
                out.cancel.push(Timer::A);
                out.signals.push(TxSignal::Response);
                true
            }
            (State::Calling | State::Proceeding, 2) | (State::Accepted, 2) => {
                if self.state != State::Accepted {
                    self.state = State::Accepted;
                    out.cancel.extend([Timer::A, Timer::B]);
                    out.arm(Timer::M, now + self.cfg.t64());
                }
                out.signals.push(TxSignal::Response);
                true
            }
            (State::Calling | State::Proceeding, _) => {
                self.state = State::Completed;
                out.cancel.extend([Timer::A, Timer::B]);
                if let Some(a) = &ack {
                    out.send.push(a.clone());
                }
                self.ack = ack;
                out.signals.push(TxSignal::Response);
                if self.reliable {
                    self.state = State::Terminated;
                    out.terminated = true;
                } else {
                    out.arm(Timer::D, now + Duration::from_secs(32));
                }
                true
            }
            (State::Completed, c) if c >= 3 => {
                // A retransmitted failure: ACK again, tell nobody.
                if let Some(a) = &self.ack {
                    out.send.push(a.clone());
                }
                false
            }
            _ => false,
        }
    }

    pub fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Outbox) {
        match (self.state, timer) {
            (State::Calling, Timer::A) => {
                out.send.push(self.request.clone());
                // Timer A doubles without a cap (unlike E and G).
                self.interval *= 2;
                out.arm(Timer::A, now + self.interval);
            }
            (State::Calling | State::Proceeding, Timer::B) => {
                self.state = State::Terminated;
                out.signals.push(TxSignal::Timeout);
                out.terminated = true;
            }
            (State::Completed, Timer::D) | (State::Accepted, Timer::M) => {
                self.state = State::Terminated;
                out.terminated = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_a_doubles_without_cap_until_timer_b() {
        let start = Instant::now();
        let mut out = Outbox::default();
        let mut t = ClientInvite::new(
            start,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"INVITE"),
            &mut out,
        );
        assert_eq!(
            out.arm,
            vec![
                (Timer::A, start + Duration::from_millis(500)),
                (Timer::B, start + Duration::from_secs(32))
            ]
        );
        let mut now = start + Duration::from_millis(500);
        let mut intervals = Vec::new();
        while now < start + Duration::from_secs(32) {
            let mut out = Outbox::default();
            t.on_timer(now, Timer::A, &mut out);
            let at = out.arm[0].1;
            intervals.push((at - now).as_millis());
            now = at;
        }
        assert_eq!(intervals, vec![1000, 2000, 4000, 8000, 16000, 32000]);
        let mut out = Outbox::default();
        t.on_timer(start + Duration::from_secs(32), Timer::B, &mut out);
        assert_eq!(out.signals, vec![TxSignal::Timeout]);
    }

    #[test]
    fn failure_is_acked_and_retransmitted_failure_is_acked_again() {
        let now = Instant::now();
        let mut t = ClientInvite::new(
            now,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"INVITE"),
            &mut Outbox::default(),
        );
        let mut out = Outbox::default();
        assert!(t.on_response(now, 486, Some(Bytes::from_static(b"ACK")), &mut out));
        assert_eq!(out.send, vec![Bytes::from_static(b"ACK")]);
        let mut out = Outbox::default();
        assert!(!t.on_response(now, 486, None, &mut out));
        assert_eq!(out.send, vec![Bytes::from_static(b"ACK")]);
    }

    #[test]
    fn retransmitted_2xx_is_passed_to_the_tu_in_accepted() {
        let now = Instant::now();
        let mut t = ClientInvite::new(
            now,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"INVITE"),
            &mut Outbox::default(),
        );
        assert!(t.on_response(now, 200, None, &mut Outbox::default()));
        assert_eq!(t.state(), State::Accepted);
        assert!(
            t.on_response(now, 200, None, &mut Outbox::default()),
            "the TU must re-ACK"
        );
        let mut out = Outbox::default();
        t.on_timer(now, Timer::M, &mut out);
        assert!(out.terminated);
    }
}
