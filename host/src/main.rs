//! The `hookgate` command line: the edge where settings come in and errors go out.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};

use hookgate::client::{AdminClient, AdminRequest, MessageFilter};
use hookgate::model::World;
use hookgate::runtime::GuestLimits;
use hookgate::scaffold::Language;
use hookgate::store::StoreLocation;
use hookgate::telemetry::Traces;
use hookgate::{App, Settings};

#[derive(Parser)]
#[command(name = "hookgate", version, about = "A WebAssembly-extensible webhook gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: ingest and admin API, and the delivery workers.
    Serve(ServeArgs),
    /// Work with components locally: inspect, run, scaffold.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// The events a running gateway has configured.
    Events {
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// The delivery log of a running gateway: messages, their deliveries and attempts.
    Messages {
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(subcommand)]
        command: MessagesCommand,
    },
    /// Create or upgrade the schema of a PostgreSQL store, and nothing else (`serve` does it
    /// too, at start).
    Migrate {
        /// The database: postgres://USER:PASS@HOST:PORT/DB.
        #[arg(long, env = "HOOKGATE_STORE", hide_env_values = true)]
        store: String,
    },
    /// Move a store: copy a node's embedded store into PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Keep a running gateway's configuration in a file: export it, apply it.
    Config {
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print a completion script for a shell.
    ///
    /// For example: `hookgate completions bash > ~/.local/share/bash-completion/completions/hookgate`.
    Completions {
        /// The shell to complete hookgate's commands in.
        shell: clap_complete::Shell,
    },
}

/// Which gateway to ask, and how to show its answers.
#[derive(Args)]
#[command(next_help_heading = "Gateway")]
struct GatewayArgs {
    /// Base URL of the gateway.
    #[arg(long, env = "HOOKGATE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// Admin token of the gateway (a read-scoped one is enough, except to retry).
    #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's JSON answer unchanged (for scripts) instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Back up an embedded store as it is at one moment, even while its gateway runs (the
    /// gateway then writes the backup, its writes waiting meanwhile). `serve --restore FILE`
    /// starts from it. The compiled components are left out (a node compiles them again).
    Backup {
        /// The gateway's data directory (`serve --data-dir`).
        #[arg(long, value_name = "DIR", default_value = "./hookgate-data")]
        data_dir: PathBuf,
        /// The backup file to write (it holds the configuration's secrets: keep it safe).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The running gateway, when it holds the store [default: the address it wrote
        /// into DIR/gateway.url].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Its admin token [default: DIR/admin-token].
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Copy everything of an embedded store (stop its gateway first) into an empty
    /// PostgreSQL database: events, components, and every message with its deliveries,
    /// attempts, pending schedule and idempotency key.
    Copy {
        /// The gateway's data directory (`serve --data-dir`).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The database: postgres://USER:PASS@HOST:PORT/DB.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Every configured event with its targets.
    List,
    /// One event: who may fire it and its targets.
    Show {
        /// The event's id.
        event_id: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every event, target and component binding as JSON: secrets masked as the API
    /// masks them, component versions by name and sha256.
    ///
    /// For example: `hookgate config export > hookgate.json`.
    Export,
    /// Make the gateway match a file that `export` wrote (and you edited): create and change
    /// events, leave the others; print what was created, changed, left unchanged and deleted.
    ///
    /// The whole file is checked first (every event through the gateway's validation, every
    /// component's sha256 against the gateway's); if any part is wrong, nothing is changed.
    /// A masked secret keeps the secret the gateway has stored.
    Apply {
        /// The configuration file (JSON, as `export` writes it).
        file: PathBuf,
        /// Check and say what would change, but change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the events the file does not have.
        #[arg(long)]
        prune: bool,
    },
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// Messages, newest first, with the state of their deliveries.
    List(MessageFilter),
    /// One message with each delivery and every attempt.
    Show {
        /// The message's id (msg_...).
        message_id: String,
    },
    /// Deliver a message's failed deliveries again, now.
    Retry {
        /// The message's id (msg_...).
        message_id: String,
    },
}

#[derive(Subcommand)]
enum ComponentCommand {
    /// Show which world a component implements, its contract version, imports and size.
    Inspect {
        /// The component: a .wasm file.
        file: PathBuf,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Run a component on input described in JSON, in the gateway's sandbox and limits, and
    /// print the result, the guest's logs, the time taken and the memory used.
    Run {
        /// The component: a .wasm file.
        file: PathBuf,
        /// JSON input: {"message", "draft" or "target"} for a transformer, {"request"} for an
        /// authenticator, {"request", "response", "attempt"} for a condition; "config" for all.
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Create a component project that builds with one command, with a sample input to run
    /// it on.
    New {
        /// The role of the component.
        #[arg(value_enum)]
        world: World,
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = Language::Rust)]
        lang: Language,
        /// The directory to create (it must be absent or empty); its name names the component.
        dir: PathBuf,
    },
}

/// Where compiled components are kept between runs.
#[derive(Args)]
struct CacheArgs {
    /// Directory of compiled components, keyed by the component's sha256 and the engine
    /// [default: $XDG_CACHE_HOME/hookgate/compiled, else ~/.cache/hookgate/compiled].
    #[arg(long, env = "HOOKGATE_COMPILE_CACHE", value_name = "DIR")]
    compile_cache: Option<PathBuf>,
    /// Compile the component afresh and keep nothing.
    #[arg(long)]
    no_cache: bool,
}

impl CacheArgs {
    fn dir(self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.compile_cache.or_else(hookgate::runner::user_compile_cache)
        }
    }
}

/// The sandbox limits of one guest call.
#[derive(Args)]
struct LimitArgs {
    /// Memory cap of one guest call, in MiB.
    #[arg(long, default_value_t = 64)]
    guest_memory_mb: usize,
    /// Time budget of one guest call, in milliseconds.
    #[arg(long, default_value_t = 200)]
    guest_time_ms: u64,
    /// Cap on what one guest call may return, in KiB.
    #[arg(long, default_value_t = 4096)]
    guest_output_kb: usize,
}

impl LimitArgs {
    fn limits(&self) -> GuestLimits {
        GuestLimits {
            memory_bytes: self.guest_memory_mb << 20,
            time: Duration::from_millis(self.guest_time_ms),
            output_bytes: self.guest_output_kb << 10,
            ..GuestLimits::default()
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the embedded database and the admin token live (with --store: the admin token
    /// and this node's compiled components).
    #[arg(long, default_value = "./hookgate-data")]
    data_dir: PathBuf,
    /// A PostgreSQL database that several gateways share, instead of the embedded store:
    /// postgres://USER:PASS@HOST:PORT/DB.
    #[arg(long, env = "HOOKGATE_STORE", hide_env_values = true, value_name = "URL")]
    store: Option<String>,
    /// Start from a backup that `hookgate store backup` wrote: it becomes the embedded store
    /// of --data-dir, which must not hold one yet.
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    restore: Option<PathBuf>,
    /// This node's name, in each attempt it makes and in /v1/admin/cluster
    /// [default: host name and process id].
    #[arg(long, env = "HOOKGATE_NODE_ID", value_name = "NAME")]
    node_id: Option<String>,
    /// Milliseconds a delivery claimed by a node that died stays out of reach of the
    /// other nodes (a live node renews its claims).
    #[arg(long, default_value_t = 30_000)]
    lease_ms: u64,
    /// Also deliver to plain http:// targets (HTTPS only otherwise).
    #[arg(long)]
    allow_http: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// Largest ingest body accepted, in KiB (larger gets 413).
    #[arg(long, default_value_t = 1024)]
    max_body_kb: usize,
    /// Largest request a delivery sends, in KiB: URL, headers and body after templates and
    /// transformer (a larger one fails with `request_too_large`).
    #[arg(long, default_value_t = 4096)]
    max_request_kb: usize,
    /// Page cache of the store, in MiB. The gateway's memory is about this, plus sled's page
    /// table and index (measured near 300 bytes per stored message), plus the pending
    /// deliveries' queue index.
    #[arg(long, env = "HOOKGATE_CACHE_MB", default_value_t = hookgate::settings::DEFAULT_CACHE_MB)]
    cache_mb: u64,
    /// Delivery attempts in flight at once.
    #[arg(long, default_value_t = 64)]
    delivery_concurrency: usize,
    /// Threads that run guest calls (more calls wait their turn) [default: twice the number of
    /// cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=hookgate::runtime::MAX_CONCURRENT_CALLS as i64))]
    guest_concurrency: Option<u16>,
    /// Seconds a shutdown waits for attempts in flight.
    #[arg(long, default_value_t = 10)]
    shutdown_grace_s: u64,
    /// A directory of compiled components to share between data directories (for test
    /// suites and benchmarks that start many gateways); trusted like the data directory.
    #[arg(long, env = "HOOKGATE_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
    /// A non-public network deliveries may reach, e.g. 127.0.0.0/8 for local receivers
    /// (repeatable). Loopback, private, link-local, multicast and unspecified addresses are
    /// refused otherwise.
    #[arg(long = "allow-target-net", value_name = "CIDR")]
    allow_target_net: Vec<ipnet::IpNet>,
    /// PEM file of CA certificates trusted for deliveries, on top of the system roots.
    #[arg(long, value_name = "PEM")]
    extra_ca_file: Option<PathBuf>,
    /// JSON list of more admin tokens: [{"name": "ci", "token": "...", "scope": "read"|"admin"}].
    #[arg(long, value_name = "JSON")]
    admin_tokens_file: Option<PathBuf>,
    /// Milliseconds a client has to send its request headers (slow clients are cut off).
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds a kept-alive connection may wait idle for its next request (longer than
    /// clients' and load balancers' pools keep one, so that they close it first).
    #[arg(long, default_value_t = 120_000)]
    idle_timeout_ms: u64,
    /// Connections open at once: beyond it a new one closes the one idle longest, or gets a
    /// 503 when every one has a request under way (keep it below `ulimit -n`).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Milliseconds a client has to send a whole ingest request, body included (else 408).
    #[arg(long, default_value_t = 30_000)]
    ingest_timeout_ms: u64,
    /// Delivered, failed and skipped messages older than this are pruned (e.g. 14d, 12h).
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// Export traces (OpenTelemetry spans of ingest and delivery) over OTLP/HTTP to this
    /// collector, e.g. http://127.0.0.1:4318 (spans go to its /v1/traces) [default: off].
    #[arg(long, env = "HOOKGATE_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

impl ServeArgs {
    /// This node's name: `--node-id`, else the host name and the process id.
    fn node_id(&self) -> String {
        self.node_id.clone().filter(|id| !id.trim().is_empty()).unwrap_or_else(hookgate::settings::default_node_id)
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let traces = match &cli.command {
        Command::Serve(args) => init_log(args.otlp_endpoint.as_deref().filter(|url| !url.is_empty()), &args.node_id())?,
        _ => init_log(None, "")?,
    };
    let ran = command(cli.command);
    // After the gateway stopped: its last spans leave now.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    ran
}

/// The process log on stderr (filtered by `RUST_LOG`) and, given a collector, the exporter
/// of traces, which sees every span of the gateway whatever `RUST_LOG` says.
fn init_log(otlp_endpoint: Option<&str>, node_id: &str) -> anyhow::Result<Option<Traces>> {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // Colours for a person at a terminal who has not asked for none (no-color.org); never in
    // a file or a pipe.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sled=warn,cranelift=warn,wasmtime=warn".into());
    // Formatting the pipeline's spans (ingest, deliver, guest_call, ...) for the log cost
    // 5-7% of the CPU per message (BENCHMARKS.md, 2026-12-08), though a message that goes well logs no line; the lines
    // logged at info and above name their event, message and target themselves. So the log
    // shows spans only when asked for debug detail (`RUST_LOG=debug`, `hookgate=debug`).
    let spans_in_log = filter.max_level_hint().is_none_or(|level| level >= LevelFilter::DEBUG);
    // The hint keeps the filter's own: without one, events of every level (the libraries'
    // `log` records too) would be built and then dropped.
    let no_spans = tracing_subscriber::filter::filter_fn(move |metadata| spans_in_log || !metadata.is_span())
        .with_max_level_hint(LevelFilter::TRACE);
    let filter = filter.and(no_spans);
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour).with_filter(filter);
    let registry = tracing_subscriber::registry().with(log);
    let Some(endpoint) = otlp_endpoint else {
        registry.init();
        return Ok(None);
    };
    let (traces, layer) = Traces::start(endpoint, node_id)?;
    registry.with(layer).init();
    Ok(Some(traces))
}

fn command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args),
        Command::Events { gateway, command } => ask(
            gateway,
            match command {
                EventsCommand::List => AdminRequest::Events,
                EventsCommand::Show { event_id } => AdminRequest::Event(event_id),
            },
        ),
        Command::Messages { gateway, command } => ask(
            gateway,
            match command {
                MessagesCommand::List(filter) => AdminRequest::Messages(filter),
                MessagesCommand::Show { message_id } => AdminRequest::Message(message_id),
                MessagesCommand::Retry { message_id } => AdminRequest::Retry(message_id),
            },
        ),
        Command::Migrate { store } => {
            let url = hookgate::store::postgres_url(&store).map_err(anyhow::Error::msg)?;
            let (from, to) = runtime()?.block_on(hookgate::store::migrate(url))?;
            if from == to {
                println!("the schema is up to date (version {to})");
            } else {
                println!("migrated the schema from version {from} to {to}");
            }
            Ok(())
        }
        Command::Store(StoreCommand::Copy { from, to }) => {
            let url = hookgate::store::postgres_url(&to).map_err(anyhow::Error::msg)?;
            let db = Settings::sled_dir(&from);
            anyhow::ensure!(db.exists(), "{} holds no hookgate store (no {})", from.display(), db.display());
            let copied = runtime()?.block_on(hookgate::store::copy(&db, url, &from))?;
            println!(
                "copied {} events, {} components and {} messages ({} deliveries pending) into {}",
                copied.events,
                copied.components,
                copied.messages,
                copied.pending,
                hookgate::secrets::mask_userinfo(url)
            );
            Ok(())
        }
        Command::Store(StoreCommand::Backup { data_dir, out, url, token }) => backup(&data_dir, &out, url, token),
        Command::Config { gateway, command } => config(gateway, command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hookgate", &mut std::io::stdout());
            Ok(())
        }
        Command::Component(ComponentCommand::Inspect { file, cache }) => {
            let runtime = hookgate::runtime::Runtime::new(GuestLimits::default())?;
            let report = hookgate::runner::inspect(&runtime, &read(&file)?, cache.dir().as_deref())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Component(ComponentCommand::Run { file, input, limits, cache }) => {
            let runtime = hookgate::runtime::Runtime::new(limits.limits())?;
            let input: serde_json::Value = serde_json::from_slice(&read(&input)?)
                .with_context(|| format!("{} is not JSON", input.display()))?;
            let name = file.file_stem().map_or_else(|| "component".into(), |stem| stem.to_string_lossy());
            let ran = hookgate::runner::run(&runtime, &read(&file)?, &name, &input, cache.dir().as_deref())?;
            println!("{}", serde_json::to_string_pretty(&ran.report)?);
            if let Some(error) = ran.error {
                eprintln!("error: {}: {error}", error.code());
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Component(ComponentCommand::New { world, lang, dir }) => {
            let project = hookgate::scaffold::write(world, lang, &dir)?;
            for file in &project.files {
                println!("created {}", file.display());
            }
            // The commands name this program as it was called, so they work pasted as they are.
            let hookgate = std::env::args_os().next().map_or_else(|| "hookgate".into(), |arg0| arg0.to_string_lossy().into_owned());
            println!();
            for (step, command) in project.next_steps(&hookgate) {
                println!("{:<8}{command}", format!("{step}:"));
            }
            Ok(())
        }
    }
}

/// A runtime for one command that is not `serve`.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// Asks the gateway's admin API and prints the answer: a table, or the JSON as it came.
fn ask(gateway: GatewayArgs, request: AdminRequest) -> anyhow::Result<()> {
    let client = AdminClient::new(&gateway.url, gateway.token.filter(|t| !t.is_empty()))?;
    let answer = runtime()?.block_on(client.send(&request))?;
    if gateway.json {
        println!("{}", answer.text);
    } else {
        print!("{}", request.render(&answer.json));
    }
    Ok(())
}

/// `hookgate config export|apply`: the JSON file on stdout, or what apply did.
fn config(gateway: GatewayArgs, command: ConfigCommand) -> anyhow::Result<()> {
    use hookgate::client::config;
    let client = AdminClient::new(&gateway.url, gateway.token.filter(|t| !t.is_empty()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        ConfigCommand::Export => {
            let file = runtime.block_on(config::export(&client))?;
            println!("{}", serde_json::to_string_pretty(&file)?);
        }
        ConfigCommand::Apply { file, dry_run, prune } => {
            let text = String::from_utf8(read(&file)?).with_context(|| format!("{} is not UTF-8 text", file.display()))?;
            let parsed = config::parse(&text).with_context(|| format!("{} is refused and nothing was changed", file.display()))?;
            let report = runtime.block_on(config::apply(&client, &parsed, dry_run, prune))?;
            if gateway.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
        }
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let mut settings = Settings::new(&args.data_dir);
    if let Some(store) = &args.store {
        settings.store = StoreLocation::parse(store, args.data_dir.clone()).map_err(anyhow::Error::msg)?;
    }
    settings.node_id = args.node_id();
    anyhow::ensure!(args.lease_ms >= 1_000, "--lease-ms must be at least 1000");
    settings.lease_ms = args.lease_ms;
    settings.allow_http = args.allow_http;
    settings.guest_limits = args.limits.limits();
    settings.max_body_bytes = args.max_body_kb << 10;
    settings.max_request_bytes = args.max_request_kb << 10;
    settings.cache_bytes = args.cache_mb << 20;
    settings.delivery_concurrency = args.delivery_concurrency;
    if let Some(n) = args.guest_concurrency {
        settings.guest_concurrency = n.into();
    }
    settings.shutdown_grace = Duration::from_secs(args.shutdown_grace_s);
    settings.compile_cache = args.compile_cache;
    settings.egress.allowed = args.allow_target_net;
    settings.extra_ca_file = args.extra_ca_file;
    settings.retention = args.retention;
    settings.header_timeout = Duration::from_millis(args.header_timeout_ms);
    settings.idle_timeout = Duration::from_millis(args.idle_timeout_ms);
    settings.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    settings.ingest_timeout = Duration::from_millis(args.ingest_timeout_ms);

    let mut tokens = vec![hookgate::AdminToken {
        name: "admin".into(),
        token: admin_token(&args.data_dir)?,
        scope: hookgate::AdminScope::Admin,
    }];
    if let Some(file) = &args.admin_tokens_file {
        let extra: Vec<hookgate::AdminToken> = serde_json::from_slice(&read(file)?)
            .with_context(|| format!("{} is not a JSON list of {{name, token, scope}}", file.display()))?;
        if let Some(short) = extra.iter().find(|t| t.token.len() < 16) {
            anyhow::bail!("admin token `{}` in {} is shorter than 16 characters", short.name, file.display());
        }
        tokens.extend(extra);
    }
    if let Some(backup) = &args.restore {
        let entries = hookgate::store::restore(backup, &Settings::sled_dir(&args.data_dir))
            .with_context(|| format!("cannot restore {}", backup.display()))?;
        println!("restored {entries} entries from {} into {}", backup.display(), args.data_dir.display());
    }
    let (store, node) = (settings.store.describe(), settings.node_id.clone());
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let app = App::open(settings, tokens).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr()?;
        println!("hookgate listening on http://{local}");
        // Where `store backup` finds this gateway; gone after a clean stop.
        let address_file = args.data_dir.join(ADDRESS_FILE);
        let reachable = match local.ip() {
            ip if ip.is_unspecified() && local.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], local.port())),
            ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, local.port())),
            _ => local,
        };
        if let Err(e) = std::fs::write(&address_file, format!("http://{reachable}\n")) {
            tracing::warn!("cannot write {}: {e}", address_file.display());
        }
        tracing::info!(store = %store, node = %node, data_dir = %args.data_dir.display(), allow_http = args.allow_http,
            address = %local, traces = args.otlp_endpoint.as_deref().unwrap_or("off"), "gateway started");
        hookgate::serve(app, listener, shutdown_signal()).await?;
        let _ = std::fs::remove_file(&address_file);
        tracing::info!("stopped");
        Ok(())
    })
}

/// The file in the data directory that holds a running gateway's URL.
const ADDRESS_FILE: &str = "gateway.url";

/// `store backup`: from the store itself when no gateway holds it, else from the gateway
/// that does. Written aside and renamed, so `out` is never half a backup.
fn backup(data_dir: &Path, out: &Path, url: Option<String>, token: Option<String>) -> anyhow::Result<()> {
    let db = Settings::sled_dir(data_dir);
    anyhow::ensure!(db.exists(), "{} holds no embedded store (no {})", data_dir.display(), db.display());
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    let runtime = runtime()?;
    let taken = runtime.block_on(async {
        match hookgate::store::open(&StoreLocation::Sled(db.clone()), &hookgate::store::StoreOptions::default()).await {
            Ok(store) => {
                let entries = store.backup(&mut file)?;
                store.close().await?;
                Ok((Some(entries), "the store"))
            }
            Err(offline) => {
                // Most likely a gateway holds the store: ask it.
                let url = match url {
                    Some(url) => url,
                    None => std::fs::read_to_string(data_dir.join(ADDRESS_FILE))
                        .map(|url| url.trim().to_string())
                        .map_err(|_| anyhow::anyhow!("{offline}; and no gateway's address in {}", data_dir.display()))?,
                };
                let token = match token {
                    Some(token) => token,
                    None => std::fs::read_to_string(data_dir.join("admin-token"))
                        .map(|t| t.trim().to_string())
                        .with_context(|| format!("the store is in use; give the gateway's admin token (--token), none in {}", data_dir.display()))?,
                };
                let mut response = reqwest::Client::new()
                    .post(format!("{}/v1/admin/backup", url.trim_end_matches('/')))
                    .bearer_auth(token)
                    .send()
                    .await
                    .with_context(|| format!("the store is in use and the gateway at {url} does not answer"))?;
                if !response.status().is_success() {
                    anyhow::bail!("the gateway at {url} answered {}: {}", response.status(), response.text().await.unwrap_or_default());
                }
                use std::io::Write;
                while let Some(chunk) = response.chunk().await? {
                    file.write_all(&chunk)?;
                }
                // The gateway counts the entries in its own log.
                Ok((None, "the gateway"))
            }
        }
    });
    let (entries, from) = match taken {
        Ok(taken) => taken,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    file.sync_all()?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    match entries {
        Some(n) => println!("backed up {} ({n} entries, from {from}) into {}", data_dir.display(), out.display()),
        None => println!("backed up {} (from {from}) into {}", data_dir.display(), out.display()),
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The admin token: `HOOKGATE_ADMIN_TOKEN`, else the one kept in the data directory, else
/// a new one, kept there and printed this once. The log says which, never the token.
fn admin_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    let from_env = std::env::var("HOOKGATE_ADMIN_TOKEN").map(|t| t.trim().to_string()).unwrap_or_default();
    if !from_env.is_empty() {
        if path.exists() {
            tracing::warn!("admin token: HOOKGATE_ADMIN_TOKEN is in effect; the token in {} is NOT", path.display());
        } else {
            tracing::info!("admin token: HOOKGATE_ADMIN_TOKEN");
        }
        return Ok(from_env);
    }
    if let Ok(token) = std::fs::read_to_string(&path) {
        // An empty token would admit `Authorization: Bearer ` with nothing after it.
        anyhow::ensure!(!token.trim().is_empty(), "{} is empty: write a token into it, or delete it to have one generated", path.display());
        tracing::info!("admin token: from {}", path.display());
        return Ok(token.trim().to_string());
    }
    let token = format!("hg_{}", hex::encode(rand::random::<[u8; 24]>()));
    write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    println!("generated admin token (kept in {}): {token}", path.display());
    tracing::info!("admin token: generated and kept in {} (printed above, this once)", path.display());
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: no new requests, finishing attempts in flight");
}

/// jemalloc instead of glibc's allocator: glibc kept most of the memory a delivery backlog had
/// taken once it drained (80 MB free in 66,000 chunks among live ones, out of reach of
/// `malloc_trim`), and spent 22-31% more CPU per delivered message; BENCHMARKS.md has the figures.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: its background threads hand memory that has been
/// free for a second back to the system, busy or idle.
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: the first byte of a NUL-terminated string that lives as long as the program.
    Some(unsafe { &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() });
