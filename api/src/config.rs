//! Configuration: read once from the environment (and a `.env` file when present), validated at
//! start with one clear message per bad value, then passed around typed. Every variable has a
//! default that runs the product against the local services of `just services`; production mode
//! refuses the defaults that are only safe on a developer's machine.
//!
//! The README's configuration table lists every variable with its default; keep the two in step.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use agent::consumer::ConsumerConfig;
use agent::embedding::{
    EmbedderConfig, GeminiEmbedderConfig, OpenAiEmbedderConfig, gemini, openai,
};
use agent::memory::MemoryConfig;
use agent::runtime::RuntimeConfig;
use agent::tenant::TenantAgentConfig;
use agent::turn::TurnConfig;
use secrecy::{ExposeSecret, SecretString};

use crate::rate_limit::{Bucket, RateLimitConfig};

/// The development JWT secret. Production mode refuses to start with it.
pub const DEV_JWT_SECRET: &str = "concierge-dev-secret-do-not-use-in-production";
/// Shortest JWT secret accepted in production (HS256 wants at least 256 bits of key).
pub const MIN_PRODUCTION_SECRET_LEN: usize = 32;

/// Development or production; production refuses unsafe defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// A developer's machine: demo accounts one click away, GraphiQL on.
    Development,
    /// Real users.
    Production,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line for a log pipeline.
    Json,
}

/// Which embedder turns text into vectors (`EMBEDDER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedderKind {
    /// Deterministic lexical hashing; no weights, no network.
    Hash,
    /// all-MiniLM-L6-v2 in-process (weights from `scripts/models.sh`).
    Local,
    /// The Gemini API.
    Gemini,
    /// An OpenAI-compatible `/embeddings` endpoint.
    OpenAi,
}

/// Where `scripts/models.sh` unpacks the local model, relative to the repository root.
pub const DEFAULT_LOCAL_EMBEDDER_DIR: &str = ".local/models/all-MiniLM-L6-v2";

/// JWT settings.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// HS256 key.
    pub secret: SecretString,
    /// `iss` of issued tokens, required on verified ones.
    pub issuer: String,
    /// `aud` of issued tokens, required on verified ones.
    pub audience: String,
    /// Lifetime of a token issued by `login`.
    pub ttl: Duration,
}

/// Everything the process is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// `CONCIERGE_ENV`.
    pub environment: Environment,
    /// `BIND_ADDR`: where `serve` listens.
    pub bind_addr: SocketAddr,
    /// `DATABASE_URL`: the application role (subject to row-level security).
    pub database_url: SecretString,
    /// `DATABASE_ADMIN_URL`: the owner role, used only by `migrate`.
    pub database_admin_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS`: size of the connection pool.
    pub database_max_connections: u32,
    /// `REDIS_URL`.
    pub redis_url: SecretString,
    /// `REDIS_KEY_PREFIX`: every Redis key and channel starts with it.
    pub redis_prefix: String,
    /// `JWT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`, `JWT_TTL`.
    pub jwt: JwtConfig,
    /// `AUTH_CACHE_TTL`: how long a token's user, once looked up, is trusted without another
    /// look (see [`crate::auth::UserCache`]; 0 looks up every request).
    pub auth_cache_ttl: Duration,
    /// `EMBEDDER` and what the chosen embedder needs (`LOCAL_EMBEDDER_DIR`, `GEMINI_*`,
    /// `OPENAI_*`).
    pub embedder: EmbedderConfig,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `WEB_DIR`: the built web app served at `/`, when the folder exists.
    pub web_dir: PathBuf,
    /// `WS_INIT_TIMEOUT`: a WebSocket that sends no `connection_init` within this time is closed
    /// with 4408.
    pub ws_init_timeout: Duration,
    /// `AGENT_RUNTIME`: whether `serve` also runs the agent runtime (`on`) or only the API
    /// (`off`, with separate `concierge worker` processes).
    pub run_agent: bool,
    /// The agent runtime: `WORKER_CONCURRENCY`, `AGENT_MAX_ATTEMPTS`, `RETRIEVAL_TOP_K`,
    /// `STREAM_RECLAIM_IDLE`, `STREAM_RECLAIM_INTERVAL`, `STREAM_SWEEP_INTERVAL`, `STREAM_SWEEP_MIN_AGE`, `SESSION_LEASE_TTL`,
    /// `SESSION_MEMORY_TURNS`, `SESSION_MEMORY_TOKENS`, `SESSION_MEMORY_TTL`,
    /// `SESSION_MEMORY_MAX_SESSIONS`, `TENANT_AGENT_TTL`, `SHUTDOWN_DRAIN_TIMEOUT`,
    /// `TENANT_DAILY_TOKEN_BUDGET` (read by `sendMessage` too).
    pub runtime: RuntimeConfig,
    /// `LLM_PROVIDER`, `GEMINI_*`, `OPENAI_*`, `LLM_*`: which LLM answers and how (read and
    /// checked by [`agent::llm::LlmConfig::from_lookup`]; README, "LLM providers").
    pub llm: agent::llm::LlmConfig,
    /// `METRICS_TOKEN`: when set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// `METRICS_ADDR`: where `concierge worker` serves `/metrics`, `/healthz` and `/readyz`
    /// (a worker serves nothing when unset; `serve` has them on `BIND_ADDR`).
    pub metrics_addr: Option<SocketAddr>,
    /// `GRAPHIQL`: serve GraphiQL at `/graphiql` (default: on in development, off in production).
    pub graphiql: bool,
    /// `GRAPHQL_INTROSPECTION`: answer introspection queries and suggest field names in error
    /// messages (default: on in development, off in production).
    pub introspection: bool,
    /// `CORS_ORIGINS`: origins (`https://app.example.com`) whose web pages may call the API. In
    /// development any `localhost` origin may too.
    pub cors_origins: Vec<String>,
    /// `RATE_LIMIT_USER_PER_MINUTE`, `RATE_LIMIT_USER_BURST`, `RATE_LIMIT_TENANT_PER_MINUTE`,
    /// `RATE_LIMIT_TENANT_BURST`: the token buckets of `sendMessage`.
    pub rate_limits: RateLimitConfig,
}

/// Reads variables, remembering every problem so they can all be reported at once.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn string(&self, name: &str, default: &str) -> String {
        (self.get)(name)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn parse<T: FromStr>(&mut self, name: &str, default: T, expected: &str) -> T {
        match (self.get)(name).filter(|v| !v.trim().is_empty()) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                self.errors
                    .push(format!("{name}={raw:?} is not valid: expected {expected}"));
                default
            }),
        }
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        match (self.get)(name).filter(|v| !v.trim().is_empty()) {
            None => default,
            Some(raw) => parse_duration(&raw).unwrap_or_else(|| {
                self.errors.push(format!(
                    "{name}={raw:?} is not valid: expected a duration like 90s, 15m, 12h or 7d"
                ));
                default
            }),
        }
    }

    fn choice<T: Copy>(&mut self, name: &str, default: T, options: &[(&str, T)]) -> T {
        let Some(raw) = (self.get)(name).filter(|v| !v.trim().is_empty()) else {
            return default;
        };
        let wanted = raw.trim().to_ascii_lowercase();
        if let Some((_, v)) = options.iter().find(|(k, _)| *k == wanted) {
            *v
        } else {
            let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
            self.errors.push(format!(
                "{name}={raw:?} is not valid: expected one of {}",
                names.join(", ")
            ));
            default
        }
    }
}

/// The agent runtime's settings, with the runtime's own defaults.
fn runtime_config(r: &mut Reader<'_>) -> RuntimeConfig {
    let (c, t, m, a) = (
        ConsumerConfig::default(),
        TurnConfig::default(),
        MemoryConfig::default(),
        TenantAgentConfig::default(),
    );
    let concurrency: usize = r.parse("WORKER_CONCURRENCY", c.concurrency, "a number of messages");
    if concurrency == 0 {
        r.errors
            .push("WORKER_CONCURRENCY must be at least 1".into());
    }
    let max_attempts = r.parse("AGENT_MAX_ATTEMPTS", t.max_attempts, "a number of attempts");
    if max_attempts == 0 {
        r.errors
            .push("AGENT_MAX_ATTEMPTS must be at least 1".into());
    }
    RuntimeConfig {
        consumer: ConsumerConfig {
            concurrency,
            max_held: concurrency.saturating_mul(4).max(c.max_held),
            reclaim_idle: r.duration("STREAM_RECLAIM_IDLE", c.reclaim_idle),
            reclaim_interval: r.duration("STREAM_RECLAIM_INTERVAL", c.reclaim_interval),
            sweep_interval: r.duration("STREAM_SWEEP_INTERVAL", c.sweep_interval),
            sweep_min_age: r.duration("STREAM_SWEEP_MIN_AGE", c.sweep_min_age),
            lease_ttl: r.duration("SESSION_LEASE_TTL", c.lease_ttl),
            ..c
        },
        turn: TurnConfig {
            retrieval_k: r.parse("RETRIEVAL_TOP_K", t.retrieval_k, "a number of chunks"),
            max_attempts,
            daily_token_budget: r.parse(
                "TENANT_DAILY_TOKEN_BUDGET",
                t.daily_token_budget,
                "a number of tokens (0 for no limit)",
            ),
            ..t
        },
        memory: MemoryConfig {
            max_turns: r.parse("SESSION_MEMORY_TURNS", m.max_turns, "a number of turns"),
            token_budget: r.parse(
                "SESSION_MEMORY_TOKENS",
                m.token_budget,
                "a number of tokens",
            ),
            idle_ttl: r.duration("SESSION_MEMORY_TTL", m.idle_ttl),
            max_sessions: r.parse(
                "SESSION_MEMORY_MAX_SESSIONS",
                m.max_sessions,
                "a number of sessions",
            ),
        },
        tenants: TenantAgentConfig {
            idle_ttl: r.duration("TENANT_AGENT_TTL", a.idle_ttl),
        },
        drain_timeout: r.duration("SHUTDOWN_DRAIN_TIMEOUT", Duration::from_secs(20)),
    }
}

impl Reader<'_> {
    /// `EMBEDDER` and its settings; a remote embedder without its key is an error.
    fn embedder(&mut self) -> EmbedderConfig {
        let kind = self.choice(
            "EMBEDDER",
            EmbedderKind::Hash,
            &[
                ("hash", EmbedderKind::Hash),
                ("local", EmbedderKind::Local),
                ("gemini", EmbedderKind::Gemini),
                ("openai", EmbedderKind::OpenAi),
            ],
        );
        let secret = |r: &Self, name: &str| {
            (r.get)(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(SecretString::from)
        };
        match kind {
            EmbedderKind::Hash => EmbedderConfig::Hash,
            EmbedderKind::Local => EmbedderConfig::Local {
                model_dir: PathBuf::from(
                    self.string("LOCAL_EMBEDDER_DIR", DEFAULT_LOCAL_EMBEDDER_DIR),
                ),
            },
            EmbedderKind::Gemini => {
                let api_key = secret(self, "GEMINI_API_KEY").unwrap_or_else(|| {
                    self.errors
                        .push("EMBEDDER=gemini needs GEMINI_API_KEY".into());
                    SecretString::from(String::new())
                });
                EmbedderConfig::Gemini(GeminiEmbedderConfig {
                    base_url: self.string("GEMINI_BASE_URL", gemini::GEMINI_DEFAULT_BASE_URL),
                    api_key,
                    model: self.string(
                        "GEMINI_EMBEDDING_MODEL",
                        gemini::GEMINI_DEFAULT_EMBEDDING_MODEL,
                    ),
                })
            }
            EmbedderKind::OpenAi => {
                let raw = self.string("OPENAI_EMBEDDING_DIMENSIONS", "1536");
                let dimensions = if raw.trim().eq_ignore_ascii_case("none") {
                    None
                } else {
                    match raw.trim().parse::<usize>() {
                        Ok(d) if (1..=agent::embedding::EMBEDDING_DIM).contains(&d) => Some(d),
                        _ => {
                            self.errors.push(format!(
                                "OPENAI_EMBEDDING_DIMENSIONS={raw:?} is not valid: expected 1 to {} or none",
                                agent::embedding::EMBEDDING_DIM
                            ));
                            None
                        }
                    }
                };
                EmbedderConfig::OpenAi(OpenAiEmbedderConfig {
                    base_url: self.string("OPENAI_BASE_URL", openai::OPENAI_DEFAULT_BASE_URL),
                    api_key: secret(self, "OPENAI_API_KEY"),
                    model: self.string(
                        "OPENAI_EMBEDDING_MODEL",
                        openai::OPENAI_DEFAULT_EMBEDDING_MODEL,
                    ),
                    dimensions,
                })
            }
        }
    }
}

/// The rate limits of `sendMessage`, with their documented defaults.
fn rate_limits(r: &mut Reader<'_>) -> RateLimitConfig {
    let d = RateLimitConfig::default();
    let mut bucket = |scope: &str, default: Bucket| {
        let bucket = Bucket {
            per_minute: r.parse(
                &format!("RATE_LIMIT_{scope}_PER_MINUTE"),
                default.per_minute,
                "a number of messages per minute (0 for no limit)",
            ),
            burst: r.parse(
                &format!("RATE_LIMIT_{scope}_BURST"),
                default.burst,
                "a number of messages",
            ),
        };
        if bucket.burst == 0 {
            r.errors
                .push(format!("RATE_LIMIT_{scope}_BURST must be at least 1"));
        }
        bucket
    };
    RateLimitConfig {
        user: bucket("USER", d.user),
        tenant: bucket("TENANT", d.tenant),
    }
}

/// `CORS_ORIGINS`: a comma-separated list of origins, each `http(s)://host[:port]`.
fn cors_origins(r: &mut Reader<'_>) -> Vec<String> {
    let raw = r.string("CORS_ORIGINS", "");
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let origin = entry.trim_end_matches('/');
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let valid = host.is_some_and(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        });
        if valid {
            origins.push(origin.to_owned());
        } else {
            r.errors.push(format!(
                "CORS_ORIGINS entry {entry:?} is not an origin like https://app.example.com"
            ));
        }
    }
    origins
}

/// Parses `500ms`, `90s`, `15m`, `12h`, `7d` (a bare number is seconds).
#[must_use]
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => return Some(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// The configuration could not be loaded; the message lists every problem, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Loads the configuration from the process environment (after reading `.env`, if any).
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid or, in production, unsafe value.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a malformed one is reported by the values it sets.
        let _ = dotenvy::dotenv();
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Loads the configuration from any lookup function (tests use a map).
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid or, in production, unsafe value.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            get,
            errors: Vec::new(),
        };
        let environment = r.choice(
            "CONCIERGE_ENV",
            Environment::Development,
            &[
                ("development", Environment::Development),
                ("production", Environment::Production),
            ],
        );
        let bind_addr = r.parse(
            "BIND_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "an address like 127.0.0.1:8080",
        );
        let database_url = r.string(
            "DATABASE_URL",
            "postgres://concierge_app:concierge_app@127.0.0.1:55432/concierge",
        );
        let database_admin_url = r.string(
            "DATABASE_ADMIN_URL",
            "postgres://concierge:concierge@127.0.0.1:55432/concierge",
        );
        let database_max_connections =
            r.parse("DATABASE_MAX_CONNECTIONS", 32, "a number of connections");
        let redis_url = r.string("REDIS_URL", "redis://127.0.0.1:56379");
        let redis_prefix = r.string("REDIS_KEY_PREFIX", "concierge");
        let secret = r.string("JWT_SECRET", DEV_JWT_SECRET);
        let jwt = JwtConfig {
            issuer: r.string("JWT_ISSUER", "concierge"),
            audience: r.string("JWT_AUDIENCE", "concierge-api"),
            ttl: r.duration("JWT_TTL", Duration::from_secs(12 * 3600)),
            secret: SecretString::from(secret),
        };
        let auth_cache_ttl = r.duration("AUTH_CACHE_TTL", Duration::from_secs(30));
        let embedder = r.embedder();
        let log_format = r.choice(
            "LOG_FORMAT",
            LogFormat::Human,
            &[("human", LogFormat::Human), ("json", LogFormat::Json)],
        );
        let web_dir = PathBuf::from(r.string("WEB_DIR", "frontend/dist"));
        let ws_init_timeout = r.duration("WS_INIT_TIMEOUT", Duration::from_secs(5));
        let run_agent = r.choice("AGENT_RUNTIME", true, &[("on", true), ("off", false)]);
        let runtime = runtime_config(&mut r);
        let metrics_token = (r.get)("METRICS_TOKEN")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(SecretString::from);
        let metrics_addr = (r.get)("METRICS_ADDR")
            .filter(|v| !v.trim().is_empty())
            .and_then(|raw| match raw.trim().parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    r.errors.push(format!(
                        "METRICS_ADDR={raw:?} is not valid: expected an address like 0.0.0.0:9100"
                    ));
                    None
                }
            });
        let production = environment == Environment::Production;
        let graphiql = r.choice("GRAPHIQL", !production, &[("on", true), ("off", false)]);
        let introspection = r.choice(
            "GRAPHQL_INTROSPECTION",
            !production,
            &[("on", true), ("off", false)],
        );
        let cors_origins = cors_origins(&mut r);
        let rate_limits = rate_limits(&mut r);
        let llm = agent::llm::LlmConfig::from_lookup(get).unwrap_or_else(|errors| {
            r.errors.extend(errors);
            agent::llm::LlmConfig::default()
        });

        if database_max_connections == 0 {
            r.errors
                .push("DATABASE_MAX_CONNECTIONS must be at least 1".into());
        }
        if jwt.ttl < Duration::from_secs(60) || jwt.ttl > Duration::from_secs(30 * 86_400) {
            r.errors.push("JWT_TTL must be between 1m and 30d".into());
        }
        if !redis_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c))
        {
            r.errors.push(format!(
                "REDIS_KEY_PREFIX={redis_prefix:?} may only hold letters, digits and - _ : ."
            ));
        }
        if environment == Environment::Production {
            let secret = jwt.secret.expose_secret();
            if secret == DEV_JWT_SECRET {
                r.errors.push(
                    "JWT_SECRET must be set in production (the development default is refused)"
                        .into(),
                );
            } else if secret.len() < MIN_PRODUCTION_SECRET_LEN {
                r.errors.push(format!(
                    "JWT_SECRET is too short for production: at least {MIN_PRODUCTION_SECRET_LEN} characters"
                ));
            }
        }
        if !r.errors.is_empty() {
            return Err(ConfigError(r.errors));
        }
        Ok(Self {
            environment,
            bind_addr,
            database_url: SecretString::from(database_url),
            database_admin_url: SecretString::from(database_admin_url),
            database_max_connections,
            redis_url: SecretString::from(redis_url),
            redis_prefix,
            jwt,
            auth_cache_ttl,
            embedder,
            log_format,
            web_dir,
            ws_init_timeout,
            run_agent,
            runtime,
            llm,
            metrics_token,
            metrics_addr,
            graphiql,
            introspection,
            cors_origins,
            rate_limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(&|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_target_the_local_services() {
        let c = load(&[]).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert!(c.database_url.expose_secret().contains(":55432/"));
        assert_eq!(c.jwt.ttl, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let err = load(&[
            ("BIND_ADDR", "nowhere"),
            ("JWT_TTL", "soon"),
            ("LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.to_string().contains("BIND_ADDR"));
    }

    #[test]
    fn production_refuses_default_and_short_secrets() {
        let err = load(&[("CONCIERGE_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET must be set"));
        let err = load(&[("CONCIERGE_ENV", "production"), ("JWT_SECRET", "short")]).unwrap_err();
        assert!(err.to_string().contains("too short"));
        load(&[
            ("CONCIERGE_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(40)),
        ])
        .unwrap();
    }

    #[test]
    fn production_turns_graphiql_and_introspection_off_unless_enabled() {
        let secret = "x".repeat(40);
        let dev = load(&[]).unwrap();
        assert!(dev.graphiql && dev.introspection);
        let prod = load(&[("CONCIERGE_ENV", "production"), ("JWT_SECRET", &secret)]).unwrap();
        assert!(!prod.graphiql && !prod.introspection);
        let on = load(&[
            ("CONCIERGE_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("GRAPHIQL", "on"),
            ("GRAPHQL_INTROSPECTION", "on"),
        ])
        .unwrap();
        assert!(on.graphiql && on.introspection);
    }

    #[test]
    fn cors_origins_and_rate_limits_are_checked() {
        let c = load(&[
            (
                "CORS_ORIGINS",
                "https://app.example.com, http://localhost:5173/",
            ),
            ("RATE_LIMIT_USER_PER_MINUTE", "0"),
            ("TENANT_DAILY_TOKEN_BUDGET", "50000"),
        ])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert_eq!(c.rate_limits.user.per_minute, 0);
        assert_eq!(c.rate_limits.tenant, RateLimitConfig::default().tenant);
        assert_eq!(c.runtime.turn.daily_token_budget, 50_000);
        let err = load(&[
            ("CORS_ORIGINS", "app.example.com,https://ok.example.com,*"),
            ("RATE_LIMIT_TENANT_BURST", "0"),
            ("TENANT_DAILY_TOKEN_BUDGET", "lots"),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = load(&[("JWT_SECRET", "a-very-secret-value-1234567890")]).unwrap();
        assert!(!format!("{c:?}").contains("a-very-secret-value"));
    }

    #[test]
    fn embedders_are_configured_with_what_they_need() {
        assert!(matches!(load(&[]).unwrap().embedder, EmbedderConfig::Hash));
        match load(&[("EMBEDDER", "local")]).unwrap().embedder {
            EmbedderConfig::Local { model_dir } => {
                assert_eq!(model_dir, PathBuf::from(DEFAULT_LOCAL_EMBEDDER_DIR));
            }
            other => panic!("{other:?}"),
        }
        let err = load(&[("EMBEDDER", "gemini")]).unwrap_err();
        assert!(err.to_string().contains("GEMINI_API_KEY"), "{err}");
        let c = load(&[
            ("EMBEDDER", "gemini"),
            ("GEMINI_API_KEY", "gemini-secret-key-123"),
        ])
        .unwrap();
        assert!(
            matches!(&c.embedder, EmbedderConfig::Gemini(g) if g.model == "gemini-embedding-001")
        );
        assert!(!format!("{c:?}").contains("gemini-secret-key-123"));
        match load(&[
            ("EMBEDDER", "openai"),
            ("OPENAI_EMBEDDING_DIMENSIONS", "none"),
        ])
        .unwrap()
        .embedder
        {
            EmbedderConfig::OpenAi(o) => {
                assert_eq!(o.dimensions, None);
                assert!(o.api_key.is_none());
            }
            other => panic!("{other:?}"),
        }
        let err = load(&[
            ("EMBEDDER", "openai"),
            ("OPENAI_EMBEDDING_DIMENSIONS", "3072"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("OPENAI_EMBEDDING_DIMENSIONS"),
            "{err}"
        );
        assert!(load(&[("EMBEDDER", "word2vec")]).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("12"), Some(Duration::from_secs(12)));
        assert_eq!(parse_duration("1 week"), None);
    }
}
