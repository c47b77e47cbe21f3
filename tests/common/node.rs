//! The real service binary as its own process (for kill -9 and SIGTERM
//! tests): its addresses are read from its log, which is kept for asserts.

use super::repo_root;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Node {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts the binary on ephemeral SIP/HTTP ports and RTP `rtp_ports`.
    pub fn start(config: &std::path::Path, database_url: &str, rtp_ports: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phone-entrance"))
            .args(["--config", &config.display().to_string()])
            .args([
                "--prompts",
                &repo_root().join("prompts").display().to_string(),
            ])
            .args(["--sip-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0"])
            .args(["--database-url", database_url, "--rtp-ports", rtp_ports])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("phone-entrance runs");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let field = |line: &str, key: &str| -> Option<SocketAddr> {
            let rest = line.split(key).nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        };
        let (sip, http) = loop {
            let line = lines
                .next()
                .expect("the service says where it listens")
                .expect("log line");
            if let (Some(sip), Some(http)) = (field(&line, "sip_addr="), field(&line, "http_addr="))
            {
                break (sip, http);
            }
        };
        // Keep reading its log so the pipe never fills.
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().expect("log").push(line);
            }
        });
        Node {
            child,
            sip,
            http,
            log,
        }
    }

    /// kill -9: no BYE, no end-of-call bookkeeping.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// `systemctl stop`: SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "the service did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
