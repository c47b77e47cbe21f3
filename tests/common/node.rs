//! The real service binary as its own process (for kill -9 and SIGTERM
//! tests): its addresses are read from its log, which is kept for asserts.

use super::repo_root;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A copy of the service binary taken once per test process: restarts run
/// the same build even if the target directory's binary is rebuilt meanwhile
/// (several checkouts may share one `CARGO_TARGET_DIR`; `PE_TEST_BINARY`
/// names a build of one's own then). One copy per build, in cargo's tmp dir
/// (a copy in a never-dropped temp dir would stay in /tmp for good); copies
/// older than a day are removed.
pub fn binary() -> &'static std::path::Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let built = std::env::var_os("PE_TEST_BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_phone-entrance")));
        let meta = std::fs::metadata(&built).expect("the service binary");
        let stamp = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_old_copies(&dir);
        let path = dir.join(format!("phone-entrance-{stamp}-{}", meta.len()));
        if !path.exists() {
            // Copied under a name of this process's, then renamed: processes
            // starting at once never run a half-written file.
            let partial = dir.join(format!("partial-{}", std::process::id()));
            std::fs::copy(&built, &partial).expect("copy the binary");
            std::fs::rename(&partial, &path).expect("rename the copy");
        }
        path
    })
}

fn remove_old_copies(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let day = Duration::from_secs(24 * 3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("phone-entrance-")
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub struct Node {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    /// Starts the binary on ephemeral SIP/HTTP ports and RTP `rtp_ports`.
    pub fn start(config: &std::path::Path, database_url: &str, rtp_ports: &str) -> Node {
        Node::start_on(config, database_url, rtp_ports, "127.0.0.1:0")
    }

    /// Like [`Node::start`], SIP on `sip_bind` (a restart on the same port).
    pub fn start_on(
        config: &std::path::Path,
        database_url: &str,
        rtp_ports: &str,
        sip_bind: &str,
    ) -> Node {
        Node::start_env(config, database_url, rtp_ports, sip_bind, &[])
    }

    /// Like [`Node::start_on`] with extra environment (e.g. `RUST_LOG=debug`);
    /// stderr lines are kept in [`Node::log`] too.
    pub fn start_env(
        config: &std::path::Path,
        database_url: &str,
        rtp_ports: &str,
        sip_bind: &str,
        env: &[(&str, &str)],
    ) -> Node {
        let mut command = Command::new(binary());
        command.envs(env.iter().copied());
        let mut child = command
            .args(["--config", &config.display().to_string()])
            .args([
                "--prompts",
                &repo_root().join("prompts").display().to_string(),
            ])
            .args(["--sip-bind", sip_bind, "--http-bind", "127.0.0.1:0"])
            .args(["--database-url", database_url, "--rtp-ports", rtp_ports])
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                env.iter()
                    .find(|(k, _)| *k == "RUST_LOG")
                    .map_or("info", |(_, v)| *v),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("phone-entrance runs");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let field = |line: &str, key: &str| -> Option<SocketAddr> {
            let rest = line.split(key).nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        };
        let (sip, http) = loop {
            let Some(Ok(line)) = lines.next() else {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("the service stopped before listening: {err}");
            };
            if let (Some(sip), Some(http)) = (field(&line, "sip_addr="), field(&line, "http_addr="))
            {
                break (sip, http);
            }
        };
        // Keep reading its log so the pipe never fills.
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let kept = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    kept.lock().expect("log").push(line);
                }
            });
        }
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
