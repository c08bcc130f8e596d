//! `bench`: Concierge's benchmarks, one module per figure, each producing a Markdown section of
//! `docs/BENCHMARKS.md` (`just bench` runs them all and writes the file; `--quick` runs a
//! smaller version of each for a fast check).
//!
//! - [`retrieval`]: top-5 vector search over 100,000 chunks of 100 tenants as the application
//!   role under row-level security: p50/p99 latency and recall@5 against exact search, for a
//!   small and a large tenant.
//! - [`embedding`]: throughput of the local embedder (texts per second).
//!
//! [`report`] holds what every figure shares: the machine description and the section format.
//! A new figure is a module with a `run` returning a [`report::Section`], and one arm in
//! [`Figure`].

mod embedding;
mod report;
mod retrieval;

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Measure Concierge and write the numbers to docs/BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// A smaller version of every figure (seconds instead of minutes; numbers are indicative).
    #[arg(long)]
    quick: bool,
    /// Only these figures (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Figure>,
    /// Update this Markdown file's sections in place (others' sections are kept).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Port of the local Postgres (`just services`).
    #[arg(long, env = "CONCIERGE_PG_PORT", default_value_t = 55432)]
    pg_port: u16,
    /// The local embedder's model folder (`scripts/models.sh`).
    #[arg(
        long,
        env = "LOCAL_EMBEDDER_DIR",
        default_value = ".local/models/all-MiniLM-L6-v2"
    )]
    model_dir: PathBuf,
}

/// The figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Figure {
    /// Vector search latency and recall.
    Retrieval,
    /// Local embedder throughput.
    Embedding,
}

/// The command line as run, for the report ("how to reproduce").
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run -p bench -- {}", args.join(" "))
        .trim_end()
        .to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let figures = if args.only.is_empty() {
        vec![Figure::Retrieval, Figure::Embedding]
    } else {
        args.only.clone()
    };
    let context = report::Context::new(command_line(), args.quick).await;
    let mut sections = Vec::new();
    for figure in figures {
        let section = match figure {
            Figure::Retrieval => retrieval::run(&context, args.pg_port).await?,
            Figure::Embedding => embedding::run(&context, &args.model_dir).await?,
        };
        report::print(&section)?;
        sections.push(section);
    }
    if let Some(path) = &args.write {
        report::write(path, &context, &sections)?;
        eprintln!("[bench] wrote {}", path.display());
    }
    Ok(())
}
