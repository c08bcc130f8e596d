//! Helpers shared by the agent's integration tests.

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
