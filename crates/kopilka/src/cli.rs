//! `kopilka serve | demo | migrate | backup | healthcheck | seal-key rotate | bench`.

use crate::config::Config;
use crate::outbox::{EmailSenderKind, SmsSenderKind};
use crate::{demo, observability, server};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kopilka",
    version,
    about = "Self-hosted loyalty and payment processing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, env = "KOPILKA_LISTEN")]
        listen: Option<SocketAddr>,
        /// sqlite://PATH (default sqlite://kopilka.db) or postgres://…
        #[arg(long, env = "KOPILKA_DATABASE_URL")]
        database: Option<String>,
        /// A TOML file with any of the settings.
        #[arg(long, env = "KOPILKA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the server on a fresh database seeded with the demo data.
    Demo {
        #[arg(long, env = "KOPILKA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the demo database lives; a fresh temporary SQLite file by default.
        #[arg(long)]
        database: Option<String>,
    },
    /// Apply the database's pending migrations (`serve` does too), or list them with --status.
    Migrate {
        /// sqlite://PATH (default sqlite://kopilka.db) or postgres://…
        #[arg(long, env = "KOPILKA_DATABASE_URL")]
        database: Option<String>,
        #[arg(long, env = "KOPILKA_CONFIG")]
        config: Option<PathBuf>,
        /// List every migration, applied (when) or pending, and change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Copy a running server's SQLite database to a new file, checked (docs/deployment.md;
    /// PostgreSQL: pg_dump).
    Backup {
        /// The new file; an existing one is never replaced.
        #[arg(long)]
        to: PathBuf,
        /// sqlite://PATH (default sqlite://kopilka.db)
        #[arg(long, env = "KOPILKA_DATABASE_URL")]
        database: Option<String>,
        #[arg(long, env = "KOPILKA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Exit 0 if the server on this machine answers /healthz (the container's health check).
    Healthcheck {
        /// The server's listen address; an unspecified IP (0.0.0.0, ::) is asked on loopback.
        #[arg(long, env = "KOPILKA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Manage the seal key (docs/deployment.md).
    SealKey {
        #[command(subcommand)]
        command: SealKeyCommand,
    },
    /// Measure throughput and latency (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum SealKeyCommand {
    /// Re-seal every sealed secret with a new key, in one transaction. Stop every server first.
    Rotate {
        /// sqlite://PATH (default sqlite://kopilka.db) or postgres://…
        #[arg(long, env = "KOPILKA_DATABASE_URL")]
        database: Option<String>,
        #[arg(long, env = "KOPILKA_CONFIG")]
        config: Option<PathBuf>,
        /// Where to write the new key (a new file). Default: over the key file the current key
        /// came from.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = observability::init_logging() {
        eprintln!("kopilka: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kopilka: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kopilka: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An environment variable's value; empty counts as unset.
fn env_setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The settings file (if any), then the environment, then the flags given.
fn settings(
    config: Option<PathBuf>,
    database: Option<String>,
    listen: Option<SocketAddr>,
) -> anyhow::Result<Config> {
    let mut cfg = match config {
        Some(path) => Config::from_file(&path)?,
        None => Config::default(),
    };
    cfg.apply_env(env_setting)?;
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(d) = database {
        cfg.database = d;
    }
    Ok(cfg)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            database,
            config,
        } => {
            let cfg = settings(config, database, listen)?;
            cfg.check_for_serve()?;
            let logged = [
                ("SMS", cfg.outbox.sms.sender() == SmsSenderKind::Log),
                ("e-mail", cfg.outbox.email.sender() == EmailSenderKind::Log),
            ];
            let running = server::start(cfg).await?;
            for (kind, _) in logged.iter().filter(|(_, log)| *log) {
                tracing::warn!(
                    "the log sender is chosen for {kind}: messages are written to the log (codes \
                     masked), not sent; for development only"
                );
            }
            println!("kopilka listening on http://{}", running.addr);
            running.run_until_signal().await;
            Ok(())
        }
        Command::Demo { listen, database } => {
            let dir = tempfile::tempdir()?;
            let database = database.unwrap_or_else(|| {
                format!("sqlite://{}", dir.path().join("kopilka-demo.db").display())
            });
            let mut cfg = Config {
                listen,
                database: database.clone(),
                demo_pages: true,
                loymax: crate::config::LoymaxSettings {
                    cors_allowed_origins: vec!["*".into()],
                },
                ..Config::default()
            };
            cfg.apply_env(env_setting)?;
            // The flags win over the environment (clap already took the variables for them).
            cfg.listen = listen;
            cfg.database = database.clone();
            if cfg.seal_key.is_none() && cfg.seal_key_file.is_none() {
                cfg.seal_key = Some(crate::secrets::Sealer::generate_key());
            }
            let store = kopilka_store::open(&database).await?;
            let (sealer, _) = crate::seal_key::unlock(&cfg, &store).await?;
            let data = demo::parse(demo::DEMO_TOML)?;
            let seeded = demo::seed(&store, &sealer, &data).await?;
            let running = server::start_with_store(cfg, store).await?;
            println!("kopilka demo listening on http://{}", running.addr);
            println!(
                "  start here:   {}/ (the demo's landing page)",
                running.public_url
            );
            println!(
                "  dashboard:    {}/admin (the landing page signs you in as operator demo)",
                running.public_url
            );
            println!("  database:     {database}");
            println!("  admin token:  {}", running.admin_token);
            println!("  health:       {}/healthz", running.public_url);
            println!(
                "  native API:   {0}/v1 (reference: {0}/v1/docs, OpenAPI: {0}/v1/openapi.json)",
                running.public_url
            );
            println!("  metrics:      {}/metrics", running.public_url);
            println!("  inCust shop:  {}/demo/shop", running.public_url);
            println!(
                "  ECommPay:     {}/demo/shop/ecommpay (project 35, secret kopilka-demo-35)",
                running.public_url
            );
            println!(
                "  Loymax:       {}/publicapi/v1.2/ (the public SDK's base URL; customer 79161234567, password 111111)",
                running.public_url
            );
            println!(
                "                processing and token: client demo-pos, secret demo-pos-secret; batch key kopilka-demo-batch"
            );
            println!(
                "  Kupi-Kupi:    {}/demo/shop/kupikupi (customers 79000000000, 79000000001)",
                running.public_url
            );
            for platform in &data.kupikupi {
                println!(
                    "                API {}/api/v1/transfer/: UidPlatform {}, SecretKey {}, DevSecretKey {}",
                    running.public_url, platform.uid, platform.secret_key, platform.dev_secret_key
                );
            }
            println!("  cabinet:      {}/cabinet", running.public_url);
            for social in &data.social {
                let Some((_, program)) = seeded.programs.iter().find(|(c, _)| *c == social.program)
                else {
                    continue;
                };
                println!(
                    "  social:       VK Callback API {}/social/{program}/vk (community {}, secret {}); Facebook {0}/social/{program}/facebook; docs/social-demo.sh",
                    running.public_url, social.vk_group_id, social.vk_secret
                );
            }
            running.run_until_signal().await;
            drop(dir);
            Ok(())
        }
        Command::SealKey {
            command:
                SealKeyCommand::Rotate {
                    database,
                    config,
                    new_key_file,
                },
        } => {
            let cfg = settings(config, database, None)?;
            let store = kopilka_store::open(&cfg.database).await?;
            let rotated = crate::seal_key::rotate(&cfg, &store, new_key_file).await;
            store.close().await;
            let rotated = rotated?;
            println!(
                "re-sealed {} secrets; the new key is in {}: start every server with it",
                rotated.resealed,
                rotated.new_key_file.display()
            );
            Ok(())
        }
        Command::Migrate {
            database,
            config,
            status,
        } => {
            let cfg = settings(config, database, None)?;
            if !status {
                kopilka_store::open(&cfg.database).await?.close().await;
            }
            let states = kopilka_store::migration::status(&cfg.database).await?;
            for state in &states {
                let applied = match (&state.applied_at, state.unknown) {
                    (Some(at), false) => format!("applied {at}"),
                    (Some(at), true) => format!("applied {at} by a newer kopilka"),
                    (None, _) => "pending".into(),
                };
                println!("{:04} {:<40} {applied}", state.version, state.name);
            }
            let pending = states.iter().filter(|s| s.applied_at.is_none()).count();
            println!("{pending} pending");
            Ok(())
        }
        Command::Backup {
            to,
            database,
            config,
        } => {
            let cfg = settings(config, database, None)?;
            let url = cfg.database.clone();
            let destination = to.clone();
            let staged = tokio::task::spawn_blocking(move || {
                kopilka_store::backup::stage(&url, &destination)
            })
            .await??;
            let (sealer, source) = crate::seal_key::configured(&cfg)?;
            match staged.seal_key_check() {
                Some(check) => anyhow::ensure!(
                    sealer.matches_check(check),
                    "the seal key from {source} is not the key this database is sealed with: \
                     the copy would be unreadable with it; back up with the server's key"
                ),
                None => tracing::warn!(
                    "the database holds no seal key check value yet (never served): the key \
                     could not be checked"
                ),
            }
            let size = staged.finish()?;
            println!(
                "backed up {} to {} ({size} bytes); the seal key is not in it: keep {source} \
                 with the backup",
                cfg.database,
                to.display()
            );
            Ok(())
        }
        Command::Healthcheck { listen } => {
            let mut addr = listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let response = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(format!("http://{addr}/healthz"))
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "http://{addr}/healthz answered {}",
                response.status()
            );
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(args).await,
    }
}
