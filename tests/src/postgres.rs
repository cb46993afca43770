//! PostgreSQL for the end-to-end tests: the test server (`tests/postgres.sh`), databases on
//! it, and the store a gateway gets under `HOOKGATE_TEST_STORE=postgres`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{sha256_hex, GatewayOpts};

/// Whether this run puts every gateway on PostgreSQL (`HOOKGATE_TEST_STORE=postgres`, set
/// by `tests/run.sh` for its second pass over the end-to-end suites).
pub fn on_postgres() -> bool {
    std::env::var("HOOKGATE_TEST_STORE").is_ok_and(|store| store == "postgres")
}

/// The test PostgreSQL server (`tests/postgres.sh`), as `postgres://postgres@127.0.0.1:PORT`.
pub fn postgres_server() -> String {
    std::env::var("HOOKGATE_TEST_POSTGRES").expect(
        "HOOKGATE_TEST_POSTGRES is not set: this test needs PostgreSQL; run it through tests/run.sh, \
         or start a throwaway server with `eval \"$(bash tests/postgres.sh start)\"`",
    )
}

/// Creates the database `name` on the test server unless it exists; returns its URL.
pub fn postgres_database(name: &str) -> String {
    let server = postgres_server();
    let exists = psql(&server, &["-t", "-A", "-c", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")]);
    assert!(exists.status.success(), "psql failed: {}", String::from_utf8_lossy(&exists.stderr));
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        let created = psql(&server, &["-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE DATABASE {name}")]);
        assert!(created.status.success(), "cannot create {name}: {}", String::from_utf8_lossy(&created.stderr));
    }
    format!("{server}/{name}")
}

/// `psql -X -q ARGS` on the `postgres` database of `server`.
fn psql(server: &str, args: &[&str]) -> Output {
    Command::new("psql")
        .args(["-X", "-q", "-d", &format!("{server}/postgres")])
        .args(args)
        .output()
        .expect("psql (tests/setup.sh installs it)")
}

/// A new, empty database on the test server.
pub fn fresh_postgres_database() -> String {
    let unique = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    postgres_database(&format!("hookgate_{}_{unique:x}", std::process::id()))
}

/// The store of a gateway started without `--store`: under `HOOKGATE_TEST_STORE=postgres`
/// the database named after its data directory, so that a gateway started again on the
/// same directory finds the same data, as it would on the embedded store.
pub fn store_of(opts: &GatewayOpts, data_dir: &Path) -> Option<String> {
    if opts.store.is_some() || !on_postgres() {
        return opts.store.clone();
    }
    Some(postgres_database(&format!("hookgate_{}", &sha256_hex(data_dir.to_string_lossy().as_bytes())[..24])))
}
