//! CPU and memory of processes and of the machine, from Linux `/proc`: so a
//! load run can say whether the generator, not the service, was the limit.

use std::time::{Duration, Instant};

/// CPU seconds (user + system) of a process, from `/proc/<pid>/stat`.
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    let ticks = parse_stat_ticks(&text)?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command
/// name in parentheses may hold spaces, so fields count from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after `)`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total jiffies of all CPUs, from the first line of `/proc/stat`.
pub fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum(); // guest time is inside user already
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn machine_ticks() -> Option<(u64, u64)> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// `VmHWM` and `VmRSS` in kB from `/proc/<pid>/status`.
pub fn parse_status_rss(status: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Peak and current resident memory of `pid` in kB.
pub fn process_rss(pid: u32) -> (Option<u64>, Option<u64>) {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| parse_status_rss(&s))
        .unwrap_or((None, None))
}

/// A reading taken at the start of a run; [`CpuMeter::finish`] gives the usage since.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    at: Instant,
    own: Option<Duration>,
    other: Option<(u32, Duration)>,
    machine: Option<(u64, u64)>,
    other_rss_start: Option<u64>,
}

/// CPU use over a run; percentages are of one core.
#[derive(Debug, Clone, Default)]
pub struct CpuUsage {
    pub wall: Duration,
    pub own: Option<Duration>,
    pub other: Option<Duration>,
    /// Busy share of all cores (0-100 %) and the number of cores.
    pub machine_busy_pct: Option<f64>,
    pub cores: usize,
    /// The other process: resident memory at start, peak (VmHWM) and at the end, kB.
    pub other_rss_start_kb: Option<u64>,
    pub other_hwm_kb: Option<u64>,
    pub other_rss_end_kb: Option<u64>,
}

impl CpuMeter {
    /// Starts measuring this process, the machine and optionally `other`.
    pub fn start(other: Option<u32>) -> Self {
        CpuMeter {
            at: Instant::now(),
            own: process_cpu(None),
            other: other.and_then(|p| Some((p, process_cpu(Some(p))?))),
            machine: machine_ticks(),
            other_rss_start: other.and_then(|p| process_rss(p).1),
        }
    }

    pub fn finish(&self) -> CpuUsage {
        let own = process_cpu(None)
            .zip(self.own)
            .map(|(b, a)| b.saturating_sub(a));
        let other = self
            .other
            .and_then(|(p, a)| Some(process_cpu(Some(p))?.saturating_sub(a)));
        let machine_busy_pct = machine_ticks().zip(self.machine).and_then(|(b, a)| {
            let total = b.1.saturating_sub(a.1);
            (total > 0).then(|| b.0.saturating_sub(a.0) as f64 * 100.0 / total as f64)
        });
        let (hwm, rss) = self
            .other
            .map(|(p, _)| process_rss(p))
            .unwrap_or((None, None));
        CpuUsage {
            wall: self.at.elapsed(),
            own,
            other,
            machine_busy_pct,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            other_rss_start_kb: self.other_rss_start,
            other_hwm_kb: hwm,
            other_rss_end_kb: rss,
        }
    }
}

impl CpuUsage {
    /// `cpu` as a share of one core over the run.
    pub fn pct_of_core(&self, cpu: Option<Duration>) -> Option<f64> {
        let w = self.wall.as_secs_f64();
        cpu.filter(|_| w > 0.0).map(|c| c.as_secs_f64() * 100.0 / w)
    }

    /// Peak resident memory growth of the other process per call, kB.
    pub fn rss_per_call_kb(&self, calls: u64) -> Option<f64> {
        let grow = self.other_hwm_kb?.saturating_sub(self.other_rss_start_kb?);
        (calls > 0).then(|| grow as f64 / calls as f64)
    }

    /// Lines `label  12.3 s CPU (45 % of one core)` for this process, the other and the machine.
    pub fn lines(&self, own: &str, other: &str, calls: u64) -> String {
        let mut s = String::new();
        let cpu = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!(
                    "{:.1} s CPU ({:.0} % of one core)",
                    d.as_secs_f64(),
                    self.pct_of_core(Some(d)).unwrap_or(0.0)
                )
            })
        };
        s.push_str(&format!("{own:<19}{}\n", cpu(self.own)));
        if self.other.is_some() {
            s.push_str(&format!("{other:<19}{}\n", cpu(self.other)));
        }
        if let Some(m) = self.machine_busy_pct {
            s.push_str(&format!(
                "{:<19}{m:.0} % busy of {} cores\n",
                "machine CPU", self.cores
            ));
        }
        if let (Some(hwm), Some(start)) = (self.other_hwm_kb, self.other_rss_start_kb) {
            s.push_str(&format!(
                "{:<19}start {} MB peak {} MB end {} MB; {}\n",
                format!("{other} RSS"),
                start / 1024,
                hwm / 1024,
                self.other_rss_end_kb.unwrap_or(0) / 1024,
                self.rss_per_call_kb(calls).map_or("-".into(), |k| format!(
                    "{k:.0} kB per call (peak growth / {calls})"
                ))
            ));
        }
        s.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_in_the_name_gives_user_plus_system() {
        let line =
            "1234 (pe caller) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 0 0";
        assert_eq!(parse_stat_ticks(line), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn machine_line_gives_busy_and_total() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_machine_ticks(stat), Some((150, 1000)));
    }

    #[test]
    fn status_gives_peak_and_current_rss() {
        let status = "Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n";
        assert_eq!(parse_status_rss(status), (Some(20480), Some(10240)));
    }

    #[test]
    fn own_cpu_is_readable_and_grows_with_work() {
        let m = CpuMeter::start(Some(std::process::id()));
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let u = m.finish();
        assert!(u.own.is_some() && u.other.is_some());
        assert!(u.machine_busy_pct.is_some());
        assert!(u.other_hwm_kb.unwrap() > 0);
    }
}
