//! Wiring: loads configuration, opens the store, starts the media engine,
//! the SIP shell and the HTTP API, and stops them gracefully.

pub mod call;
pub mod call_record;
pub mod hold_announcement;
pub mod media_engine;
pub mod messages;
pub mod metrics;
pub mod registrar;
pub mod settings;
pub mod sip_driver;
pub mod voice_note;

use crate::app::media_engine::{MediaConfig, MediaEngine};
use crate::ivr::Flow;
use crate::media::prompts::PromptLibrary;
use crate::queue::{OpeningHours, QueueConfig};
use crate::store::Store;
use crate::supervisor::Live;
use crate::triage::Triage;
use anyhow::Context;
use messages::Messages;
use metrics::Metrics;
use registrar::Registrar;
use settings::SipSettings;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::info;

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

/// Everything a call needs, shared by all calls.
pub struct CallContext {
    pub sip: SipSettings,
    pub advertise_ip: IpAddr,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub registrar: Registrar,
    pub messages: Messages,
    pub metrics: Arc<Metrics>,
    /// Supervisor settings in force now, and the queue's change feed.
    pub live: Arc<Live>,
    /// Commands to the SIP shell (calls and the dialer).
    pub sip_commands: tokio::sync::mpsc::UnboundedSender<sip_driver::SipCommand>,
    /// Our SIP port (for Via and Contact of requests we start).
    pub sip_port: u16,
    /// Callers holding in the queue on this node.
    pub held: crate::dialer::held::HeldCalls,
    /// The trunk for callbacks (none: no callbacks).
    pub trunk: Option<crate::dialer::TrunkConfig>,
    /// Where the nurses' SIP phones are.
    pub nurse_phones: crate::dialer::nurse_phones::NursePhones,
}

/// All configuration, loaded and cross-checked.
pub struct LoadedConfig {
    pub sip: SipSettings,
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub queue: QueueConfig,
    pub hours: OpeningHours,
    pub prompts: PromptLibrary,
    pub trunk: Option<crate::dialer::TrunkConfig>,
    pub nurse_phones: crate::dialer::nurse_phones::NursePhones,
    pub retry: crate::queue::RetryPolicy,
}

/// Loads and validates `sip-config/` and the prompts: what `check-config` runs.
pub fn load_config(config_dir: &Path, prompts_dir: &Path) -> anyhow::Result<LoadedConfig> {
    let sip = SipSettings::load(&config_dir.join("sip.toml"))?;
    // Flow, triage and manifest checked against each other and the WAV files.
    let ivr =
        crate::config::read_ivr(config_dir, prompts_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let queue = crate::config::read_queue(config_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hours = crate::config::read_hours(config_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let prompts = crate::config::read_prompts(prompts_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::api::auth::IntakeClients::load(&config_dir.join("intake-clients.toml"))?;
    let trunk = crate::dialer::TrunkConfig::load_optional(&config_dir.join("trunk.toml"))?;
    let nurse_ring = trunk
        .as_ref()
        .map(|t| t.nurse_ring_timeout())
        .unwrap_or(std::time::Duration::from_secs(30));
    let nurse_phones = crate::dialer::nurse_phones::NursePhones::load(
        &config_dir.join("nurse-phones.toml"),
        &sip.sip_realm,
        nurse_ring,
    )?;
    let retry = crate::config::read_retry(config_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(LoadedConfig {
        retry,
        trunk,
        nurse_phones,
        sip,
        flow: ivr.flow,
        triage: ivr.triage,
        queue,
        hours,
        prompts,
    })
}

/// A running service (for tests and `main`).
pub struct Running {
    pub sip_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub context: Arc<CallContext>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, hangs up live calls, and waits for the tasks.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        // Open /events streams would hold the HTTP server's graceful shutdown.
        self.context.live.shutdown();
        for t in self.tasks {
            let _ = t.await;
        }
        self.context.media.shutdown();
    }
}

/// Starts everything and returns once the sockets are bound.
pub async fn start(opts: ServiceOptions) -> anyhow::Result<Running> {
    let cfg = load_config(&opts.config_dir, &opts.prompts_dir)?;
    let store = Store::connect(&opts.database_url)
        .await
        .with_context(|| "opening the database (--database-url)")?;
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
    media_cfg.workers = cfg.sip.media_workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    media_cfg.rtp_timeout = cfg.sip.rtp_timeout();
    let media = MediaEngine::start(media_cfg).context("starting the media engine")?;
    let triage = cfg.triage;
    let intake_clients =
        crate::api::auth::IntakeClients::load(&opts.config_dir.join("intake-clients.toml"))?;
    let intake_queue = crate::api::intake::IntakeQueue {
        targets: crate::queue::LevelTargets::new(triage.targets()),
        queue: cfg.queue.clone(),
    };
    let metrics = Arc::new(Metrics::default());
    let defaults = crate::supervisor::SupervisorSettings {
        callback_capacity: cfg.hours.daily_capacity,
        ..Default::default()
    };
    let live = Live::start(store.clone(), defaults)
        .await
        .context("loading the supervisor settings")?;
    let driver = sip_driver::SipDriver::bind(opts.sip_bind)
        .await
        .with_context(|| format!("binding SIP on {}", opts.sip_bind))?;
    let sip_addr = driver.local_addr()?;
    let (sip_commands, sip_command_rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = Arc::new(CallContext {
        sip_commands,
        sip_port: sip_addr.port(),
        held: Default::default(),
        trunk: cfg.trunk,
        nurse_phones: cfg.nurse_phones,
        registrar: Registrar::new(store.clone(), cfg.queue, cfg.hours, &triage, live.clone()),
        sip: cfg.sip,
        advertise_ip,
        media,
        prompts,
        flow: cfg.flow,
        triage,
        messages: Messages::new(live.clone()),
        metrics: metrics.clone(),
        live: live.clone(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(opts.http_bind)
        .await
        .with_context(|| format!("binding HTTP on {}", opts.http_bind))?;
    let http_addr = listener.local_addr()?;
    let dialer = crate::dialer::Dialer::new(ctx.clone(), store.clone(), cfg.retry);
    let api_state = crate::api::ApiState::with_calls(store, ctx.clone())
        .with_dialer(dialer)
        .with_intake_clients(intake_clients)
        .with_intake_queue(intake_queue);
    let router = crate::api::router(api_state).merge(metrics_router(metrics, ctx.media.clone()));
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
    let sip = tokio::spawn(driver.run(ctx.clone(), sip_command_rx, shutdown_rx));
    info!(%sip_addr, %http_addr, "phone entrance listening (SIP over UDP and TCP)");
    Ok(Running {
        sip_addr,
        http_addr,
        context: ctx,
        shutdown: shutdown_tx,
        tasks: vec![sip, http],
    })
}

fn metrics_router(metrics: Arc<Metrics>, media: MediaEngine) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = metrics.render() + &metrics::render_media(&media.stats());
            async move { ([("content-type", "text/plain; version=0.0.4")], text) }
        }),
    )
}

/// Each call holds one RTP socket: warn when the open-file limit cannot carry
/// `max_calls` (the kernel would refuse sockets and callers would get 503).
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

/// Sleeps until `deadline`, or forever when a core has no timer armed (for `select!`).
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
