//! Scripted calls: a small TOML format that says what the caller does after
//! the answer, and a runner that executes it and reports what happened.
//!
//! ```toml
//! from = "+46701234567"      # or "anonymous"; optional
//! dtmf = "rfc4733"           # default method: rfc4733 | info | info-dtmf | inband
//! [[step]]
//! wait_for_silence_ms = 1500 # the prompt has finished (speech, then this much quiet)
//! [[step]]
//! keys = "1"
//! [[step]]
//! keys = "199001011234#"
//! method = "info"
//! [[step]]
//! hangup = true
//! ```
//! Other steps: `wait_ms = 3000`, `wait_for_audio = true` (a prompt starts),
//! `speak_ms = 2000` (send speech-like audio, e.g. a voice note),
//! `wait_for_bye = true` (the server must hang up). Any step may set
//! `timeout_ms` (default: the script's `timeout_ms`, else 30 s). A script that
//! ends with the call still up hangs up.
//!
//! "Speech" for the waits is any received frame louder than the speech level;
//! a wait only counts speech heard after the caller's last action (answer,
//! keys, speech) or after the previous wait ended, so consecutive
//! `wait_for_silence_ms` steps each wait for a new prompt.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::caller::{
    Call, CallConfig, CallError, CallState, DtmfMethod, EndReason, InfoFormat, ReceivedInfo,
};
use crate::media::MediaStats;
use crate::recording::ReceivedAudio;
use crate::sdp::OfferedCodec;

/// A parsed script.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Caller ID; `anonymous` withholds it.
    pub from: Option<String>,
    /// Dialled user (default `1177`).
    pub to: Option<String>,
    /// Default DTMF method for `keys` steps.
    #[serde(default)]
    pub dtmf: ScriptDtmf,
    /// Offered codecs: "pcmu", "pcma", "g729".
    pub codecs: Option<Vec<String>>,
    pub telephone_event: Option<bool>,
    pub digit_ms: Option<u32>,
    /// Default step timeout in ms.
    pub timeout_ms: Option<u64>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
}

/// DTMF method names used in scripts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptDtmf {
    #[default]
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay`.
    Info,
    /// SIP INFO with `application/dtmf`.
    InfoDtmf,
    Inband,
}

impl From<ScriptDtmf> for DtmfMethod {
    fn from(d: ScriptDtmf) -> Self {
        match d {
            ScriptDtmf::Rfc4733 => DtmfMethod::Rfc4733,
            ScriptDtmf::Info => DtmfMethod::SipInfo(InfoFormat::DtmfRelay),
            ScriptDtmf::InfoDtmf => DtmfMethod::SipInfo(InfoFormat::Dtmf),
            ScriptDtmf::Inband => DtmfMethod::InBand,
        }
    }
}

/// One step; exactly one action field must be set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub wait_for_silence_ms: Option<u64>,
    pub wait_ms: Option<u64>,
    pub wait_for_audio: Option<bool>,
    pub wait_for_bye: Option<bool>,
    pub keys: Option<String>,
    pub method: Option<ScriptDtmf>,
    pub speak_ms: Option<u64>,
    pub hangup: Option<bool>,
    pub timeout_ms: Option<u64>,
}

/// The script file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("reading script {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("script is not valid TOML for pe-caller: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("step {step}: {problem} (set exactly one of wait_for_silence_ms, wait_ms, wait_for_audio, wait_for_bye, keys, speak_ms, hangup)")]
    Step { step: usize, problem: String },
    #[error("unknown codec {0:?}: use pcmu, pcma or g729")]
    Codec(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    WaitSilence(Duration),
    Wait(Duration),
    WaitAudio,
    WaitBye,
    Keys(String, DtmfMethod),
    Speak(Duration),
    Hangup,
}

impl Script {
    /// Parses and validates a script.
    pub fn from_toml(text: &str) -> Result<Script, ScriptError> {
        let s: Script = toml::from_str(text)?;
        s.validate()?;
        Ok(s)
    }

    /// Reads and parses a script file.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Script::from_toml(&text)
    }

    fn validate(&self) -> Result<(), ScriptError> {
        for n in 0..self.steps.len() {
            self.action(n)?;
        }
        self.codecs()?;
        Ok(())
    }

    fn codecs(&self) -> Result<Option<Vec<OfferedCodec>>, ScriptError> {
        let Some(names) = &self.codecs else {
            return Ok(None);
        };
        names
            .iter()
            .map(|n| match n.to_ascii_lowercase().as_str() {
                "pcmu" => Ok(OfferedCodec::Pcmu),
                "pcma" => Ok(OfferedCodec::Pcma),
                "g729" => Ok(OfferedCodec::G729),
                _ => Err(ScriptError::Codec(n.clone())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Applies the script's caller settings to a call configuration.
    pub fn apply(&self, cfg: &mut CallConfig) -> Result<(), ScriptError> {
        if let Some(f) = &self.from {
            cfg.from_user = f.clone();
        }
        if let Some(t) = &self.to {
            cfg.to_user = t.clone();
        }
        if let Some(c) = self.codecs()? {
            cfg.codecs = c;
        }
        if let Some(te) = self.telephone_event {
            cfg.telephone_event = te;
        }
        if let Some(ms) = self.digit_ms {
            cfg.digit_ms = ms;
        }
        Ok(())
    }

    fn action(&self, n: usize) -> Result<Action, ScriptError> {
        let err = |problem: &str| ScriptError::Step {
            step: n + 1,
            problem: problem.into(),
        };
        let s = self.steps.get(n).ok_or_else(|| err("no such step"))?;
        let mut actions = Vec::new();
        if let Some(ms) = s.wait_for_silence_ms {
            actions.push(Action::WaitSilence(Duration::from_millis(ms)));
        }
        if let Some(ms) = s.wait_ms {
            actions.push(Action::Wait(Duration::from_millis(ms)));
        }
        if s.wait_for_audio == Some(true) {
            actions.push(Action::WaitAudio);
        }
        if s.wait_for_bye == Some(true) {
            actions.push(Action::WaitBye);
        }
        if let Some(k) = &s.keys {
            if let Some(bad) = k.chars().find(|c| crate::DtmfKey::from_char(*c).is_none()) {
                return Err(err(&format!(
                    "{bad:?} is not a keypad key (0-9, *, #, A-D)"
                )));
            }
            let m = s.method.unwrap_or(self.dtmf);
            actions.push(Action::Keys(k.clone(), m.into()));
        } else if s.method.is_some() {
            return Err(err("method is only allowed with keys"));
        }
        if let Some(ms) = s.speak_ms {
            actions.push(Action::Speak(Duration::from_millis(ms)));
        }
        if s.hangup == Some(true) {
            actions.push(Action::Hangup);
        }
        match actions.len() {
            1 => Ok(actions.remove(0)),
            0 => Err(err("no action")),
            _ => Err(err("more than one action")),
        }
    }

    fn timeout(&self, n: usize) -> Duration {
        let ms = self
            .steps
            .get(n)
            .and_then(|s| s.timeout_ms)
            .or(self.timeout_ms)
            .unwrap_or(30_000);
        Duration::from_millis(ms)
    }
}

/// What a scripted call did and heard.
#[derive(Debug, Clone)]
pub struct ScriptReport {
    pub call_id: String,
    pub answered: bool,
    /// The final status if the INVITE was refused.
    pub rejected: Option<u16>,
    pub answer_latency: Option<Duration>,
    pub final_state: CallState,
    /// The server hung up (BYE from the server).
    pub bye_from_server: bool,
    /// Steps that completed.
    pub steps_completed: usize,
    /// The first failure, naming the step (`None` when the script ran through).
    pub error: Option<String>,
    pub received_audio: ReceivedAudio,
    pub received_infos: Vec<ReceivedInfo>,
    pub media_stats: MediaStats,
}

impl ScriptReport {
    /// True when the call was answered and every step completed.
    pub fn ok(&self) -> bool {
        self.answered && self.error.is_none()
    }
}

/// Speech-like test audio: a 220 Hz tone with a 4 Hz syllable envelope.
pub fn speech_like(duration: Duration) -> Vec<i16> {
    let n = (duration.as_millis() as usize) * 8;
    (0..n)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let env = 0.6 + 0.4 * (2.0 * std::f32::consts::PI * 4.0 * t).sin();
            (6000.0 * env * (2.0 * std::f32::consts::PI * 220.0 * t).sin()) as i16
        })
        .collect()
}

/// Dials, runs the script and reports. Never panics on server behaviour:
/// every failure ends up in `ScriptReport::error`.
pub async fn run_script(mut config: CallConfig, script: &Script) -> ScriptReport {
    let apply = script.apply(&mut config);
    let call = match Call::start(config).await {
        Ok(c) => c,
        Err(e) => return failed_to_start(e),
    };
    let mut error = apply.err().map(|e| e.to_string());
    let mut rejected = None;
    let mut steps_completed = 0;
    let answered = match call.wait_answered().await {
        Ok(()) => true,
        Err(CallError::Rejected(code)) => {
            rejected = Some(code);
            false
        }
        Err(e) => {
            error.get_or_insert(format!("call not answered: {e}"));
            false
        }
    };
    if answered && error.is_none() {
        let mut mark = call.answered_at().unwrap_or_else(now);
        for n in 0..script.steps.len() {
            let action = match script.action(n) {
                Ok(a) => a,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            };
            let timeout = script.timeout(n);
            match run_step(&call, &action, &mut mark, timeout).await {
                Ok(()) => steps_completed += 1,
                Err(e) => {
                    error = Some(format!("step {} ({action:?}): {e}", n + 1));
                    break;
                }
            }
        }
    }
    if call.ended().is_none() {
        let _ = call.hangup().await;
    }
    let final_state = call.state();
    ScriptReport {
        call_id: call.call_id(),
        answered,
        rejected,
        answer_latency: call.answer_latency(),
        bye_from_server: final_state == CallState::Terminated(EndReason::RemoteHangup),
        final_state,
        steps_completed,
        error,
        received_audio: call.received_audio(),
        received_infos: call.received_infos(),
        media_stats: call.media_stats(),
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn failed_to_start(e: CallError) -> ScriptReport {
    ScriptReport {
        call_id: String::new(),
        answered: false,
        rejected: None,
        answer_latency: None,
        final_state: CallState::Terminated(EndReason::TransportError),
        bye_from_server: false,
        steps_completed: 0,
        error: Some(format!("could not start the call: {e}")),
        received_audio: ReceivedAudio::default(),
        received_infos: Vec::new(),
        media_stats: MediaStats::default(),
    }
}

async fn run_step(
    call: &Call,
    action: &Action,
    mark: &mut Instant,
    timeout: Duration,
) -> Result<(), CallError> {
    match action {
        Action::WaitSilence(quiet) => {
            call.wait_speech_then_quiet(*mark, Some(*quiet), timeout, "silence")
                .await?;
            *mark = now();
        }
        Action::WaitAudio => {
            call.wait_speech_then_quiet(*mark, None, timeout, "audio")
                .await?;
            *mark = now();
        }
        Action::Wait(d) => {
            let end = tokio::time::sleep(*d);
            tokio::pin!(end);
            tokio::select! {
                _ = &mut end => {}
                r = call.wait_ended() => return Err(CallError::Ended(r)),
            }
        }
        Action::WaitBye => match tokio::time::timeout(timeout, call.wait_ended()).await {
            Ok(EndReason::RemoteHangup) => {}
            Ok(other) => return Err(CallError::Ended(other)),
            Err(_) => return Err(CallError::WaitTimeout("BYE from the server")),
        },
        Action::Keys(keys, method) => {
            *mark = now();
            call.send_digits(keys, *method)?;
            wait_sent(call, timeout).await?;
        }
        Action::Speak(d) => {
            *mark = now();
            call.play_audio(speech_like(*d))?;
            wait_sent(call, timeout + *d).await?;
        }
        Action::Hangup => {
            call.hangup().await?;
        }
    }
    Ok(())
}

async fn wait_sent(call: &Call, timeout: Duration) -> Result<(), CallError> {
    tokio::time::timeout(timeout, call.wait_sent())
        .await
        .map_err(|_| CallError::WaitTimeout("keys/audio to be sent"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_script_parses() {
        let s = Script::from_toml(
            r#"
from = "+46701234567"
dtmf = "rfc4733"
[[step]]
wait_for_silence_ms = 1500
[[step]]
keys = "1"
[[step]]
keys = "199001011234#"
method = "info"
[[step]]
hangup = true
"#,
        )
        .unwrap();
        assert_eq!(s.steps.len(), 4);
        assert_eq!(
            s.action(2).unwrap(),
            Action::Keys(
                "199001011234#".into(),
                DtmfMethod::SipInfo(InfoFormat::DtmfRelay)
            )
        );
        assert_eq!(
            s.action(1).unwrap(),
            Action::Keys("1".into(), DtmfMethod::Rfc4733)
        );
        assert_eq!(s.timeout(0), Duration::from_secs(30));
    }

    #[test]
    fn bad_steps_are_refused_with_the_step_number() {
        for (text, needle) in [
            (
                "[[step]]\nkeys = \"1\"\nhangup = true\n",
                "step 1: more than one action",
            ),
            ("[[step]]\n", "step 1: no action"),
            (
                "[[step]]\nhangup = true\n[[step]]\nkeys = \"x\"\n",
                "step 2: 'x'",
            ),
            (
                "[[step]]\nwait_ms = 1\nmethod = \"info\"\n",
                "only allowed with keys",
            ),
            ("codecs = [\"opus\"]\n", "unknown codec"),
            ("[[step]]\nbogus = 1\n", "unknown field"),
            ("dtmf = \"smoke\"\n", "unknown variant"),
        ] {
            let e = Script::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?} gave {e}");
        }
    }

    #[test]
    fn settings_apply_to_the_call_config() {
        let s = Script::from_toml(
            "from = \"anonymous\"\ncodecs = [\"PCMA\"]\ntelephone_event = false\ndigit_ms = 60\n",
        )
        .unwrap();
        let mut cfg = CallConfig::new("127.0.0.1:5060".parse().unwrap());
        s.apply(&mut cfg).unwrap();
        assert_eq!(cfg.from_user, "anonymous");
        assert_eq!(cfg.codecs, vec![OfferedCodec::Pcma]);
        assert!(!cfg.telephone_event);
        assert_eq!(cfg.digit_ms, 60);
    }
}
