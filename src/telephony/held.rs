//! Callers holding in the queue on this node, by case id, so that the nurse
//! who takes the case is connected to the live call instead of dialling.

use crate::media::engine::StreamLink;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// What the dialer asks of a holding call.
#[derive(Debug)]
pub enum HeldCommand {
    /// Bridge the caller to the nurse's stream. `done` is dropped when the
    /// caller's call ends.
    Connect {
        nurse: StreamLink,
        done: oneshot::Sender<()>,
    },
    /// The nurse hung up: end the call.
    NurseLeft,
}

/// A holding call: where its media is, and its command inbox.
#[derive(Clone)]
pub struct HeldCall {
    pub link: StreamLink,
    pub commands: mpsc::UnboundedSender<HeldCommand>,
}

/// The holding calls of this node.
#[derive(Default)]
pub struct HeldCalls {
    calls: Mutex<HashMap<String, HeldCall>>,
}

impl HeldCalls {
    pub fn insert(&self, case_id: &str, call: HeldCall) {
        if let Ok(mut m) = self.calls.lock() {
            m.insert(case_id.to_string(), call);
        }
    }

    pub fn remove(&self, case_id: &str) {
        if let Ok(mut m) = self.calls.lock() {
            m.remove(case_id);
        }
    }

    /// The live call holding for `case_id`, if it is on this node.
    pub fn get(&self, case_id: &str) -> Option<HeldCall> {
        let m = self.calls.lock().ok()?;
        m.get(case_id).filter(|c| !c.commands.is_closed()).cloned()
    }

    pub fn len(&self) -> usize {
        self.calls.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
