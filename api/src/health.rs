//! `/healthz` (the process is up) and `/readyz` (it can do its work: Postgres and Redis answer).
//! Readiness answers 503 with the failing dependency named, so a load balancer stops sending
//! traffic while Redis or Postgres is down and resumes when they are back.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use fred::interfaces::ClientLike;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: always 200 while the process serves HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 when Postgres and Redis both answer within [`PROBE_TIMEOUT`], else 503.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let postgres = tokio::time::timeout(PROBE_TIMEOUT, state.db.ping()).await;
    let redis = tokio::time::timeout(PROBE_TIMEOUT, state.redis.ping::<String>(None)).await;
    let postgres_ok = matches!(postgres, Ok(Ok(())));
    let redis_ok = matches!(redis, Ok(Ok(_)));
    let status = if postgres_ok && redis_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({
            "status": word(postgres_ok && redis_ok),
            "postgres": word(postgres_ok),
            "redis": word(redis_ok),
        })),
    )
}
