//! `kopilka serve | demo | bench`.

use crate::config::Config;
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
    /// Measure throughput and latency (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    observability::init_logging();
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

fn admin_token_from_env() -> Option<String> {
    std::env::var("KOPILKA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            database,
            config,
        } => {
            let mut cfg = match config {
                Some(path) => Config::from_file(&path)?,
                None => Config::default(),
            };
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(d) = database {
                cfg.database = d;
            }
            if let Some(t) = admin_token_from_env() {
                cfg.admin_token = Some(t);
            }
            if let Ok(key) = std::env::var("KOPILKA_SEAL_KEY") {
                cfg.seal_key = Some(key);
            }
            cfg.apply_env(env_setting)?;
            cfg.outbox.apply_env(env_setting)?;
            let generated = cfg.admin_token.is_none();
            let running = server::start(cfg).await?;
            println!("kopilka listening on http://{}", running.addr);
            if generated {
                println!(
                    "admin token (generated, set KOPILKA_ADMIN_TOKEN to fix it): {}",
                    running.admin_token
                );
            }
            running.run_until_signal().await;
            Ok(())
        }
        Command::Demo { listen, database } => {
            let dir = tempfile::tempdir()?;
            let database = database.unwrap_or_else(|| {
                format!("sqlite://{}", dir.path().join("kopilka-demo.db").display())
            });
            let seal_key = crate::secrets::Sealer::generate_key();
            let mut cfg = Config {
                listen,
                database: database.clone(),
                admin_token: admin_token_from_env(),
                seal_key: Some(seal_key.clone()),
                demo_pages: true,
                loymax: crate::config::LoymaxSettings {
                    cors_allowed_origins: vec!["*".into()],
                },
                ..Config::default()
            };
            cfg.apply_env(env_setting)?;
            let store = kopilka_store::open(&database).await?;
            let data = demo::parse(demo::DEMO_TOML)?;
            demo::seed(&store, &crate::secrets::Sealer::from_hex(&seal_key)?, &data).await?;
            let running = server::start_with_store(cfg, store).await?;
            println!("kopilka demo listening on http://{}", running.addr);
            println!("  database:     {database}");
            println!("  admin token:  {}", running.admin_token);
            println!("  health:       {}/healthz", running.public_url);
            println!(
                "  native API:   {}/v1 (OpenAPI: {}/v1/openapi.json)",
                running.public_url, running.public_url
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
            running.run_until_signal().await;
            drop(dir);
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(args).await,
    }
}
