//! The `concierge` command line (the contract in `DEMO.md`): every subcommand, its arguments,
//! and what it prints. Each exits non-zero with a one-line reason on bad input.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use entity::db::PoolOptions;
use entity::{Db, Role, TenantId, TenantKind};
use migration::MigratorTrait;
use secrecy::ExposeSecret;

use crate::auth::JwtKeys;
use crate::config::{Config, parse_duration};
use crate::error::ApiError;
use crate::server::Server;
use crate::service::directory::{self, NewTenant, NewUser};
use crate::state::{AppState, build_embedder};
use crate::{seed, telemetry};

/// Concierge: a multi-tenant agent backend.
#[derive(Debug, Parser)]
#[command(name = "concierge", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply all pending database migrations (connects as DATABASE_ADMIN_URL).
    Migrate,
    /// Create demo data (idempotent).
    Seed {
        /// The two demo tenants and six users of DEMO.md, with their knowledge.
        #[arg(long)]
        demo: bool,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Add Markdown knowledge to a tenant: one chunk per heading section.
    Ingest {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Category for documents without `category:` front matter.
        #[arg(long)]
        category: Option<String>,
        /// Markdown files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Re-embed knowledge whose vectors were made by another model than the configured
    /// EMBEDDER (run it after changing the embedder; chunks already current are skipped).
    Reembed {
        /// Only this tenant (by slug); every tenant without it.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print a JWT for a user (for scripts and GraphiQL).
    Token {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Lifetime, like 90s, 15m, 1h or 7d (default: JWT_TTL).
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
    },
    /// Serve the GraphQL API (and the web app when built), with the agent runtime unless
    /// AGENT_RUNTIME=off.
    Serve,
    /// Run the agent runtime only (answers queued messages; several may run at once).
    Worker,
    /// Print the GraphQL schema (SDL); `just schema` writes it to schema.graphql.
    Schema,
    /// Inspect the configured LLM provider.
    #[command(subcommand)]
    Llm(LlmCommand),
}

/// `concierge llm ...`
#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Say which LLM provider is configured and send it one tiny request to see that it works.
    Check,
}

/// `concierge tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short unique name (lower-case letters, digits, '-').
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Kind of business.
        #[arg(long, value_enum)]
        kind: KindArg,
    },
}

/// `concierge user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from the CONCIERGE_PASSWORD environment variable.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Login email.
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Permissions.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Job title ("Head chef").
        #[arg(long)]
        title: Option<String>,
    },
}

/// `--kind` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// A restaurant.
    Restaurant,
    /// A rental property.
    Property,
    /// Anything else.
    Other,
}

/// `--role` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Runs the tenant.
    Manager,
    /// Works there.
    Staff,
    /// Lives there or belongs to it.
    Member,
}

fn parse_ttl(raw: &str) -> Result<Duration, String> {
    parse_duration(raw).ok_or_else(|| format!("{raw:?} is not a duration like 90s, 15m, 1h or 7d"))
}

/// Parses the arguments and runs the command. Returns the process exit code.
pub async fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return std::process::ExitCode::SUCCESS;
            }
            // clap's own message, first line only: the contract is a one-line reason.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first}");
            return std::process::ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);
    let outcome = run(cli.command, config).await;
    telemetry::shutdown();
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let reason = match &e {
                ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                    format!("{e}: {detail}")
                }
                other => other.to_string(),
            };
            eprintln!("error: {}", reason.replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn connect(config: &Config) -> Result<Db, ApiError> {
    Ok(Db::connect(config.database_url.expose_secret(), &PoolOptions::default()).await?)
}

async fn tenant_by_slug(db: &Db, slug: &str) -> Result<TenantId, ApiError> {
    db.find_tenant_by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::Invalid(format!("unknown tenant {slug:?}")))
}

/// Writes a result line to standard output (the commands' machine-readable output).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

async fn run(command: Command, config: Config) -> Result<(), ApiError> {
    match command {
        Command::Migrate => {
            let db = Db::connect(
                config.database_admin_url.expose_secret(),
                &PoolOptions::default(),
            )
            .await?;
            migration::Migrator::up(db.connection(), None)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            say("migrations applied");
        }
        Command::Seed { demo } => {
            if !demo {
                return Err(ApiError::Invalid("nothing to seed: pass --demo".into()));
            }
            let db = connect(&config).await?;
            let embedder = build_embedder(&config).await?;
            let report = seed::seed_demo(&db, embedder.as_ref()).await?;
            say(&format!(
                "demo data ready: created {} tenants, {} users, {} knowledge chunks",
                report.tenants, report.users, report.chunks
            ));
            if report.reembedded > 0 {
                say(&format!(
                    "re-embedded {} demo knowledge chunks with {}",
                    report.reembedded,
                    embedder.model()
                ));
            }
        }
        Command::Tenant(TenantCommand::Create { slug, name, kind }) => {
            let db = connect(&config).await?;
            let kind = match kind {
                KindArg::Restaurant => TenantKind::Restaurant,
                KindArg::Property => TenantKind::Property,
                KindArg::Other => TenantKind::Other,
            };
            let tenant = directory::create_tenant(&db, NewTenant { slug, name, kind }).await?;
            say(&format!("created tenant {} ({})", tenant.slug, tenant.id));
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            name,
            role,
            title,
        }) => {
            let password = std::env::var("CONCIERGE_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ApiError::Invalid(
                        "CONCIERGE_PASSWORD is not set: the new user's password is read from it"
                            .into(),
                    )
                })?;
            let db = connect(&config).await?;
            let tenant = tenant_by_slug(&db, &tenant).await?;
            let role = match role {
                RoleArg::Manager => Role::Manager,
                RoleArg::Staff => Role::Staff,
                RoleArg::Member => Role::Member,
            };
            let user = directory::create_user(
                &db,
                tenant,
                NewUser {
                    email,
                    name,
                    role,
                    title,
                    password,
                },
            )
            .await?;
            say(&format!("created user {} ({})", user.email, user.id));
            announce_roster_change(&config, user.tenant_id).await;
        }
        Command::Ingest {
            tenant,
            category,
            files,
        } => {
            let db = connect(&config).await?;
            let tenant = tenant_by_slug(&db, &tenant).await?;
            let mut chunks = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    ApiError::Invalid(format!("cannot read {}: {e}", file.display()))
                })?;
                let doc_chunks = agent::knowledge::chunk_markdown(&text, category.as_deref())
                    .map_err(|e| ApiError::Invalid(format!("{}: {e}", file.display())))?;
                chunks.extend(doc_chunks);
            }
            let embedder = build_embedder(&config).await?;
            let stored =
                agent::knowledge::ingest(&db, embedder.as_ref(), tenant, None, chunks).await?;
            say(&format!(
                "ingested {} chunks from {} files",
                stored.len(),
                files.len()
            ));
        }
        Command::Reembed { tenant } => {
            let db = connect(&config).await?;
            let embedder = build_embedder(&config).await?;
            let embedder = embedder.as_ref();
            let done = match tenant {
                Some(slug) => {
                    let id = tenant_by_slug(&db, &slug).await?;
                    let report = agent::knowledge::reembed(&db, embedder, id, None).await?;
                    vec![(slug, report)]
                }
                None => agent::knowledge::reembed_all(&db, embedder)
                    .await?
                    .into_iter()
                    .map(|(t, report)| (t.slug, report))
                    .collect(),
            };
            for (slug, report) in done {
                say(&format!(
                    "{slug}: re-embedded {} chunks with {} ({} already current)",
                    report.reembedded,
                    embedder.model(),
                    report.current
                ));
            }
        }
        Command::Token { email, ttl } => {
            let db = connect(&config).await?;
            let login = db
                .find_login(&email)
                .await?
                .ok_or_else(|| ApiError::Invalid(format!("no user with email {email:?}")))?;
            let user = directory::user_by_email(&db, login.tenant_id, &email)
                .await?
                .ok_or_else(|| ApiError::Invalid(format!("no user with email {email:?}")))?;
            let keys = JwtKeys::new(&config.jwt);
            let ttl = ttl.unwrap_or_else(|| keys.default_ttl());
            let (token, _) = keys
                .issue(user.id, user.tenant_id, user.role, ttl)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            say(&token);
        }
        Command::Schema => say(crate::graphql::sdl().trim_end()),
        Command::Worker => {
            let state = AppState::new(config).await?;
            state.db.check_row_security().await?;
            announce_llm(&state).await;
            let parts = state.runtime_parts()?;
            let shutdown = state.shutdown.clone();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                crate::server::wait_for_signal().await;
                signal.cancel();
            });
            if let Some(addr) = state.config.metrics_addr {
                let bound = crate::server::serve_operations(&state, addr).await?;
                say(&format!(
                    "Concierge worker metrics on http://{bound}/metrics"
                ));
            }
            say("Concierge worker is running");
            agent::runtime::run(parts, state.config.runtime.clone(), shutdown).await;
        }
        Command::Serve => {
            let state = AppState::new(config).await?;
            state.db.check_row_security().await?;
            announce_llm(&state).await;
            let server = Server::bind(state).await?;
            // Scripts and tests wait for this line (and read the port from it when BIND_ADDR
            // asks for port 0).
            say(&format!(
                "Concierge is listening on http://{}",
                server.local_addr()?
            ));
            server.run().await?;
        }
        Command::Llm(LlmCommand::Check) => check_llm(&config.llm).await?,
    }
    Ok(())
}

/// Tells running processes that a tenant's roster changed, so agents can target the new user
/// and servers re-read the tenant's users at once instead of after their caches expire. Best
/// effort: without Redis the caches refresh on their own (`TENANT_AGENT_TTL`, `AUTH_CACHE_TTL`).
async fn announce_roster_change(config: &Config, tenant: TenantId) {
    let sent = async {
        let redis =
            agent::redis::pool(config.redis_url.expose_secret(), 1).map_err(|e| e.to_string())?;
        let publisher = agent::bus::Publisher::new(redis, &config.redis_prefix);
        publisher
            .tenant_changed(tenant)
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(3), sent).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not tell running agents about the new user")
        }
        Err(_) => {
            tracing::warn!("could not tell running agents about the new user: Redis did not answer")
        }
    }
}

/// Logs which LLM provider is active and, when it can tell, whether it works: an invalid key or
/// an unknown model is a clear line at startup instead of a failure on the first message.
async fn announce_llm(state: &AppState) {
    tracing::info!(llm.provider = %state.llm.name(), "{}", state.config.llm.describe());
    match tokio::time::timeout(Duration::from_secs(15), state.llm.check()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if !e.retryable() => {
            tracing::error!(llm.provider = %state.llm.name(), error = %e, "the LLM provider refuses requests; messages will fail until this is fixed");
        }
        Ok(Err(e)) => {
            tracing::warn!(llm.provider = %state.llm.name(), error = %e, "the LLM provider is not answering yet")
        }
        Err(_) => {
            tracing::warn!(llm.provider = %state.llm.name(), "the LLM provider check timed out")
        }
    }
}

/// `concierge llm check`: the provider in use, then whether one tiny request succeeds.
async fn check_llm(llm: &agent::llm::LlmConfig) -> Result<(), ApiError> {
    say(&format!("LLM provider: {}", llm.describe()));
    let provider = llm
        .build_provider()
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let Some(provider) = provider else {
        say("offline needs no network: nothing to check");
        return Ok(());
    };
    provider
        .check()
        .await
        .map_err(|e| ApiError::Invalid(format!("{} does not work: {e}", provider.name())))?;
    say(&format!("{} works", provider.name()));
    Ok(())
}
