//! A temporary PostgreSQL database for one run (`--database-url`): created through the given URL
//! and dropped at the end.

use pooya_bench::Res;

/// A fresh database on the given server, dropped (WITH (FORCE)) on drop.
pub struct TempPg {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl TempPg {
    pub fn create(admin_url: &str) -> Res<TempPg> {
        let name = format!("pooya_load_{}", pooya_issuer::keys::random_id());
        run_pg(admin_url, format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("CREATE DATABASE through {admin_url}: {e}"))?;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (admin_url, None),
        };
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let host_part = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        let mut url = format!("{host_part}/{name}");
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        Ok(TempPg {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        match run_pg(
            &self.admin_url,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            Ok(()) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("could not drop database {}: {e}", self.name),
        }
    }
}

/// One statement on a connection of its own, on a thread and runtime of its own (so it may run
/// from `Drop`).
pub fn run_pg(url: &str, sql: String) -> Res<()> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            use sqlx::Executor;
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            c.execute(sqlx::AssertSqlSafe(sql))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "thread panicked".to_string())?
}
