//! Test support shared by this crate's tests and the integration tests of other crates: a fresh
//! Postgres database per test on the server at `TEST_DATABASE_URL`.
//!
//! Without a reachable server the caller skips, loudly; with `MINOOTS_REQUIRE_SERVICES=1` (CI) a
//! missing server is a failure instead.

use std::{future::Future, pin::pin, task::Poll, time::Duration};

use sqlx::{Connection, Executor, PgConnection};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for the life of this value, dropped (with its connections) after.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

fn required() -> bool {
    std::env::var("MINOOTS_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `name`, keeping any query parameters.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDatabase {
    /// Creates a fresh database, or returns None (after saying so on stderr) when no server is
    /// reachable and services are not required.
    pub async fn create(test: &str) -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        Self::create_on(&admin_url, test).await
    }

    /// The same on the server at `admin_url`.
    pub async fn create_on(admin_url: &str, test: &str) -> Option<Self> {
        let admin_url = admin_url.to_owned();
        let connected =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await;
        let mut admin = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) if !required() => {
                eprintln!(
                    "SKIPPED {test}: Postgres at {admin_url} is not reachable ({error}); set TEST_DATABASE_URL"
                );
                return None;
            }
            Err(_) if !required() => {
                eprintln!(
                    "SKIPPED {test}: Postgres at {admin_url} did not answer within 5 s; set TEST_DATABASE_URL"
                );
                return None;
            }
            Ok(Err(error)) => panic!(
                "MINOOTS_REQUIRE_SERVICES=1 but Postgres at {admin_url} is not reachable: {error}"
            ),
            Err(_) => panic!(
                "MINOOTS_REQUIRE_SERVICES=1 but Postgres at {admin_url} did not answer within 5 s"
            ),
        };
        let name = format!("minoots_t_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The NATS server at `NATS_URL` (default `nats://127.0.0.1:4222`), or None after saying so when
/// it is not reachable and services are not required (a failure with
/// `MINOOTS_REQUIRE_SERVICES=1`).
pub async fn nats(test: &str) -> Option<(String, async_nats::Client)> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_owned());
    let connected =
        tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url.as_str())).await;
    match connected {
        Ok(Ok(client)) => Some((url, client)),
        Ok(Err(error)) if !required() => {
            eprintln!("SKIPPED {test}: NATS at {url} is not reachable ({error}); set NATS_URL");
            None
        }
        Err(_) if !required() => {
            eprintln!("SKIPPED {test}: NATS at {url} did not answer within 5 s; set NATS_URL");
            None
        }
        Ok(Err(error)) => {
            panic!("MINOOTS_REQUIRE_SERVICES=1 but NATS at {url} is not reachable: {error}")
        }
        Err(_) => panic!("MINOOTS_REQUIRE_SERVICES=1 but NATS at {url} did not answer within 5 s"),
    }
}

/// `future` polled once: its output if it is ready at once, for tests of who waits on what.
pub fn ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }
}
