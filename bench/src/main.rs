//! The `bench` command: runs the figures (see the `bench` library) and writes
//! `docs/BENCHMARKS.md`. `cargo run --release -p bench -- --help`.

use std::path::PathBuf;

use bench::harness::Harness;
use bench::report::{self, Context, Section};
use bench::{conversation, embedding, query, retrieval, startup, subscribers};
use clap::{Parser, ValueEnum};

/// Measure Concierge and write the numbers to docs/BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// A smaller, shorter version of every figure (numbers are indicative; not written).
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

/// The figures, in the order a full run measures them (the ones most sensitive to a busy machine
/// first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Figure {
    /// B6: start to ready, idle memory.
    Startup,
    /// B5: `me` queries per second.
    Query,
    /// B1: messages through the agent with an instant LLM.
    Messages,
    /// B4: where a message's time goes.
    Overhead,
    /// B2: 1,000 sessions with a one-second LLM.
    SlowLlm,
    /// B3: 10,000 WebSocket subscribers.
    Subscribers,
    /// B7: vector search latency and recall.
    Retrieval,
    /// Local embedder throughput.
    Embedding,
}

const ALL: [Figure; 8] = [
    Figure::Startup,
    Figure::Query,
    Figure::Messages,
    Figure::Overhead,
    Figure::SlowLlm,
    Figure::Subscribers,
    Figure::Retrieval,
    Figure::Embedding,
];

impl Figure {
    const fn needs_server(self) -> bool {
        !matches!(self, Self::Retrieval | Self::Embedding)
    }
}

/// The command line as run, for the report ("how to reproduce").
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release -p bench -- {}", args.join(" "))
        .trim_end()
        .to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let figures: Vec<Figure> = if args.only.is_empty() {
        ALL.to_vec()
    } else {
        ALL.iter()
            .copied()
            .filter(|f| args.only.contains(f))
            .collect()
    };
    let harness = if figures.iter().any(|f| f.needs_server()) {
        Some(Harness::new(args.quick).await?)
    } else {
        None
    };
    let profile = harness
        .as_ref()
        .map_or_else(|| "release".to_owned(), |h| h.binary.profile.clone());
    let mut context = Context::new(command_line(), args.quick, profile).await;
    let mut sections: Vec<Section> = Vec::new();
    let mut failures = Vec::new();
    for figure in figures {
        eprintln!(
            "[bench] {figure:?} (load average {})",
            report::load_average()
        );
        let section = match (figure, harness.as_ref()) {
            (Figure::Retrieval, _) => retrieval::run(&context, args.pg_port).await,
            (Figure::Embedding, _) => embedding::run(&context, &args.model_dir).await,
            (Figure::Startup, Some(h)) => startup::b6(h).await,
            (Figure::Query, Some(h)) => query::b5(h).await,
            (Figure::Messages, Some(h)) => conversation::b1(h).await,
            (Figure::Overhead, Some(h)) => conversation::b4(h).await,
            (Figure::SlowLlm, Some(h)) => conversation::b2(h).await,
            (Figure::Subscribers, Some(h)) => subscribers::b3(h).await,
            (_, None) => Err(anyhow::anyhow!("no harness")),
        };
        match section {
            Ok(section) => {
                report::print(&section)?;
                sections.push(section);
            }
            Err(e) => {
                eprintln!("[bench] {figure:?} failed: {e:#}");
                failures.push(format!("{figure:?}: {e:#}"));
            }
        }
    }
    drop(harness);
    context.finish();
    let rows: Vec<report::Row> = sections.iter().flat_map(|s| s.rows.clone()).collect();
    report::print_summary(&rows)?;
    match &args.write {
        Some(path) if args.quick => eprintln!(
            "[bench] quick run: {} not written (quick numbers are indicative)",
            path.display()
        ),
        Some(path) => {
            report::write(path, &context, &sections)?;
            eprintln!("[bench] wrote {}", path.display());
        }
        None => {}
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("figures failed:\n  {}", failures.join("\n  "))
    }
}
