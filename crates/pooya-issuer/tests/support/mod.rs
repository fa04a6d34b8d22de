//! Test support shared by this crate's store tests: a PostgreSQL database of a test's own.

use sqlx::Executor;

/// A database created for one test on the server `admin` names, dropped when the guard goes.
pub struct TempPg {
    admin: String,
    pub name: String,
    pub url: String,
}

impl TempPg {
    /// `prefix` tells the suites' databases apart when one is left behind.
    pub async fn create(admin_url: &str, prefix: &str) -> TempPg {
        let name = format!("{prefix}_{}", pooya_issuer::keys::random_id());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
            .await
            .expect("PostgreSQL named by POOYA_TEST_POSTGRES_URL must answer");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let base = admin_url.split('?').next().unwrap();
        let cut = base.rfind('/').expect("URL with a database path");
        TempPg {
            admin: admin_url.to_owned(),
            url: format!("{}/{}", &base[..cut], name),
            name,
        }
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Best effort, outside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Executor;
                if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            })
        })
        .join();
    }
}
