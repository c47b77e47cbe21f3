//! A fresh PostgreSQL database per test on the server at `PE_TEST_POSTGRES_URL`
//! (start one with `.ci/start-postgres.sh`).

/// A fresh database on the PostgreSQL server at `PE_TEST_POSTGRES_URL`
/// (a failure when unset: the PostgreSQL variants never pass unrun).
pub async fn postgres_database() -> String {
    use sqlx::Connection;
    let Ok(base) = std::env::var("PE_TEST_POSTGRES_URL") else {
        panic!(
            "PE_TEST_POSTGRES_URL is not set: start PostgreSQL with \
             `eval \"$(bash .ci/start-postgres.sh)\"` and export PE_TEST_POSTGRES_URL"
        );
    };
    let name = format!("pe_live_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base).await.expect("postgres");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let (server, _) = base.rsplit_once('/').expect("URL with a database name");
    format!("{server}/{name}")
}

/// Drops a database made by [`postgres_database`] (best effort).
pub async fn drop_postgres_database(url: &str) {
    use sqlx::Connection;
    let (Ok(base), Some((_, name))) = (std::env::var("PE_TEST_POSTGRES_URL"), url.rsplit_once('/'))
    else {
        return;
    };
    if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}
