//! Service counters, rendered as Prometheus text. Counts only: never a
//! number, personnummer or answer.

use crate::ivr::CallOutcome;
use crate::media::dtmf::DtmfSource;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};

/// One counter or gauge.
#[derive(Debug, Default)]
pub struct Counter(AtomicI64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything we count about calls.
#[derive(Debug, Default)]
pub struct Metrics {
    pub calls_active: Counter,
    pub calls_total: Counter,
    pub calls_rejected_overload: Counter,
    pub calls_rejected_codec: Counter,
    pub rtp_timeouts: Counter,
    pub cases_registered: Counter,
    pub case_store_failures: Counter,
    pub digits_rfc4733: Counter,
    pub digits_sip_info: Counter,
    pub digits_inband: Counter,
    pub outcome_callback: Counter,
    pub outcome_held: Counter,
    pub outcome_112: Counter,
    pub outcome_failed: Counter,
    pub outcome_abandoned: Counter,
    pub outcome_booked_kept: Counter,
    pub outcome_booked_cancelled: Counter,
    pub callbacks_active: Counter,
    pub callback_connected: Counter,
    pub callback_busy: Counter,
    pub callback_no_answer: Counter,
    pub callback_rejected: Counter,
    pub callback_failed: Counter,
    pub callback_nurse_unavailable: Counter,
    pub callback_cancelled: Counter,
}

impl Metrics {
    /// Counts how a callback ended.
    pub fn callback(&self, result: crate::dialer::CallResult) {
        use crate::dialer::CallResult as R;
        match result {
            R::Connected => self.callback_connected.inc(),
            R::Busy => self.callback_busy.inc(),
            R::NoAnswer => self.callback_no_answer.inc(),
            R::Rejected => self.callback_rejected.inc(),
            R::Failed => self.callback_failed.inc(),
            R::NurseUnavailable => self.callback_nurse_unavailable.inc(),
            R::Cancelled => self.callback_cancelled.inc(),
        }
    }

    pub fn digit(&self, source: DtmfSource) {
        match source {
            DtmfSource::Rfc4733 => self.digits_rfc4733.inc(),
            DtmfSource::SipInfo => self.digits_sip_info.inc(),
            DtmfSource::InBand => self.digits_inband.inc(),
        }
    }

    pub fn outcome(&self, o: &CallOutcome) {
        match o {
            CallOutcome::CallbackRegistered { .. } => self.outcome_callback.inc(),
            CallOutcome::Held { .. } => self.outcome_held.inc(),
            CallOutcome::AdvisedToCall112 => self.outcome_112.inc(),
            CallOutcome::RegistrationFailed => self.outcome_failed.inc(),
            CallOutcome::Abandoned { .. } => self.outcome_abandoned.inc(),
            CallOutcome::BookedCallback {
                cancelled: false, ..
            } => self.outcome_booked_kept.inc(),
            CallOutcome::BookedCallback {
                cancelled: true, ..
            } => self.outcome_booked_cancelled.inc(),
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            &mut out,
            "pe_calls_active",
            "Calls in the IVR now.",
            self.calls_active.get(),
        );
        let counters = [
            (
                "pe_calls_total",
                "Calls answered or rejected by a call task.",
                &self.calls_total,
            ),
            (
                "pe_calls_rejected_overload_total",
                "INVITEs answered 503 (capacity).",
                &self.calls_rejected_overload,
            ),
            (
                "pe_calls_rejected_codec_total",
                "INVITEs answered 488 (no G.711).",
                &self.calls_rejected_codec,
            ),
            (
                "pe_rtp_timeouts_total",
                "Calls ended because RTP stopped.",
                &self.rtp_timeouts,
            ),
            (
                "pe_cases_registered_total",
                "Phone cases committed to the store.",
                &self.cases_registered,
            ),
            (
                "pe_case_store_failures_total",
                "Phone cases the store refused.",
                &self.case_store_failures,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP pe_digits_total Keypad digits by method.\n# TYPE pe_digits_total counter"
        );
        for (m, c) in [
            ("rfc4733", &self.digits_rfc4733),
            ("sip_info", &self.digits_sip_info),
            ("inband", &self.digits_inband),
        ] {
            let _ = writeln!(out, "pe_digits_total{{method=\"{m}\"}} {}", c.get());
        }
        let _ = writeln!(out, "# HELP pe_ivr_outcomes_total How IVR calls ended.\n# TYPE pe_ivr_outcomes_total counter");
        for (o, c) in [
            ("callback", &self.outcome_callback),
            ("held", &self.outcome_held),
            ("advised_112", &self.outcome_112),
            ("registration_failed", &self.outcome_failed),
            ("abandoned", &self.outcome_abandoned),
            ("booked_kept", &self.outcome_booked_kept),
            ("booked_cancelled", &self.outcome_booked_cancelled),
        ] {
            let _ = writeln!(out, "pe_ivr_outcomes_total{{outcome=\"{o}\"}} {}", c.get());
        }
        gauge(
            &mut out,
            "pe_callbacks_active",
            "Callbacks (nurse and resident legs) running on this node.",
            self.callbacks_active.get(),
        );
        let _ = writeln!(
            out,
            "# HELP pe_callbacks_total How callbacks ended.\n# TYPE pe_callbacks_total counter"
        );
        for (r, c) in [
            ("connected", &self.callback_connected),
            ("busy", &self.callback_busy),
            ("no_answer", &self.callback_no_answer),
            ("rejected", &self.callback_rejected),
            ("failed", &self.callback_failed),
            ("nurse_unavailable", &self.callback_nurse_unavailable),
            ("cancelled", &self.callback_cancelled),
        ] {
            let _ = writeln!(out, "pe_callbacks_total{{result=\"{r}\"}} {}", c.get());
        }
        out
    }
}

/// The media engine's counters (pacing health: late ticks, skipped frames).
pub fn render_media(s: &crate::app::media_engine::MediaStats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP pe_rtp_streams Open RTP streams.\n# TYPE pe_rtp_streams gauge\npe_rtp_streams {}",
        s.streams
    );
    for (name, help, v) in [
        (
            "pe_rtp_packets_in_total",
            "RTP packets received.",
            s.packets_in,
        ),
        (
            "pe_rtp_packets_out_total",
            "RTP packets sent.",
            s.packets_out,
        ),
        (
            "pe_rtp_send_errors_total",
            "RTP packets the kernel refused.",
            s.send_errors,
        ),
        (
            "pe_rtp_malformed_total",
            "Datagrams on RTP ports that were not RTP.",
            s.malformed_in,
        ),
        (
            "pe_media_late_ticks_total",
            "20 ms ticks that ran a period late.",
            s.late_ticks,
        ),
        (
            "pe_media_skipped_frames_total",
            "Frames skipped after a worker fell behind.",
            s.skipped_frames,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP pe_media_max_tick_lag_seconds Worst tick lateness seen.\n# TYPE pe_media_max_tick_lag_seconds gauge\npe_media_max_tick_lag_seconds {:.4}",
        s.max_tick_lag.as_secs_f64()
    );
    out
}
