//! Test support, shared by the crates' tests (feature `testing`).

use std::io::Write;

/// Whether this run requires every test service: `CI` is `true` or `1`, as CI systems set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The one rule for a test whose service (a database, an SDK) is missing. Under CI, or when
/// `required_by` (a variable that requires this service, such as `SLUICE_TEST_SDKS`) is `1`,
/// it fails the test: a run that requires the service must not pass on tests that did not run.
/// Elsewhere it says that `part` skips and returns, and the caller skips it. `why` says what
/// is missing, `fix` how to provide it.
#[track_caller]
pub fn skip_or_fail(part: &str, why: &str, fix: &str, required_by: Option<&str>) {
    let required = required_by
        .filter(|name| std::env::var(name).is_ok_and(|v| v == "1"))
        .map(|name| format!("{name}=1"))
        .or_else(|| in_ci().then(|| format!("CI={}", std::env::var("CI").unwrap_or_default())));
    if let Some(required) = required {
        panic!("cannot do {part}: {why}, and {required} requires it: {fix}");
    }
    // Straight to stderr: the test harness captures `eprintln!`, which would hide the skip.
    let _ = writeln!(
        std::io::stderr(),
        "skipping {part}: {why} (with CI=true this fails)"
    );
}

/// A fresh, empty database on the PostgreSQL server named by `SLUICE_TEST_POSTGRES_URL`,
/// dropped when this value is.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates one, or returns `None` when `SLUICE_TEST_POSTGRES_URL` is not set (failing
    /// instead under CI: see [`skip_or_fail`]). Panics if it is set and the server cannot be
    /// reached: a configured server that is down must fail the tests, not skip them.
    pub async fn create() -> Option<PgDatabase> {
        let Ok(admin) = std::env::var("SLUICE_TEST_POSTGRES_URL") else {
            skip_or_fail(
                "the PostgreSQL run",
                "SLUICE_TEST_POSTGRES_URL is not set",
                "set it to a PostgreSQL server where the tests may create databases, e.g. \
                 postgres://postgres@127.0.0.1:5432/test (.ci/run does)",
                None,
            );
            return None;
        };
        sqlx::any::install_default_drivers();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("sluice_test_{}_{nanos}", std::process::id());
        let pool = sqlx::AnyPool::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at SLUICE_TEST_POSTGRES_URL is not reachable: {e}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(PgDatabase { admin, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any async context: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(pool) = sqlx::AnyPool::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join();
    }
}
