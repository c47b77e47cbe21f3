//! `phone-entrance`: parses the command line and hands over to `service`
//! (serve, check-config) or `admin` (migrate, accounts, tokens).

use clap::{Parser, Subcommand};
use phone_entrance::admin;
use phone_entrance::service::{self, ServiceOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "phone-entrance",
    version,
    about = "SIP/RTP IVR and callback queue for the 1177 phone entrance"
)]
struct Cli {
    /// Configuration folder (sip.toml, ivr.toml, triage.toml, queue.toml).
    #[arg(
        long = "config",
        env = "PE_CONFIG",
        default_value = "sip-config",
        global = true
    )]
    config: PathBuf,
    /// Prompt folder (manifest.toml and <lang>/<id>.wav).
    #[arg(
        long = "prompts",
        env = "PE_PROMPTS",
        default_value = "prompts",
        global = true
    )]
    prompts: PathBuf,
    /// SIP address, UDP and TCP.
    #[arg(
        long = "sip-bind",
        env = "PE_SIP_BIND",
        default_value = "0.0.0.0:5060",
        global = true
    )]
    sip_bind: SocketAddr,
    /// HTTP API address.
    #[arg(
        long = "http-bind",
        env = "PE_HTTP_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    http_bind: SocketAddr,
    /// sqlite:PATH (default) or postgres://...
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "sqlite:data/phone-entrance.db",
        global = true
    )]
    database_url: String,
    /// RTP port range LOW-HIGH (even ports are used).
    #[arg(long = "rtp-ports", env = "PE_RTP_PORTS", default_value = phone_entrance::config::DEFAULT_RTP_PORTS, value_parser = parse_range, global = true)]
    rtp_ports: (u16, u16),
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate sip-config/ and prompts/ and exit.
    CheckConfig,
    /// Create or upgrade the database schema and exit.
    Migrate,
    /// Create a staff account (or with --update change its password and role).
    /// The password is read from PE_PASSWORD, else from the first line of stdin.
    CreateUser {
        /// User name: a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        username: String,
        /// nurse or supervisor.
        #[arg(long, default_value = "nurse")]
        role: String,
        /// Change an existing account instead of failing (ends its sessions).
        #[arg(long)]
        update: bool,
        /// Also give the nurse a SIP desk-phone password (stored only as the
        /// digest HA1 for the `sip_realm` of sip.toml). Prefer the environment
        /// variable: a command-line argument is visible to other local users.
        #[arg(long, env = "PE_SIP_PASSWORD", hide_env_values = true)]
        sip_password: Option<String>,
        /// The care unit the user works in: an id from units.toml, e.g.
        /// vc-markaryd. Default: the default unit (the nurse line); with
        /// --update, the unit stays unless given.
        #[arg(long)]
        unit: Option<String>,
    },
    /// Disable a staff account: its sessions end at once, sign-in and its desk
    /// phone's REGISTER are refused until enable-user.
    DisableUser {
        /// The user name.
        name: String,
    },
    /// Enable a disabled staff account again.
    EnableUser {
        /// The user name.
        name: String,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a new random bearer token for a digital intake client and the line
    /// to add to intake-clients.toml.
    IntakeToken {
        /// Client name, e.g. 1177-direkt.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the audit log's hash chain; exits 1 naming the first row that
    /// was changed, removed or inserted out of order.
    Verify,
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("\"{s}\" is not a range: expected LOW-HIGH, e.g. 20000-30000"))?;
    let lo: u16 = lo
        .trim()
        .parse()
        .map_err(|_| format!("\"{lo}\" is not a port number"))?;
    let hi: u16 = hi
        .trim()
        .parse()
        .map_err(|_| format!("\"{hi}\" is not a port number"))?;
    if lo >= hi {
        return Err(format!("range {lo}-{hi} is empty: LOW must be below HIGH"));
    }
    Ok((lo, hi))
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    // Sized beside the media workers (sip.toml runtime_workers / media_workers).
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(service::runtime_workers(&cli.config))
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::CheckConfig) => {
            let config = service::check_config(&cli.config, &cli.prompts)?;
            config
                .sip
                .check_rtp_ports(&cli.config.join("sip.toml"), cli.rtp_ports)?;
            println!(
                "configuration in {} and prompts in {} are valid",
                cli.config.display(),
                cli.prompts.display()
            );
            Ok(())
        }
        Some(Command::Migrate) => admin::migrate(&cli.database_url).await,
        Some(Command::CreateUser {
            username,
            role,
            update,
            sip_password,
            unit,
        }) => {
            let sip = match sip_password {
                Some(pw) => Some((admin::sip_realm(&cli.config)?, pw)),
                None => None,
            };
            // Checked before anything is stored; an update keeps the unit unless given.
            let unit = match (&unit, update) {
                (None, true) => None,
                _ => Some(admin::user_unit(&cli.config, unit.as_deref())?),
            };
            admin::create_user(&cli.database_url, &username, &role, update, sip, unit).await
        }
        Some(Command::Audit {
            command: AuditCommand::Verify,
        }) => admin::audit_verify(&cli.database_url).await,
        Some(Command::IntakeToken { name }) => admin::intake_token(&name),
        Some(Command::DisableUser { name }) => {
            admin::set_disabled(&cli.database_url, &name, true).await
        }
        Some(Command::EnableUser { name }) => {
            admin::set_disabled(&cli.database_url, &name, false).await
        }
        None => {
            let running = service::start(ServiceOptions {
                config_dir: cli.config,
                prompts_dir: cli.prompts,
                sip_bind: cli.sip_bind,
                http_bind: cli.http_bind,
                database_url: cli.database_url,
                rtp_ports: cli.rtp_ports,
            })
            .await?;
            shutdown_signal().await;
            let drain = running.drain_time();
            tracing::info!(
                seconds = drain.as_secs(),
                "draining: no new calls, the IVR's callers may finish"
            );
            running.drain(drain).await;
            tracing::info!("shutting down: hanging up live calls");
            running.stop().await;
            Ok(())
        }
    }
}

/// Logs for journald and log shippers: colour only on a terminal;
/// `PE_LOG_FORMAT=json` writes one JSON object per line.
fn init_logging() {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("PE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stdout().is_terminal()).init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
