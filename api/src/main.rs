//! The `concierge` binary: see [`api::cli`] for the commands.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api::cli::main().await
}
