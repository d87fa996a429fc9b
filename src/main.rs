//! The `sightline` command: wiring and ordered shutdown only. Each stage
//! lives in its own module of the library crate.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use sightline::{auth, collect, config, dashboards, ingest, notify, promql, remote, rules, scrape, selfmon, tsdb, web};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DEFAULT_LISTEN: &str = "127.0.0.1:9900";
const DEFAULT_DATA: &str = "./data";

/// Sightline: scrape, store, query, alert and draw dashboards, in one binary.
///
/// With no subcommand, runs the server: it scrapes the targets in the config
/// file (with no config file, it scrapes itself), stores samples in
/// DATA/sightline.db, and serves the UI and the Prometheus-compatible API.
/// An existing prometheus.yml works as the config file.
#[derive(Parser, Debug)]
#[command(name = "sightline", version, about, long_about)]
struct Cli {
    /// Config file (sightline.yml or an existing prometheus.yml).
    /// Without one, the embedded default config is used.
    #[arg(short, long, value_name = "FILE", env = "SIGHTLINE_CONFIG", global = true)]
    config: Option<PathBuf>,

    /// Address to serve the UI and API on [default: web.listen_address in
    /// the config, else 127.0.0.1:9900].
    #[arg(short, long, value_name = "ADDR", env = "SIGHTLINE_LISTEN")]
    listen: Option<String>,

    /// Folder for the database [default: storage.path in the config, else ./data].
    #[arg(short, long, value_name = "DIR", env = "SIGHTLINE_DATA")]
    data: Option<PathBuf>,

    /// The URL Sightline is reached at from outside (behind a proxy, or a
    /// public name): links in notifications use it, and Slack messages get
    /// chart images only when it is set [default: http://LISTEN].
    #[arg(long = "web.external-url", value_name = "URL", env = "SIGHTLINE_EXTERNAL_URL")]
    external_url: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    /// Log level filter (error, warn, info, debug, trace, or a tracing
    /// directive such as "sightline=debug").
    #[arg(long, default_value = "info", value_name = "LEVEL", global = true)]
    log_level: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a config file and print every error with file:line, then exit
    /// (status 1 when the file has errors).
    CheckConfig {
        /// The config file to check.
        file: PathBuf,
    },
    /// Backfill samples into the store from an OpenMetrics text file with
    /// timestamps (the input of `promtool tsdb create-blocks-from
    /// openmetrics`), a `promtool tsdb dump` output, or a Prometheus data
    /// folder or snapshot (read through `promtool tsdb dump`, never written).
    /// Lines that do not parse are reported by number and left out.
    Import {
        /// File to load ("-" for standard input), or a Prometheus data folder.
        file: PathBuf,
        /// Data folder to load into.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Copy the database to FILE while Sightline runs (or when it does not),
    /// as one consistent snapshot. FILE is never overwritten unless --force.
    ///
    /// When FILE is an existing folder, the copy is FILE/sightline.db, so the
    /// folder works at once as a data folder (`sightline --data FILE`). To
    /// restore a copy written elsewhere, stop Sightline and put the copy in an
    /// empty data folder under the name sightline.db.
    Backup {
        /// Where to write the copy (a new file, or an existing folder).
        file: PathBuf,
        /// Data folder of the database to copy.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
    },
    /// Check Prometheus rule files as `promtool check rules` does; exit
    /// status 1 when any file has errors.
    CheckRules {
        /// Rule files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests written for `promtool test rules` (input_series,
    /// alert_rule_test, promql_expr_test).
    TestRules {
        /// Test files to run.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only run test groups whose name matches this regular expression (repeatable).
        #[arg(long, value_name = "REGEX")]
        run: Vec<String>,
    },
    /// Convert a Grafana dashboard JSON into a Sightline dashboard YAML
    /// (printed, or written to --out); what could not be carried over is
    /// listed on standard error.
    ImportDashboard {
        /// Grafana dashboard JSON ("-" for standard input).
        file: PathBuf,
        /// Write the YAML here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Manage users (viewer, editor, admin) in DIR/sightline.db. Passwords are
    /// read from standard input when it is not a terminal, prompted otherwise.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Manage API tokens (bearer tokens with a role) in DIR/sightline.db.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user.
    Add {
        /// Login name (letters, digits, '.', '_', '@', '-').
        name: String,
        /// viewer, editor or admin.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Set a user's password (signs the user out everywhere).
    Passwd {
        /// Login name.
        name: String,
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Delete a user (not the last admin).
    Del {
        /// Login name.
        name: String,
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// List users and their roles.
    List {
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create {
        /// Token name (what `token revoke` takes).
        name: String,
        /// viewer, editor or admin.
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Revoke a token by name.
    Revoke {
        /// Token name.
        name: String,
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// List tokens (names, roles, last use; never the tokens).
    List {
        /// Data folder holding sightline.db.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// glibc gives threads that allocate at the same time arenas of their own
/// (up to 8 per core), each keeping its own free memory: two arenas measured
/// ~24 bytes less resident memory per series at 100 000 series (README,
/// storage performance). `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first in main, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging(&cli);
    let result = match &cli.command {
        Some(Command::CheckConfig { file }) => check_config(file),
        Some(Command::CheckRules { files }) => std::process::exit(rules::check_rules_cli(files)),
        Some(Command::TestRules { files, run }) => std::process::exit(rules::test_rules_cli_filtered(files, run)),
        Some(Command::Import { file, data }) => import(file, data),
        Some(Command::Backup { file, data, force }) => backup(file, data, *force),
        Some(Command::ImportDashboard { file, out }) => import_dashboard(file, out.as_deref()),
        Some(Command::User { action }) => user_command(action),
        Some(Command::Token { action }) => token_command(action),
        None => run_server(&cli),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn check_config(file: &Path) -> Result<()> {
    match config::load_file(file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            println!("{}: SUCCESS ({} scrape configs)", file.display(), loaded.config.scrape_configs.len());
            Ok(())
        }
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            bail!("{}: {} error(s)", file.display(), errors.0.len())
        }
    }
}

fn import(file: &Path, data: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let name = file.display().to_string();
    let mut dump = None;
    // Read (or open) the input before touching the data folder, so a typo
    // in the file name leaves no empty database behind.
    let (input, format, size): (Box<dyn std::io::BufRead>, _, _) = if file.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body).context("reading standard input")?;
        let format = ingest::detect_format(&body[..body.len().min(64)], &body[body.len().saturating_sub(64)..]);
        let size = body.len() as u64;
        (Box::new(std::io::Cursor::new(body)), format, size)
    } else if file.is_dir() {
        let (child, stdout) = PrometheusDump::start(file)?;
        dump = Some(child);
        let reader = std::io::BufReader::with_capacity(1 << 20, stdout);
        (Box::new(reader), ingest::InputFormat::PromtoolDump, 0)
    } else {
        let mut f = std::fs::File::open(file).with_context(|| format!("opening {name}"))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        (&mut f).take(64).read_to_end(&mut head).context(name.clone())?;
        f.seek(SeekFrom::Start(size.saturating_sub(64)))
            .and_then(|_| f.read_to_end(&mut tail))
            .context(name.clone())?;
        f.seek(SeekFrom::Start(0)).context(name.clone())?;
        (Box::new(std::io::BufReader::with_capacity(1 << 20, f)), ingest::detect_format(&head, &tail), size)
    };
    let db = tsdb::Db::open(data)?;
    // A progress bar on a terminal; nothing when stderr is a file or pipe.
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if size == 0 {
        // A Prometheus data folder streams from promtool: no total to show.
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
    }
    let result = ingest::import(input, format, &name, &db, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    db.close();
    if let Some(dump) = dump {
        dump.finish()?;
    }
    let stats = result?;
    const SHOWN: usize = 50;
    for (line, why) in stats.bad_lines.iter().take(SHOWN) {
        eprintln!("{name}:{line}: {why} (line left out)");
    }
    if stats.bad_lines.len() > SHOWN {
        eprintln!("{name}: ... and {} more bad lines", stats.bad_lines.len() - SHOWN);
    }
    println!(
        "imported {} series, {} samples ({} rejected as out of order or duplicate) into {}",
        stats.series,
        stats.samples,
        stats.rejected,
        db.path().display()
    );
    if stats.without_timestamp > 0 {
        eprintln!("{name}: {} samples had no timestamp and were left out", stats.without_timestamp);
    }
    if !stats.bad_lines.is_empty() || stats.without_timestamp > 0 {
        bail!(
            "{name}: {} bad lines and {} samples without timestamp were not imported",
            stats.bad_lines.len(),
            stats.without_timestamp
        );
    }
    Ok(())
}

/// Recreates the folder `src` at `dst` with hard links (copies across file
/// systems): promtool skips symlinked block folders.
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if from.is_dir() {
            link_tree(&from, &to)?;
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(())
}

/// `promtool tsdb dump` over a Prometheus data folder (or snapshot), its
/// output streamed into the importer.
struct PrometheusDump {
    child: std::process::Child,
    /// A folder of links to the blocks plus an empty `wal`, for snapshots
    /// (promtool 2.x refuses a folder without one); the original is never written.
    _view: Option<tempfile::TempDir>,
}

impl PrometheusDump {
    /// Starts promtool; its standard output is the dump.
    fn start(dir: &Path) -> Result<(Self, std::process::ChildStdout)> {
        let view = if dir.join("wal").is_dir() {
            None
        } else {
            let view = tempfile::tempdir().context("creating a temporary folder")?;
            for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
                let entry = entry?;
                if entry.path().join("meta.json").is_file() {
                    link_tree(&entry.path(), &view.path().join(entry.file_name()))?;
                }
            }
            std::fs::create_dir(view.path().join("wal"))?;
            Some(view)
        };
        let source = view.as_ref().map_or(dir, |v| v.path());
        let mut child = std::process::Command::new("promtool")
            .args(["tsdb", "dump"])
            .arg(source)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| {
                format!("{} is a folder: importing a Prometheus data folder needs promtool on PATH (Debian: apt install prometheus)", dir.display())
            })?;
        let stdout = child.stdout.take().context("promtool's output")?;
        Ok((PrometheusDump { child, _view: view }, stdout))
    }

    fn finish(mut self) -> Result<()> {
        let status = self.child.wait()?;
        if !status.success() {
            bail!("promtool tsdb dump failed ({status}); its message is above");
        }
        Ok(())
    }
}

fn backup(file: &Path, data: &Path, force: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let r = tsdb::backup::backup(data, file, force)?;
    println!(
        "backed up {} series ({:.1} MB) to {} in {:.1} s",
        r.series,
        r.bytes as f64 / 1e6,
        r.dest.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn import_dashboard(file: &Path, out: Option<&Path>) -> Result<()> {
    let src = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let (dash, warnings) = dashboards::import_grafana_json(&src, &file.display().to_string())?;
    for w in &warnings {
        eprintln!("not carried over: {w}");
    }
    let yaml = dashboards::to_yaml(&dash).map_err(anyhow::Error::msg)?;
    match out {
        Some(path) => {
            std::fs::write(path, &yaml).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({} panels, {} warnings)", path.display(), dash.panels().count(), warnings.len());
        }
        None => print!("{yaml}"),
    }
    Ok(())
}

/// Reads a password: prompted twice on a terminal, else one line of standard input.
fn read_password(name: &str) -> Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: ")).context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// The user and token store in `data`; a fresh folder gets a real
/// Sightline database first (the store refuses files that are not its own).
fn open_auth_store(data: &Path) -> Result<auth::Store> {
    if !data.join("sightline.db").exists() {
        tsdb::Db::open(data).with_context(|| format!("creating the database in {}", data.display()))?.close();
    }
    auth::Store::open(data).with_context(|| format!("opening the user store in {}", data.display()))
}

fn user_command(action: &UserCommand) -> Result<()> {
    let open = open_auth_store;
    match action {
        UserCommand::Add { name, role, data } => {
            let role: auth::Role = role.parse()?;
            auth::store::check_name("user", name)?;
            let store = open(data)?;
            let password = read_password(name)?;
            store.add_user(name, role, &password)?;
            println!("added user {name} ({role})");
        }
        UserCommand::Passwd { name, data } => {
            let store = open(data)?;
            let password = read_password(name)?;
            store.set_password(name, &password)?;
            println!("password of {name} changed; the user's sessions were ended");
        }
        UserCommand::Del { name, data } => {
            open(data)?.delete_user(name)?;
            println!("deleted user {name}");
        }
        UserCommand::List { data } => {
            for u in open(data)?.list_users()? {
                println!("{}\t{}", u.name, u.role);
            }
        }
    }
    Ok(())
}

fn token_command(action: &TokenCommand) -> Result<()> {
    let open = open_auth_store;
    match action {
        TokenCommand::Create { name, role, data } => {
            let role: auth::Role = role.parse()?;
            let token = open(data)?.create_token(name, role)?;
            eprintln!("token {name} ({role}) created; it is shown only this once:");
            println!("{token}");
        }
        TokenCommand::Revoke { name, data } => {
            open(data)?.revoke_token(name)?;
            println!("revoked token {name}");
        }
        TokenCommand::List { data } => {
            for t in open(data)?.list_tokens()? {
                let used = t.last_used_ms.map_or_else(|| "never used".to_string(), |ms| format!("last used {ms}"));
                println!("{}\t{}\t{used}", t.name, t.role);
            }
        }
    }
    Ok(())
}

fn run_server(cli: &Cli) -> Result<()> {
    // Flags win over the config file, which wins over the defaults.
    let (loaded, config_file, config_yaml) = match &cli.config {
        Some(path) => {
            let loaded = config::load_file(path).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
            let yaml = std::fs::read_to_string(path).unwrap_or_default();
            (loaded, path.display().to_string(), yaml)
        }
        None => {
            let listen = cli.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_string());
            (
                config::Loaded { config: config::default_config(&listen), warnings: vec![] },
                "(embedded default)".to_string(),
                config::DEFAULT_CONFIG.replace("127.0.0.1:9900", &listen),
            )
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let cfg = loaded.config;
    let listen =
        cli.listen.clone().or_else(|| cfg.web.listen_address.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr =
        listen.parse().with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:9900"))?;
    let data_dir = cli.data.clone().or_else(|| cfg.storage.path.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));

    let mut store_options = tsdb::Options::default();
    if let Some(retention) = cfg.storage.retention {
        store_options.retention = retention;
    }
    store_options.retention_size = cfg.storage.retention_size;
    if let Some(keep) = cfg.storage.downsample_retention {
        store_options.downsample_retention = keep;
    }
    let db = tsdb::Db::open_with(&data_dir, store_options)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let config_path = cli.config.clone();
    let public_url = cli.external_url.clone();
    let result =
        runtime.block_on(serve(cfg, config_path, db.clone(), addr, &data_dir, config_file, config_yaml, public_url));
    // The runtime is gone: every scrape has finished; flush and close the store last.
    drop(runtime);
    db.close();
    tracing::info!("stopped; all samples flushed");
    result
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    cfg: config::Config,
    config_path: Option<PathBuf>,
    db: tsdb::Db,
    addr: SocketAddr,
    data_dir: &Path,
    config_file: String,
    config_yaml: String,
    public_url: Option<String>,
) -> Result<()> {
    let mut metrics = selfmon::Metrics::new();
    let external_url = public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let notify_store = Arc::new(notify::store::Store::open(data_dir).context("starting notifications")?);
    let notify_opts = notify::NotifierOptions { external_url: external_url.clone(), public_url, ..Default::default() };
    let notifier = notify::Notifier::start_with(
        alertmanager_config(&cfg)?,
        notify_store,
        Some(metrics.registry_mut()),
        notify_opts,
    )
    .context("starting notifications")?;
    let metrics = Arc::new(metrics);
    // With remote_write, every ingest path writes through the forwarder.
    let forwarder = if cfg.remote_write.is_empty() {
        None
    } else {
        Some(
            remote::Forwarder::start(Arc::new(db.clone()), &cfg.remote_write, &cfg.global.external_labels, data_dir)
                .context("starting remote_write")?,
        )
    };
    let appendable: Arc<dyn tsdb::Appendable> = match &forwarder {
        Some(f) => Arc::new(f.clone()),
        None => Arc::new(db.clone()),
    };
    let rule_storage: tsdb::SharedStorage = match &forwarder {
        Some(f) => Arc::new(remote::ForwardingStorage { forwarder: f.clone(), querier: Arc::new(db.clone()) }),
        None => Arc::new(db.clone()),
    };
    let engine = Arc::new(promql::Engine::new(promql::EngineOptions {
        lookback_delta_ms: cfg.query.lookback_delta.as_millis() as i64,
        max_samples: cfg.query.max_samples,
        timeout: cfg.query.timeout,
    }));
    let mut sinks: Vec<Arc<dyn rules::AlertSink>> = vec![notifier.clone()];
    let external = rules::alertmanager::targets_from_config(cfg.raw_alerting.as_ref()).map_err(anyhow::Error::msg)?;
    if !external.is_empty() {
        sinks.push(Arc::new(rules::alertmanager::AlertmanagerSink::new(external).map_err(anyhow::Error::msg)?));
    }
    let rule_manager = rules::RuleManager::new(
        engine.clone(),
        rule_storage,
        Some(Arc::new(rules::alertmanager::FanoutSink(sinks))),
        rules::ManagerOptions {
            default_interval: cfg.global.evaluation_interval,
            external_labels: cfg.global.external_labels.clone(),
            external_url,
            ..Default::default()
        },
    );
    let files = rule_files(&cfg, data_dir)?;
    rule_manager.reload(&files).map_err(|e| anyhow::anyhow!("rule files:\n{e}"))?;
    let auth_store = Arc::new(auth::Store::open(data_dir).context("opening the user store")?);
    auth::signing::init(auth_store.signing_key()?);
    let anonymous_role = cfg.web.anonymous_role.as_deref().map(str::parse::<auth::Role>).transpose()?;
    let tls_on = cfg.web.tls_cert_file.is_some();
    let auth = Arc::new(auth::Auth::new(
        auth_store,
        auth::Settings { anonymous_role, session_ttl: cfg.web.session_max_age, secure_cookies: tls_on },
    )?);
    let mut cfg = cfg;
    // The self-scrape carries a token that lives only in this process.
    let self_token = auth.internal_token("self-scrape", auth::Role::Viewer);
    for job in &mut cfg.scrape_configs {
        let scrapes_self = job.probe.is_none()
            && job.metrics_path == "/metrics"
            && job.static_configs.iter().flat_map(|g| g.targets.iter()).any(|t| is_self_target(t, addr));
        if scrapes_self && job.auth.is_none() {
            job.auth = Some(config::Auth::Bearer(self_token.clone()));
            if tls_on && job.scheme == "http" {
                // Our own certificate on loopback: no name to verify it against.
                job.scheme = "https".to_string();
                job.tls.insecure_skip_verify = true;
            }
        }
    }
    let scraper = scrape::ScrapeManager::new(appendable.clone(), metrics.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let library =
        Arc::new(dashboards::Library::open(cfg.dashboard_paths.clone(), Some(&data_dir.join("sightline.db"))));
    notifier.set_chart_source(Arc::new(web::alertmanager_api::ChartBackend {
        engine: engine.clone(),
        querier: Arc::new(db.clone()),
        library: library.clone(),
    }));
    let datasources = web::datasource::remote_sources(&cfg.datasources, tokio::runtime::Handle::current())
        .map_err(anyhow::Error::msg)?;
    let state = web::AppState {
        datasources: Arc::new(datasources),
        querier: Arc::new(db.clone()),
        appendable,
        auth: auth.clone(),
        web: Arc::new(cfg.web.clone()),
        store_status: Arc::new(db.clone()),
        engine,
        query_slots: Arc::new(tokio::sync::Semaphore::new(cfg.query.max_concurrency)),
        targets: Arc::new(scraper.clone()),
        rules: rule_manager.clone(),
        notifier: notifier.clone(),
        reload: Arc::new(Reloader {
            config_path: config_path.clone(),
            data_dir: data_dir.to_path_buf(),
            rules: rule_manager.clone(),
            notifier: notifier.clone(),
        }),
        metrics,
        library: library.clone(),
        info: Arc::new(web::RuntimeInfo {
            config_file,
            // Shown on the status page and /api/v1/status/config: never with secrets.
            config_yaml: auth::redact::redact_yaml(&config_yaml),
            data_dir: data_dir.display().to_string(),
            listen: addr.to_string(),
            retention: config::format_duration(cfg.storage.retention.unwrap_or(tsdb::Options::default().retention)),
            started: Some(std::time::SystemTime::now()),
            external_labels: cfg.global.external_labels.clone(),
        }),
    };
    scraper.start(&cfg.scrape_configs).map_err(anyhow::Error::msg)?;
    if cfg.host.enabled {
        if cfg.scrape_configs.iter().any(|c| c.job_name == cfg.host.job_name) {
            bail!(
                "host.job_name {:?} is also a scrape job; rename one of them or set host.enabled: false",
                cfg.host.job_name
            );
        }
        let host = collect::HostCollector::try_new(host_collector_config(&cfg.host)).map_err(|errors| {
            anyhow::anyhow!("host: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))
        })?;
        scraper.start_host(scrape::host_scrape_config(&cfg.global, &cfg.host), host, &scrape::host_instance());
    }
    let scheme = if tls_on { "https" } else { "http" };
    tracing::info!(%addr, data = %data_dir.display(), "Sightline is ready: open {scheme}://{addr}/");
    if let (Some(token), None) = (auth.setup_token(), anonymous_role) {
        // The console is the only place the link appears; it works once.
        eprintln!(
            "\nSightline has no users yet. Create the first admin at:\n\n    {scheme}://{addr}/setup?token={token}\n\n\
             (or run: sightline user add NAME --role admin --data {})\n",
            data_dir.display()
        );
    }
    spawn_sighup_reload(state.reload.clone());
    let app = web::router(state).into_make_service_with_connect_info::<SocketAddr>();
    match (&cfg.web.tls_cert_file, &cfg.web.tls_key_file) {
        (Some(cert), Some(key)) => {
            let resolver = Arc::new(web::tls::ReloadingCert::new(cert, key)?);
            let listener = web::tls::TlsListener::new(listener, web::tls::server_config(resolver)?)?;
            // tap_io gives the listener axum's ConnectInfo<SocketAddr> support.
            use axum::serve::ListenerExt;
            axum::serve(listener.tap_io(|_| {}), app).with_graceful_shutdown(shutdown_signal()).await?;
        }
        _ => axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?,
    }
    tracing::info!("shutting down: stopping rules and scrapes");
    rule_manager.stop();
    scraper.stop().await;
    notifier.stop();
    if let Some(f) = forwarder {
        // Queue what was committed since the last batch so a restart sends it.
        tokio::task::spawn_blocking(move || f.flush()).await?.context("remote_write: saving the queue")?;
    }
    Ok(())
}

/// Whether a scrape target is this server's own address.
fn is_self_target(target: &str, addr: SocketAddr) -> bool {
    let Some((host, port)) = target.rsplit_once(':') else { return false };
    if port.parse::<u16>().ok() != Some(addr.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == addr.ip().to_string() || host == "localhost" || host == "127.0.0.1" || host == "::1"
}

/// The Alertmanager configuration named by sightline.yml, or a single
/// receiver that delivers nowhere (alerts are still grouped and shown).
fn alertmanager_config(cfg: &config::Config) -> Result<notify::Config> {
    Ok(match &cfg.alertmanager {
        Some(config::AlertmanagerSource::File(path)) => notify::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        Some(config::AlertmanagerSource::Inline(yaml)) => {
            notify::parse_str(yaml, "sightline.yml (alertmanager:)").map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => notify::parse_str("route:\n  receiver: none\nreceivers:\n  - name: none\n", "built-in default")
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    })
}

/// The rule files to evaluate: the config's `rule_files` patterns, plus the
/// shipped default alerts (written next to the database so that the rules
/// page and `/api/v1/rules` can name a real file) unless `default_rules: false`.
fn rule_files(cfg: &config::Config, data_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = rules::file::expand_rule_files(&cfg.rule_files, &cfg.base_dir).map_err(anyhow::Error::msg)?;
    if cfg.default_rules {
        let path = data_dir.join("sightline-defaults.rules.yml");
        std::fs::write(&path, config::DEFAULT_RULES).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

/// Re-reads the config file's rule files and Alertmanager section; a broken
/// file keeps what runs and reports why.
struct Reloader {
    config_path: Option<PathBuf>,
    data_dir: PathBuf,
    rules: Arc<rules::RuleManager>,
    notifier: Arc<notify::Notifier>,
}

impl web::Reload for Reloader {
    fn reload(&self) -> Result<(), String> {
        let Some(path) = &self.config_path else {
            return Ok(());
        };
        let cfg = config::load_file(path).map_err(|e| e.to_string())?.config;
        let am = alertmanager_config(&cfg).map_err(|e| format!("{e:#}"))?;
        let files = rule_files(&cfg, &self.data_dir).map_err(|e| format!("{e:#}"))?;
        self.rules.reload(&files).map_err(|e| e.to_string())?;
        self.notifier.reload(am).map_err(|e| e.to_string())?;
        tracing::info!(config = %path.display(), "configuration reloaded");
        Ok(())
    }
}

/// SIGHUP reloads the configuration, as in Prometheus.
fn spawn_sighup_reload(reload: Arc<dyn web::Reload>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            let r = reload.clone();
            match tokio::task::spawn_blocking(move || r.reload()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
                Err(e) => tracing::error!(error = %e, "reload failed"),
                Ok(Ok(())) => {}
            }
        }
    });
}

fn host_collector_config(s: &config::HostSettings) -> collect::HostConfig {
    let mut c = collect::HostConfig::default();
    if let Some(names) = &s.collectors {
        c.collectors = names.clone();
    }
    if let Some(re) = &s.mount_points_exclude {
        c.mount_points_exclude = re.clone();
    }
    if let Some(re) = &s.fs_types_exclude {
        c.fs_types_exclude = re.clone();
    }
    c
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
