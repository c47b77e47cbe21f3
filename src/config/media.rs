//! The `[media]` table of `sip-config/sip.toml`: how the media worker
//! threads are scheduled and how they send. Validated once at start-up.

use serde::Deserialize;
use std::path::Path;

/// How the scheduler treats the media worker threads. Each level falls back
/// to the next lower one when the OS refuses it (never failing the start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadPriority {
    /// The default time-sharing class at nice 0.
    Normal,
    /// Time-sharing with a negative nice value (`nice`).
    Nice,
    /// `SCHED_RR` at `realtime_priority`: runs before any normal thread.
    #[default]
    Realtime,
}

impl ThreadPriority {
    /// The name used in the config and on /metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadPriority::Normal => "normal",
            ThreadPriority::Nice => "nice",
            ThreadPriority::Realtime => "realtime",
        }
    }

    /// The next level to try when this one is refused.
    pub fn fallback(self) -> Option<ThreadPriority> {
        match self {
            ThreadPriority::Realtime => Some(ThreadPriority::Nice),
            ThreadPriority::Nice => Some(ThreadPriority::Normal),
            ThreadPriority::Normal => None,
        }
    }
}

/// How a media worker sends its tick's frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSend {
    /// `io_uring` when the kernel offers it, else `syscall`.
    #[default]
    Auto,
    /// One io_uring submission per tick for all frames (falls back to
    /// `syscall`, with a warning, where io_uring is unavailable).
    IoUring,
    /// One `sendto` per frame.
    Syscall,
}

/// `[media]` in sip.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    #[serde(default)]
    pub priority: ThreadPriority,
    /// The nice value for `priority = "nice"` (and the fallback from realtime).
    #[serde(default = "default_nice")]
    pub nice: i32,
    /// The `SCHED_RR` priority for `priority = "realtime"`.
    #[serde(default = "default_rt")]
    pub realtime_priority: i32,
    /// CPUs for the media workers: worker i runs on the (i mod n)-th. Empty: any.
    #[serde(default)]
    pub cpu_affinity: Vec<usize>,
    #[serde(default)]
    pub batch_send: BatchSend,
}

fn default_nice() -> i32 {
    -10
}
fn default_rt() -> i32 {
    10
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            priority: ThreadPriority::default(),
            nice: default_nice(),
            realtime_priority: default_rt(),
            cpu_affinity: Vec::new(),
            batch_send: BatchSend::default(),
        }
    }
}

impl MediaSettings {
    /// Checks the values against this host (`cpus`: CPUs the process may use).
    pub fn validate(&self, path: &Path, cpus: &[usize]) -> anyhow::Result<()> {
        let file = path.display();
        if !(-20..=19).contains(&self.nice) {
            anyhow::bail!(
                "{file}: [media] nice = {} is out of range; fix: a value in -20..19 (lower runs first), e.g. -10",
                self.nice
            );
        }
        if !(1..=99).contains(&self.realtime_priority) {
            anyhow::bail!(
                "{file}: [media] realtime_priority = {} is out of range; fix: a value in 1..99, e.g. 10",
                self.realtime_priority
            );
        }
        if let Some(cpu) = self.cpu_affinity.iter().find(|c| !cpus.contains(c)) {
            anyhow::bail!(
                "{file}: [media] cpu_affinity names CPU {cpu}, which this process cannot use (it may use {cpus:?}); fix: list only those, or remove cpu_affinity"
            );
        }
        Ok(())
    }
}

/// The CPUs this process may run on (its affinity mask).
pub fn usable_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and size describe `set`.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    }
    // SAFETY: CPU_ISSET reads `set` within CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> MediaSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_are_realtime_10_with_nice_minus_10_and_auto_batching() {
        let m = parse("");
        assert_eq!(m, MediaSettings::default());
        assert_eq!(m.priority, ThreadPriority::Realtime);
        assert_eq!((m.nice, m.realtime_priority), (-10, 10));
        assert_eq!(m.batch_send, BatchSend::Auto);
        assert!(m.cpu_affinity.is_empty());
        m.validate(Path::new("sip.toml"), &[0]).unwrap();
    }

    #[test]
    fn out_of_range_values_name_file_key_and_fix() {
        let p = Path::new("sip-config/sip.toml");
        let err = |t: &str, cpus: &[usize]| parse(t).validate(p, cpus).unwrap_err().to_string();
        let e = err("nice = -21", &[0]);
        assert!(
            e.contains("sip-config/sip.toml") && e.contains("nice") && e.contains("fix"),
            "{e}"
        );
        assert!(err("nice = 20", &[0]).contains("-20..19"));
        let e = err("realtime_priority = 0", &[0]);
        assert!(
            e.contains("realtime_priority") && e.contains("1..99"),
            "{e}"
        );
        assert!(err("realtime_priority = 100", &[0]).contains("realtime_priority"));
        let e = err("cpu_affinity = [0, 7]", &[0, 1]);
        assert!(e.contains("cpu_affinity") && e.contains("CPU 7"), "{e}");
        parse("cpu_affinity = [1]\nnice = 19\nrealtime_priority = 99")
            .validate(p, &[0, 1])
            .unwrap();
        assert!(toml::from_str::<MediaSettings>("priority = \"high\"").is_err());
        assert!(toml::from_str::<MediaSettings>("batch_send = \"aio\"").is_err());
        assert!(toml::from_str::<MediaSettings>("bogus = 1").is_err());
    }

    #[test]
    fn fallback_goes_realtime_nice_normal() {
        assert_eq!(
            ThreadPriority::Realtime.fallback(),
            Some(ThreadPriority::Nice)
        );
        assert_eq!(
            ThreadPriority::Nice.fallback(),
            Some(ThreadPriority::Normal)
        );
        assert_eq!(ThreadPriority::Normal.fallback(), None);
    }

    #[test]
    fn this_process_can_use_at_least_one_cpu() {
        assert!(!usable_cpus().is_empty());
    }
}
