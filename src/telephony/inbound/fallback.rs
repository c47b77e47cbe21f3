//! A caller whose case cannot be stored, bridged to `sip.toml`'s
//! `fallback_uri` (e.g. the contact centre's plain phone queue): an outbound
//! INVITE whose media sits beside the caller's stream, then the two streams
//! bridged until either side hangs up. Bridging rather than REFER: trunks
//! often refuse REFER, and the nurse bridge already works this way.

use super::Call;
use crate::ivr::IvrEvent;
use crate::media::engine::MediaEvent;
use crate::sip::{Peer, Transport};
use crate::telephony::outbound::{self, Caller, LegEvent, Placement, Target};
use crate::telephony::SipHandle;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

/// What the fallback leg's task reports to the call.
#[derive(Debug)]
pub(super) enum FallbackEvent {
    /// The fallback answered and hears the caller.
    Answered,
    /// Not answered, refused, or no media: the caller is still ours.
    Failed,
    /// The fallback hung up (or the service stops): end the caller's call.
    Ended,
}

/// The running fallback leg; dropping it hangs the leg up (CANCEL or BYE).
pub(super) struct FallbackLeg {
    pub(super) events: mpsc::UnboundedReceiver<FallbackEvent>,
    _hang_up: DropGuard,
}

impl Call {
    /// Starts the outbound leg to the fallback (the session asked with
    /// `Transfer`); its answer comes back through `on_fallback`.
    pub(super) fn transfer(&mut self) {
        let (Some((uri, addr)), Some(stream)) = (self.ctx.config.fallback(), &self.stream) else {
            self.session
                .handle(std::time::Instant::now(), IvrEvent::TransferFailed);
            return;
        };
        let sip = SipHandle {
            commands: self.sip.clone(),
            advertise_ip: self.ctx.advertise_ip,
            port: self.sip_port,
            tls_port: None,
            user_agent: self.ctx.config.user_agent.clone(),
            srtp: self.ctx.config.srtp,
        };
        let target = Target {
            uri: uri.to_string(),
            peer: Peer {
                addr,
                transport: Transport::Udp,
                conn: None,
            },
            credentials: None,
            ring_timeout: self.ctx.config.fallback_ring(),
        };
        // The queue's agent sees who calls, unless the caller withheld it.
        let number = self
            .caller
            .number
            .as_ref()
            .map(|n| n.e164().to_string())
            .unwrap_or_else(|| "anonymous".into());
        let caller = Caller {
            number,
            display: "1177 fallback".into(),
        };
        let link = stream.link();
        let media = self.ctx.media.clone();
        let cancel = CancellationToken::new();
        let (tx, events) = mpsc::unbounded_channel();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let dialled = outbound::dial(
                &sip,
                &media,
                &target,
                &caller,
                Placement::Beside(&link),
                &stop,
                |_| {},
            )
            .await;
            let mut leg = match dialled {
                Ok(leg) => leg,
                Err((failure, _)) => {
                    info!(result = failure.as_str(), "fallback not reached");
                    let _ = tx.send(FallbackEvent::Failed);
                    return;
                }
            };
            if let Err(e) = leg.stream.bridge(&link) {
                warn!(error = %e, "cannot bridge the caller to the fallback");
                let _ = tx.send(FallbackEvent::Failed);
                return;
            }
            let _ = tx.send(FallbackEvent::Answered);
            loop {
                tokio::select! {
                    ev = leg.next() => match ev {
                        LegEvent::RemoteHangup | LegEvent::Shutdown => break,
                        LegEvent::Media(MediaEvent::RtpTimeout) => break,
                        LegEvent::Media(_) => {}
                    },
                    _ = stop.cancelled() => break,
                }
            }
            // Dropping the leg sends our BYE unless the fallback sent one.
            drop(leg);
            let _ = tx.send(FallbackEvent::Ended);
        });
        self.fallback = Some(FallbackLeg {
            events,
            _hang_up: cancel.drop_guard(),
        });
    }

    pub(super) async fn on_fallback(&mut self, ev: FallbackEvent) {
        let now = std::time::Instant::now();
        match ev {
            FallbackEvent::Answered => {
                info!("caller bridged to the fallback destination");
                self.ctx.metrics.fallback_transfers.inc();
                self.session.handle(now, IvrEvent::Transferred);
            }
            FallbackEvent::Failed => {
                self.ctx.metrics.fallback_failures.inc();
                self.fallback = None;
                self.session.handle(now, IvrEvent::TransferFailed);
            }
            FallbackEvent::Ended => {
                self.fallback = None;
                self.hangup().await;
                return;
            }
        }
        self.drive().await;
    }
}
