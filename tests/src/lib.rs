//! The test kit of hookgate, shared by the end-to-end tests (`tests/tests/`) and the bench
//! (`bench/`).
//!
//! * [`Gateway`] runs the real `hookgate` binary as a child process on `127.0.0.1:0` with its own
//!   data directory, and offers admin / ingest helpers that read like the scenarios
//!   (`gateway.rs`; answers as [`Resp`], `resp.rs`). Its process core, [`serve_command`] and
//!   [`GatewayProcess`] (`process.rs`), also starts the bench's gateways.
//! * [`Receiver`] is a real HTTP server (axum) standing in for a webhook target: it records every
//!   request and answers from a programmable script; it can be down (port reserved, nothing
//!   listening) and come back on the same port (`receiver.rs`).
//! * [`component_path`] finds the guest components built by `guest-examples/build.sh`, beside
//!   the repository root and the gateway binary (`paths.rs`).
//! * Signatures ([`hmac_sha256_hex`], `signing.rs`), PostgreSQL databases (`postgres.rs`), the
//!   admin API's times (`time.rs`), a test in a network namespace of its own (`netns.rs`).
//!
//! Every wait is bounded by a deadline; on a failing test the gateway's output and the requests
//! the receiver saw are printed.

mod gateway;
mod netns;
mod paths;
mod postgres;
mod process;
mod receiver;
mod resp;
mod signing;
mod time;

use std::time::Duration;

pub use serde_json;

pub use gateway::{accepted_message_id, attempts, fast_retry, Gateway, GatewayOpts, ADMIN_TOKEN};
pub use netns::in_own_network;
pub use paths::{compile_cache_dir, component_path, components_dir, gateway_bin, repo_root};
pub use postgres::{fresh_postgres_database, on_postgres, postgres_database, postgres_server, store_of};
pub use process::{serve_command, GatewayProcess, OutputLog, StartError, STARTUP_DEADLINE};
pub use receiver::{Receiver, Recorded, Reply};
pub use resp::Resp;
pub use signing::{hmac_sha256_hex, sha256_hex};
pub use time::{rfc3339_millis, unix_ms};

/// Default deadline for "eventually" checks (deliveries, retries, ...).
pub const DEADLINE: Duration = Duration::from_secs(15);
