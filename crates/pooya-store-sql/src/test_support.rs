//! What tests of the store need (feature `test-support`): a PostgreSQL database of one's own, made
//! on the server an admin URL names and dropped when its guard goes (the store's tests, the
//! black-box tests, the key tests and the load tool all use this one), and a few fixtures.

use std::sync::Arc;

use pooya_issuer::audit::{Break, Verifier};
use pooya_issuer::card::AppToken;
use pooya_issuer::domain::Mobile;
use pooya_issuer::keys::{HashCost, Keyring};
use pooya_issuer::store::Store;
use sqlx::Executor;

use crate::SqlStore;

/// Walks the whole audit chain as `pooya audit verify` does: the number of chained records, or
/// the first break.
pub async fn verify_chain(store: &SqlStore, keys: &Keyring) -> Result<u64, Break> {
    let heads = store.audit_heads().await.expect("the lanes' heads");
    let mut v = Verifier::new(keys, &heads)?;
    let mut after = 0;
    loop {
        let page = store
            .audit_page(after, 100)
            .await
            .expect("a page of records");
        let Some(last) = page.last() else { break };
        after = last.id;
        for r in &page {
            v.push(r)?;
        }
    }
    v.finish().map(|s| s.records)
}

/// A keyring from a master key of 32 `byte`s, with the cheapest Argon2 cost.
pub fn keyring(byte: u8) -> Arc<Keyring> {
    let cost = HashCost {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    Arc::new(Keyring::from_master(&[byte; 32], cost).expect("a keyring"))
}

/// An app token `id` (its seed not a real one), as a card holds it.
pub fn app_token(id: &str) -> AppToken {
    AppToken {
        id: id.to_owned(),
        seed_sealed: vec![7; 48],
        mobile: Mobile::parse("09121234567").expect("a mobile number"),
        algorithm: "SHA256".into(),
        step_secs: 60,
        first_digits: 4,
        second_digits: 8,
        last_step_first: None,
        last_step_second: None,
        issued_at: 1,
        removal: None,
    }
}

/// Runs one statement on the database at `url` (SQLite or PostgreSQL) outside any store, as
/// someone with only the database would (or an older server did); panics if it fails.
pub async fn execute_sql(url: &str, statement: &str) {
    sqlx::any::install_default_drivers();
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    c.execute(sqlx::AssertSqlSafe(statement.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A database created on the server `admin_url` names, dropped (`WITH (FORCE)`) on drop.
pub struct TempPg {
    admin_url: String,
    name: String,
    /// The database's URL: the admin URL with the database's name (host, user and parameters
    /// kept). A test may point it elsewhere (through a proxy); the drop still goes to the admin
    /// URL.
    pub url: String,
}

impl TempPg {
    /// A fresh database named `PREFIX_<random>`; `prefix` tells the users' databases apart when
    /// one is left behind. Callable from synchronous and asynchronous code alike.
    pub fn create(admin_url: &str, prefix: &str) -> Result<TempPg, String> {
        let name = format!("{prefix}_{}", pooya_issuer::keys::random_id());
        run_pg(admin_url, format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("CREATE DATABASE through {admin_url}: {e}"))?;
        Ok(TempPg {
            admin_url: admin_url.to_owned(),
            url: url_of(admin_url, &name),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now, telling how it went (a guard that goes out of scope tells only a
    /// failure).
    pub fn remove(mut self) -> Result<(), String> {
        let name = std::mem::take(&mut self.name);
        run_pg(&self.admin_url, drop_sql(&name))
    }
}

fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

impl Drop for TempPg {
    fn drop(&mut self) {
        // Empty once removed.
        if self.name.is_empty() {
            return;
        }
        if let Err(e) = run_pg(&self.admin_url, drop_sql(&self.name)) {
            eprintln!("could not drop database {}: {e}", self.name);
        }
    }
}

/// `admin_url` with its database replaced by `name`.
fn url_of(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// One statement on a connection of its own, on a thread and runtime of its own (so it may run
/// from `Drop`, and from inside another runtime).
fn run_pg(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            // Safe: the statements are built from a constant prefix and a random id.
            c.execute(sqlx::AssertSqlSafe(sql))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::url_of;

    #[test]
    fn the_url_names_the_new_database_and_keeps_the_rest() {
        assert_eq!(
            url_of("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_of("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(url_of("postgres://h", "x"), "postgres://h/x");
    }
}
