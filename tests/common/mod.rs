//! Starts the real service in-process on ephemeral ports with a temporary
//! SQLite database and a copy of `sip-config/` that a test may edit.
#![allow(dead_code)]

pub mod audio;
pub mod browser;
pub mod callback;
pub mod caller;
pub mod kamailio;
pub mod node;
pub mod postgres;
pub mod raw_sip;
pub mod report_seed;
pub mod tls;

use phone_entrance::service::{self, Running, ServiceOptions};
use phone_entrance::store::{CaseRecord, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct TestService {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub database_url: String,
}

/// The repository root (where `sip-config/` and `prompts/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the shipped `sip-config/` in `dir`, to edit for one test.
pub fn copy_config(dir: &Path) -> PathBuf {
    let config = dir.join("sip-config");
    std::fs::create_dir_all(&config).expect("mkdir");
    for entry in std::fs::read_dir(repo_root().join("sip-config")).expect("sip-config") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), config.join(entry.file_name())).expect("copy");
    }
    config
}

/// Replaces `key = value` in a TOML file of the copied config (first match).
pub fn set_config(dir: &Path, file: &str, key: &str, value: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("config file");
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done
                && l.split('=')
                    .next()
                    .map(|k| k.trim() == key)
                    .unwrap_or(false)
            {
                done = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "{key} not found in {file}");
    std::fs::write(&path, out.join("\n") + "\n").expect("write config");
}

impl TestService {
    /// Starts with the shipped configuration, edited by `edit` (gets the config dir).
    pub async fn start_with(database_url: Option<String>, edit: impl FnOnce(&Path)) -> TestService {
        // RUST_LOG=debug shows the service's logs for a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = copy_config(dir.path());
        edit(&config);
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("pe.db").display()));
        let running = service::start(ServiceOptions {
            config_dir: config,
            prompts_dir: repo_root().join("prompts"),
            sip_bind: "127.0.0.1:0".parse().expect("addr"),
            http_bind: "127.0.0.1:0".parse().expect("addr"),
            database_url: database_url.clone(),
            rtp_ports: (30000, 39999),
        })
        .await
        .expect("service starts");
        TestService {
            running,
            dir,
            database_url,
        }
    }

    pub async fn start() -> TestService {
        Self::start_with(None, |_| {}).await
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.running.sip_addr
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.running.http_addr, path)
    }

    /// A second connection to the same database, to check what was committed.
    pub async fn store(&self) -> Store {
        Store::connect(&self.database_url).await.expect("store")
    }

    /// The stored case with this id (as the API gives it).
    pub async fn case(&self, id: &str) -> CaseRecord {
        let id = id.parse().expect("case id");
        self.store()
            .await
            .get_case(id)
            .await
            .expect("read")
            .expect("case")
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.http_url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn worklist(&self) -> Vec<CaseRecord> {
        self.store().await.worklist().await.expect("worklist")
    }

    /// Waits until `n` cases are in the worklist (the IVR commits before it confirms).
    pub async fn wait_for_cases(&self, n: usize, timeout: Duration) -> Vec<CaseRecord> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let cases = self.worklist().await;
            if cases.len() >= n || tokio::time::Instant::now() > end {
                return cases;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates a staff account the way `phone-entrance create-user` does.
    pub async fn add_staff(
        &self,
        username: &str,
        password: &str,
        role: phone_entrance::store::Role,
    ) {
        let hash = phone_entrance::api::auth::hash_password(password).expect("hash");
        let created = self
            .store()
            .await
            .create_user(username, &hash, role, chrono::Utc::now())
            .await
            .expect("create user");
        assert!(created, "user {username} already exists");
    }

    /// Signs in over HTTP and returns a client that sends the session cookie.
    pub async fn login(&self, user: &str, pw: &str) -> reqwest::Client {
        login_at(self.running.http_addr, user, pw).await
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// Length of a prompt in the shipped Swedish set (to script waits).
pub fn prompt_seconds(lang: &str, id: &str) -> f64 {
    let r = hound::WavReader::open(
        repo_root()
            .join("prompts")
            .join(lang)
            .join(format!("{id}.wav")),
    )
    .expect("wav");
    r.duration() as f64 / r.spec().sample_rate as f64
}

/// A level-4 callback to `number` registered 30 minutes ago (a booked
/// callback that a repeat caller hears about).
pub async fn seed_booked_callback(
    store: &Store,
    number: &str,
    personnummer: Option<&str>,
) -> CaseRecord {
    use phone_entrance::store::{Answer, CaseMode, Channel, NewCase};
    let at = chrono::Utc::now() - chrono::Duration::minutes(30);
    let case = NewCase {
        channel: Channel::Phone,
        priority: phone_entrance::queue::Priority::new(4).expect("level"),
        mode: CaseMode::Callback,
        registered_at: at,
        deadline: at + chrono::Duration::minutes(480),
        estimated_callback_at: Some(at + chrono::Duration::minutes(240)),
        answers: vec![Answer {
            question_id: "symptom".into(),
            question_text: "Huvudsakligt besvär".into(),
            value: "fever".into(),
            value_text: "Feber".into(),
        }],
        callback_number: Some(number.into()),
        personnummer: personnummer.map(Into::into),
        language: "sv".into(),
        call_id: Some("first-call@test".into()),
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    };
    store.insert_case(&case).await.expect("seed case")
}

/// Signs in at the service on `http` and returns a client that sends the
/// session cookie (and the page's origin, which changes require).
pub async fn login_at(http: SocketAddr, user: &str, pw: &str) -> reqwest::Client {
    let r = reqwest::Client::new()
        .post(format!("http://{http}/api/v1/login"))
        .json(&serde_json::json!({"username": user, "password": pw}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "login as {user}");
    let set = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let pair = set.split(';').next().expect("pair").to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, pair.parse().expect("header value"));
    let origin = format!("http://{http}");
    headers.insert(reqwest::header::ORIGIN, origin.parse().expect("origin"));
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}
