//! Client non-INVITE transaction (RFC 3261 section 17.1.2), e.g. our BYE.

use super::{class, Outbox, Timer, TimerConfig, TxSignal};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// One client non-INVITE transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: State,
    reliable: bool,
    cfg: TimerConfig,
    request: Bytes,
    interval: Duration,
}

impl ClientNonInvite {
    /// Sends `request` and arms E (UDP only) and F.
    pub fn new(
        now: Instant,
        cfg: TimerConfig,
        reliable: bool,
        request: Bytes,
        out: &mut Outbox,
    ) -> Self {
        out.send.push(request.clone());
        if !reliable {
            out.arm(Timer::E, now + cfg.t1);
        }
        out.arm(Timer::F, now + cfg.t64());
        ClientNonInvite {
            state: State::Trying,
            reliable,
            cfg,
            request,
            interval: cfg.t1,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A response matched this transaction. Returns whether the TU should see it.
    pub fn on_response(&mut self, now: Instant, status: u16, out: &mut Outbox) -> bool {
        match (self.state, class(status)) {
            (State::Trying | State::Proceeding, 1) => {
                self.state = State::Proceeding;
                out.signals.push(TxSignal::Response);
                true
            }
            (State::Trying | State::Proceeding, _) => {
                self.state = State::Completed;
                out.cancel.extend([Timer::E, Timer::F]);
                out.signals.push(TxSignal::Response);
                if self.reliable {
                    self.state = State::Terminated;
                    out.terminated = true;
                } else {
                    out.arm(Timer::K, now + self.cfg.t4);
                }
                true
            }
            _ => false,
        }
    }

    pub fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Outbox) {
        match (self.state, timer) {
            (State::Trying | State::Proceeding, Timer::E) => {
                out.send.push(self.request.clone());
                // In Proceeding the interval is T2 at once (section 17.1.2.2).
                self.interval = if self.state == State::Proceeding {
                    self.cfg.t2
                } else {
                    (self.interval * 2).min(self.cfg.t2)
                };
                out.arm(Timer::E, now + self.interval);
            }
            (State::Trying | State::Proceeding, Timer::F) => {
                self.state = State::Terminated;
                out.signals.push(TxSignal::Timeout);
                out.terminated = true;
            }
            (State::Completed, Timer::K) => {
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
    fn timer_e_doubles_and_caps_at_t2_then_timer_f_times_out() {
        let start = Instant::now();
        let mut out = Outbox::default();
        let mut t = ClientNonInvite::new(
            start,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"BYE"),
            &mut out,
        );
        assert_eq!(out.send.len(), 1);
        let mut now = start + Duration::from_millis(500);
        let mut intervals = Vec::new();
        for _ in 0..5 {
            let mut out = Outbox::default();
            t.on_timer(now, Timer::E, &mut out);
            assert_eq!(out.send, vec![Bytes::from_static(b"BYE")]);
            let at = out.arm[0].1;
            intervals.push((at - now).as_millis());
            now = at;
        }
        assert_eq!(intervals, vec![1000, 2000, 4000, 4000, 4000]);
        let mut out = Outbox::default();
        t.on_timer(start + Duration::from_secs(32), Timer::F, &mut out);
        assert_eq!(out.signals, vec![TxSignal::Timeout]);
        assert!(out.terminated);
    }

    #[test]
    fn provisional_moves_timer_e_to_t2() {
        let now = Instant::now();
        let mut t = ClientNonInvite::new(
            now,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"BYE"),
            &mut Outbox::default(),
        );
        assert!(t.on_response(now, 100, &mut Outbox::default()));
        let mut out = Outbox::default();
        t.on_timer(now, Timer::E, &mut out);
        assert_eq!(out.arm, vec![(Timer::E, now + Duration::from_secs(4))]);
    }

    #[test]
    fn final_response_completes_and_retransmits_are_absorbed() {
        let now = Instant::now();
        let mut t = ClientNonInvite::new(
            now,
            TimerConfig::default(),
            false,
            Bytes::from_static(b"BYE"),
            &mut Outbox::default(),
        );
        let mut out = Outbox::default();
        assert!(t.on_response(now, 200, &mut out));
        assert_eq!(out.arm, vec![(Timer::K, now + Duration::from_secs(5))]);
        assert!(!t.on_response(now, 200, &mut Outbox::default()));
        let mut out = Outbox::default();
        t.on_timer(now, Timer::E, &mut out);
        assert!(
            out.send.is_empty(),
            "no retransmission after the final response"
        );
    }

    #[test]
    fn tcp_sends_once_and_collapses_timer_k() {
        let now = Instant::now();
        let mut out = Outbox::default();
        let mut t = ClientNonInvite::new(
            now,
            TimerConfig::default(),
            true,
            Bytes::from_static(b"BYE"),
            &mut out,
        );
        assert!(out.arm.iter().all(|(timer, _)| *timer != Timer::E));
        let mut out = Outbox::default();
        t.on_response(now, 200, &mut out);
        assert!(out.terminated);
    }
}
