//! The daily LLM token budget of a tenant (`TENANT_DAILY_TOKEN_BUDGET`, 0 = unlimited).
//!
//! Usage is recorded per message: the turn adds each reply's prompt and output tokens to the
//! tenant's row of `tenant_usage` for the current UTC day, in the transaction that stores the
//! reply. The budget compares that sum with the limit, at two places:
//!
//! - before the LLM call of a turn: a message of a tenant over budget ends FAILED with a
//!   readable reason ([`exhausted_reason`]), and no tokens are spent on it;
//! - in `sendMessage`, cheaply (one primary-key read in the transaction that stores the
//!   message): a tenant over budget is refused with RATE_LIMITED until the next UTC day.
//!
//! The check happens before the call and the usage is recorded after it, so messages already
//! in flight when the budget runs out still finish: a tenant may overshoot by what its messages
//! in progress use (at most `WORKER_CONCURRENCY` replies), never by more.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{DbError, TenantTxn};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Where a tenant stands against its daily budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetCheck {
    /// Tokens are left today (or the budget is unlimited).
    Within,
    /// Today's budget is used up.
    Exhausted {
        /// Tokens used today (prompt and output).
        used: u64,
        /// The daily budget.
        budget: u64,
        /// Time left until the next UTC day, when the budget starts again.
        resets_in: Duration,
    },
}

/// Tokens (prompt and output) the transaction's tenant used today (UTC).
///
/// # Errors
/// When the database fails.
pub async fn used_today(txn: &TenantTxn) -> Result<u64, DbError> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT prompt_tokens + output_tokens AS used FROM tenant_usage \
             WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
            [txn.tenant().uuid().into()],
        ))
        .await?;
    let used: i64 = match row {
        Some(row) => row.try_get("", "used")?,
        None => 0,
    };
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Checks the transaction's tenant against a daily budget of `budget` tokens (0: unlimited,
/// and nothing is read).
///
/// # Errors
/// When the database fails.
pub async fn check(txn: &TenantTxn, budget: u64) -> Result<BudgetCheck, DbError> {
    if budget == 0 {
        return Ok(BudgetCheck::Within);
    }
    let used = used_today(txn).await?;
    Ok(if used >= budget {
        BudgetCheck::Exhausted {
            used,
            budget,
            resets_in: until_next_utc_day(Utc::now()),
        }
    } else {
        BudgetCheck::Within
    })
}

/// Time from `now` to the next midnight UTC (at least one second).
#[must_use]
pub fn until_next_utc_day(now: DateTime<Utc>) -> Duration {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    next.and_then(|next| (next - now).to_std().ok())
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_secs(1))
}

/// What a FAILED message says when its tenant's budget is used up.
#[must_use]
pub fn exhausted_reason(resets_in: Duration) -> String {
    format!(
        "Your organisation has used up today's allowance for the assistant. It renews at midnight \
         UTC ({}); please try again then.",
        in_words(resets_in)
    )
}

/// A duration as a person says it, rounded up: "in 45 seconds", "in 12 minutes", "in 5 hours
/// and 3 minutes".
#[must_use]
pub fn in_words(d: Duration) -> String {
    let secs = u64::try_from(d.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1);
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs < 120 {
        format!("in {}", plural(secs, "second"))
    } else if secs < 3600 {
        format!("in {}", plural(secs.div_ceil(60), "minute"))
    } else {
        let (hours, minutes) = (secs / 3600, (secs % 3600) / 60);
        if minutes == 0 {
            format!("in {}", plural(hours, "hour"))
        } else {
            format!(
                "in {} and {}",
                plural(hours, "hour"),
                plural(minutes, "minute")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_budget_resets_at_the_next_utc_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 23, 59, 30).unwrap();
        assert_eq!(until_next_utc_day(now), Duration::from_secs(30));
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        assert_eq!(until_next_utc_day(now), Duration::from_secs(86_400));
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap();
        assert_eq!(until_next_utc_day(now), Duration::from_secs(12 * 3600));
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(in_words(Duration::from_secs(1)), "in 1 second");
        assert_eq!(in_words(Duration::from_millis(200)), "in 1 second");
        assert_eq!(in_words(Duration::from_millis(1500)), "in 2 seconds");
        assert_eq!(in_words(Duration::from_secs(45)), "in 45 seconds");
        assert_eq!(in_words(Duration::from_secs(150)), "in 3 minutes");
        assert_eq!(in_words(Duration::from_secs(3600)), "in 1 hour");
        assert_eq!(
            in_words(Duration::from_secs(5 * 3600 + 3 * 60 + 10)),
            "in 5 hours and 3 minutes"
        );
        assert!(exhausted_reason(Duration::from_secs(60)).contains("midnight UTC"));
    }
}
