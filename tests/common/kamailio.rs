//! Kamailio as the SIP edge in front of real nodes (ops/kamailio/kamailio.cfg):
//! a dispatcher list of our own, probe interval and failover timeout chosen by
//! the test, its log kept for asserts and stopped (SIGTERM) on drop.

use super::repo_root;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the Debian package installs it.
pub const KAMAILIO: &str = "/usr/sbin/kamailio";

pub struct Kamailio {
    child: Child,
    pub sip: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio on UDP `listen` dispatching to `nodes`, probing them
    /// every `probe_interval_s` seconds and giving each `fr_timeout_ms` to
    /// answer a new INVITE before trying the next; returns once it answers
    /// OPTIONS. Panics when Kamailio is not installed.
    pub fn start(
        listen: SocketAddr,
        nodes: &[SocketAddr],
        probe_interval_s: u32,
        fr_timeout_ms: u32,
    ) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = dir.path().join("dispatcher.list");
        let lines: String = nodes.iter().map(|n| format!("1 sip:{n} 0 0\n")).collect();
        std::fs::write(&list, lines).expect("dispatcher.list");
        let cfg = repo_root().join("ops/kamailio/kamailio.cfg");
        let mut child = Command::new(KAMAILIO)
            .args(["-DD", "-E", "-f", &cfg.display().to_string()])
            .args(["-Y", &dir.path().display().to_string()])
            .args(["-w", &dir.path().display().to_string()])
            .arg("-A")
            .arg(format!("LISTEN=udp:{listen}"))
            .arg("-A")
            .arg(format!("DS_LIST=\"{}\"", list.display()))
            .arg("-A")
            .arg(format!("PROBE_INTERVAL={probe_interval_s}"))
            .arg("-A")
            .arg(format!("FR_TIMEOUT_MS={fr_timeout_ms}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{KAMAILIO} does not start: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let kept = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    kept.lock().expect("log").push(line);
                }
            });
        }
        let kamailio = Kamailio {
            child,
            sip: listen,
            log,
            _dir: dir,
        };
        kamailio.wait_answering(Duration::from_secs(10));
        kamailio
    }

    /// Sends OPTIONS to Kamailio itself until it answers 200.
    fn wait_answering(&self, timeout: Duration) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let local = socket.local_addr().expect("addr");
        let end = Instant::now() + timeout;
        let mut n = 0;
        while Instant::now() < end {
            n += 1;
            let options = format!(
                "OPTIONS sip:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKready{n}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=ready\r\nTo: <sip:{sip}>\r\n\
                 Call-ID: ready-{n}@{local}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip
            );
            let _ = socket.send_to(options.as_bytes(), self.sip);
            let mut buf = [0u8; 2048];
            if let Ok((len, _)) = socket.recv_from(&mut buf) {
                if buf[..len].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!(
            "Kamailio did not answer OPTIONS within {timeout:?}: {:?}",
            self.log()
        );
    }

    /// Its log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM lets the main process stop its children.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
