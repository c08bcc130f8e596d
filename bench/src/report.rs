//! What every figure shares: the run's context (machine, date, command) and the Markdown
//! sections of `docs/BENCHMARKS.md`. Each figure owns one section, delimited by
//! `<!-- bench:ID -->` and `<!-- /bench:ID -->`; writing replaces only the sections that ran, so
//! figures can be re-measured one at a time and other figures' numbers stay.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The run: when, where, how.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command that produced the numbers.
    pub command: String,
    /// `--quick`.
    pub quick: bool,
    /// UTC date and time of the run.
    pub date: String,
    /// CPU model, cores, memory.
    pub machine: String,
}

impl Context {
    /// Describes the current run and machine.
    pub async fn new(command: String, quick: bool) -> Self {
        Self {
            command,
            quick,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
        }
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / (1024 * 1024));
    format!("{model}, {cores} cores, {mem_gib} GiB RAM")
}

/// One figure's Markdown section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Its marker id (`retrieval`, `embedding`, ...).
    pub id: &'static str,
    /// Markdown, starting with its `##` heading.
    pub body: String,
}

/// Writes a section to standard output.
///
/// # Errors
/// When standard output is closed.
pub fn print(section: &Section) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", section.body)
}

/// `p50 / p99` of a histogram of microseconds, in milliseconds.
pub fn percentiles_ms(h: &Histogram<u64>) -> (f64, f64) {
    let ms = |us: u64| Duration::from_micros(us).as_secs_f64() * 1000.0;
    (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)))
}

/// A histogram for latencies from 1 µs to 60 s, 3 significant digits.
///
/// # Errors
/// Never for these bounds; the type says it can.
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

const HEADER: &str = "# Benchmarks\n\n\
Measured by the `bench` crate (`just bench`, or `cargo run -p bench -- --help`); each section \
below is rewritten by the figure that owns it and says how it was produced. `just bench` runs a \
debug build like the rest of the dev tooling; the crates that do the embedder's math (candle, \
gemm, tokenizers, libm) are optimised even there (root `Cargo.toml`), and search time is spent \
in Postgres. Numbers from a shared 2-core machine are indicative: compare runs on the same \
machine.\n";

/// Replaces (or appends) `sections` in the Markdown file at `path`, creating it if needed.
///
/// # Errors
/// When the file cannot be read or written.
pub fn write(path: &Path, context: &Context, sections: &[Section]) -> anyhow::Result<()> {
    let mut doc = std::fs::read_to_string(path).unwrap_or_else(|_| HEADER.to_owned());
    for s in sections {
        let open = format!("<!-- bench:{} -->", s.id);
        let close = format!("<!-- /bench:{} -->", s.id);
        let block = format!(
            "{open}\n{}\n\n_Run {} on {}{}, with `{}`._\n{close}",
            s.body.trim_end(),
            context.date,
            context.machine,
            if context.quick {
                " (quick mode: smaller, indicative)"
            } else {
                ""
            },
            context.command
        );
        match (doc.find(&open), doc.find(&close)) {
            (Some(a), Some(b)) if b > a => doc.replace_range(a..b + close.len(), &block),
            _ => {
                doc = format!("{}\n\n{block}\n", doc.trim_end());
            }
        }
    }
    std::fs::write(path, doc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("BENCHMARKS.md");
        let ctx = Context {
            command: "bench".into(),
            quick: false,
            date: "today".into(),
            machine: "m".into(),
        };
        let section = |id, body: &str| Section {
            id,
            body: body.into(),
        };
        write(
            &path,
            &ctx,
            &[section("a", "## A\nold"), section("b", "## B\nkept")],
        )
        .unwrap();
        write(&path, &ctx, &[section("a", "## A\nnew")]).unwrap();
        let doc = std::fs::read_to_string(&path).unwrap();
        assert!(doc.starts_with("# Benchmarks"));
        assert!(doc.contains("## A\nnew") && !doc.contains("old"));
        assert!(doc.contains("## B\nkept"));
        assert_eq!(doc.matches("<!-- bench:a -->").count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
