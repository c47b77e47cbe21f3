//! Store behaviour, run against a temp SQLite file and against a fresh
//! PostgreSQL database per test on the server at `PE_TEST_POSTGRES_URL`
//! (unset: the PostgreSQL variants fail; they never pass unrun).

use super::*;
use crate::queue::Priority;
use chrono::{TimeDelta, TimeZone};

/// Keeps the temp directory alive as long as the store.
pub(crate) struct TestDb {
    pub store: Store,
    /// Where it is: a second `Store::connect` here is a second node.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (server URL, database name) to drop when done.
    pg_database: Option<(String, String)>,
}

impl TestDb {
    /// Closes the store and drops a PostgreSQL test database (best effort).
    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some((base, name)) = self.pg_database {
            use sqlx::Connection;
            if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}

/// A store on a fresh SQLite file in a nested temp directory (tests parent creation).
pub(crate) async fn sqlite_test_db() -> TestDb {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("nested/dir/pe.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    match Store::connect(&url).await {
        Ok(store) => TestDb {
            store,
            url,
            _dir: Some(dir),
            pg_database: None,
        },
        Err(e) => panic!("sqlite connect: {e}"),
    }
}

/// A store on a fresh database in the PostgreSQL server at `PE_TEST_POSTGRES_URL`
/// (panics when it is unset).
pub(crate) async fn postgres_test_db() -> TestDb {
    let base = match std::env::var("PE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            panic!(
                "PE_TEST_POSTGRES_URL is not set: start PostgreSQL with \
                 `eval \"$(bash .ci/start-postgres.sh)\"` and export PE_TEST_POSTGRES_URL"
            );
        }
    };
    let name = format!("pe_t_{}", Uuid::new_v4().simple());
    {
        use sqlx::Connection;
        let mut admin = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) => panic!("cannot reach PE_TEST_POSTGRES_URL: {e}"),
        };
        if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
        {
            panic!("create test database: {e}");
        }
        let _ = admin.close().await;
    }
    let url = with_database(&base, &name);
    match Store::connect(&url).await {
        Ok(store) => TestDb {
            store,
            url,
            _dir: None,
            pg_database: Some((base, name)),
        },
        Err(e) => panic!("postgres connect: {e}"),
    }
}

/// `base` with its database name replaced by `name`, query string kept.
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let authority_start = head.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match head.get(authority_start..).and_then(|rest| rest.find('/')) {
        Some(slash) => head.get(..authority_start + slash).unwrap_or(head),
        None => head,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Declares each listed `async fn(Store)` as a SQLite test and a PostgreSQL test.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::sqlite_test_db().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )+
        }
        mod postgres_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::postgres_test_db().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

mod retriage;

on_both_backends!(
    inserted_case_reads_back_identically,
    insert_writes_created_audit_entry,
    worklist_orders_level_one_then_deadline_then_registration,
    worklist_shows_only_waiting_and_holding,
    count_waiting_ahead_follows_queue_order,
    holding_caller_hang_up_becomes_callback,
    hang_up_after_claim_keeps_the_claim_but_makes_it_a_callback,
    set_status_changes_only_the_status,
    update_of_unknown_case_is_not_found,
    duplicate_external_ref_is_rejected,
    audit_log_is_append_only,
    priority_outside_one_to_five_is_refused_by_schema,
    concurrent_inserts_all_commit,
    ping_answers,
    held_cases_of_a_node_whose_heartbeat_lapsed_become_callbacks,
    lapsed_hold_with_a_withheld_number_goes_to_review,
);

fn t0() -> DateTime<Utc> {
    // Nanoseconds on purpose: the store keeps microseconds.
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .map(|t| t + TimeDelta::nanoseconds(123_456_789))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn level(n: u8) -> Priority {
    Priority::new(n).unwrap_or(Priority::LOWEST)
}

pub(crate) fn new_case(priority: u8, registered_min: i64, deadline_min: i64) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: level(priority),
        mode: if priority == 1 {
            CaseMode::Hold
        } else {
            CaseMode::Callback
        },
        registered_at: t0() + TimeDelta::minutes(registered_min),
        deadline: t0() + TimeDelta::minutes(deadline_min),
        estimated_callback_at: Some(t0() + TimeDelta::minutes(registered_min + 5)),
        answers: vec![Answer {
            question_id: "breathing".into(),
            question_text: "Har du svårt att andas?".into(),
            value: "2".into(),
            value_text: "Nej".into(),
        }],
        callback_number: Some("+46701234567".into()),
        personnummer: None,
        language: "sv".into(),
        call_id: Some(format!("call-{registered_min}@test")),
        external_ref: None,
        summary: String::new(),
        red_flag: priority == 1,
    }
}

async fn held_cases_of_a_node_whose_heartbeat_lapsed_become_callbacks(store: Store) {
    let lease = TimeDelta::seconds(15);
    let now = t0() + TimeDelta::minutes(10);
    store
        .heartbeat("alive", now - TimeDelta::seconds(3))
        .await
        .unwrap();
    store
        .heartbeat("dead", now - TimeDelta::seconds(40))
        .await
        .unwrap();
    let held = |n: i64| new_case(1, n, n + 3);
    let on_alive = store
        .insert_case_held_by(&held(1), Some("alive"))
        .await
        .unwrap();
    let on_dead = store
        .insert_case_held_by(&held(2), Some("dead"))
        .await
        .unwrap();
    let on_gone = store
        .insert_case_held_by(&held(3), Some("never-beat"))
        .await
        .unwrap();
    let unowned = store.insert_case(&held(4)).await.unwrap();
    assert_eq!(on_dead.status, CaseStatus::Holding);
    let mut swept = store.sweep_lapsed_holds(lease, now).await.unwrap();
    swept.sort();
    let mut want = vec![on_dead.id, on_gone.id];
    want.sort();
    assert_eq!(
        swept, want,
        "the lapsed node's and the unknown node's holds"
    );
    for id in [on_dead.id, on_gone.id] {
        let c = store.get_case(id).await.unwrap().unwrap();
        assert_eq!(
            (c.mode, c.status),
            (CaseMode::Callback, CaseStatus::Waiting)
        );
    }
    for id in [on_alive.id, unowned.id] {
        let c = store.get_case(id).await.unwrap().unwrap();
        assert_eq!((c.mode, c.status), (CaseMode::Hold, CaseStatus::Holding));
    }
    let audit = store.audit_rows(Some(on_dead.id), 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "case.hold_lease_lapsed" && r.actor == "sweeper"),
        "{audit:?}"
    );
    assert!(
        store
            .sweep_lapsed_holds(lease, now)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
}

/// Nobody can call a withheld caller back: a lapsed hold (or a holding
/// caller who hangs up) without a number lands in the review list.
async fn lapsed_hold_with_a_withheld_number_goes_to_review(store: Store) {
    let now = t0() + TimeDelta::minutes(10);
    let withheld = NewCase {
        callback_number: None,
        ..new_case(1, 1, 4)
    };
    let lapsed = store
        .insert_case_held_by(&withheld, Some("dead"))
        .await
        .unwrap();
    let hung_up = NewCase {
        callback_number: None,
        ..new_case(1, 2, 5)
    };
    let hung_up = store.insert_case(&hung_up).await.unwrap();
    let swept = store
        .sweep_lapsed_holds(TimeDelta::seconds(15), now)
        .await
        .unwrap();
    assert_eq!(swept, vec![lapsed.id]);
    store.holding_caller_hung_up(hung_up.id, now).await.unwrap();
    for id in [lapsed.id, hung_up.id] {
        let c = store.get_case(id).await.unwrap().unwrap();
        assert_eq!(
            (c.mode, c.status, c.review_reason),
            (
                CaseMode::Callback,
                CaseStatus::Review,
                Some(ReviewReason::NoNumber)
            )
        );
    }
    let review: Vec<Uuid> = store
        .review_list()
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(review, vec![lapsed.id, hung_up.id], "queue order");
    assert!(store.worklist().await.unwrap().is_empty());
    let audit = store.audit_rows(Some(lapsed.id), 10).await.unwrap();
    assert!(
        audit.iter().any(|r| r.action == "case.hold_lease_lapsed"
            && r.detail.ends_with("mode=callback status=review")),
        "{audit:?}"
    );
}

async fn insert(store: &Store, case: &NewCase) -> CaseRecord {
    match store.insert_case(case).await {
        Ok(r) => r,
        Err(e) => panic!("insert_case: {e}"),
    }
}

async fn worklist_ids(store: &Store) -> Vec<Uuid> {
    match store.worklist().await {
        Ok(list) => list.into_iter().map(|c| c.id).collect(),
        Err(e) => panic!("worklist: {e}"),
    }
}

async fn inserted_case_reads_back_identically(store: Store) {
    let mut case = new_case(3, 0, 120);
    case.channel = Channel::Digital;
    case.personnummer = Some("191212121212".into());
    case.external_ref = Some("direkt-42".into());
    case.summary = "Feber sedan tre dagar".into();
    case.answers.push(Answer {
        question_id: "fever".into(),
        question_text: "Fever?".into(),
        value: "1".into(),
        value_text: "Ja \"hög\" 39°".into(),
    });
    let record = insert(&store, &case).await;
    assert_eq!(record.status, CaseStatus::Waiting);
    assert_eq!(record.attempts, 0);
    assert_eq!(record.registered_at.timestamp_subsec_nanos(), 123_456_000);

    let read = store.get_case(record.id).await.ok().flatten();
    assert_eq!(read.as_ref(), Some(&record));
    let by_ref = store
        .get_case_by_external_ref("direkt-42")
        .await
        .ok()
        .flatten();
    assert_eq!(by_ref.as_ref(), Some(&record));
    assert_eq!(store.get_case(Uuid::new_v4()).await.ok(), Some(None));
    assert_eq!(
        store.get_case_by_external_ref("nope").await.ok(),
        Some(None)
    );
}

async fn insert_writes_created_audit_entry(store: Store) {
    let record = insert(&store, &new_case(2, 0, 30)).await;
    let audit = store
        .audit_rows(Some(record.id), 100)
        .await
        .unwrap_or_default();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit.first().map(|a| a.action.as_str()),
        Some("case.created")
    );
    assert_eq!(audit.first().map(|a| a.actor.as_str()), Some("ivr"));
    let detail = audit.first().map(|a| a.detail.clone()).unwrap_or_default();
    assert!(!detail.contains("4670"), "personal data in audit: {detail}");
}

async fn worklist_orders_level_one_then_deadline_then_registration(store: Store) {
    // Inserted out of order on purpose.
    let late_deadline = insert(&store, &new_case(5, 0, 24 * 60)).await;
    let level1_late = insert(&store, &new_case(1, 30, 33)).await;
    let tie_later_reg = insert(&store, &new_case(3, 10, 120)).await;
    let early_deadline = insert(&store, &new_case(2, 20, 50)).await;
    let tie_earlier_reg = insert(&store, &new_case(4, 5, 120)).await;
    let level1_early = insert(&store, &new_case(1, 40, 43)).await;
    // Level 1 beats an earlier deadline: make a level-2 case due before level 1.
    let due_before_level1 = insert(&store, &new_case(2, 1, 31)).await;

    let ids = worklist_ids(&store).await;
    assert_eq!(
        ids,
        vec![
            level1_late.id,
            level1_early.id,
            due_before_level1.id,
            early_deadline.id,
            tie_earlier_reg.id,
            tie_later_reg.id,
            late_deadline.id,
        ]
    );
}

async fn worklist_shows_only_waiting_and_holding(store: Store) {
    let waiting = insert(&store, &new_case(3, 0, 120)).await;
    let holding = insert(&store, &new_case(1, 1, 4)).await;
    assert_eq!(holding.status, CaseStatus::Holding);
    let mut closed = Vec::new();
    for (i, status) in [
        CaseStatus::Claimed,
        CaseStatus::Done,
        CaseStatus::Cancelled,
        CaseStatus::Unreachable,
    ]
    .into_iter()
    .enumerate()
    {
        let c = insert(&store, &new_case(2, i as i64, 10)).await;
        let updated = store.set_status(c.id, status, t0()).await;
        assert_eq!(updated.ok().map(|c| c.status), Some(status));
        closed.push(c.id);
    }
    assert_eq!(worklist_ids(&store).await, vec![holding.id, waiting.id]);
}

async fn count_waiting_ahead_follows_queue_order(store: Store) {
    insert(&store, &new_case(1, 0, 3)).await;
    insert(&store, &new_case(2, 0, 30)).await;
    insert(&store, &new_case(3, 0, 120)).await;
    let claimed = insert(&store, &new_case(2, 0, 20)).await;
    let _ = store
        .set_status(claimed.id, CaseStatus::Claimed, t0())
        .await;
    let ahead = |p: u8, deadline_min: i64| {
        let store = store.clone();
        async move {
            store
                .count_waiting_ahead(level(p), t0() + TimeDelta::minutes(deadline_min))
                .await
                .ok()
        }
    };
    // A new level-1 case: only the other level-1 case with an earlier deadline.
    assert_eq!(ahead(1, 5).await, Some(1));
    assert_eq!(ahead(1, 1).await, Some(0));
    // Level 1 always counts; then deadlines up to and including ours.
    assert_eq!(ahead(4, 10).await, Some(1));
    assert_eq!(ahead(2, 30).await, Some(2));
    assert_eq!(ahead(5, 24 * 60).await, Some(3));
}

async fn holding_caller_hang_up_becomes_callback(store: Store) {
    let held = insert(&store, &new_case(1, 0, 3)).await;
    assert_eq!(
        (held.status, held.mode),
        (CaseStatus::Holding, CaseMode::Hold)
    );
    let after = store.holding_caller_hung_up(held.id, t0()).await;
    let after = match after {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        (after.status, after.mode),
        (CaseStatus::Waiting, CaseMode::Callback)
    );
    assert_eq!(after.priority, held.priority, "urgency is kept");
    assert_eq!(worklist_ids(&store).await, vec![held.id]);
    let actions: Vec<String> = store
        .audit_rows(Some(held.id), 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, vec!["case.created", "case.hold_to_callback"]);
    assert!(matches!(
        store.holding_caller_hung_up(Uuid::new_v4(), t0()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn hang_up_after_claim_keeps_the_claim_but_makes_it_a_callback(store: Store) {
    let held = insert(&store, &new_case(1, 0, 3)).await;
    let _ = store.set_status(held.id, CaseStatus::Claimed, t0()).await;
    let after = store.holding_caller_hung_up(held.id, t0()).await.ok();
    assert_eq!(
        after.map(|c| (c.status, c.mode)),
        Some((CaseStatus::Claimed, CaseMode::Callback))
    );
}

async fn set_status_changes_only_the_status(store: Store) {
    let c = insert(&store, &new_case(1, 0, 3)).await;
    assert_eq!((c.mode, c.status), (CaseMode::Hold, CaseStatus::Holding));
    let c2 = store.set_status(c.id, CaseStatus::Done, t0()).await.ok();
    assert_eq!(
        c2.map(|c| (c.mode, c.status)),
        Some((CaseMode::Hold, CaseStatus::Done))
    );
    let actions: Vec<String> = store
        .audit_rows(Some(c.id), 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, vec!["case.created", "case.status"]);
}

async fn update_of_unknown_case_is_not_found(store: Store) {
    let id = Uuid::new_v4();
    assert!(matches!(
        store.set_status(id, CaseStatus::Done, t0()).await,
        Err(StoreError::NotFound(x)) if x == id
    ));
}

async fn duplicate_external_ref_is_rejected(store: Store) {
    let mut case = new_case(3, 0, 120);
    case.channel = Channel::Digital;
    case.external_ref = Some("direkt-1".into());
    let first = insert(&store, &case).await;
    let again = store.insert_case(&case).await;
    assert!(
        matches!(again, Err(StoreError::DuplicateExternalRef)),
        "{again:?}"
    );
    assert_eq!(worklist_ids(&store).await, vec![first.id]);
    // Cases without an external_ref never collide.
    insert(&store, &new_case(3, 1, 120)).await;
    insert(&store, &new_case(3, 2, 120)).await;
}

async fn audit_log_is_append_only(store: Store) {
    let c = insert(&store, &new_case(2, 0, 30)).await;
    assert!(store
        .execute_raw("UPDATE audit_log SET actor = 'x'")
        .await
        .is_err());
    assert!(store.execute_raw("DELETE FROM audit_log").await.is_err());
    let extra = AuditRecord::new(t0(), "nurse-anna", "case.viewed", Some(c.id), "", None);
    assert!(store.audit(&extra).await.is_ok());
    let entries = store.audit_rows(Some(c.id), 100).await.unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries.get(1).map(|e| e.at), Some(t0().trunc_subsecs(6)));
}

async fn priority_outside_one_to_five_is_refused_by_schema(store: Store) {
    let sql = "INSERT INTO cases (id, channel, priority, status, mode, registered_at, deadline, language) \
               VALUES ('x', 'phone', 6, 'waiting', 'callback', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 'sv')";
    assert!(store.execute_raw(sql).await.is_err());
    let bad_status = sql.replace("6, 'waiting'", "2, 'lost'");
    assert!(store.execute_raw(&bad_status).await.is_err());
}

async fn concurrent_inserts_all_commit(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert_case(&new_case(2 + (i % 4) as u8, i, 30 + i))
                .await
                .map(|c| c.id)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(id)) => ids.push(id),
            other => panic!("insert failed: {other:?}"),
        }
    }
    let listed = worklist_ids(&store).await;
    assert_eq!(listed.len(), 16);
    for id in ids {
        assert!(listed.contains(&id));
    }
}

async fn ping_answers(store: Store) {
    assert!(store.ping().await.is_ok());
}

#[tokio::test]
async fn sqlite_cases_survive_reopening_the_file() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("pe.db");
    let path_text = path.display().to_string();
    let store = match Store::connect(&path_text).await {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(store.backend_name(), "sqlite");
    let record = insert(&store, &new_case(3, 0, 120)).await;
    assert!(
        dir.path().join("pe.db-wal").exists(),
        "SQLite should run in WAL mode"
    );
    store.close().await;
    drop(store);
    let reopened = match Store::connect(&format!("sqlite://{path_text}")).await {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        reopened.get_case(record.id).await.ok().flatten(),
        Some(record)
    );
}

#[tokio::test]
async fn sqlite_in_memory_works_for_quick_runs() {
    let store = match Store::connect("sqlite::memory:").await {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let record = insert(&store, &new_case(2, 0, 30)).await;
    assert_eq!(worklist_ids(&store).await, vec![record.id]);
}

#[tokio::test]
async fn unsupported_url_scheme_is_refused_with_a_hint() {
    let err = Store::connect("mysql://user:secret@host/db").await.err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("mysql") && text.contains("sqlite://"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

#[tokio::test]
async fn timestamps_outside_storable_range_are_refused() {
    let db = sqlite_test_db().await;
    let mut case = new_case(3, 0, 120);
    case.deadline = DateTime::<Utc>::MAX_UTC;
    assert!(matches!(
        db.store.insert_case(&case).await,
        Err(StoreError::TimestampOutOfRange {
            field: "deadline",
            ..
        })
    ));
}

#[test]
fn test_database_url_replaces_only_the_name() {
    assert_eq!(
        with_database("postgres://pg@127.0.0.1:5433/pe_test", "x"),
        "postgres://pg@127.0.0.1:5433/x"
    );
    assert_eq!(
        with_database("postgres://pg@localhost:5433?sslmode=disable", "x"),
        "postgres://pg@localhost:5433/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgresql://pg@h/db?host=/tmp", "y"),
        "postgresql://pg@h/y?host=/tmp"
    );
}

mod properties {
    use super::*;
    use crate::queue::queue_key;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        }
    }

    async fn memory_store() -> Store {
        match Store::connect("sqlite::memory:").await {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// (priority, registered minute, target minutes)
    fn cases() -> impl Strategy<Value = Vec<(u8, i64, i64)>> {
        prop::collection::vec((1u8..=5, 0i64..120, 0i64..300), 0..20)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn worklist_matches_the_reference_queue_order(specs in cases()) {
            runtime().block_on(async {
                let store = memory_store().await;
                let mut inserted = Vec::new();
                for (p, reg, target) in specs {
                    inserted.push(insert(&store, &new_case(p, reg, reg + target)).await.id);
                }
                let listed = store.worklist().await.unwrap_or_default();
                let keys: Vec<_> = listed
                    .iter()
                    .map(|c| queue_key(c.priority, c.deadline, c.registered_at))
                    .collect();
                assert!(keys.windows(2).all(|w| w[0] <= w[1]), "out of order: {keys:?}");
                let mut listed_ids: Vec<Uuid> = listed.iter().map(|c| c.id).collect();
                listed_ids.sort();
                inserted.sort();
                assert_eq!(listed_ids, inserted);
            });
        }

        #[test]
        fn count_ahead_is_the_new_case_position(specs in cases(), new in (1u8..=5, 0i64..300)) {
            runtime().block_on(async {
                let store = memory_store().await;
                for (p, reg, target) in specs {
                    insert(&store, &new_case(p, reg, reg + target)).await;
                }
                // Registered after everyone else, so deadline ties put it last.
                let (p, target) = new;
                let case = new_case(p, 200, 200 + target);
                let ahead = store.count_waiting_ahead(case.priority, case.deadline).await.ok();
                let id = insert(&store, &case).await.id;
                let position = worklist_ids(&store).await.iter().position(|x| *x == id);
                assert_eq!(ahead, position);
            });
        }
    }
}
