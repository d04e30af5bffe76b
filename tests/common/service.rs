//! Helpers for the service-record tests: a server configuration without cameras (one hall
//! with fields, integration / supervisor / admin tokens) and direct reads of the database.

use std::path::Path;

use sha2::Digest;

/// Token of the integration `qms` (its records' source is `qms`).
pub const QMS_TOKEN: &str = "test-qms-token";
/// Token of a supervisor (may not post records).
pub const SUPERVISOR_TOKEN: &str = "test-supervisor-token";
/// Token of an admin.
pub const ADMIN_TOKEN: &str = "test-admin-token";

fn access(name: &str, role: &str, token: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    format!("\n[[access]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{digest}\"\n")
}

/// A configuration with hall `h` (fields HT and DD), no cameras, and the three tokens above.
pub fn config(storage: &Path, http_port: u16) -> String {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:{http_port}\"\n\n[storage]\ndir = \"{}\"\nmin_free = \"1MB\"\n\n\
         [[halls]]\nid = \"h\"\nname = \"Test hall\"\n\
         [[halls.fields]]\ncode = \"HT\"\nname = \"Hộ tịch\"\n\
         [[halls.fields]]\ncode = \"DD\"\nname = \"Đất đai\"\nservice_level_minutes = 20\n",
        storage.display()
    );
    s += &access("qms", "integration", QMS_TOKEN);
    s += &access("giam-sat", "supervisor", SUPERVISOR_TOKEN);
    s += &access("admin", "admin", ADMIN_TOKEN);
    s
}

/// Rows in each service table, for "nothing changed" checks.
pub async fn table_counts(db: &Path) -> Vec<(String, i64)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await.expect("open db");
    let mut out = Vec::new();
    for t in ["ticket_event", "ticket", "ticket_transaction", "counter", "officer", "counter_state", "dossier", "dossier_status", "dossier_ticket", "rating"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}")).fetch_one(&pool).await.expect("count");
        out.push((t.to_owned(), n));
    }
    pool.close().await;
    out
}

/// One SQL integer from the database.
pub async fn scalar(db: &Path, sql: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await.expect("open db");
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.expect("query");
    pool.close().await;
    n
}
