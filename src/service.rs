//! Wiring: loads the configuration, opens the store, starts the media
//! engine, the SIP driver, the dialer and the HTTP API, and stops them.
//! Only `main` uses this module; nothing in the library imports it.

use crate::api::auth::IntakeClients;
use crate::api::intake::IntakeQueue;
use crate::api::staff_guard::StaffGuard;
use crate::booking::Booking;
use crate::config::{read_optional, Config};
use crate::dialer::metrics::CallbackMetrics;
use crate::dialer::Dialer;
use crate::live::Live;
use crate::media::engine::{MediaConfig, MediaEngine, ThreadPolicy};
use crate::readiness::Readiness;
use crate::store::Store;
use crate::supervisor::overdue::OverdueMetrics;
use crate::supervisor::SupervisorSettings;
use crate::telephony::driver::DriverContext;
use crate::telephony::messages::{self, Messages};
use crate::telephony::metrics::MediaCollector;
use crate::telephony::{
    CallMetrics, HeldCalls, InboundCalls, NursePhones, SipDriver, SipHandle, Telephony,
};
use anyhow::Context;
use axum::response::IntoResponse;
use prometheus_client::registry::Registry;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How long `stop` waits for calls and their store jobs after the SIP driver
/// ended (a store deadline and the last CDRs).
const CALL_TASKS_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// How the service is started (flags and environment, DESIGN.md section 5).
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub config_dir: PathBuf,
    pub prompts_dir: PathBuf,
    pub sip_bind: SocketAddr,
    pub http_bind: SocketAddr,
    pub database_url: String,
    pub rtp_ports: (u16, u16),
}

/// What `check-config` validates: `sip-config/`, the prompts and the intake clients.
pub fn check_config(config_dir: &Path, prompts_dir: &Path) -> anyhow::Result<Config> {
    let config = Config::load(config_dir, prompts_dir)?;
    intake_clients(config_dir)?;
    Ok(config)
}

/// `intake-clients.toml`; no file means no clients (the intake answers 401).
fn intake_clients(config_dir: &Path) -> anyhow::Result<IntakeClients> {
    let path = config_dir.join("intake-clients.toml");
    match read_optional(&path)? {
        Some(text) => IntakeClients::parse(&text)
            .map_err(|message| anyhow::anyhow!("{}: {message}", path.display())),
        None => Ok(IntakeClients::default()),
    }
}

/// A running service (for tests and `main`).
pub struct Running {
    pub sip_addr: SocketAddr,
    /// SIP over TLS, when `sip.toml` sets `tls_bind`.
    pub tls_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    /// Supervisor settings in force and the queue's change feed.
    pub live: Arc<Live>,
    /// Offers, estimates and registrations (what the IVR and the intake use).
    pub booking: Arc<Booking>,
    /// Whether this node takes new calls (`/readyz`, SIP OPTIONS).
    pub readiness: Arc<Readiness>,
    call_metrics: Arc<CallMetrics>,
    held: Arc<HeldCalls>,
    drain_time: std::time::Duration,
    media: MediaEngine,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    call_tasks: TaskTracker,
}

impl Running {
    /// How long `drain` lets callers in the IVR finish (`drain_seconds`).
    pub fn drain_time(&self) -> std::time::Duration {
        self.drain_time
    }

    /// Takes no new calls (INVITE and OPTIONS get 503) and waits up to
    /// `limit` for the callers in the IVR to finish; callers holding in the
    /// queue are not waited for (`stop` turns their cases into callbacks).
    pub async fn drain(&self, limit: std::time::Duration) {
        self.readiness.start_draining();
        let end = tokio::time::Instant::now() + limit;
        loop {
            let in_ivr = self.call_metrics.calls_active.get() - self.held.len() as i64;
            if in_ivr <= 0 || tokio::time::Instant::now() >= end {
                info!(in_ivr = in_ivr.max(0), "drained");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Stops accepting, hangs up live calls, and waits for the tasks.
    pub async fn stop(self) {
        self.readiness.start_draining();
        let _ = self.shutdown.send(true);
        // Open /events streams would hold the HTTP server's graceful shutdown.
        self.live.shutdown();
        for t in self.tasks {
            let _ = t.await;
        }
        // Calls end with the SIP driver; what they still store must land.
        self.call_tasks.close();
        if tokio::time::timeout(CALL_TASKS_WAIT, self.call_tasks.wait())
            .await
            .is_err()
        {
            warn!(
                tasks = self.call_tasks.len(),
                "call tasks still running at exit"
            );
        }
        self.media.shutdown();
    }
}

/// Starts everything and returns once the sockets are bound.
pub async fn start(opts: ServiceOptions) -> anyhow::Result<Running> {
    let mut cfg = check_config(&opts.config_dir, &opts.prompts_dir)?;
    if let Err(e) = cfg
        .sip
        .check_rtp_ports(&opts.config_dir.join("sip.toml"), opts.rtp_ports)
    {
        // check-config refuses this; a running node caps admission instead,
        // so that calls beyond the ports get 503, not a failed answer.
        let cap = crate::config::even_ports(opts.rtp_ports.0, opts.rtp_ports.1).max(1);
        tracing::warn!("{e:#}; until fixed, new calls beyond {cap} get 503");
        cfg.sip.max_concurrent_calls = cap;
    }
    let intake_clients = intake_clients(&opts.config_dir)?;
    // Lazily: a database that is down or not created yet does not stop SIP
    // and HTTP from starting; the node is not ready (503) until the
    // readiness probe has opened and migrated it.
    let store = Store::connect_lazy(&opts.database_url)
        .await
        .with_context(|| "opening the database (--database-url)")?
        .with_claim_lease(cfg.queue.claim_lease())
        .with_caps(cfg.queue.caps);
    let sms_config = cfg.sms;
    // SMS bodies are rendered as they are queued, times in hours.toml's zone.
    let store = match &sms_config {
        Some(sms) => store.with_sms(Arc::new(crate::sms::SmsComposer::new(
            sms.templates.clone(),
            cfg.hours.tz(),
            cfg.triage
                .self_care_routes()
                .iter()
                .map(|r| (r.name.clone(), r.link.clone()))
                .collect(),
        ))),
        None => store,
    };
    let retention = cfg.queue.retention();
    let advertise_ip = cfg
        .sip
        .advertise_ip
        .unwrap_or(if opts.sip_bind.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            opts.sip_bind.ip()
        });
    warn_if_few_file_descriptors(cfg.sip.max_concurrent_calls);
    let prompts = Arc::new(cfg.prompts);
    let mut media_cfg = MediaConfig::new(opts.sip_bind.ip(), opts.rtp_ports, prompts.clone());
    media_cfg.workers = cfg.sip.thread_counts(cores()).0;
    media_cfg.threads = ThreadPolicy {
        priority: cfg.sip.media.priority,
        nice: cfg.sip.media.nice,
        realtime_priority: cfg.sip.media.realtime_priority,
        cpu_affinity: cfg.sip.media.cpu_affinity.clone(),
    };
    media_cfg.batch_send = cfg.sip.media.batch_send;
    media_cfg.rtp_timeout = cfg.sip.rtp_timeout();
    media_cfg.sources = Arc::new(cfg.sources.clone());
    let media = MediaEngine::start(media_cfg).context("starting the media engine")?;
    let intake_queue = IntakeQueue {
        targets: crate::queue::LevelTargets::new(cfg.triage.targets()),
        queue: cfg.queue.clone(),
    };
    let defaults = SupervisorSettings {
        callback_capacity: cfg.hours.daily_capacity,
        ..Default::default()
    };
    let node = node_name();
    let readiness = Readiness::new(&node);
    // Ready from the first answer on, not after the first probe interval
    // (this also opens and migrates the database when it answers).
    if let Err(e) = readiness.probe(&store).await {
        tracing::warn!(error = %e, "starting not ready");
    }
    let live = Live::start(store.clone(), defaults)
        .await
        .context("loading the supervisor settings")?;
    let booking = Arc::new(
        Booking::new(
            store.clone(),
            cfg.queue,
            cfg.hours,
            &cfg.triage,
            live.clone(),
        )
        .held_by(&node),
    );
    let driver = SipDriver::bind(opts.sip_bind)
        .await
        .with_context(|| format!("binding SIP on {}", opts.sip_bind))?;
    let driver = match cfg.sip.tls() {
        Some((addr, tls)) => driver
            .with_tls(addr, tls)
            .await
            .with_context(|| format!("binding SIP over TLS on {addr} (sip.toml tls_bind)"))?,
        None => driver,
    };
    let sip_addr = driver.local_addr()?;
    let tls_addr = driver.tls_local_addr();
    let (sip_commands, sip_command_rx) = tokio::sync::mpsc::unbounded_channel();
    let sip_config = Arc::new(cfg.sip);
    let sip = SipHandle {
        commands: sip_commands.clone(),
        advertise_ip,
        port: sip_addr.port(),
        tls_port: tls_addr.map(|a| a.port()),
        user_agent: sip_config.user_agent.clone(),
        srtp: sip_config.srtp,
    };
    let nurse_ring = cfg
        .trunk
        .as_ref()
        .map(|t| t.nurse_ring_timeout())
        .unwrap_or(std::time::Duration::from_secs(30));
    let nurse_phones = Arc::new(
        NursePhones::new(
            cfg.nurse_phones,
            &sip_config.sip_realm,
            nurse_ring,
            &cfg.staff.sip_register,
        )
        .shared_through(store.clone(), &node),
    );
    let held = Arc::new(HeldCalls::default());
    let call_metrics = Arc::new(CallMetrics::default());
    let callback_metrics = Arc::new(CallbackMetrics::default());
    let mut registry = Registry::default();
    call_metrics.register(&mut registry);
    booking.register_metrics(&mut registry);
    nurse_phones.register_metrics(&mut registry);
    readiness.register(&mut registry);
    let swept = crate::sweeper::SweepCounters::default();
    swept.register(&mut registry);
    store.cap_counters().register(&mut registry);
    callback_metrics.register(&mut registry);
    let survey_metrics = Arc::new(crate::dialer::survey::SurveyMetrics::default());
    survey_metrics.register(&mut registry);
    let survey_store_timeout = cfg.flow.settings().store_timeout;
    registry.register_collector(Box::new(MediaCollector(media.clone())));
    let sms_metrics = Arc::new(crate::sms::SmsMetrics::default());
    sms_metrics.register(&mut registry);
    let overdue_metrics = Arc::new(OverdueMetrics::default());
    overdue_metrics.register(&mut registry);
    // The session cookie is Secure unless HTTP is bound to loopback only.
    let secure_cookie = StaffGuard::secure_cookie_for(opts.http_bind.ip());
    let staff_guard = Arc::new(StaffGuard::new(&cfg.staff, secure_cookie));
    staff_guard.metrics.register(&mut registry);
    let handoff_metrics = Arc::new(crate::api::handoff::HandoffMetrics::default());
    handoff_metrics.register(&mut registry);
    let source_metrics = Arc::new(crate::telephony::source_gate::SourceMetrics::default());
    source_metrics.register(&mut registry);
    // Calls, callbacks and their store jobs: `stop` waits for them.
    let call_tasks = TaskTracker::new();
    let inbound = Arc::new(InboundCalls {
        config: sip_config.clone(),
        advertise_ip,
        media: media.clone(),
        prompts: prompts.clone(),
        flow: cfg.flow,
        triage: cfg.triage,
        booking: booking.clone(),
        messages: Messages::new(live.clone()),
        metrics: call_metrics.clone(),
        held: held.clone(),
        tasks: call_tasks.clone(),
    });
    let drain_time = sip_config.drain_time();
    let telephony = Arc::new(Telephony {
        sip,
        media: media.clone(),
        prompts: prompts.clone(),
        held: held.clone(),
        trunk: cfg.trunk,
        nurse_phones: nurse_phones.clone(),
        tasks: call_tasks.clone(),
    });
    let surveys = Arc::new(crate::dialer::survey::Surveys {
        config: cfg.survey.clone(),
        metrics: survey_metrics.clone(),
        store_timeout: survey_store_timeout,
    });
    let dialer = Dialer::new(
        telephony,
        store.clone(),
        cfg.retry,
        callback_metrics,
        surveys,
        &node,
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Nurses on other nodes taking callers that hold here.
    let pickups = dialer.serve_pickups(shutdown_rx.clone());
    let listener = tokio::net::TcpListener::bind(opts.http_bind)
        .await
        .with_context(|| format!("binding HTTP on {}", opts.http_bind))?;
    let http_addr = listener.local_addr()?;
    let api_state = crate::api::ApiState::new(store.clone())
        .with_phone_side(
            booking.clone(),
            call_metrics.clone(),
            live.clone(),
            messages::available(&prompts),
        )
        .with_prompt_texts(cfg.manifest.clone())
        .with_readiness(readiness.clone())
        .with_dialer(dialer)
        .with_survey_metrics(survey_metrics.clone())
        .with_intake_clients(intake_clients)
        .with_intake_queue(intake_queue)
        .with_guard(staff_guard)
        .with_nurse_phones(nurse_phones.clone())
        .with_sms(crate::sms::SmsReports {
            status_token_sha256: sms_config
                .as_ref()
                .and_then(|s| s.settings.status_token_sha256.clone()),
            metrics: sms_metrics.clone(),
        })
        .with_units(cfg.units, handoff_metrics);
    let listing_metrics = crate::listing::ListingMetrics::default();
    listing_metrics.register(&mut registry);
    let router = crate::fhir::router(api_state.clone())
        .merge(crate::api::router(api_state))
        .merge(metrics_router(registry));
    let mut http_shutdown = shutdown_rx.clone();
    let http = tokio::spawn(async move {
        // Connect info gives the audit log the client address.
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.wait_for(|s| *s).await;
            })
            .await;
    });
    let driver_ctx = DriverContext {
        config: sip_config,
        metrics: call_metrics.clone(),
        nurse_phones,
        store: store.clone(),
        calls: Arc::new(inbound),
        readiness: readiness.clone(),
        commands: sip_commands,
        sources: Arc::new(cfg.sources.clone()),
        source_metrics,
    };
    let probe = readiness.watch(
        store.clone(),
        std::time::Duration::from_secs(2),
        shutdown_rx.clone(),
    );
    // Holding callers read their place here, not from the store.
    let snapshot = booking.follow_queue(
        std::time::Duration::from_secs(5),
        overdue_metrics,
        shutdown_rx.clone(),
    );
    let sweeper = crate::sweeper::start(
        store.clone(),
        crate::sweeper::SWEEP_EVERY,
        retention,
        swept,
        shutdown_rx.clone(),
    );
    let mut tasks = Vec::new();
    if let Some(sms) = &sms_config {
        // Beside the call loop: sending never waits on a call, nor a call on it.
        tasks.push(
            crate::sms::dispatcher::start(
                store.clone(),
                &sms.settings,
                sms_metrics,
                shutdown_rx.clone(),
            )
            .context("starting the SMS dispatcher (sms.toml)")?,
        );
    }
    // Listing look-ups beside the call loop (never in it).
    tasks.extend(cfg.listing.as_ref().map(|config| {
        crate::listing::worker::start(store.clone(), config, listing_metrics, shutdown_rx.clone())
    }));
    let sip = tokio::spawn(driver.run(driver_ctx, sip_command_rx, shutdown_rx));
    match tls_addr {
        Some(tls_addr) => {
            info!(%sip_addr, %tls_addr, %http_addr, "phone entrance listening (SIP over UDP, TCP and TLS)")
        }
        None => info!(%sip_addr, %http_addr, "phone entrance listening (SIP over UDP and TCP)"),
    }
    Ok(Running {
        sip_addr,
        tls_addr,
        http_addr,
        live,
        booking,
        readiness,
        call_metrics,
        held,
        drain_time,
        media,
        shutdown: shutdown_tx,
        tasks: vec![sip, http, snapshot, probe, sweeper, pickups]
            .into_iter()
            .chain(tasks)
            .collect(),
        call_tasks,
    })
}

/// This run's name in the heartbeat table: the host and a random part, so a
/// restarted node does not renew its previous run's leases.
fn node_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_string());
    format!("{host}/{:08x}", rand::random::<u32>())
}

/// `/metrics`: every registered counter in the Prometheus text format.
fn metrics_router(registry: Registry) -> axum::Router {
    let registry = Arc::new(registry);
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let mut text = String::new();
            let rendered = prometheus_client::encoding::text::encode(&mut text, &registry);
            async move {
                match rendered {
                    Ok(()) => (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                        .into_response(),
                    Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        }),
    )
}

/// Each call holds one RTP socket: warn when the open-file limit cannot carry
/// `max_calls` (the kernel would refuse sockets and callers would get 503).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Tokio worker threads for the service, sized beside the media workers
/// (`SipConfig::thread_counts`). A sip.toml that does not load gives the
/// default here; `start` then reports its error.
pub fn runtime_workers(config_dir: &Path) -> usize {
    let path = config_dir.join("sip.toml");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| crate::config::SipConfig::parse(&text, &path).ok())
        .map_or_else(|| cores().clamp(1, 16), |sip| sip.thread_counts(cores()).1)
}

fn warn_if_few_file_descriptors(max_calls: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft {
        let needed = max_calls + 256;
        if soft < needed {
            tracing::warn!(soft, needed, "open-file limit is below max_concurrent_calls: raise it (ulimit -n, or LimitNOFILE= in the systemd unit)");
        }
    }
}
