//! Helpers shared by the embedding, knowledge and retrieval tests: the local model, tenants made
//! as the owner role, Markdown builders, a renamed embedder.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use agent::embedding::LocalEmbedder;

/// The local model's folder: `LOCAL_EMBEDDER_DIR`, else the one `scripts/models.sh` fills.
pub fn model_dir() -> PathBuf {
    std::env::var_os("LOCAL_EMBEDDER_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../.local/models/all-MiniLM-L6-v2"
            ))
        },
        PathBuf::from,
    )
}

/// The local embedder, loaded once per test process (the model is 90 MB).
pub fn local_embedder() -> Arc<LocalEmbedder> {
    static MODEL: OnceLock<Arc<LocalEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(LocalEmbedder::load(&model_dir()).unwrap_or_else(|e| {
                panic!("{e}: run scripts/models.sh (just test does) to install the model")
            }))
        })
        .clone()
}

/// Creates a tenant with this slug (as the owner role) and returns its id.
pub async fn create_tenant(t: &testkit::TestDb, slug: &str) -> entity::TenantId {
    use sea_orm::ConnectionTrait;
    let id = entity::TenantId::new();
    t.admin
        .execute_unprepared(&format!(
            "INSERT INTO tenants (id, slug, name, kind) VALUES ('{id}', '{slug}', '{slug}', 'OTHER')"
        ))
        .await
        .unwrap();
    id
}

/// Markdown with one section per `(title, body)`, under `category`.
pub fn markdown(category: &str, sections: &[(&str, &str)]) -> String {
    let mut doc = format!("---\ncategory: {category}\n---\n");
    for (title, body) in sections {
        doc.push_str(&format!("# {title}\n\n{body}\n\n"));
    }
    doc
}

/// An embedder that makes the hash embedder's vectors under another model name: a stand-in for
/// "the configured embedder changed" in model-scoping and re-embedding tests.
#[derive(Debug)]
pub struct RenamedHash(pub &'static str);

#[async_trait::async_trait]
impl agent::embedding::Embedder for RenamedHash {
    fn model(&self) -> &str {
        self.0
    }

    async fn embed_documents(
        &self,
        texts: &[String],
    ) -> Result<Vec<agent::embedding::Embedding>, agent::embedding::EmbedError> {
        Ok(texts
            .iter()
            .map(|t| agent::embedding::HashEmbedder::embed(t))
            .collect())
    }

    async fn embed_query(
        &self,
        text: &str,
    ) -> Result<agent::embedding::Embedding, agent::embedding::EmbedError> {
        Ok(agent::embedding::HashEmbedder::embed(text))
    }
}
