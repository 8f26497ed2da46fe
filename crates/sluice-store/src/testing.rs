//! Test support, shared by the crates' tests (feature `testing`).

/// A fresh, empty database on the PostgreSQL server named by `SLUICE_TEST_POSTGRES_URL`,
/// dropped when this value is.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PgDatabase {
    /// Creates one, or returns `None` (saying so) when `SLUICE_TEST_POSTGRES_URL` is not set.
    /// Panics if it is set and the server cannot be reached: a configured server that is down
    /// must fail the tests, not skip them.
    pub async fn create() -> Option<PgDatabase> {
        let Ok(admin) = std::env::var("SLUICE_TEST_POSTGRES_URL") else {
            eprintln!("SLUICE_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run");
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
