//! Store work for one inbound call, run beside the call's loop: each job is
//! a task of its own and its answer comes back as a message, so the loop
//! goes on reading BYEs and keys however slow the database is. The IVR
//! session keeps the deadlines (it waits in an `Await*` step and ignores an
//! answer that comes after it moved on).

use super::metrics::CallMetrics;
use super::voice_note::VoiceNote;
use crate::booking::{Booking, CallerOffer};
use crate::identity::PhoneNumber;
use crate::ivr::{BookedCallback, CaseDraft, CaseMode, ClockTime, RecordingEnd};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// A job's answer.
#[derive(Debug)]
pub enum StoreReply {
    Estimate(CallerOffer),
    /// The draft was committed as `case_id` (of `mode`), or not.
    Registered {
        mode: CaseMode,
        level: u8,
        result: Result<(String, ClockTime), String>,
    },
    Booked(Option<BookedCallback>),
    Cancelled {
        case_id: String,
        done: bool,
    },
    VoiceNote {
        saved: bool,
    },
}

/// The call's store jobs and their answers.
pub struct StoreJobs {
    booking: Arc<Booking>,
    /// Jobs must land before the process exits (a stopping service waits).
    tasks: TaskTracker,
    replies_tx: mpsc::UnboundedSender<StoreReply>,
    replies: mpsc::UnboundedReceiver<StoreReply>,
}

impl StoreJobs {
    pub fn new(booking: Arc<Booking>, tasks: TaskTracker) -> StoreJobs {
        let (replies_tx, replies) = mpsc::unbounded_channel();
        StoreJobs {
            booking,
            tasks,
            replies_tx,
            replies,
        }
    }

    /// The next answer; never resolves while no job is out (for `select!`).
    pub async fn next(&mut self) -> StoreReply {
        match self.replies.recv().await {
            Some(reply) => reply,
            // Unreachable while we hold a sender; wait rather than spin.
            None => std::future::pending().await,
        }
    }

    pub fn estimate(&self, level: u8) {
        let (booking, tx) = (self.booking.clone(), self.replies_tx.clone());
        self.tasks.spawn(async move {
            let _ = tx.send(StoreReply::Estimate(booking.caller_offer(level).await));
        });
    }

    /// Stores a self-care contact closed, within `deadline`; nobody waits
    /// for it (nothing was promised), a failure is counted on `/metrics`.
    pub fn record_contact(
        &self,
        draft: CaseDraft,
        call_id: String,
        deadline: std::time::Duration,
        metrics: Arc<CallMetrics>,
    ) {
        let booking = self.booking.clone();
        self.tasks.spawn(async move {
            let write = booking.record_contact(&draft, &call_id);
            match tokio::time::timeout(deadline, write).await {
                Ok(Ok(case_id)) => {
                    info!(case = %case_id, "self-care contact recorded");
                    metrics.self_care_contacts.inc();
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "self-care contact not recorded");
                    metrics.self_care_contact_failures.inc();
                }
                Err(_) => {
                    warn!("self-care contact not recorded in time");
                    metrics.self_care_contact_failures.inc();
                }
            }
        });
    }

    /// Commits the case. If the call has gone when the commit lands, a held
    /// case becomes a callback here: nobody is left holding for it.
    pub fn register(&self, draft: CaseDraft, call_id: String) {
        let (booking, tx) = (self.booking.clone(), self.replies_tx.clone());
        self.tasks.spawn(async move {
            let result = booking.register(&draft, &call_id).await;
            let reply = StoreReply::Registered {
                mode: draft.mode,
                level: draft.level,
                result: result.map_err(|e| e.to_string()),
            };
            if let Err(mpsc::error::SendError(StoreReply::Registered {
                mode: CaseMode::Hold,
                result: Ok((case_id, _)),
                ..
            })) = tx.send(reply)
            {
                info!(case = %case_id, "caller left while the held case was stored: now a callback");
                if let Err(e) = booking.holding_caller_left(&case_id).await {
                    warn!(error = %e, "could not turn the held case into a callback");
                }
            }
        });
    }

    pub fn find_booked(&self, number: PhoneNumber) {
        let (booking, tx) = (self.booking.clone(), self.replies_tx.clone());
        self.tasks.spawn(async move {
            let _ = tx.send(StoreReply::Booked(booking.booked_callback(&number).await));
        });
    }

    pub fn cancel(&self, case_id: String) {
        let (booking, tx) = (self.booking.clone(), self.replies_tx.clone());
        self.tasks.spawn(async move {
            let done = match booking.cancel_booked(&case_id).await {
                Ok(()) => true,
                Err(e) => {
                    warn!(case = %case_id, error = %e, "booked callback not cancelled");
                    false
                }
            };
            let _ = tx.send(StoreReply::Cancelled { case_id, done });
        });
    }

    /// Stores the note (its tap already stopped).
    pub fn save_voice_note(&self, note: VoiceNote, reason: RecordingEnd) {
        let (booking, tx) = (self.booking.clone(), self.replies_tx.clone());
        self.tasks.spawn(async move {
            let saved = note.finish(&booking, reason).await;
            let _ = tx.send(StoreReply::VoiceNote { saved });
        });
    }

    /// The call is over: no answer will be read any more. Returns those that
    /// came in already; jobs still out see the call gone when they answer.
    pub fn close(&mut self) -> Vec<StoreReply> {
        self.replies.close();
        let mut left = Vec::new();
        while let Ok(reply) = self.replies.try_recv() {
            left.push(reply);
        }
        left
    }
}
