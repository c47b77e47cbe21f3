//! How the scheduler treats a media worker: its priority class and CPU,
//! applied by each worker to its own thread at start. A refused level falls
//! back (realtime -> nice -> normal); the start never fails for it.
//!
//! Realtime cannot starve the box: a worker does a tick's work and sleeps
//! until the next 20 ms tick, and the kernel's RT throttling
//! (`sched_rt_runtime_us`, 95 % by default) caps a runaway anyway.

use std::io;

use crate::config::ThreadPriority;

/// What the workers ask the OS for (`[media]` in sip.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPolicy {
    pub priority: ThreadPriority,
    /// Nice value for `Nice` (and the fallback from `Realtime`), -20..19.
    pub nice: i32,
    /// `SCHED_RR` priority for `Realtime`, 1..99.
    pub realtime_priority: i32,
    /// Worker i runs on `cpu_affinity[i % len]`; empty: anywhere.
    pub cpu_affinity: Vec<usize>,
}

impl ThreadPolicy {
    /// The scheduler's defaults, nothing pinned (what tests and tools use).
    pub fn normal() -> Self {
        ThreadPolicy {
            priority: ThreadPriority::Normal,
            nice: 0,
            realtime_priority: 1,
            cpu_affinity: Vec::new(),
        }
    }

    /// The CPU worker `index` is pinned to, if any.
    pub fn cpu_for(&self, index: usize) -> Option<usize> {
        let n = self.cpu_affinity.len();
        (n > 0).then(|| self.cpu_affinity.get(index % n).copied())?
    }

    /// How a level is asked of the OS, for log lines.
    fn describe(&self, level: ThreadPriority) -> String {
        match level {
            ThreadPriority::Realtime => format!("realtime (SCHED_RR {})", self.realtime_priority),
            ThreadPriority::Nice => format!("nice {}", self.nice),
            ThreadPriority::Normal => "normal".to_string(),
        }
    }
}

/// The level a worker got and what was refused on the way down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub level: ThreadPriority,
    /// Refused levels with the OS's reason, highest first.
    pub refused: Vec<(ThreadPriority, String)>,
}

/// Tries `asked`, then each lower level, with `attempt` (the OS, or a fake
/// in tests) until one is granted; `Normal` is where it always ends.
pub fn apply_with_fallback(
    asked: ThreadPriority,
    mut attempt: impl FnMut(ThreadPriority) -> io::Result<()>,
) -> Applied {
    let mut refused = Vec::new();
    let mut level = Some(asked);
    while let Some(l) = level {
        match attempt(l) {
            Ok(()) => return Applied { level: l, refused },
            Err(e) => refused.push((l, e.to_string())),
        }
        level = l.fallback();
    }
    Applied {
        level: ThreadPriority::Normal,
        refused,
    }
}

/// The one warning for a fallback: what was asked, refused, and what runs.
pub fn fallback_warning(policy: &ThreadPolicy, applied: &Applied) -> Option<String> {
    if applied.refused.is_empty() {
        return None;
    }
    let refused: Vec<String> = applied
        .refused
        .iter()
        .map(|(l, why)| format!("{} ({why})", policy.describe(*l)))
        .collect();
    Some(format!(
        "media threads: asked for {}, refused: {}; running at {}. Fix: give the service CAP_SYS_NICE (systemd: AmbientCapabilities=CAP_SYS_NICE, or LimitRTPRIO={} and LimitNICE={}), or set [media] priority in sip.toml to what is allowed",
        policy.describe(policy.priority),
        refused.join(", "),
        policy.describe(applied.level),
        policy.realtime_priority,
        20 - policy.nice,
    ))
}

/// Applies `level` to the calling thread.
fn os_apply(policy: &ThreadPolicy, level: ThreadPriority) -> io::Result<()> {
    match level {
        ThreadPriority::Realtime => {
            let param = libc::sched_param {
                sched_priority: policy.realtime_priority,
            };
            // SAFETY: pid 0 is the calling thread on Linux; `param` outlives the call.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        ThreadPriority::Nice => {
            // Linux keeps nice per thread: name this thread, not the process.
            // SAFETY: gettid has no arguments and cannot fail.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
            // SAFETY: plain syscall on our own thread id.
            let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, policy.nice) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        ThreadPriority::Normal => Ok(()),
    }
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "CPU number too large",
        ));
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; the pointer and size describe `set`.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What a worker thread got when it applied the policy to itself.
pub(super) struct ThreadReport {
    /// The kernel's id of the worker thread (for /proc/self/task/<tid>).
    pub tid: i32,
    pub applied: Applied,
    /// The CPU it is pinned to, or why pinning failed.
    pub pinned: Option<Result<usize, String>>,
}

/// Applies `policy` to the calling (worker `index`) thread.
pub(super) fn apply_to_current_thread(policy: &ThreadPolicy, index: usize) -> ThreadReport {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    let applied = apply_with_fallback(policy.priority, |l| os_apply(policy, l));
    let pinned = policy.cpu_for(index).map(|cpu| {
        pin(cpu)
            .map(|()| cpu)
            .map_err(|e| format!("CPU {cpu}: {e}"))
    });
    ThreadReport {
        tid,
        applied,
        pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eperm() -> io::Error {
        io::Error::from_raw_os_error(libc::EPERM)
    }

    #[test]
    fn granted_level_is_kept_without_warning() {
        let a = apply_with_fallback(ThreadPriority::Realtime, |_| Ok(()));
        assert_eq!(a.level, ThreadPriority::Realtime);
        assert!(a.refused.is_empty());
        let policy = ThreadPolicy {
            priority: ThreadPriority::Realtime,
            ..ThreadPolicy::normal()
        };
        assert_eq!(fallback_warning(&policy, &a), None);
    }

    #[test]
    fn refused_realtime_falls_back_to_nice_and_says_so() {
        let mut tried = Vec::new();
        let a = apply_with_fallback(ThreadPriority::Realtime, |l| {
            tried.push(l);
            match l {
                ThreadPriority::Realtime => Err(eperm()),
                _ => Ok(()),
            }
        });
        assert_eq!(tried, [ThreadPriority::Realtime, ThreadPriority::Nice]);
        assert_eq!(a.level, ThreadPriority::Nice);
        let policy = ThreadPolicy {
            priority: ThreadPriority::Realtime,
            nice: -10,
            realtime_priority: 10,
            cpu_affinity: Vec::new(),
        };
        let w = fallback_warning(&policy, &a).unwrap();
        assert!(
            w.contains("asked for realtime (SCHED_RR 10)")
                && w.contains("refused: realtime (SCHED_RR 10) (Operation not permitted")
                && w.contains("running at nice -10")
                && w.contains("CAP_SYS_NICE"),
            "{w}"
        );
    }

    #[test]
    fn everything_refused_ends_at_normal() {
        let a = apply_with_fallback(ThreadPriority::Realtime, |l| match l {
            ThreadPriority::Normal => Ok(()),
            _ => Err(eperm()),
        });
        assert_eq!(a.level, ThreadPriority::Normal);
        assert_eq!(a.refused.len(), 2);
        let a = apply_with_fallback(ThreadPriority::Nice, |_| Err(eperm()));
        assert_eq!(a.level, ThreadPriority::Normal);
        assert_eq!(a.refused.len(), 2, "even normal refused: still normal");
    }

    #[test]
    fn workers_take_the_listed_cpus_round_robin() {
        let p = ThreadPolicy {
            cpu_affinity: vec![1, 3],
            ..ThreadPolicy::normal()
        };
        assert_eq!(
            (0..3).map(|i| p.cpu_for(i)).collect::<Vec<_>>(),
            [Some(1), Some(3), Some(1)]
        );
        assert_eq!(ThreadPolicy::normal().cpu_for(0), None);
    }
}
