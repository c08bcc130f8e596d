//! LLM configuration: which provider answers ([`ProviderKind`]), each network provider's
//! settings, and the call settings they share ([`CallSettings`]: sampling, streaming,
//! timeouts, retries). [`LlmConfig::from_lookup`] reads the environment variables listed in the
//! README ("LLM providers"); [`LlmConfig::build_provider`] builds the configured network
//! provider. The offline provider is built by the caller: the factory returns `None` for it.
//!
//! Without `LLM_PROVIDER`, a configured `GEMINI_API_KEY` selects Gemini, else a configured
//! `OPENAI_API_KEY` selects the OpenAI-compatible provider, else the product runs offline.
//! A local OpenAI-compatible server (Ollama, vLLM, llama.cpp) needs no key, so it is selected
//! explicitly with `LLM_PROVIDER=openai`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use super::gemini::GeminiProvider;
use super::openai::OpenAiProvider;
use super::retry::RetryPolicy;
use super::{LlmError, LlmProvider};

/// Gemini's public endpoint (API version v1beta, which has structured output and thinking).
pub const GEMINI_DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";
/// The default Gemini model: fast, cheap, structured output, thinking budget adjustable.
pub const GEMINI_DEFAULT_MODEL: &str = "gemini-2.5-flash";
/// OpenAI's public endpoint.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The default OpenAI model: small and fast, with strict structured outputs.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4.1-mini";
/// Default sampling temperature: low, because answers come from the given knowledge.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;
/// Default output token limit: a short reply with a few actions needs a few hundred tokens;
/// the rest is room for thinking models, whose thoughts count against this limit.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 2048;
/// Default connect timeout (the official OpenAI client uses 5 s; 10 s tolerates slow networks).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time budget of one model call, retries included: a chat reply takes seconds; a
/// minute is generous and still keeps a stuck provider from holding a session for long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which provider answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// The built-in deterministic provider (no network).
    Offline,
    /// Google's Gemini API.
    Gemini,
    /// An OpenAI-compatible Chat Completions endpoint.
    OpenAi,
}

/// The name of the token-limit parameter an OpenAI-compatible server reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenParam {
    /// `max_tokens`: Ollama, llama.cpp, vLLM, older OpenAI models.
    MaxTokens,
    /// `max_completion_tokens`: OpenAI (required by its reasoning models).
    MaxCompletionTokens,
}

/// How the OpenAI-compatible provider asks for JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonMode {
    /// `response_format: {type: json_schema}` with the output schema (strict on OpenAI).
    JsonSchema,
    /// `response_format: {type: json_object}`, the schema written into the system message,
    /// for servers without schema support (also chosen automatically when a server rejects
    /// `json_schema`).
    JsonObject,
}

/// Settings every network provider uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallSettings {
    /// Sampling temperature; `None` sends none (the model's default).
    pub temperature: Option<f64>,
    /// Output token limit.
    pub max_output_tokens: u32,
    /// Stream the answer, pushing the reply to the delta sink as it is written.
    pub stream: bool,
    /// Connect timeout of each HTTP attempt.
    pub connect_timeout: Duration,
    /// Time budget of one model call, retries and waits included.
    pub timeout: Duration,
    /// Retry bounds.
    pub retry: RetryPolicy,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            temperature: Some(DEFAULT_TEMPERATURE),
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            stream: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// The Gemini provider's settings.
#[derive(Clone, Debug)]
pub struct GeminiConfig {
    /// `GEMINI_API_KEY`, sent as `x-goog-api-key`.
    pub api_key: Option<SecretString>,
    /// `GEMINI_MODEL`: the bare model id (`gemini-2.5-flash`).
    pub model: String,
    /// `GEMINI_BASE_URL`: up to and including the API version, no trailing slash.
    pub base_url: String,
    /// `GEMINI_THINKING_BUDGET`: `thinkingConfig.thinkingBudget` (0 off, -1 automatic); not
    /// sent when unset, because models without thinking reject it.
    pub thinking_budget: Option<i32>,
}

impl Default for GeminiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            model: GEMINI_DEFAULT_MODEL.into(),
            base_url: GEMINI_DEFAULT_BASE_URL.into(),
            thinking_budget: None,
        }
    }
}

/// The OpenAI-compatible provider's settings.
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// `OPENAI_API_KEY`, sent as a bearer token when set (local servers need none).
    pub api_key: Option<SecretString>,
    /// `OPENAI_MODEL`.
    pub model: String,
    /// `OPENAI_BASE_URL`: up to and including `/v1`, no trailing slash.
    pub base_url: String,
    /// `OPENAI_TOKEN_PARAM`.
    pub token_param: TokenParam,
    /// `OPENAI_JSON_MODE`.
    pub json_mode: JsonMode,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            model: OPENAI_DEFAULT_MODEL.into(),
            base_url: OPENAI_DEFAULT_BASE_URL.into(),
            token_param: TokenParam::MaxCompletionTokens,
            json_mode: JsonMode::JsonSchema,
        }
    }
}

/// Everything about the LLM, loaded once at start.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// `LLM_PROVIDER`.
    pub provider: ProviderKind,
    /// The Gemini settings (used when `provider` is Gemini).
    pub gemini: GeminiConfig,
    /// The OpenAI-compatible settings (used when `provider` is OpenAi).
    pub openai: OpenAiConfig,
    /// Shared call settings.
    pub call: CallSettings,
}

impl Default for LlmConfig {
    /// Offline, with every network setting at its default.
    fn default() -> Self {
        Self {
            provider: ProviderKind::Offline,
            gemini: GeminiConfig::default(),
            openai: OpenAiConfig::default(),
            call: CallSettings::default(),
        }
    }
}

/// Reads variables, collecting every problem.
struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<String>,
}

impl Vars<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn secret(&self, name: &str) -> Option<SecretString> {
        self.raw(name).map(SecretString::from)
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let raw = self.raw(name)?;
        if let Ok(v) = raw.parse() {
            Some(v)
        } else {
            self.errors
                .push(format!("{name}={raw:?} is not valid: expected {expected}"));
            None
        }
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        let Some(raw) = self.raw(name) else {
            return default;
        };
        parse_duration(&raw).unwrap_or_else(|| {
            self.errors.push(format!(
                "{name}={raw:?} is not valid: expected a duration like 500ms, 30s or 2m"
            ));
            default
        })
    }

    fn choice<T: Copy>(&mut self, name: &str, options: &[(&str, T)]) -> Option<T> {
        let raw = self.raw(name)?;
        let wanted = raw.to_ascii_lowercase();
        if let Some((_, v)) = options.iter().find(|(k, _)| *k == wanted) {
            Some(*v)
        } else {
            let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
            self.errors.push(format!(
                "{name}={raw:?} is not valid: expected one of {}",
                names.join(", ")
            ));
            None
        }
    }

    fn base_url(&mut self, name: &str, default: &str) -> String {
        let url = self
            .raw(name)
            .unwrap_or_else(|| default.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            self.errors.push(format!(
                "{name}={url:?} is not valid: expected an http:// or https:// URL"
            ));
        }
        url
    }
}

/// Parses `500ms`, `30s`, `2m` (a bare number is seconds).
fn parse_duration(raw: &str) -> Option<Duration> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

impl LlmConfig {
    /// Reads the LLM settings from a variable lookup (the process environment in production,
    /// a map in tests).
    ///
    /// # Errors
    /// Every invalid value, one message each.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut v = Vars {
            get,
            errors: Vec::new(),
        };
        let gemini_key = v.secret("GEMINI_API_KEY");
        let openai_key = v.secret("OPENAI_API_KEY");
        let provider = v
            .choice(
                "LLM_PROVIDER",
                &[
                    ("offline", ProviderKind::Offline),
                    ("gemini", ProviderKind::Gemini),
                    ("openai", ProviderKind::OpenAi),
                ],
            )
            .unwrap_or(if gemini_key.is_some() {
                ProviderKind::Gemini
            } else if openai_key.is_some() {
                ProviderKind::OpenAi
            } else {
                ProviderKind::Offline
            });

        let gemini_model = v
            .raw("GEMINI_MODEL")
            .unwrap_or_else(|| GEMINI_DEFAULT_MODEL.to_owned());
        // `models/gemini-2.5-flash` is accepted too; the path adds `models/` itself.
        let gemini_model = gemini_model
            .strip_prefix("models/")
            .unwrap_or(&gemini_model)
            .to_owned();
        let thinking_budget = v.number::<i32>("GEMINI_THINKING_BUDGET", "an integer, -1 or more");
        if thinking_budget.is_some_and(|b| b < -1) {
            v.errors
                .push("GEMINI_THINKING_BUDGET must be -1 (automatic), 0 (off) or more".into());
        }
        let gemini = GeminiConfig {
            api_key: gemini_key,
            model: gemini_model,
            base_url: v.base_url("GEMINI_BASE_URL", GEMINI_DEFAULT_BASE_URL),
            thinking_budget,
        };

        let openai_base_url = v.base_url("OPENAI_BASE_URL", OPENAI_DEFAULT_BASE_URL);
        let is_openai_itself = openai_base_url.starts_with(OPENAI_DEFAULT_BASE_URL);
        let token_param = v
            .choice(
                "OPENAI_TOKEN_PARAM",
                &[
                    ("max_tokens", TokenParam::MaxTokens),
                    ("max_completion_tokens", TokenParam::MaxCompletionTokens),
                ],
            )
            .unwrap_or(if is_openai_itself {
                TokenParam::MaxCompletionTokens
            } else {
                TokenParam::MaxTokens
            });
        let json_mode = v
            .choice(
                "OPENAI_JSON_MODE",
                &[
                    ("json_schema", JsonMode::JsonSchema),
                    ("json_object", JsonMode::JsonObject),
                ],
            )
            .unwrap_or(JsonMode::JsonSchema);
        let openai = OpenAiConfig {
            api_key: openai_key,
            model: v
                .raw("OPENAI_MODEL")
                .unwrap_or_else(|| OPENAI_DEFAULT_MODEL.to_owned()),
            base_url: openai_base_url,
            token_param,
            json_mode,
        };

        let temperature = match v.raw("LLM_TEMPERATURE") {
            Some(raw) if raw.eq_ignore_ascii_case("default") => None,
            Some(_) => {
                let t = v.number::<f64>("LLM_TEMPERATURE", "a number from 0 to 2, or default");
                if t.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                    v.errors
                        .push("LLM_TEMPERATURE must be between 0 and 2".into());
                }
                t.or(Some(DEFAULT_TEMPERATURE))
            }
            None => Some(DEFAULT_TEMPERATURE),
        };
        let max_output_tokens = v
            .number::<u32>("LLM_MAX_OUTPUT_TOKENS", "a number of tokens")
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
        if max_output_tokens == 0 {
            v.errors
                .push("LLM_MAX_OUTPUT_TOKENS must be at least 1".into());
        }
        let stream = v
            .choice("LLM_STREAM", &[("true", true), ("false", false)])
            .unwrap_or(true);
        let mut retry = RetryPolicy::default();
        if let Some(attempts) = v.number::<u32>("LLM_MAX_ATTEMPTS", "a number of attempts") {
            if attempts == 0 || attempts > 10 {
                v.errors
                    .push("LLM_MAX_ATTEMPTS must be between 1 and 10".into());
            }
            retry.max_attempts = attempts.clamp(1, 10);
        }
        retry.max_retry_wait = v.duration("LLM_MAX_RETRY_WAIT", retry.max_retry_wait);
        let call = CallSettings {
            temperature,
            max_output_tokens,
            stream,
            connect_timeout: v.duration("LLM_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
            timeout: v.duration("LLM_TIMEOUT", DEFAULT_TIMEOUT),
            retry,
        };
        if call.timeout.is_zero() || call.connect_timeout.is_zero() {
            v.errors
                .push("LLM_TIMEOUT and LLM_CONNECT_TIMEOUT must be longer than 0".into());
        }

        match provider {
            ProviderKind::Gemini if gemini.api_key.is_none() => v
                .errors
                .push("LLM_PROVIDER=gemini needs GEMINI_API_KEY".into()),
            ProviderKind::OpenAi if openai.api_key.is_none() && is_openai_itself => {
                v.errors.push(
                    "LLM_PROVIDER=openai with OpenAI's own endpoint needs OPENAI_API_KEY \
                     (set OPENAI_BASE_URL for a local server)"
                        .into(),
                );
            }
            _ => {}
        }
        if !v.errors.is_empty() {
            return Err(v.errors);
        }
        Ok(Self {
            provider,
            gemini,
            openai,
            call,
        })
    }

    /// The provider label users see (`offline`, `gemini/<model>`, `openai/<model>`).
    #[must_use]
    pub fn label(&self) -> String {
        match self.provider {
            ProviderKind::Offline => "offline".into(),
            ProviderKind::Gemini => format!("gemini/{}", self.gemini.model),
            ProviderKind::OpenAi => format!("openai/{}", self.openai.model),
        }
    }

    /// One line for the startup log: the provider, model and endpoint (never a key).
    #[must_use]
    pub fn describe(&self) -> String {
        match self.provider {
            ProviderKind::Offline => "offline (built in, no network)".into(),
            ProviderKind::Gemini => format!("{} at {}", self.label(), self.gemini.base_url),
            ProviderKind::OpenAi => format!("{} at {}", self.label(), self.openai.base_url),
        }
    }

    /// Builds the configured network provider; `None` for the offline provider, which the
    /// caller builds.
    ///
    /// # Errors
    /// [`LlmError::Refused`] when the HTTP client cannot be built.
    pub fn build_provider(&self) -> Result<Option<Arc<dyn LlmProvider>>, LlmError> {
        Ok(match self.provider {
            ProviderKind::Offline => None,
            ProviderKind::Gemini => Some(Arc::new(GeminiProvider::new(
                self.gemini.clone(),
                self.call,
            )?)),
            ProviderKind::OpenAi => Some(Arc::new(OpenAiProvider::new(
                self.openai.clone(),
                self.call,
            )?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<LlmConfig, Vec<String>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LlmConfig::from_lookup(&|name| map.get(name).cloned())
    }

    #[test]
    fn offline_without_keys_and_the_keyed_provider_otherwise() {
        let c = load(&[]).unwrap();
        assert_eq!(c.provider, ProviderKind::Offline);
        assert_eq!(c.label(), "offline");
        assert!(c.build_provider().unwrap().is_none());

        let c = load(&[("GEMINI_API_KEY", "g-key")]).unwrap();
        assert_eq!(c.provider, ProviderKind::Gemini);
        assert_eq!(c.label(), "gemini/gemini-2.5-flash");
        assert_eq!(c.gemini.api_key.as_ref().unwrap().expose_secret(), "g-key");
        assert_eq!(
            c.build_provider().unwrap().unwrap().name(),
            "gemini/gemini-2.5-flash"
        );

        let c = load(&[("OPENAI_API_KEY", "o-key")]).unwrap();
        assert_eq!(c.provider, ProviderKind::OpenAi);
        assert_eq!(c.openai.token_param, TokenParam::MaxCompletionTokens);

        let c = load(&[("GEMINI_API_KEY", "g"), ("LLM_PROVIDER", "offline")]).unwrap();
        assert_eq!(c.provider, ProviderKind::Offline);
    }

    #[test]
    fn a_local_openai_compatible_server_needs_no_key() {
        let c = load(&[
            ("LLM_PROVIDER", "openai"),
            ("OPENAI_BASE_URL", "http://localhost:11434/v1/"),
            ("OPENAI_MODEL", "llama3.2"),
        ])
        .unwrap();
        assert_eq!(c.openai.base_url, "http://localhost:11434/v1");
        assert_eq!(c.openai.token_param, TokenParam::MaxTokens);
        assert_eq!(c.label(), "openai/llama3.2");
        let err = load(&[("LLM_PROVIDER", "openai")]).unwrap_err();
        assert!(err[0].contains("OPENAI_API_KEY"), "{err:?}");
    }

    #[test]
    fn settings_parse_and_every_bad_value_is_reported() {
        let c = load(&[
            ("GEMINI_API_KEY", "k"),
            ("GEMINI_MODEL", "models/gemini-3.5-flash"),
            ("GEMINI_THINKING_BUDGET", "0"),
            ("LLM_TEMPERATURE", "default"),
            ("LLM_MAX_OUTPUT_TOKENS", "512"),
            ("LLM_STREAM", "false"),
            ("LLM_TIMEOUT", "30s"),
            ("LLM_CONNECT_TIMEOUT", "500ms"),
            ("LLM_MAX_ATTEMPTS", "2"),
            ("LLM_MAX_RETRY_WAIT", "2m"),
        ])
        .unwrap();
        assert_eq!(c.gemini.model, "gemini-3.5-flash");
        assert_eq!(c.gemini.thinking_budget, Some(0));
        assert_eq!(c.call.temperature, None);
        assert_eq!(c.call.max_output_tokens, 512);
        assert!(!c.call.stream);
        assert_eq!(c.call.timeout, Duration::from_secs(30));
        assert_eq!(c.call.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.call.retry.max_attempts, 2);
        assert_eq!(c.call.retry.max_retry_wait, Duration::from_secs(120));

        let err = load(&[
            ("LLM_PROVIDER", "claude"),
            ("LLM_TEMPERATURE", "hot"),
            ("LLM_TIMEOUT", "soon"),
            ("GEMINI_BASE_URL", "generativelanguage.googleapis.com"),
            ("OPENAI_JSON_MODE", "yaml"),
        ])
        .unwrap_err();
        assert_eq!(err.len(), 5, "{err:?}");
        let err = load(&[("LLM_PROVIDER", "gemini")]).unwrap_err();
        assert!(err[0].contains("GEMINI_API_KEY"), "{err:?}");
    }

    #[test]
    fn keys_stay_out_of_debug_output() {
        let c = load(&[
            ("GEMINI_API_KEY", "secret-gemini-key"),
            ("OPENAI_API_KEY", "secret-openai-key"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("secret-gemini-key") && !debug.contains("secret-openai-key"));
        assert!(!c.describe().contains("secret"));
        let provider = c.build_provider().unwrap().unwrap();
        assert!(!format!("{provider:?}").contains("secret-gemini-key"));
    }
}
