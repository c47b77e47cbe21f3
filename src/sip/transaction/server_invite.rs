//! Server INVITE transaction (RFC 3261 section 17.2.1, RFC 6026 section 7.1).
//! It also retransmits the 2xx until the ACK (the UAS core's job in section
//! 13.3.1.4), so the TU only answers once.

use super::{class, Outbox, Timer, TimerConfig, TxSignal};
use bytes::Bytes;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Proceeding,
    /// A 3xx-6xx was sent; waiting for the ACK.
    Completed,
    /// The ACK for the failure arrived; absorbing ACK retransmits (Timer I).
    Confirmed,
    /// RFC 6026: a 2xx was sent; retransmitting it until the ACK, absorbing INVITE retransmits.
    Accepted,
    Terminated,
}

/// One server INVITE transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    cfg: TimerConfig,
    last_response: Option<Bytes>,
    interval: Duration,
    acked: bool,
}

impl ServerInvite {
    /// A new transaction in Proceeding; `trying` is the 100 the layer sends at once.
    pub fn new(cfg: TimerConfig, reliable: bool, trying: Bytes, out: &mut Outbox) -> Self {
        out.send.push(trying.clone());
        ServerInvite {
            state: State::Proceeding,
            reliable,
            cfg,
            last_response: Some(trying),
            interval: cfg.t1,
            acked: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The INVITE arrived again: resend the last response (absorbed once final on TCP).
    pub fn on_retransmission(&mut self, out: &mut Outbox) {
        match self.state {
            State::Proceeding | State::Completed | State::Accepted => {
                if let Some(r) = &self.last_response {
                    out.send.push(r.clone());
                }
            }
            State::Confirmed | State::Terminated => {}
        }
    }

    /// The TU responds with `status`.
    pub fn respond(&mut self, now: Instant, status: u16, bytes: Bytes, out: &mut Outbox) {
        if self.state != State::Proceeding {
            return;
        }
        out.send.push(bytes.clone());
        self.last_response = Some(bytes);
        match class(status) {
            1 => {}
            2 => {
                self.state = State::Accepted;
                self.interval = self.cfg.t1;
                out.arm(Timer::Retransmit2xx, now + self.interval);
                out.arm(Timer::L, now + self.cfg.t64());
            }
            _ => {
                self.state = State::Completed;
                if !self.reliable {
                    self.interval = self.cfg.t1;
                    out.arm(Timer::G, now + self.interval);
                }
                out.arm(Timer::H, now + self.cfg.t64());
            }
        }
    }

    /// An ACK with this transaction's branch: the ACK for a non-2xx final.
    pub fn on_ack(&mut self, now: Instant, out: &mut Outbox) {
        if self.state == State::Completed {
            self.state = State::Confirmed;
            out.cancel.extend([Timer::G, Timer::H]);
            if self.reliable {
                self.terminate(out);
            } else {
                out.arm(Timer::I, now + self.cfg.t4);
            }
        }
    }

    /// An ACK for our 2xx (new branch, matched by dialog); returns true the first time.
    pub fn on_ack_for_2xx(&mut self, out: &mut Outbox) -> bool {
        if self.state != State::Accepted || self.acked {
            return false;
        }
        self.acked = true;
        out.cancel.push(Timer::Retransmit2xx);
        out.signals.push(TxSignal::Acked);
        true
    }

    pub fn on_timer(&mut self, now: Instant, timer: Timer, out: &mut Outbox) {
        match (self.state, timer) {
            (State::Completed, Timer::G) => {
                if let Some(r) = &self.last_response {
                    out.send.push(r.clone());
                }
                self.interval = (self.interval * 2).min(self.cfg.t2);
                out.arm(Timer::G, now + self.interval);
            }
            (State::Completed, Timer::H) => {
                out.signals.push(TxSignal::NoAckForFailure);
                self.terminate(out);
            }
            (State::Confirmed, Timer::I) => self.terminate(out),
            (State::Accepted, Timer::Retransmit2xx) if !self.acked => {
                if let Some(r) = &self.last_response {
                    out.send.push(r.clone());
                }
                self.interval = (self.interval * 2).min(self.cfg.t2);
                out.arm(Timer::Retransmit2xx, now + self.interval);
            }
            (State::Accepted, Timer::L) => {
                if !self.acked {
                    out.signals.push(TxSignal::AckTimeout);
                }
                self.terminate(out);
            }
            _ => {}
        }
    }

    fn terminate(&mut self, out: &mut Outbox) {
        self.state = State::Terminated;
        out.terminated = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(reliable: bool) -> (ServerInvite, Outbox) {
        let mut out = Outbox::default();
        let t = ServerInvite::new(
            TimerConfig::default(),
            reliable,
            Bytes::from_static(b"100"),
            &mut out,
        );
        (t, out)
    }

    #[test]
    fn invite_retransmission_in_proceeding_resends_last_1xx() {
        let (mut t, _) = tx(false);
        let now = Instant::now();
        let mut out = Outbox::default();
        t.respond(now, 180, Bytes::from_static(b"180"), &mut out);
        let mut out = Outbox::default();
        t.on_retransmission(&mut out);
        assert_eq!(out.send, vec![Bytes::from_static(b"180")]);
    }

    #[test]
    fn timer_g_doubles_and_caps_at_t2_until_timer_h() {
        let (mut t, _) = tx(false);
        let start = Instant::now();
        let mut out = Outbox::default();
        t.respond(start, 486, Bytes::from_static(b"486"), &mut out);
        assert!(out
            .arm
            .contains(&(Timer::G, start + Duration::from_millis(500))));
        assert!(out
            .arm
            .contains(&(Timer::H, start + Duration::from_secs(32))));
        let mut now = start + Duration::from_millis(500);
        let mut intervals = Vec::new();
        for _ in 0..6 {
            let mut out = Outbox::default();
            t.on_timer(now, Timer::G, &mut out);
            assert_eq!(out.send.len(), 1);
            let (_, at) = out.arm[0];
            intervals.push((at - now).as_millis());
            now = at;
        }
        assert_eq!(intervals, vec![1000, 2000, 4000, 4000, 4000, 4000]);
        let mut out = Outbox::default();
        t.on_timer(start + Duration::from_secs(32), Timer::H, &mut out);
        assert!(out.terminated);
        assert_eq!(out.signals, vec![TxSignal::NoAckForFailure]);
    }

    #[test]
    fn ack_for_failure_confirms_then_timer_i_terminates() {
        let (mut t, _) = tx(false);
        let now = Instant::now();
        t.respond(now, 487, Bytes::from_static(b"487"), &mut Outbox::default());
        let mut out = Outbox::default();
        t.on_ack(now, &mut out);
        assert_eq!(t.state(), State::Confirmed);
        assert!(out.cancel.contains(&Timer::G) && out.cancel.contains(&Timer::H));
        assert_eq!(out.arm, vec![(Timer::I, now + Duration::from_secs(5))]);
        let mut out = Outbox::default();
        t.on_ack(now, &mut out);
        assert!(out.send.is_empty(), "ACK retransmits are absorbed");
        t.on_timer(now + Duration::from_secs(5), Timer::I, &mut out);
        assert!(out.terminated);
    }

    #[test]
    fn tcp_collapses_timer_i_to_zero_and_sends_no_g() {
        let (mut t, _) = tx(true);
        let now = Instant::now();
        let mut out = Outbox::default();
        t.respond(now, 404, Bytes::from_static(b"404"), &mut out);
        assert!(out.arm.iter().all(|(timer, _)| *timer != Timer::G));
        let mut out = Outbox::default();
        t.on_ack(now, &mut out);
        assert!(out.terminated);
    }

    #[test]
    fn lost_ack_makes_uas_retransmit_2xx_until_64t1_then_reports() {
        let (mut t, _) = tx(false);
        let start = Instant::now();
        let mut out = Outbox::default();
        t.respond(start, 200, Bytes::from_static(b"200"), &mut out);
        assert_eq!(t.state(), State::Accepted);
        let mut now = start + Duration::from_millis(500);
        let mut sends = 0;
        while now < start + Duration::from_secs(32) {
            let mut out = Outbox::default();
            t.on_timer(now, Timer::Retransmit2xx, &mut out);
            sends += out.send.len();
            now = out.arm[0].1;
        }
        // 0.5, 1.5, 3.5, 7.5, 11.5, ... 31.5 s: 10 retransmissions before 32 s.
        assert_eq!(sends, 10);
        let mut out = Outbox::default();
        t.on_timer(start + Duration::from_secs(32), Timer::L, &mut out);
        assert_eq!(out.signals, vec![TxSignal::AckTimeout]);
        assert!(out.terminated);
    }

    #[test]
    fn ack_for_2xx_stops_retransmission_and_is_reported_once() {
        let (mut t, _) = tx(false);
        let now = Instant::now();
        t.respond(now, 200, Bytes::from_static(b"200"), &mut Outbox::default());
        let mut out = Outbox::default();
        assert!(t.on_ack_for_2xx(&mut out));
        assert_eq!(out.cancel, vec![Timer::Retransmit2xx]);
        assert!(!t.on_ack_for_2xx(&mut Outbox::default()));
        let mut out = Outbox::default();
        t.on_timer(now + Duration::from_secs(32), Timer::L, &mut out);
        assert!(out.signals.is_empty());
        assert!(out.terminated);
    }

    #[test]
    fn invite_retransmission_in_accepted_resends_the_2xx() {
        let (mut t, _) = tx(false);
        t.respond(
            Instant::now(),
            200,
            Bytes::from_static(b"200"),
            &mut Outbox::default(),
        );
        let mut out = Outbox::default();
        t.on_retransmission(&mut out);
        assert_eq!(out.send, vec![Bytes::from_static(b"200")]);
    }

    #[test]
    fn second_final_response_is_ignored() {
        let (mut t, _) = tx(false);
        let now = Instant::now();
        t.respond(now, 200, Bytes::from_static(b"200"), &mut Outbox::default());
        let mut out = Outbox::default();
        t.respond(now, 487, Bytes::from_static(b"487"), &mut out);
        assert!(out.send.is_empty());
        assert_eq!(t.state(), State::Accepted);
    }
}
