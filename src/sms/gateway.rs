//! The HTTP SMS gateway client: one JSON POST per message,
//! `{"from", "to", "message", "reference"}` with `Authorization: Bearer`,
//! answered by `{"id": "..."}` on 2xx. `reference` is the outbox row id, so a
//! gateway can drop a repeat after a lost answer. Errors are described
//! without the number, the text or the token.

use super::policy::{classify, SendResult};
use super::SmsSettings;
use crate::store::sms::OutgoingSms;
use serde::{Deserialize, Serialize};

/// The most of a gateway answer that is read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The most of the gateway's reason that is kept.
const MAX_REASON_CHARS: usize = 120;

#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    to: &'a str,
    message: &'a str,
    reference: String,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Sends SMS to the configured gateway.
#[derive(Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    sender: String,
}

impl std::fmt::Debug for HttpGateway {
    // The token never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    pub fn new(settings: &SmsSettings) -> Result<HttpGateway, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(HttpGateway {
            client,
            url: settings.url.clone(),
            token: settings.token.clone(),
            sender: settings.sender.clone(),
        })
    }

    /// Sends one message; never fails, the result says how it went.
    pub async fn send(&self, sms: &OutgoingSms) -> SendResult {
        let body = Message {
            from: &self.sender,
            to: &sms.to_number,
            message: &sms.body,
            reference: sms.id.to_string(),
        };
        let mut request = self.client.post(self.url.clone()).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return SendResult::Transient {
                    reason: describe(&e).into(),
                    retry_after: None,
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let answer = read_answer(response).await;
        let id = answer
            .id
            .filter(|id| !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control));
        let reason = answer.error.map(|e| without_digits(&e));
        classify(status, retry_after.as_deref(), id, reason.as_deref())
    }
}

/// The answer's JSON, if any, read up to [`MAX_ANSWER_BYTES`].
async fn read_answer(mut response: reqwest::Response) -> Answer {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER_BYTES {
            return Answer::default();
        }
    }
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// A transport error in words that name no URL, number or token.
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// The gateway's reason, short and with digits masked: it might quote the number.
fn without_digits(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_their_digits() {
        assert_eq!(
            without_digits("invalid number +46701234567\n"),
            "invalid number +###########"
        );
        assert_eq!(without_digits(&"x".repeat(500)).len(), MAX_REASON_CHARS);
    }
}
