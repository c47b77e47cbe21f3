//! Nurses claiming and finishing cases on PostgreSQL while new cases arrive:
//! no case is ever claimed twice. `cargo test --test queue_bench` runs a short
//! version (5 nurses); the bench (50 nurses, prints operations per second and
//! claim latency p50/p99, never asserts timings):
//! `cargo test --release --test queue_bench -- --ignored --nocapture`.

mod common;

use common::callback::callback_case;
use common::postgres::{drop_postgres_database, postgres_database};
use phone_entrance::case::Outcome;
use phone_entrance::store::{Actor, Store};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Figures {
    claimed: usize,
    registered: usize,
    elapsed: Duration,
    claim_latencies: Vec<Duration>,
}

/// `nurses` tasks take the next case and close it until `cases` cases,
/// registered meanwhile by `intakes` tasks (store-level registrations
/// standing for phone calls and the digital intake), are all closed.
/// Panics when any case is claimed twice.
async fn run(url: &str, nurses: usize, intakes: usize, cases: usize) -> Figures {
    let store = Store::connect(url).await.expect("store");
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut producers = Vec::new();
    for i in 0..intakes {
        let store = store.clone();
        let share = cases / intakes + usize::from(i < cases % intakes);
        producers.push(tokio::spawn(async move {
            for n in 0..share {
                let level = 1 + ((i + n) % 4) as u8;
                store
                    .insert_case(&callback_case(level))
                    .await
                    .expect("insert");
            }
        }));
    }
    let mut workers = Vec::new();
    for n in 0..nurses {
        let store = store.clone();
        let seen = seen.clone();
        let closed = closed.clone();
        workers.push(tokio::spawn(async move {
            let name = format!("nurse{n}");
            let actor = Actor {
                username: &name,
                ip: None,
                may_override: false,
            };
            let mut latencies = Vec::new();
            while closed.load(std::sync::atomic::Ordering::SeqCst) < cases {
                let t = Instant::now();
                let next = store
                    .claim_next(&actor, chrono::Utc::now())
                    .await
                    .expect("claim");
                latencies.push(t.elapsed());
                let Some(case) = next else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                assert!(
                    seen.lock().expect("seen").insert(case.id),
                    "case {} claimed twice",
                    case.id
                );
                store
                    .record_outcome(case.id, Outcome::SelfCare, "", &actor, chrono::Utc::now())
                    .await
                    .expect("outcome");
                closed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            latencies
        }));
    }
    for p in producers {
        p.await.expect("producer");
    }
    let mut claim_latencies = Vec::new();
    for w in workers {
        claim_latencies.extend(w.await.expect("nurse"));
    }
    let claimed = seen.lock().expect("seen").len();
    Figures {
        claimed,
        registered: cases,
        elapsed: start.elapsed(),
        claim_latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_nurses_on_postgres_never_claim_a_case_twice() {
    let url = postgres_database().await;
    let f = run(&url, 5, 2, 100).await;
    assert_eq!(f.claimed, f.registered, "every case claimed exactly once");
    drop_postgres_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "bench: cargo test --release --test queue_bench -- --ignored --nocapture"]
async fn queue_throughput_with_fifty_nurses() {
    let url = postgres_database().await;
    let mut f = run(&url, 50, 4, 2000).await;
    assert_eq!(f.claimed, f.registered, "every case claimed exactly once");
    f.claim_latencies.sort();
    let secs = f.elapsed.as_secs_f64();
    println!(
        "50 nurses, 4 intakes, {} cases in {secs:.2} s: {:.0} registrations/s, {:.0} claim+close/s, \
         {} claim calls, claim p50 {:?} p99 {:?}",
        f.registered,
        f.registered as f64 / secs,
        f.claimed as f64 / secs,
        f.claim_latencies.len(),
        percentile(&f.claim_latencies, 0.5),
        percentile(&f.claim_latencies, 0.99),
    );
    drop_postgres_database(&url).await;
}
