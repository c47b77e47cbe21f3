//! `pe-sms-sim`: the SMS gateway simulator on its own, for trying the
//! service by hand. Point `sms.toml` `url` at the address it prints; switch
//! it with `POST /control/mode` (`{"mode":"fail","status":503}`,
//! `{"mode":"slow","delay_ms":15000}`, `{"mode":"accept"}`) and list what it
//! took with `GET /control/messages`. With `--report-to` it posts a
//! "delivered" report for each message after `--report-after-ms`.

use clap::Parser;
use simulators::sms_gateway::{Mode, SmsGatewaySim};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "SMS gateway simulator for the 1177 phone entrance")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9099")]
    bind: SocketAddr,
    /// Answer every message with this HTTP status instead of taking it.
    #[arg(long)]
    fail: Option<u16>,
    /// Require this bearer token (the service's PE_SMS_TOKEN).
    #[arg(long, env = "PE_SMS_TOKEN")]
    token: Option<String>,
    /// The service's delivery-report URL, e.g. http://127.0.0.1:8080/api/v1/sms/status.
    #[arg(long)]
    report_to: Option<String>,
    /// Bearer token for the reports (the service's PE_SMS_STATUS_TOKEN).
    #[arg(long, env = "PE_SMS_STATUS_TOKEN", default_value = "")]
    report_token: String,
    #[arg(long, default_value_t = 500)]
    report_after_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = SmsGatewaySim::start_on(args.bind).await?;
    if let Some(token) = &args.token {
        sim.require_token(token);
    }
    if let Some(status) = args.fail {
        sim.set_mode(Mode::Fail { status });
    }
    println!("SMS gateway simulator on {}", sim.url());
    let mut seen = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let received = sim.received();
        for m in received.iter().skip(seen) {
            // A simulator's own console: the text is test data.
            println!("{} from {} to {}: {}", m.id, m.from, m.to, m.message);
            if let Some(url) = &args.report_to {
                tokio::time::sleep(Duration::from_millis(args.report_after_ms)).await;
                match sim
                    .report(url, &args.report_token, &m.id, "delivered")
                    .await
                {
                    Ok(status) => println!("{}: delivery report answered {status}", m.id),
                    Err(e) => println!("{}: delivery report failed: {e}", m.id),
                }
            }
        }
        seen = received.len();
    }
}
