//! `pe-caller load --mix realistic` against the real service (in-process, real
//! sockets): each planned outcome ends where the service says it did.

mod common;

use std::time::Duration;

use common::TestService;
use simulators::load::{run_load, LoadConfig};
use simulators::mix::{plan, MixShares, Outcome};
use simulators::scrape;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_mix_calls_end_where_planned() {
    let svc = TestService::start().await;
    let shares = MixShares {
        booked: 1.0,
        held: 1.0,
        red_flag: 1.0,
        early: 1.0,
    };
    let mut cfg = LoadConfig::new(svc.sip_addr());
    cfg.calls = 8;
    cfg.rate = 20.0;
    cfg.seed = 11;
    cfg.mix = Some(shares);
    let planned = plan(cfg.seed, cfg.calls, &shares);
    let count = |o| planned.iter().filter(|p| **p == o).count() as u64;
    assert!(
        Outcome::ALL.iter().all(|o| count(*o) > 0),
        "seed 11 plans every outcome: {planned:?}"
    );
    let before = scrape::parse(&svc.metrics().await);
    let r = tokio::time::timeout(Duration::from_secs(120), run_load(cfg))
        .await
        .expect("the mix finishes")
        .expect("load runs");
    assert_eq!(r.failed, 0, "{r}");
    assert_eq!(r.answered, 8, "{r}");
    for o in Outcome::ALL {
        let c = r.outcomes.get(&o).copied().unwrap_or_default();
        assert_eq!(c.planned, count(o), "{o:?}\n{r}");
        assert_eq!(
            c.completed, c.planned,
            "{o:?}: script ran to its hang-up\n{r}"
        );
    }
    // The service finishes a call's bookkeeping just after our BYE.
    let mut seen = Vec::new();
    for _ in 0..50 {
        let after = scrape::parse(&svc.metrics().await);
        seen = Outcome::ALL
            .iter()
            .map(|o| {
                let key = format!("pe_ivr_outcomes_total{{outcome=\"{}\"}}", o.service_label());
                (*o, scrape::delta(&before, &after, &key) as u64)
            })
            .collect();
        if seen.iter().all(|(o, n)| *n == count(*o)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let want: Vec<_> = Outcome::ALL.iter().map(|o| (*o, count(*o))).collect();
    assert_eq!(seen, want, "service outcomes vs plan\n{r}");
    svc.stop().await;
}
