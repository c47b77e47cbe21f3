//! Call counters for `/metrics` (prometheus-client does the exposition).
//! Counts only: never a number, personnummer or answer.

use crate::config::ThreadPriority;
use crate::ivr::CallOutcome;
use crate::media::dtmf::DtmfSource;
use crate::media::engine::{MediaEngine, SendMode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppliedLabel {
    applied: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Everything we count about calls on this node.
#[derive(Debug, Default)]
pub struct CallMetrics {
    pub calls_active: Gauge,
    pub calls: Counter,
    pub calls_rejected_overload: Counter,
    pub calls_rejected_codec: Counter,
    pub rtp_timeouts: Counter,
    pub cases_registered: Counter,
    pub case_store_failures: Counter,
    /// INVITEs answered 503 because the database is down and no fallback is set.
    pub calls_rejected_not_ready: Counter,
    /// Callers bridged to `fallback_uri` (their case could not be stored).
    pub fallback_transfers: Counter,
    /// Transfers to `fallback_uri` that failed (not answered, refused).
    pub fallback_failures: Counter,
    /// SIP-over-TLS connections that completed their handshake.
    pub sip_tls_connections: Counter,
    /// TLS connections dropped in the handshake (bad client, no shared cipher, timeout).
    pub sip_tls_handshake_failures: Counter,
    /// Calls answered with SRTP (SDES keys).
    pub calls_srtp: Counter,
    /// Offers answered 488 for SRTP: RTP/SAVP without a usable `a=crypto`,
    /// or plain RTP over TLS under `srtp = "required_on_tls"`.
    pub calls_rejected_srtp: Counter,
    /// Self-care contacts (advice instead of a case) stored closed.
    pub self_care_contacts: Counter,
    /// Self-care contacts the store refused or did not take in time.
    pub self_care_contact_failures: Counter,
    digits: Family<MethodLabel, Counter>,
    outcomes: Family<OutcomeLabel, Counter>,
}

impl CallMetrics {
    /// Puts the counters on `registry` (names as `/metrics` shows them).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_calls_active",
            "Calls in the IVR now",
            self.calls_active.clone(),
        );
        registry.register(
            "pe_calls",
            "Calls answered or rejected by a call task",
            self.calls.clone(),
        );
        registry.register(
            "pe_calls_rejected_overload",
            "INVITEs answered 503 (capacity)",
            self.calls_rejected_overload.clone(),
        );
        registry.register(
            "pe_calls_rejected_codec",
            "INVITEs answered 488 (no G.711)",
            self.calls_rejected_codec.clone(),
        );
        registry.register(
            "pe_rtp_timeouts",
            "Calls ended because RTP stopped",
            self.rtp_timeouts.clone(),
        );
        registry.register(
            "pe_cases_registered",
            "Phone cases committed to the store (new, or updated by a repeat caller)",
            self.cases_registered.clone(),
        );
        registry.register(
            "pe_case_store_failures",
            "Phone cases the store refused",
            self.case_store_failures.clone(),
        );
        registry.register(
            "pe_calls_rejected_not_ready",
            "INVITEs answered 503 while the database is down (no fallback_uri)",
            self.calls_rejected_not_ready.clone(),
        );
        registry.register(
            "pe_fallback_transfers",
            "Callers whose case could not be stored, bridged to fallback_uri",
            self.fallback_transfers.clone(),
        );
        registry.register(
            "pe_fallback_failures",
            "Transfers to fallback_uri that were not answered (the caller was told to call again)",
            self.fallback_failures.clone(),
        );
        registry.register(
            "pe_sip_tls_connections",
            "SIP-over-TLS connections that completed the handshake",
            self.sip_tls_connections.clone(),
        );
        registry.register(
            "pe_sip_tls_handshake_failures",
            "SIP-over-TLS connections dropped in the handshake",
            self.sip_tls_handshake_failures.clone(),
        );
        registry.register(
            "pe_calls_srtp",
            "Calls answered with SRTP (SDES keys)",
            self.calls_srtp.clone(),
        );
        registry.register(
            "pe_calls_rejected_srtp",
            "Offers answered 488 for SRTP (no usable a=crypto, or plain RTP over TLS when required)",
            self.calls_rejected_srtp.clone(),
        );
        registry.register(
            "pe_self_care_contacts",
            "Self-care contacts (advice given, no callback) stored closed with outcome self_care",
            self.self_care_contacts.clone(),
        );
        registry.register(
            "pe_self_care_contact_failures",
            "Self-care contacts not stored (store error or past settings.store_timeout_s): follow-up misses them",
            self.self_care_contact_failures.clone(),
        );
        // Every label from the start, so dashboards see zeros rather than gaps.
        for method in ["rfc4733", "sip_info", "inband"] {
            let _ = self.digits.get_or_create(&MethodLabel { method });
        }
        for outcome in OUTCOMES {
            let _ = self.outcomes.get_or_create(&OutcomeLabel { outcome });
        }
        registry.register("pe_digits", "Keypad digits by method", self.digits.clone());
        registry.register(
            "pe_ivr_outcomes",
            "How IVR calls ended",
            self.outcomes.clone(),
        );
    }

    pub fn digit(&self, source: DtmfSource) {
        let method = match source {
            DtmfSource::Rfc4733 => "rfc4733",
            DtmfSource::SipInfo => "sip_info",
            DtmfSource::InBand => "inband",
        };
        self.digits.get_or_create(&MethodLabel { method }).inc();
    }

    pub fn outcome(&self, o: &CallOutcome) {
        // `callback` is the dashboards' name for a registered callback.
        let outcome = match o {
            CallOutcome::CallbackRegistered { .. } => "callback",
            other => other.label(),
        };
        self.outcomes.get_or_create(&OutcomeLabel { outcome }).inc();
    }
}

const OUTCOMES: [&str; 11] = [
    "callback",
    "held",
    "advised_112",
    "registration_failed",
    "abandoned",
    "booked_kept",
    "booked_cancelled",
    "fallback",
    "booked_retriaged",
    "self_care",
    "closed_advice",
];

/// The media engine's counters (pacing health: late ticks, skipped frames),
/// read from the engine at each scrape.
pub struct MediaCollector(pub MediaEngine);

impl std::fmt::Debug for MediaCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaCollector")
    }
}

impl Collector for MediaCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        let streams = ConstGauge::new(i64::try_from(s.streams).unwrap_or(i64::MAX));
        streams.encode(encoder.encode_descriptor(
            "pe_rtp_streams",
            "Open RTP streams",
            None,
            streams.metric_type(),
        )?)?;
        for (name, help, v) in [
            ("pe_rtp_packets_in", "RTP packets received", s.packets_in),
            ("pe_rtp_packets_out", "RTP packets sent", s.packets_out),
            (
                "pe_rtp_send_errors",
                "RTP packets the kernel refused",
                s.send_errors,
            ),
            (
                "pe_rtp_malformed",
                "Datagrams on RTP ports that were not RTP",
                s.malformed_in,
            ),
            (
                "pe_rtp_unlatched_suppressed",
                "RTP frames not sent because no RTP came from the offered address yet",
                s.unlatched_suppressed,
            ),
            (
                "pe_rtp_foreign_source_dropped",
                "Datagrams on RTP ports dropped because another source than the call's sent them",
                s.foreign_dropped,
            ),
            (
                "pe_rtp_destination_refused",
                "RTP frames not sent because media may not go to the offered address (trunks.toml)",
                s.destination_refused,
            ),
            (
                "pe_srtp_rejected",
                "SRTP packets that failed authentication or replay checks",
                s.srtp_rejected_in,
            ),
            (
                "pe_media_late_ticks",
                "20 ms ticks that ran a period late",
                s.late_ticks,
            ),
            (
                "pe_media_skipped_frames",
                "Frames skipped after a worker fell behind",
                s.skipped_frames,
            ),
        ] {
            let counter = ConstCounter::new(v);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let lag = ConstGauge::new(s.max_tick_lag.as_secs_f64());
        lag.encode(encoder.encode_descriptor(
            "pe_media_max_tick_lag_seconds",
            "Worst tick lateness seen",
            None,
            lag.metric_type(),
        )?)?;
        let applied = self.0.thread_priority();
        let mut family = encoder.encode_descriptor(
            "pe_media_thread_priority",
            "1 for the priority the media threads got (sip.toml [media] priority, or its fallback)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for level in [
            ThreadPriority::Realtime,
            ThreadPriority::Nice,
            ThreadPriority::Normal,
        ] {
            let g = ConstGauge::new(i64::from(level == applied));
            g.encode(family.encode_family(&AppliedLabel {
                applied: level.as_str(),
            })?)?;
        }
        let mode = self.0.send_mode();
        let mut family = encoder.encode_descriptor(
            "pe_media_batch_send",
            "1 for how the media workers send their frames (sip.toml [media] batch_send, or its fallback)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for m in [SendMode::IoUring, SendMode::Syscall] {
            let g = ConstGauge::new(i64::from(m == mode));
            g.encode(family.encode_family(&ModeLabel { mode: m.as_str() })?)?;
        }
        Ok(())
    }
}
