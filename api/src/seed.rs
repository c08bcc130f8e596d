//! `concierge seed --demo`: the two demo tenants of `DEMO.md`, their six users (password
//! `concierge-demo`) and their knowledge (the Markdown files under `api/demo/`, compiled into the
//! binary). Idempotent: what exists is left alone, what is missing is created, so a second run
//! changes nothing. Demo knowledge embedded by another model than the configured embedder (a
//! database seeded before `EMBEDDER` changed) is re-embedded, so retrieval finds it. Never run
//! automatically in production.

use agent::embedding::Embedder;
use agent::knowledge::{self, Chunk};
use entity::{Db, Role, TenantId, TenantKind, TenantScoped};
use sea_orm::PaginatorTrait;

use crate::error::ApiError;
use crate::service::directory::{self, NewTenant, NewUser};

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "concierge-demo";

struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    kind: TenantKind,
    users: &'static [DemoUser],
    documents: &'static [&'static str],
}

struct DemoUser {
    name: &'static str,
    email: &'static str,
    role: Role,
    title: &'static str,
}

const DEMO: [DemoTenant; 2] = [
    DemoTenant {
        slug: "sole",
        name: "Trattoria Sole",
        kind: TenantKind::Restaurant,
        users: &[
            DemoUser {
                name: "Maria Rossi",
                email: "maria@sole.example",
                role: Role::Manager,
                title: "Owner and manager",
            },
            DemoUser {
                name: "Luca Bianchi",
                email: "luca@sole.example",
                role: Role::Staff,
                title: "Head chef",
            },
            DemoUser {
                name: "Sofia Verdi",
                email: "sofia@sole.example",
                role: Role::Staff,
                title: "Waiter",
            },
        ],
        documents: &[
            include_str!("../demo/sole/hours.md"),
            include_str!("../demo/sole/shifts.md"),
            include_str!("../demo/sole/roster.md"),
            include_str!("../demo/sole/allergens.md"),
            include_str!("../demo/sole/closing.md"),
            include_str!("../demo/sole/menu.md"),
        ],
    },
    DemoTenant {
        slug: "harborview",
        name: "Harbor View Apartments",
        kind: TenantKind::Property,
        users: &[
            DemoUser {
                name: "James Park",
                email: "james@harborview.example",
                role: Role::Manager,
                title: "Property manager",
            },
            DemoUser {
                name: "Ana Costa",
                email: "ana@harborview.example",
                role: Role::Staff,
                title: "Maintenance technician",
            },
            DemoUser {
                name: "Tom Weber",
                email: "tom@harborview.example",
                role: Role::Member,
                title: "Resident, unit 4B",
            },
        ],
        documents: &[
            include_str!("../demo/harborview/office.md"),
            include_str!("../demo/harborview/maintenance.md"),
            include_str!("../demo/harborview/roster.md"),
            include_str!("../demo/harborview/house-rules.md"),
            include_str!("../demo/harborview/repairs.md"),
        ],
    },
];

/// The demo accounts, for the web app's one-click login in development.
#[must_use]
pub fn demo_accounts() -> Vec<serde_json::Value> {
    DEMO.iter()
        .flat_map(|t| {
            t.users.iter().map(|u| {
                serde_json::json!({ "email": u.email, "name": u.name, "title": u.title, "tenant": t.name })
            })
        })
        .collect()
}

/// What a seed run created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Tenants created by this run.
    pub tenants: usize,
    /// Users created by this run.
    pub users: usize,
    /// Knowledge chunks created by this run.
    pub chunks: usize,
    /// Existing chunks re-embedded with the configured embedder by this run.
    pub reembedded: usize,
}

/// Creates whatever part of the demo data is missing.
///
/// # Errors
/// Database or embedding failures.
pub async fn seed_demo(db: &Db, embedder: &dyn Embedder) -> Result<SeedReport, ApiError> {
    let mut report = SeedReport::default();
    for demo in &DEMO {
        let tenant = match db.find_tenant_by_slug(demo.slug).await? {
            Some(id) => id,
            None => {
                report.tenants += 1;
                directory::create_tenant(
                    db,
                    NewTenant {
                        slug: demo.slug.into(),
                        name: demo.name.into(),
                        kind: demo.kind,
                    },
                )
                .await?
                .id
            }
        };
        for user in demo.users {
            if db.find_login(user.email).await?.is_none() {
                directory::create_user(
                    db,
                    tenant,
                    NewUser {
                        email: user.email.into(),
                        name: user.name.into(),
                        role: user.role,
                        title: Some(user.title.into()),
                        password: DEMO_PASSWORD.into(),
                    },
                )
                .await?;
                report.users += 1;
            }
        }
        if knowledge_count(db, tenant).await? > 0 {
            report.reembedded += knowledge::reembed(db, embedder, tenant, None)
                .await?
                .reembedded;
        } else {
            let mut chunks: Vec<Chunk> = Vec::new();
            for doc in demo.documents {
                chunks.extend(knowledge::chunk_markdown(doc, None)?);
            }
            report.chunks += knowledge::ingest(db, embedder, tenant, None, chunks)
                .await?
                .len();
        }
    }
    Ok(report)
}

async fn knowledge_count(db: &Db, tenant: TenantId) -> Result<u64, ApiError> {
    let txn = db.begin_in_tenant(tenant).await?;
    let n = entity::knowledge::Entity::find_in_tenant(tenant)
        .count(&txn)
        .await?;
    txn.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_document_chunks_with_its_own_category() {
        for demo in &DEMO {
            for doc in demo.documents {
                let chunks = knowledge::chunk_markdown(doc, None).unwrap();
                assert!(!chunks.is_empty());
                assert!(
                    chunks.iter().all(|c| c.title.is_some()),
                    "every demo chunk has a heading"
                );
            }
        }
    }
}
