//! The load mode against the mini UAS: every call answered, media both ways.

use std::time::Duration;

use simulators::load::{run_load, LoadConfig};
use simulators::mini_uas::{MiniUas, UasBehavior};

#[tokio::test]
async fn load_run_answers_all_calls_and_counts_media() {
    let uas = MiniUas::start(
        "127.0.0.1".parse().unwrap(),
        UasBehavior {
            ring: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = LoadConfig::new(uas.addr);
    cfg.calls = 20;
    cfg.rate = 100.0;
    cfg.duration = Duration::from_millis(600);
    cfg.digit_interval = Duration::from_millis(200);
    let r = run_load(cfg).await.unwrap();
    assert_eq!(r.attempted, 20);
    assert_eq!(r.answered, 20, "{r}");
    assert_eq!(r.failed, 0, "{r}");
    assert_eq!(r.invite_to_200.count(), 20);
    assert!(r.rtp_out >= 20 * 20, "{r}");
    assert!(r.rtp_in >= 20 * 20, "{r}");
    assert!(r.digits_sent >= 20 * 2, "{r}");
    assert!(r.rtp_gap.quantile(0.5).is_some());
    let calls = uas.calls();
    assert_eq!(calls.len(), 20);
    assert!(calls.values().all(|c| c.bye_received && c.acks == 1));
    assert!(calls.values().all(|c| !c.rfc4733_digits.is_empty()));
}
