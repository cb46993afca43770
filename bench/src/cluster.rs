//! Section 7, cluster: one gateway node against two on one PostgreSQL database, with the load
//! split over the nodes; durable ingests/s, deliveries/s, and the CPU that the nodes and PostgreSQL
//! spend per message. On 2 cores the nodes share the CPU with PostgreSQL, the client and the
//! receiver, so two nodes measure what a second process costs as much as what it adds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::gateway::{cpu_of, Gateway};
use crate::net::{adobe_body, closed_loop_limited, wait_receipts, warm_then_measure, MakeRequest, BODY_BYTES, EVENT_NAME};
use crate::stats::{factor, int, ratio, Row, Table};
use crate::Ctx;

/// Creates a new database on the server of `server` (any database URL there) and returns
/// its URL.
pub async fn new_database(server: &str, tag: &str) -> Result<String> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to the --store server {}", hookgate::secrets::mask_userinfo(server)))?;
    tokio::spawn(connection);
    let name = format!("hookgate_bench_{}_{tag}", std::process::id());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.context("cannot create a bench database")?;
    // The URL up to the host and port, with the new database's name and the server's
    // options (`?sslmode=...`).
    let after_scheme = server.find("://").map_or(0, |i| i + 3);
    let base = server[after_scheme..].find(['/', '?']).map_or(server, |i| &server[..after_scheme + i]);
    let options = server.find('?').map_or("", |i| &server[i..]);
    Ok(format!("{base}/{name}{options}"))
}

async fn drop_database(server: &str, store: &str) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let name = store.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default();
    client.batch_execute(&format!("DROP DATABASE {name}")).await.context("cannot drop a bench database")?;
    Ok(())
}

/// CPU seconds of every PostgreSQL process on the machine (the server and its backends).
fn postgres_cpu_s() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_of(&e.path().join("stat").to_string_lossy()))
        .sum()
}

/// Fires a fresh body carrying `seq_base + i` at the nodes in turn.
fn round_robin(client: &reqwest::Client, urls: Vec<String>, seq_base: u64) -> MakeRequest {
    let client = client.clone();
    std::sync::Arc::new(move |i| {
        let url = &urls[(i % urls.len() as u64) as usize];
        client.post(url.as_str()).header("content-type", "application/json").body(adobe_body(seq_base + i, BODY_BYTES))
    })
}

struct Measured {
    accepts_per_s: f64,
    deliveries_per_s: f64,
    delivered: u64,
    gateway_cpu_s: f64,
    postgres_cpu_s: f64,
    bench_cpu_s: f64,
    errors: u64,
}

/// CPU seconds of the nodes, PostgreSQL and the bench, now.
fn cpu(nodes: &[Gateway]) -> [f64; 3] {
    [nodes.iter().map(Gateway::cpu_s).sum(), postgres_cpu_s(), cpu_of("/proc/self/stat")]
}

async fn measure(ctx: &Ctx, nodes: usize) -> Result<Measured> {
    let server = ctx.opts.store.as_deref().context("the cluster section needs --store postgres://USER:PASS@HOST:PORT/DB")?;
    let store = new_database(server, &format!("cluster{nodes}_{}", ctx.seqs(1))).await?;
    let mut gateways = Vec::new();
    for i in 0..nodes {
        let dir = ctx.fresh_dir(&format!("node{i}"))?;
        let id = format!("bench-{i}");
        gateways.push(ctx.spawn_node(&dir, Some(&store), &["--node-id", &id])?);
    }
    gateways[0].put_event(EVENT_NAME, &ctx.event_config(None, None)).await?;
    // The other nodes read the new configuration within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let urls: Vec<String> = gateways.iter().map(|g| g.url(&format!("/v1/events/{EVENT_NAME}"))).collect();
    ctx.rx.take();
    let warm = ctx.seqs(nodes as u64);
    let first = closed_loop_limited(1, Duration::from_secs(10), nodes as u64, 202, round_robin(&ctx.client, urls.clone(), warm)).await;
    if first.ok != nodes as u64 || !wait_receipts(&ctx.rx, nodes, Duration::from_secs(10)).await {
        bail!("the first messages were not delivered within 10 s:\n{}", gateways[0].log_tail(20));
    }
    ctx.rx.take();

    eprintln!("[bench] 7. {nodes} node(s): ingest c=64");
    let ingest = warm_then_measure(64, ctx.warmup(), ctx.secs(), 202, round_robin(&ctx.client, urls.clone(), ctx.seqs(10_000_000))).await;
    // Let the backlog of the ingest run drain before the delivery run.
    let _ = wait_receipts(&ctx.rx, ingest.ok as usize, Duration::from_secs(120)).await;
    ctx.rx.take();

    eprintln!("[bench] 7. {nodes} node(s): {} messages end to end", ctx.opts.messages);
    let n = ctx.opts.messages;
    let base = ctx.seqs(n);
    let mid = cpu(&gateways);
    let started = Instant::now();
    let fired = closed_loop_limited(64, Duration::from_secs(120), n, 202, round_robin(&ctx.client, urls, base)).await;
    let all_in = wait_receipts(&ctx.rx, fired.ok as usize, Duration::from_secs(180)).await;
    let after = cpu(&gateways);
    let mut seen = HashSet::new();
    let mut last = started;
    for (seq, at) in ctx.rx.take() {
        if seq >= base && seq < base + n && seen.insert(seq) {
            last = last.max(at);
        }
    }
    if !all_in {
        eprintln!("[bench]   only {} of {} delivered within 180 s", seen.len(), fired.ok);
    }
    for gw in gateways {
        ctx.stop(gw)?;
    }
    // Dropped, so that vacuuming it does not count against the next measurement.
    drop_database(server, &store).await?;
    Ok(Measured {
        accepts_per_s: ingest.per_s(),
        deliveries_per_s: seen.len() as f64 / (last - started).as_secs_f64().max(1e-9),
        delivered: seen.len() as u64,
        gateway_cpu_s: after[0] - mid[0],
        postgres_cpu_s: after[1] - mid[1],
        bench_cpu_s: after[2] - mid[2],
        errors: ingest.errors + fired.errors,
    })
}

pub async fn run(ctx: &Ctx) -> Result<Table> {
    let one = measure(ctx, 1).await?;
    let two = measure(ctx, 2).await?;
    let mut t = Table::new(format!("7. Cluster on PostgreSQL: one node against two on one database ({} messages end to end)", ctx.opts.messages));
    let base = "the same run with one node";
    t.row(Row::new("durable ingests/s, c=64, 1 node", int(one.accepts_per_s), "-", "-", "202 = committed in PostgreSQL"));
    t.row(Row::new("durable ingests/s, c=64, 2 nodes (load split)", int(two.accepts_per_s), int(one.accepts_per_s), ratio(two.accepts_per_s, one.accepts_per_s), base));
    t.row(Row::new("deliveries/s end to end, 1 node", int(one.deliveries_per_s), "-", "-", "from the first firing to the last receipt"));
    t.row(Row::new("deliveries/s end to end, 2 nodes", int(two.deliveries_per_s), int(one.deliveries_per_s), ratio(two.deliveries_per_s, one.deliveries_per_s), base));
    for (label, m) in [("1 node", &one), ("2 nodes", &two)] {
        let per_ms = |cpu_s: f64| cpu_s * 1000.0 / m.delivered.max(1) as f64;
        t.row(Row::new(
            format!("gateway CPU ms per message accepted and delivered, {label}"),
            format!("{:.3}", per_ms(m.gateway_cpu_s)),
            format!("{:.3}", per_ms(m.postgres_cpu_s)),
            factor(m.gateway_cpu_s, m.postgres_cpu_s),
            "PostgreSQL's CPU ms per message in the same window (all its processes)",
        ));
        t.note(format!("{label}: bench (client + receiver) CPU {:.3} ms per message; {} ingest errors", per_ms(m.bench_cpu_s), m.errors));
    }
    t.note("2 cores: the nodes, PostgreSQL, the load client and the receiver all share them.");
    Ok(t)
}
