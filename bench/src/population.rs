//! The people a figure needs: tenants, their users and their knowledge, in the run's database,
//! and a token for every user.
//!
//! Tenants and users are inserted in bulk as the owner role (what `concierge tenant create` and
//! `user create` would do, without hashing a password per user: the bench never logs in, it
//! signs tokens with the server's secret, [`crate::server::JWT_SECRET`]). Every tenant gets the
//! demo knowledge of a restaurant or a property (alternating), chunked and embedded with the
//! `hash` embedder by `agent::knowledge::ingest` exactly as `concierge ingest` stores it, so
//! every message's retrieval searches real rows.

use std::time::Duration;

use agent::embedding::HashEmbedder;
use agent::knowledge::{Chunk, chunk_markdown, ingest};
use anyhow::Context as _;
use api::auth::JwtKeys;
use api::config::JwtConfig;
use entity::{Role, TenantId, UserId};
use sea_orm::ConnectionTrait;
use secrecy::SecretString;
use testkit::TestDb;

use crate::server::JWT_SECRET;

/// Rows per INSERT statement.
const INSERT_BATCH: usize = 500;
/// Lifetime of the bench's tokens: longer than any run.
const TOKEN_TTL: Duration = Duration::from_secs(6 * 3600);

/// The demo documents of a restaurant: the knowledge of even-numbered tenants.
pub const RESTAURANT: [&str; 6] = [
    include_str!("../../api/demo/sole/hours.md"),
    include_str!("../../api/demo/sole/shifts.md"),
    include_str!("../../api/demo/sole/roster.md"),
    include_str!("../../api/demo/sole/allergens.md"),
    include_str!("../../api/demo/sole/closing.md"),
    include_str!("../../api/demo/sole/menu.md"),
];
/// The demo documents of a property: the knowledge of odd-numbered tenants.
pub const PROPERTY: [&str; 5] = [
    include_str!("../../api/demo/harborview/office.md"),
    include_str!("../../api/demo/harborview/maintenance.md"),
    include_str!("../../api/demo/harborview/roster.md"),
    include_str!("../../api/demo/harborview/house-rules.md"),
    include_str!("../../api/demo/harborview/repairs.md"),
];

/// Questions the bench users ask, as people type them.
pub const QUESTIONS: [&str; 8] = [
    "When does the kitchen stop taking orders on Saturday?",
    "Who is on call this weekend?",
    "Is the risotto gluten free?",
    "Where can my visitors park?",
    "What should I check before closing tonight?",
    "What temperature should the walk-in freezer be?",
    "Can I bring two friends to the pool?",
    "How do I report a broken dishwasher?",
];

/// One bench user and what the harness needs to act as them.
#[derive(Clone, Debug)]
pub struct BenchUser {
    /// The user.
    pub id: UserId,
    /// Their tenant.
    pub tenant: TenantId,
    /// A valid token for them.
    pub token: String,
}

/// The tenants and users of one figure.
#[derive(Clone, Debug)]
pub struct Population {
    /// The tenants.
    pub tenants: Vec<TenantId>,
    /// The users, tenant by tenant.
    pub users: Vec<BenchUser>,
}

/// The token keys of bench servers.
#[must_use]
pub fn jwt_keys() -> JwtKeys {
    JwtKeys::new(&JwtConfig {
        secret: SecretString::from(JWT_SECRET.to_owned()),
        issuer: "concierge".into(),
        audience: "concierge-api".into(),
        ttl: TOKEN_TTL,
    })
}

/// Creates `tenants` tenants of `users_per_tenant` users each (slugs and emails carry `tag`, so
/// several populations share a database), with knowledge when `knowledge` is set.
///
/// # Errors
/// When Postgres fails.
pub async fn create(
    db: &TestDb,
    tag: &str,
    tenants: usize,
    users_per_tenant: usize,
    knowledge: bool,
) -> anyhow::Result<Population> {
    let keys = jwt_keys();
    let tenant_ids: Vec<TenantId> = (0..tenants).map(|_| TenantId::new()).collect();
    for (batch_no, batch) in tenant_ids.chunks(INSERT_BATCH).enumerate() {
        let rows: Vec<String> = batch
            .iter()
            .enumerate()
            .map(|(j, id)| {
                let i = batch_no * INSERT_BATCH + j;
                let kind = if i.is_multiple_of(2) {
                    "RESTAURANT"
                } else {
                    "PROPERTY"
                };
                format!("('{id}', '{tag}-{i}', 'Bench {tag} {i}', '{kind}')")
            })
            .collect();
        db.admin
            .execute_unprepared(&format!(
                "INSERT INTO tenants (id, slug, name, kind) VALUES {}",
                rows.join(", ")
            ))
            .await
            .context("inserting bench tenants")?;
    }
    let mut users = Vec::with_capacity(tenants * users_per_tenant);
    for (i, &tenant) in tenant_ids.iter().enumerate() {
        for j in 0..users_per_tenant {
            let id = UserId::new();
            let (token, _) = keys
                .issue(id, tenant, Role::Staff, TOKEN_TTL)
                .map_err(|e| anyhow::anyhow!("issuing a token: {e}"))?;
            users.push((
                format!("('{id}', '{tenant}', 'u{j}@{tag}-{i}.bench.example', 'none', 'STAFF', 'User {j} of {i}', 'Waiter')"),
                BenchUser { id, tenant, token },
            ));
        }
    }
    for batch in users.chunks(INSERT_BATCH) {
        let rows: Vec<&str> = batch.iter().map(|(row, _)| row.as_str()).collect();
        db.admin
            .execute_unprepared(&format!(
                "INSERT INTO users (id, tenant_id, email, password_hash, role, name, title) VALUES {}",
                rows.join(", ")
            ))
            .await
            .context("inserting bench users")?;
    }
    if knowledge {
        let chunks = |docs: &[&str]| -> anyhow::Result<Vec<Chunk>> {
            let mut all = Vec::new();
            for doc in docs {
                all.extend(chunk_markdown(doc, None)?);
            }
            Ok(all)
        };
        let (restaurant, property) = (chunks(&RESTAURANT)?, chunks(&PROPERTY)?);
        for (i, &tenant) in tenant_ids.iter().enumerate() {
            let docs = if i % 2 == 0 { &restaurant } else { &property };
            ingest(&db.db, &HashEmbedder, tenant, None, docs.clone())
                .await
                .context("storing bench knowledge")?;
        }
    }
    Ok(Population {
        tenants: tenant_ids,
        users: users.into_iter().map(|(_, u)| u).collect(),
    })
}
