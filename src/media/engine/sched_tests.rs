//! The workers apply `ThreadPolicy` to their own threads: read back from
//! /proc and sched_getaffinity, as the kernel sees them.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;

fn start(threads: ThreadPolicy, workers: usize) -> MediaEngine {
    let lib = Arc::new(PromptLibrary::from_samples([("sv", "x", &[0i16; 160][..])]));
    let mut cfg = MediaConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), (44000, 44100), lib);
    cfg.workers = workers;
    cfg.threads = threads;
    MediaEngine::start(cfg).unwrap()
}

/// (name, nice, rt_priority, policy) of a thread of this process.
fn task_stat(tid: i32) -> (String, i64, i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
    let name = stat[open + 1..close].to_string();
    // After the comm, field 3 (state) is index 0: nice is field 19, rt_priority 40, policy 41.
    let f: Vec<i64> = stat[close + 2..]
        .split(' ')
        .skip(1)
        .map(|v| v.trim().parse().unwrap_or(-1))
        .collect();
    (name, f[15], f[36], f[37])
}

fn affinity(tid: i32) -> Vec<usize> {
    // SAFETY: zeroed is an empty set; the kernel fills it for `tid`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(tid, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    (0..64)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

#[test]
fn nice_workers_pinned_to_cpu_0_run_at_that_nice_on_that_cpu() {
    let engine = start(
        ThreadPolicy {
            priority: ThreadPriority::Nice,
            nice: -5,
            realtime_priority: 10,
            cpu_affinity: vec![0],
        },
        2,
    );
    assert_eq!(engine.thread_priority(), ThreadPriority::Nice);
    assert_eq!(engine.worker_tids().len(), 2);
    for &tid in engine.worker_tids() {
        let (name, nice, _, policy) = task_stat(tid);
        assert!(name.starts_with("pe-media-"), "{name}");
        assert_eq!(nice, -5, "{name}");
        assert_eq!(policy, i64::from(libc::SCHED_OTHER), "{name}");
        assert_eq!(affinity(tid), [0], "{name}");
    }
    // The test thread itself is untouched: nice is per thread.
    let me = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    assert_eq!(task_stat(me).1, 0);
    engine.shutdown();
}

#[test]
fn realtime_workers_report_the_level_the_kernel_shows() {
    let engine = start(
        ThreadPolicy {
            priority: ThreadPriority::Realtime,
            nice: -3,
            realtime_priority: 7,
            cpu_affinity: Vec::new(),
        },
        1,
    );
    let applied = engine.thread_priority();
    eprintln!("realtime asked, applied: {}", applied.as_str());
    for &tid in engine.worker_tids() {
        let (name, nice, rt, policy) = task_stat(tid);
        match applied {
            ThreadPriority::Realtime => {
                assert_eq!((policy, rt), (i64::from(libc::SCHED_RR), 7), "{name}")
            }
            // Refused (no CAP_SYS_NICE): the fallback is what runs.
            ThreadPriority::Nice => assert_eq!((policy, nice), (0, -3), "{name}"),
            ThreadPriority::Normal => assert_eq!(policy, 0, "{name}"),
        }
        assert!(!affinity(tid).is_empty());
    }
    engine.shutdown();
}
