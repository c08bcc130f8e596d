//! The `concierge` binary: see [`api::cli`] for the commands.

/// mimalloc instead of glibc's malloc: the server allocates and frees many small buffers per
/// request and message, and glibc's free lists cost it about a tenth of its CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api::cli::main().await
}
