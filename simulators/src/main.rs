//! `pe-caller`: place one scripted call, run a load, or serve a mini UAS.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use simulators::caller::{CallConfig, Transport};
use simulators::load::{run_load, LoadConfig, LoadReport};
use simulators::mini_uas::{MiniUas, Registration, UasBehavior};
use simulators::mix::{MixShares, Outcome};
use simulators::procstat::CpuMeter;
use simulators::reflect::{self, Reflector, StreamConfig};
use simulators::scrape;
use simulators::script::{run_script, Script};

#[derive(Parser)]
#[command(
    name = "pe-caller",
    about = "SIP caller simulator for the 1177 phone entrance"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Place one call and run a script (default: wait for the first prompt, hang up).
    Call {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        script: Option<PathBuf>,
        /// Write what we heard to this WAV file (8 kHz mono 16-bit).
        #[arg(long)]
        record: Option<PathBuf>,
        #[arg(long)]
        tcp: bool,
        /// Caller ID (overrides the script); `anonymous` withholds it.
        #[arg(long)]
        from: Option<String>,
        #[arg(long, default_value = "1177")]
        to: String,
        /// Local address to bind and advertise (default: the route to the server).
        #[arg(long)]
        local_ip: Option<IpAddr>,
        /// Print how many received frames carry this frequency.
        #[arg(long)]
        detect_hz: Option<f32>,
    },
    /// Drive many concurrent calls (UDP, PCMU, RFC 4733) and print figures.
    Load {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long, default_value_t = 100)]
        calls: usize,
        /// New calls per second.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// How long each call stays up, e.g. 30s, 500ms, 2m.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// A digit is sent this often in each call.
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        digit_interval: Duration,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value = "1177")]
        to: String,
        #[arg(long, default_value = "+46701234567")]
        from: String,
        #[arg(long)]
        local_ip: Option<IpAddr>,
        /// `hold`: every call holds for --duration sending digits;
        /// `realistic`: the 1177 mix (book, hold, red flag, early hang-up; see --shares).
        #[arg(long, value_enum, default_value_t = Mix::Hold)]
        mix: Mix,
        /// Outcome weights of the realistic mix.
        #[arg(long, default_value = "booked=70,held=15,red_flag=5,early=10")]
        shares: MixShares,
        /// Seed of the mix plan and Call-IDs (default: random).
        #[arg(long)]
        seed: Option<u64>,
        /// The service's process id: report its CPU and memory (RSS per call).
        #[arg(long)]
        service_pid: Option<u32>,
        /// The service's metrics URL (http://HOST:PORT/metrics): set its counters beside ours.
        #[arg(long)]
        metrics: Option<String>,
    },
    /// Echo every RTP datagram back to its source: one socket per port (no SIP,
    /// no IVR), the box's own limit for `streams`. Ctrl-C stops.
    Reflect {
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Ports to bind, one socket each.
        #[arg(long, default_value = "10000-19999", value_parser = reflect::parse_ports)]
        ports: std::ops::RangeInclusive<u16>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Send N 20 ms PCMU streams to a reflector and measure what comes back;
    /// with several --streams values, a sweep that names the highest clean one.
    Streams {
        /// The reflector's address.
        #[arg(long, default_value = "127.0.0.1")]
        target: IpAddr,
        #[arg(long, default_value = "10000-19999", value_parser = reflect::parse_ports)]
        ports: std::ops::RangeInclusive<u16>,
        /// Concurrent streams, one or a list: 1000,2000,3000,5000,8000.
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        streams: Vec<usize>,
        /// How long each step sends.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// An echo this long after its frame was due counts as late.
        #[arg(long, default_value = "40ms", value_parser = parse_duration)]
        late_after: Duration,
        /// The reflector's process id: report its CPU per step.
        #[arg(long)]
        reflector_pid: Option<u32>,
    },
    /// Serve the mini UAS (answers, plays a tone prompt) to self-test the caller.
    Uas {
        #[arg(long, default_value = "127.0.0.1")]
        ip: IpAddr,
        /// Prompt length.
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        prompt: Duration,
    },
    /// Answer calls as a test peer for the dialer (a nurse phone or a resident):
    /// plays a tone, counts a tone it hears, optionally registers first.
    /// Prints each call's record when it changes; Ctrl-C stops.
    Answer {
        /// SIP address to listen on (UDP and TCP), e.g. 127.0.0.1:5080.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Frequency of the tone played after answering.
        #[arg(long, default_value_t = 440.0)]
        tone_hz: f32,
        /// How long the tone plays, e.g. 2s; `call` for the whole call.
        #[arg(long, default_value = "call", value_parser = parse_tone_duration)]
        tone: Duration,
        /// Count received frames of this frequency (printed per call).
        #[arg(long)]
        detect_hz: Option<f32>,
        /// Refuse every call with this status, e.g. 486 or 603.
        #[arg(long, conflicts_with = "no_answer")]
        reject: Option<u16>,
        /// Ring (180) and never answer, until the caller cancels.
        #[arg(long)]
        no_answer: bool,
        /// Ring this long before answering.
        #[arg(long, default_value = "0s", value_parser = parse_duration)]
        ring: Duration,
        /// Hang up this long after answering.
        #[arg(long, value_parser = parse_duration)]
        hangup_after: Option<Duration>,
        /// Register first and keep registered: user:password@host:port.
        #[arg(long)]
        register: Option<Registration>,
        /// Requested registration lifetime in seconds.
        #[arg(long, default_value_t = 300)]
        expires: u32,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mix {
    Hold,
    Realistic,
}

/// `call` (the whole call) or a duration.
fn parse_tone_duration(s: &str) -> Result<Duration, String> {
    if s.trim().eq_ignore_ascii_case("call") {
        return Ok(UasBehavior::WHOLE_CALL);
    }
    parse_duration(s)
}

/// `30s`, `500ms`, `2m` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Call {
            server,
            script,
            record,
            tcp,
            from,
            to,
            local_ip,
            detect_hz,
        } => {
            let script = match script {
                Some(p) => Script::load(&p)?,
                None => Script::from_toml(
                    "[[step]]\nwait_for_silence_ms = 1500\n[[step]]\nhangup = true\n",
                )?,
            };
            let mut cfg = CallConfig::new(server);
            if tcp {
                cfg.transport = Transport::Tcp;
            }
            if let Some(ip) = local_ip {
                cfg.local_ip = ip;
            }
            script.apply(&mut cfg)?;
            if let Some(f) = from {
                cfg.from_user = f;
            }
            cfg.to_user = to;
            let mut script = script;
            script.from = Some(cfg.from_user.clone());
            script.to = Some(cfg.to_user.clone());
            let report = run_script(cfg, &script).await;
            println!("call-id            {}", report.call_id);
            println!("answered           {}", report.answered);
            if let Some(code) = report.rejected {
                println!("rejected           {code}");
            }
            if let Some(l) = report.answer_latency {
                println!("INVITE->200        {:.1} ms", l.as_secs_f64() * 1000.0);
            }
            println!("final state        {:?}", report.final_state);
            println!("bye from server    {}", report.bye_from_server);
            println!("steps completed    {}", report.steps_completed);
            println!(
                "RTP                in {} out {} digits {}",
                report.media_stats.packets_in,
                report.media_stats.packets_out,
                report.media_stats.digits_sent
            );
            println!(
                "heard              {:.1} s audio, events {:?}",
                report.received_audio.duration().as_secs_f64(),
                report.received_audio.event_keys()
            );
            if let Some(hz) = detect_hz {
                println!(
                    "tone {hz} Hz       {} frames",
                    report.received_audio.tone_frames(hz)
                );
            }
            if let Some(path) = record {
                report
                    .received_audio
                    .save_wav(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("recorded           {}", path.display());
            }
            if let Some(e) = report.error {
                bail!("script failed: {e}");
            }
        }
        Cmd::Load {
            server,
            calls,
            rate,
            duration,
            digit_interval,
            workers,
            to,
            from,
            local_ip,
            mix,
            shares,
            seed,
            service_pid,
            metrics,
        } => {
            let mut cfg = LoadConfig::new(server);
            if mix == Mix::Realistic {
                cfg.mix = Some(shares);
            }
            if let Some(s) = seed {
                cfg.seed = s;
            }
            cfg.calls = calls;
            cfg.rate = rate;
            cfg.duration = duration;
            cfg.digit_interval = digit_interval;
            cfg.workers = workers;
            cfg.to_user = to;
            cfg.from_user = from;
            if let Some(ip) = local_ip {
                cfg.local_ip = ip;
            }
            let before = match &metrics {
                Some(url) => Some(scrape::fetch(url).await.map_err(anyhow::Error::msg)?),
                None => None,
            };
            let meter = CpuMeter::start(service_pid);
            let report = run_load(cfg).await.context("starting load workers")?;
            let usage = meter.finish();
            println!("{report}");
            println!(
                "{}",
                usage.lines("generator CPU", "service", report.peak_concurrent)
            );
            let mut after = None;
            if let (Some(url), Some(before)) = (&metrics, &before) {
                // The service counts a call's outcome when it has finished with it.
                tokio::time::sleep(Duration::from_secs(2)).await;
                match scrape::fetch(url).await {
                    Ok(a) => {
                        print_service_counters(&report, before, &a);
                        after = Some(a);
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
            // One line of key=value for scripts/bench.sh.
            println!(
                "{}",
                bench_line(&report, &usage, before.as_ref().zip(after.as_ref()))
            );
            if report.failed > 0 {
                bail!("{} calls failed", report.failed);
            }
        }
        Cmd::Reflect {
            bind,
            ports,
            threads,
        } => {
            let addrs: Vec<_> = ports.clone().map(|p| SocketAddr::new(bind, p)).collect();
            let refl = Reflector::start(&addrs, threads)
                .with_context(|| format!("binding {bind} ports {ports:?} (ulimit -n?)"))?;
            println!(
                "reflecting on {bind} ports {}-{} ({} sockets, {} ports in use elsewhere; {threads} threads), pid {}",
                ports.start(),
                ports.end(),
                refl.addrs().len(),
                addrs.len() - refl.addrs().len(),
                std::process::id()
            );
            tokio::signal::ctrl_c().await?;
            println!("echoed {}", refl.echoed());
        }
        Cmd::Streams {
            target,
            ports,
            streams,
            duration,
            threads,
            late_after,
            reflector_pid,
        } => {
            let targets: Vec<_> = ports.map(|p| SocketAddr::new(target, p)).collect();
            let local_ip = if target.is_loopback() {
                target
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            };
            println!("{}", reflect::TABLE_HEADER);
            let mut best = None;
            for n in streams {
                let cfg = StreamConfig {
                    targets: targets.clone(),
                    local_ip,
                    streams: n,
                    duration,
                    threads,
                    late_after,
                };
                let meter = CpuMeter::start(reflector_pid);
                let r = tokio::task::spawn_blocking(move || reflect::run_streams(&cfg))
                    .await?
                    .context("sending streams")?;
                let u = meter.finish();
                println!(
                    "{}",
                    reflect::table_row(&r, u.pct_of_core(u.own), u.pct_of_core(u.other))
                );
                if r.is_clean() {
                    best = Some(n);
                }
            }
            match best {
                Some(n) => println!("highest clean: {n} streams"),
                None => println!("highest clean: none"),
            }
        }
        Cmd::Uas { ip, prompt } => {
            let uas = MiniUas::start(
                ip,
                UasBehavior {
                    prompt,
                    ring: Duration::ZERO,
                    ..Default::default()
                },
            )
            .await?;
            println!("mini UAS listening on {} (UDP and TCP)", uas.addr);
            tokio::signal::ctrl_c().await?;
        }
        Cmd::Answer {
            listen,
            tone_hz,
            tone,
            detect_hz,
            reject,
            no_answer,
            ring,
            hangup_after,
            register,
            expires,
        } => {
            let register = register.map(|r| Registration { expires, ..r });
            let registering = register.is_some();
            let uas = MiniUas::start_on(
                listen,
                UasBehavior {
                    ring,
                    reject,
                    prompt: tone,
                    bye_after: hangup_after,
                    tone_hz,
                    detect_hz,
                    no_answer,
                    register,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("listening on {listen}"))?;
            println!("answering on {} (UDP and TCP)", uas.addr);
            if registering {
                if uas.wait_registered(Duration::from_secs(20)).await {
                    let r = uas.registration().unwrap_or_default();
                    println!(
                        "registered for {} s (challenges answered: {})",
                        r.granted_expires.unwrap_or(0),
                        r.challenges
                    );
                } else {
                    let r = uas.registration().unwrap_or_default();
                    println!(
                        "not registered yet (last status {:?}); still trying and answering",
                        r.last_status
                    );
                }
            }
            let mut seen = std::collections::HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        for (id, log) in uas.calls() {
                            let line = format!(
                                "call {id}: ringing {} answered {} cancelled {} bye in/out {}/{} rtp in/out {}/{} tone frames {}",
                                log.ringing, log.answered, log.cancelled, log.bye_received, log.bye_sent,
                                log.rtp_in / 50 * 50, log.rtp_out / 50 * 50, log.tone_frames_detected
                            );
                            if seen.get(&id) != Some(&line) {
                                println!("{line}");
                                seen.insert(id, line);
                            }
                        }
                    }
                    r = tokio::signal::ctrl_c() => {
                        r?;
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `bench: failed=0 inv_p50_ms=1.2 ...`: the figures scripts/bench.sh tabulates.
fn bench_line(
    r: &LoadReport,
    u: &simulators::procstat::CpuUsage,
    service: Option<(&scrape::Samples, &scrape::Samples)>,
) -> String {
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
    let num = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
    let svc = |name: &str| service.map(|(b, a)| scrape::total(a, name) - scrape::total(b, name));
    let skipped = svc("pe_media_skipped_frames_total");
    let sent = svc("pe_rtp_packets_out_total");
    let skipped_pct = skipped.zip(sent).map(|(k, s)| 100.0 * k / (k + s).max(1.0));
    let digits = service.map(|(b, a)| scrape::delta(b, a, "pe_digits_total{method=\"rfc4733\"}"));
    [
        format!("bench: failed={}", r.failed),
        format!("answered={}", r.answered),
        format!("peak={}", r.peak_concurrent),
        format!("inv_p50_ms={}", ms(r.invite_to_200.quantile(0.5))),
        format!("inv_p99_ms={}", ms(r.invite_to_200.quantile(0.99))),
        format!("bye_p50_ms={}", ms(r.bye_to_200.quantile(0.5))),
        format!("bye_p99_ms={}", ms(r.bye_to_200.quantile(0.99))),
        format!("svc_skipped_pct={}", num(skipped_pct, 3)),
        format!("gen_missing_pct={:.3}", r.rtp_in_missing_pct()),
        format!("gen_late_ticks={}", r.late_ticks),
        format!("gap_p99_ms={}", ms(r.rtp_gap.quantile(0.99))),
        format!("gap_max_ms={}", ms(r.rtp_gap.quantile(1.0))),
        format!("digits_svc={}", num(digits, 0)),
        format!("digits_sent={}", r.digits_sent),
        format!("svc_cpu_pct={}", num(u.pct_of_core(u.other), 0)),
        format!("gen_cpu_pct={}", num(u.pct_of_core(u.own), 0)),
        format!("machine_cpu_pct={}", num(u.machine_busy_pct, 0)),
        format!(
            "rss_per_call_kb={}",
            num(u.rss_per_call_kb(r.peak_concurrent), 0)
        ),
    ]
    .join(" ")
}

/// The service's counters over the run beside what the generator did.
fn print_service_counters(r: &LoadReport, before: &scrape::Samples, after: &scrape::Samples) {
    let d = |k: &str| scrape::delta(before, after, k);
    let t = |k: &str| scrape::total(after, k) - scrape::total(before, k);
    println!(
        "service            cases registered {} | digits rfc4733 {} (we sent {}) | RTP out {} skipped frames {} ({:.3} %) late ticks {}",
        d("pe_cases_registered_total"),
        d("pe_digits_total{method=\"rfc4733\"}"),
        r.digits_sent,
        t("pe_rtp_packets_out_total"),
        t("pe_media_skipped_frames_total"),
        100.0 * t("pe_media_skipped_frames_total")
            / (t("pe_rtp_packets_out_total") + t("pe_media_skipped_frames_total")).max(1.0),
        t("pe_media_late_ticks_total"),
    );
    if r.outcomes.is_empty() {
        return;
    }
    println!("outcome            planned  service (pe_ivr_outcomes_total)");
    for o in Outcome::ALL {
        let planned = r.outcomes.get(&o).map_or(0, |c| c.planned);
        let label = o.service_label();
        println!(
            "  {:<16} {:>7}  {} {}",
            o.name(),
            planned,
            label,
            d(&format!("pe_ivr_outcomes_total{{outcome=\"{label}\"}}"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
        assert_eq!(parse_tone_duration("call"), Ok(UasBehavior::WHOLE_CALL));
        assert_eq!(parse_tone_duration("2s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn answer_command_line_parses() {
        let cli = Cli::try_parse_from([
            "pe-caller",
            "answer",
            "--listen",
            "127.0.0.1:5080",
            "--tone-hz",
            "1000",
            "--detect-hz",
            "600",
            "--no-answer",
            "--register",
            "anna:hemligt@127.0.0.1:5060",
        ])
        .unwrap();
        let Cmd::Answer {
            register,
            tone_hz,
            no_answer,
            ..
        } = cli.cmd
        else {
            panic!("not answer")
        };
        let r = register.unwrap();
        assert_eq!((r.user.as_str(), r.password.as_str()), ("anna", "hemligt"));
        assert_eq!(
            r.registrar,
            "127.0.0.1:5060".parse::<std::net::SocketAddr>().unwrap()
        );
        assert!(no_answer && tone_hz == 1000.0);
        assert!(
            Cli::try_parse_from(["pe-caller", "answer", "--reject", "486", "--no-answer"]).is_err()
        );
        assert!("nobody@127.0.0.1:5060".parse::<Registration>().is_err());
    }
}
