//! The session's inputs and outputs: events, actions, and the case draft.
//! `Debug` of everything here is safe to log (personal data is masked).

use std::fmt;

use crate::identity::{Personnummer, PhoneNumber};
use crate::ivr::{ClockTime, Language, PromptRef};
use crate::media::dtmf::DtmfKey;

/// Whether the caller ID is verified (RFC 3325: asserted by a trusted
/// trunk) or only what the caller's side wrote in From (anyone can).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerIdentity {
    Trusted,
    /// Offered as the callback number (the caller confirms it), never used
    /// to find, tell about or cancel a booked callback.
    #[default]
    Untrusted,
}

/// What the app knows about the call when it starts.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    /// The validated caller ID; `None` when withheld or not a callable number.
    pub caller_id: Option<PhoneNumber>,
    /// Whether `caller_id` may identify the caller's booked callback.
    pub identity: CallerIdentity,
    /// A fallback destination is configured: a caller whose case cannot be
    /// stored is transferred there (`Transfer`) instead of being sent away.
    pub fallback: bool,
    /// The node cannot store now (database down): with `fallback`, the call
    /// goes to the fallback at once instead of through the IVR.
    pub store_down: bool,
}

/// Inputs to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrEvent {
    /// The call was answered and media flows.
    Answered,
    /// A key, from RFC 4733, SIP INFO or in-band detection.
    Digit(DtmfKey),
    /// The `Play`/`PlayMessage` with this token finished (or was stopped).
    PlaybackDone { token: u64 },
    /// The caller hung up.
    Hangup,
    /// The service is stopping: tell the caller, then hang up.
    Closing,
    /// Answer to `RequestEstimate`; `None` = callbacks are closed now.
    Estimate(Option<ClockTime>),
    /// Answer to `RequestEstimate`: no callback, and hours.toml routes this
    /// caller to advice about another route (then the call ends).
    AdviseOtherRoute,
    /// The `RegisterCase` draft is committed.
    CaseStored {
        case_id: String,
        callback_at: ClockTime,
    },
    /// The `RegisterCase` draft could not be committed.
    CaseStoreFailed,
    /// Answer to `FindBookedCallback`: the caller's waiting callback, if any.
    BookedCallback(Option<BookedCallback>),
    /// The `CancelCase` is committed.
    CaseCancelled,
    /// The `CancelCase` could not be done (a nurse took the case, or the store failed).
    CaseCancelFailed,
    /// During a recording, the caller's audio is speech (the app hears it; a
    /// quiet caller is one without this event for the node's `silence`).
    CallerSpeaking,
    /// Answer to `StopRecording`: the voice note was stored (`saved`), or there
    /// was nothing to store or the store failed.
    RecordingDone { saved: bool },
    /// Answer to `Transfer`: the fallback answered and is bridged to the caller.
    Transferred,
    /// Answer to `Transfer`: the fallback did not answer (or refused).
    TransferFailed,
}

/// A callback the caller already has in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedCallback {
    pub case_id: String,
    /// When it is expected, as said to the caller.
    pub at: ClockTime,
    /// The case's personnummer, if one was given: cancelling needs the
    /// caller to key it in (masked in `Debug`; compared, never said or logged).
    pub personnummer: Option<Personnummer>,
}

/// Why a voice-note recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// The caller pressed `#`.
    Hash,
    /// The node's maximum length was reached.
    MaxDuration,
    /// The caller was quiet for the node's `silence`.
    Silence,
    /// The caller hung up (what was said is still stored).
    Hangup,
}

/// Outputs of a session, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrAction {
    /// Play these prompts in order; report `PlaybackDone { token }` at the end.
    /// `barge_in`: the session will stop it on a key (after `StopPlayback`).
    Play {
        prompts: Vec<PromptRef>,
        token: u64,
        barge_in: bool,
    },
    /// Play the app's current message for `slot` (may be nothing), then report
    /// `PlaybackDone { token }`.
    PlayMessage {
        slot: String,
        language: Language,
        token: u64,
    },
    /// Stop the current playback at once (barge-in or repeat).
    StopPlayback,
    /// Ask the queue for an estimated callback time: answer with `Estimate`.
    RequestEstimate { level: u8 },
    /// Commit this case (a new one, or the update of `draft.updates`):
    /// answer with `CaseStored` or `CaseStoreFailed`.
    RegisterCase(CaseDraft),
    /// Store this contact closed with outcome self_care (advice given, no
    /// callback; `draft.mode` is not used). Beside the call, within the
    /// store deadline; no answer is expected (nothing was promised).
    RecordContact(CaseDraft),
    /// Look up a waiting callback to this number: answer with `BookedCallback`.
    FindBookedCallback { number: PhoneNumber },
    /// Cancel this case (actor `ivr`): answer with `CaseCancelled` or `CaseCancelFailed`.
    CancelCase { case_id: String },
    /// Record the caller's audio as the voice note of `case_id`, keeping at
    /// most `max`; report `CallerSpeaking` while the caller speaks.
    Record {
        case_id: String,
        max: std::time::Duration,
    },
    /// Stop recording and store what was said: answer with `RecordingDone`
    /// (not needed after `Hangup`: the session is over, the note is still stored).
    StopRecording { reason: RecordingEnd },
    /// Connect the caller to a nurse: play the hold loop until one answers.
    Hold,
    /// Call the fallback destination and bridge the caller to it: answer
    /// with `Transferred` or `TransferFailed`.
    Transfer,
    /// End the call.
    Hangup,
    /// How the IVR part of the call ended (for metrics); comes before `Hold`/`Hangup`.
    Outcome(CallOutcome),
}

/// How the IVR part of a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// A callback case was stored and confirmed.
    CallbackRegistered { case_id: String },
    /// Handed to the hold queue for a nurse (case stored unless `None`).
    Held { case_id: Option<String>, level: u8 },
    /// The caller hung up during or right after 112 advice, nothing registered.
    AdvisedToCall112,
    /// The store failed and the caller left without holding.
    RegistrationFailed,
    /// The caller hung up before anything was registered, at node `node`.
    Abandoned { node: String },
    /// The caller already had a waiting callback and kept or cancelled it.
    BookedCallback { case_id: String, cancelled: bool },
    /// Nothing could be stored; the caller was bridged to the fallback destination.
    Fallback,
    /// The caller answered the questions again and their waiting callback
    /// was updated (a re-triage that ends in a hold is `Held`).
    BookedRetriaged { case_id: String },
    /// Self-care advice instead of a case: the contact was handed over to
    /// be stored closed. `closed_offer`: the callback offer was closed
    /// (hours.toml advice route).
    SelfCare { closed_offer: bool },
}

impl CallOutcome {
    /// The word for call-detail records and logs.
    pub fn label(&self) -> &'static str {
        match self {
            CallOutcome::CallbackRegistered { .. } => "callback_registered",
            CallOutcome::Held { .. } => "held",
            CallOutcome::AdvisedToCall112 => "advised_112",
            CallOutcome::RegistrationFailed => "registration_failed",
            CallOutcome::Fallback => "fallback",
            CallOutcome::Abandoned { .. } => "abandoned",
            CallOutcome::BookedCallback {
                cancelled: false, ..
            } => "booked_kept",
            CallOutcome::BookedCallback {
                cancelled: true, ..
            } => "booked_cancelled",
            CallOutcome::BookedRetriaged { .. } => "booked_retriaged",
            CallOutcome::SelfCare {
                closed_offer: false,
            } => "self_care",
            CallOutcome::SelfCare { closed_offer: true } => "closed_advice",
        }
    }

    /// The case the call ended with, if any.
    pub fn case_id(&self) -> Option<&str> {
        match self {
            CallOutcome::CallbackRegistered { case_id }
            | CallOutcome::BookedCallback { case_id, .. }
            | CallOutcome::BookedRetriaged { case_id } => Some(case_id),
            CallOutcome::Held { case_id, .. } => case_id.as_deref(),
            _ => None,
        }
    }
}

/// Callback later or held live for a nurse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseMode {
    Callback,
    Hold,
}

pub use crate::case::Answer;

/// A case for the store. `Debug` shows no personal data: counts instead of
/// answers and rule names, masked number and personnummer.
#[derive(Clone, PartialEq, Eq)]
pub struct CaseDraft {
    pub level: u8,
    pub mode: CaseMode,
    pub answers: Vec<Answer>,
    /// Who to call back (caller ID or typed); for holds, the caller ID if any.
    pub callback_number: Option<PhoneNumber>,
    pub language: Language,
    pub personnummer: Option<Personnummer>,
    pub red_flag: bool,
    /// Names of the triage rules that matched.
    pub matched_rules: Vec<String>,
    /// The caller hung up after triage, before confirming: registered anyway.
    pub dropped_in_ivr: bool,
    /// A repeat caller answered the questions again: update this waiting
    /// case (its level may rise, never fall; it keeps its place) instead of
    /// adding one.
    pub updates: Option<String>,
}

impl fmt::Debug for CaseDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseDraft")
            .field("level", &self.level)
            .field("mode", &self.mode)
            .field("answers", &self.answers.len())
            .field("callback_number", &self.callback_number)
            .field("language", &self.language)
            .field("personnummer", &self.personnummer)
            .field("red_flag", &self.red_flag)
            .field("matched_rules", &self.matched_rules.len())
            .field("dropped_in_ivr", &self.dropped_in_ivr)
            .field("updates", &self.updates)
            .finish()
    }
}
