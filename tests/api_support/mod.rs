//! The API served in-process over real HTTP on SQLite or (with
//! `PE_TEST_POSTGRES_URL`) a fresh PostgreSQL database, with one intake client
//! and helpers to sign staff in. Used by tests/api_*.rs.
#![allow(dead_code)]

use phone_entrance::api::auth::{self, IntakeClients, Role};
use phone_entrance::api::staff_guard::StaffGuard;
use phone_entrance::api::{router, ApiState};
use phone_entrance::config::StaffConfig;
use phone_entrance::store::{AuditRecord, Store};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;

/// The intake client's bearer token in these tests.
pub const INTAKE_TOKEN: &str = "test-intake-token-0123456789";
/// A second client system (its references are its own).
pub const OTHER_INTAKE_TOKEN: &str = "test-other-intake-token-987654";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Api {
    pub base: String,
    pub store: Store,
    /// Where the store is (for running the binary's admin commands on it).
    pub database_url: String,
    /// Sign-in guards (their counters are the argon2 pool's metrics).
    pub guard: Arc<StaffGuard>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Api {
    pub async fn sqlite() -> Api {
        Api::sqlite_with(StaffConfig::default()).await
    }

    /// On PostgreSQL (panics without `PE_TEST_POSTGRES_URL`).
    pub async fn postgres() -> Api {
        Api::postgres_with(StaffConfig::default()).await
    }

    /// On SQLite with these `staff.toml` settings.
    pub async fn sqlite_with(staff: StaffConfig) -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("pe.db").display());
        let store = Store::connect(&url).await.expect("sqlite");
        Api::serve(store, url, staff, Some(dir), None).await
    }

    /// On PostgreSQL with these `staff.toml` settings (see [`Api::postgres`]).
    pub async fn postgres_with(staff: StaffConfig) -> Api {
        let base = match std::env::var("PE_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                panic!(
                    "PE_TEST_POSTGRES_URL is not set: start PostgreSQL with \
                     `eval \"$(bash .ci/start-postgres.sh)\"` and export PE_TEST_POSTGRES_URL"
                );
            }
        };
        use sqlx::Connection;
        let name = format!("pe_api_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let _ = admin.close().await;
        let (head, _) = base.split_once('?').unwrap_or((&base, ""));
        let server = head.rsplit_once('/').map(|(s, _)| s).unwrap_or(head);
        let url = format!("{server}/{name}");
        let store = Store::connect(&url).await.expect("postgres store");
        Api::serve(store, url, staff, None, Some((base, name))).await
    }

    async fn serve(
        store: Store,
        database_url: String,
        staff: StaffConfig,
        dir: Option<tempfile::TempDir>,
        pg: Option<(String, String)>,
    ) -> Api {
        let mut clients = IntakeClients::default();
        clients
            .add("1177-direkt", &auth::sha256_hex(INTAKE_TOKEN))
            .expect("client");
        clients
            .add("other-system", &auth::sha256_hex(OTHER_INTAKE_TOKEN))
            .expect("client");
        // Loopback, so the cookie is not Secure (as the service does).
        let guard = Arc::new(StaffGuard::new(&staff, false));
        let state = ApiState::new(store.clone())
            .with_intake_clients(clients)
            .with_guard(guard.clone());
        let app = router(state.clone()).merge(probe_routes(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Api {
            base: format!("http://{addr}"),
            store,
            database_url,
            guard,
            _dir: dir,
            pg,
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, name)) = self.pg {
            use sqlx::Connection;
            if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an account with [`PASSWORD`].
    pub async fn user(&self, name: &str, role: Role) {
        let hash = auth::hash_password(PASSWORD).expect("hash");
        assert!(self
            .store
            .create_user(name, &hash, role, chrono::Utc::now())
            .await
            .expect("create user"));
    }

    /// Creates an account and signs in; returns the `Cookie` header value.
    pub async fn sign_in(&self, name: &str, role: Role) -> String {
        self.user(name, role).await;
        let reply = self
            .send(
                "POST",
                "/api/v1/login",
                None,
                Some(serde_json::json!({"username": name, "password": PASSWORD})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let set = reply
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        set.split(';').next().unwrap_or_default().to_string()
    }

    /// Sends a request with an optional `Cookie` and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(c) = cookie {
            // A browser names the page's origin on changes; the service requires it.
            request = request.header("cookie", c).header("origin", &self.base);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        reply(request).await
    }

    /// Posts an intake case with a bearer token (`None`: no Authorization header).
    pub async fn intake(&self, token: Option<&str>, body: &str) -> Reply {
        let mut request = reqwest::Client::new()
            .post(self.url("/api/v1/cases"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        reply(request).await
    }

    /// The newest audit rows, oldest first.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store.audit_rows(None, 500).await.expect("audit")
    }
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        text,
    }
}

/// A supervisor-only probe route, to test `Staff::require` answering 403.
fn probe_routes(state: ApiState) -> axum::Router {
    use phone_entrance::api::auth::Staff;
    axum::Router::new()
        .route(
            "/test/supervisor-only",
            axum::routing::get(|staff: Staff| async move {
                staff.require(Role::Supervisor).map(|()| "ok")
            }),
        )
        .with_state(state)
}

/// A valid digital case body with this external reference and level.
pub fn digital_case(external_ref: &str, level: i64) -> Value {
    serde_json::json!({
        "external_ref": external_ref,
        "level": level,
        "answers": [
            {"question_id": "fever", "question_text": "Har du feber?", "answer": "Ja, över 39 grader"},
            {"question_id": "breathing", "question_text": "Har du svårt att andas?", "answer": "Nej"}
        ],
        "callback_number": "070-123 45 67",
        "personnummer": "19121212-1212",
        "summary": "Feber sedan tre dagar",
        "language": "sv"
    })
}

/// Declares each `async fn(Api)` as a SQLite test and a PostgreSQL test.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $crate::on_both_databases_with!(
            ::phone_entrance::config::StaffConfig::default; $($name),+
        );
    };
}

/// [`on_both_databases`] with the `staff.toml` settings `$staff()` returns.
#[macro_export]
macro_rules! on_both_databases_with {
    ($staff:path; $($name:ident),+ $(,)?) => {
        mod sqlite_db { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let api = $crate::api_support::Api::sqlite_with($staff()).await;
                super::$name(&api).await;
                api.finish().await;
            }
        )+ }
        mod postgres_db { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let api = $crate::api_support::Api::postgres_with($staff()).await;
                super::$name(&api).await;
                api.finish().await;
            }
        )+ }
    };
}
