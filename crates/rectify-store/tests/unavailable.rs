//! `StoreError::is_unavailable`: a database that cannot take the write now
//! against one that refused what it was given, with the drivers' own
//! errors (real ones where the test server can give them).

use rectify_store::StoreError;

fn database(source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database {
        op: "test".into(),
        source: Box::new(source),
    }
}

fn postgres_server_url() -> String {
    std::env::var("RECTIFY_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[tokio::test]
async fn postgres_connection_errors_are_unavailable_and_refusals_are_not() {
    // Nothing listens on port 1.
    let refused = tokio_postgres::connect(
        "host=127.0.0.1 port=1 user=postgres connect_timeout=2",
        tokio_postgres::NoTls,
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(database(refused).is_unavailable());

    let (client, connection) =
        tokio_postgres::connect(&postgres_server_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    let running = tokio::spawn(connection);
    // What a finding with a NUL character meets.
    let nul = client
        .query("SELECT '{\"t\": \"a\\u0000b\"}'::jsonb", &[])
        .await
        .unwrap_err();
    assert_eq!(nul.code().map(|c| c.code()), Some("22P05"));
    assert!(!database(nul).is_unavailable());
    // The server ends the session (as a restart or failover does).
    let ended = client
        .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
        .await
        .unwrap_err();
    assert!(database(ended).is_unavailable());
    let closed = client.query("SELECT 1", &[]).await.unwrap_err();
    assert!(closed.is_closed());
    assert!(database(closed).is_unavailable());
    let _ = running.await;
}

#[test]
fn pool_and_sqlite_errors() {
    let timeout = deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait);
    assert!(database(timeout).is_unavailable());

    let sqlite = |code| {
        database(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    };
    assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_unavailable());
    assert!(sqlite(rusqlite::ffi::SQLITE_FULL).is_unavailable());
    assert!(sqlite(rusqlite::ffi::SQLITE_READONLY).is_unavailable());
    assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).is_unavailable());
    assert!(!sqlite(rusqlite::ffi::SQLITE_TOOBIG).is_unavailable());

    assert!(!StoreError::Invalid("no finding Id".into()).is_unavailable());
    assert!(!StoreError::Conflict("duplicate".into()).is_unavailable());
}
