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
    /// The build profile of the server under test (`release`).
    pub profile: String,
    /// The load average when the run started.
    pub load_at_start: String,
    /// The load average when it ended (set by [`Context::finish`]).
    pub load_at_end: String,
}

impl Context {
    /// Describes the current run and machine.
    pub async fn new(command: String, quick: bool, profile: String) -> Self {
        Self {
            command,
            quick,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            profile,
            load_at_start: load_average(),
            load_at_end: String::new(),
        }
    }

    /// Notes the end of the run (its load average).
    pub fn finish(&mut self) {
        self.load_at_end = load_average();
    }

    fn footer(&self) -> String {
        format!(
            "_Run {}{} on {}, {} build, load average {} at the start{}, with `{}`._",
            self.date,
            if self.quick {
                " (quick mode: smaller, indicative)"
            } else {
                ""
            },
            self.machine,
            self.profile,
            self.load_at_start,
            if self.load_at_end.is_empty() {
                String::new()
            } else {
                format!(" and {} at the end", self.load_at_end)
            },
            self.command
        )
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
    /// Its rows of the summary table (the targets), if it has any.
    pub rows: Vec<Row>,
}

/// One row of the summary table: a figure of the issue with its target and the measured value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `B1` ... `B7`.
    pub id: &'static str,
    /// What is measured.
    pub what: String,
    /// The target, as written in the issue.
    pub target: String,
    /// The measured value.
    pub measured: String,
    /// Whether the target is met (`None`: not comparable, e.g. a failed run).
    pub met: Option<bool>,
}

impl Row {
    /// A row.
    #[must_use]
    pub fn new(
        id: &'static str,
        what: impl Into<String>,
        target: impl Into<String>,
        measured: impl Into<String>,
        met: Option<bool>,
    ) -> Self {
        Self {
            id,
            what: what.into(),
            target: target.into(),
            measured: measured.into(),
            met,
        }
    }
}

/// The summary table of `rows`, in Markdown.
#[must_use]
pub fn summary_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| id | what | target | measured | met |\n| --- | --- | --- | --- | :---: |\n",
    );
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {met} |\n",
            r.id, r.what, r.target, r.measured
        ));
    }
    out
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), as written there.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
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

/// Prints the summary table to standard output.
///
/// # Errors
/// When standard output is closed.
pub fn print_summary(rows: &[Row]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "## Summary\n\n{}", summary_table(rows))
}

const HEADER: &str = "# Benchmarks\n\n\
Measured by the `bench` crate (`just bench`, or `cargo run --release -p bench -- --help`); each \
section below is rewritten by the figure that owns it and says how it was produced. `just bench` \
builds the server (`concierge`) and the harness in release mode; the harness starts the real \
server as a child process against the local Postgres and Redis and drives it over GraphQL HTTP \
and WebSocket, on the same machine: the harness, the server, Postgres and Redis share its cores, \
so every figure is of the whole system on one box. Numbers from a shared 2-core machine are \
indicative: compare runs on the same machine, and read the load average noted with each.\n";

const SUMMARY: &str = "summary";

/// The summary section: `rows` of this run, and the rows of figures that did not run this time
/// from the existing summary in `doc`, by id.
fn summary_block(doc: &str, context: &Context, rows: &[Row]) -> String {
    let ran: Vec<&str> = rows.iter().map(|r| r.id).collect();
    let mut table = summary_table(rows);
    let open = format!("<!-- bench:{SUMMARY} -->");
    let close = format!("<!-- /bench:{SUMMARY} -->");
    if let (Some(a), Some(b)) = (doc.find(&open), doc.find(&close))
        && b > a
    {
        for line in doc[a..b].lines().filter(|l| l.starts_with("| B")) {
            let id = line
                .trim_start_matches("| ")
                .split(' ')
                .next()
                .unwrap_or("");
            if !ran.contains(&id) {
                table.push_str(line);
                table.push('\n');
            }
        }
    }
    let mut lines: Vec<&str> = table.lines().collect();
    let head = 2.min(lines.len());
    lines[head..].sort_by_key(|l| l.get(2..4).unwrap_or("").to_owned());
    let table = lines.join("\n");
    format!(
        "{open}\n## Summary: the targets\n\n{table}\n\nEach figure's section below says how it was \
         measured; \"What bounds the figures\", right after this table, explains the misses. Rows of \
         figures that did not run in the latest run keep their earlier values (their sections say \
         when).\n\n{}\n{close}",
        context.footer()
    )
}

/// Replaces (or appends) `sections` in the Markdown file at `path`, creating it if needed, and
/// updates the summary table at its top with the sections' rows.
///
/// # Errors
/// When the file cannot be read or written.
pub fn write(path: &Path, context: &Context, sections: &[Section]) -> anyhow::Result<()> {
    let mut doc = std::fs::read_to_string(path).unwrap_or_else(|_| HEADER.to_owned());
    // The header is ours: keep it current.
    if let Some(end) = doc.find("\n<!-- bench:") {
        doc.replace_range(..end, HEADER.trim_end());
    }
    let rows: Vec<Row> = sections.iter().flat_map(|s| s.rows.clone()).collect();
    let mut blocks: Vec<(String, String)> = Vec::new();
    if !rows.is_empty() {
        blocks.push((SUMMARY.to_owned(), summary_block(&doc, context, &rows)));
    }
    for s in sections {
        let open = format!("<!-- bench:{} -->", s.id);
        let close = format!("<!-- /bench:{} -->", s.id);
        blocks.push((
            s.id.to_owned(),
            format!(
                "{open}\n{}\n\n{}\n{close}",
                s.body.trim_end(),
                context.footer()
            ),
        ));
    }
    for (id, block) in blocks {
        let open = format!("<!-- bench:{id} -->");
        let close = format!("<!-- /bench:{id} -->");
        match (doc.find(&open), doc.find(&close)) {
            (Some(a), Some(b)) if b > a => doc.replace_range(a..b + close.len(), &block),
            // The summary goes first, right after the header.
            _ if id == SUMMARY => match doc.find("\n<!-- bench:") {
                Some(i) => doc.insert_str(i + 1, &format!("{block}\n\n")),
                None => doc = format!("{}\n\n{block}\n", doc.trim_end()),
            },
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

    fn context() -> Context {
        Context {
            command: "bench".into(),
            quick: false,
            date: "today".into(),
            machine: "m".into(),
            profile: "release".into(),
            load_at_start: "1.0 1.0 1.0".into(),
            load_at_end: String::new(),
        }
    }

    fn temp_doc(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("bench-report-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("BENCHMARKS.md")
    }

    #[test]
    fn sections_are_replaced_in_place_and_others_kept() {
        let path = temp_doc("sections");
        let ctx = context();
        let section = |id, body: &str| Section {
            id,
            body: body.into(),
            rows: Vec::new(),
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
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_summary_leads_and_keeps_rows_of_figures_that_did_not_run() {
        let path = temp_doc("summary");
        let ctx = context();
        let section = |id, row_id, measured: &str| Section {
            id,
            body: format!("## {id}"),
            rows: vec![Row::new(row_id, "what", "< 1", measured, Some(true))],
        };
        write(
            &path,
            &ctx,
            &[section("b2", "B2", "first"), section("b1", "B1", "old")],
        )
        .unwrap();
        write(&path, &ctx, &[section("b1", "B1", "new")]).unwrap();
        let doc = std::fs::read_to_string(&path).unwrap();
        let summary = doc.find("<!-- bench:summary -->").unwrap();
        assert!(summary < doc.find("<!-- bench:b2 -->").unwrap());
        assert_eq!(doc.matches("<!-- bench:summary -->").count(), 1);
        let b1 = doc.find("| B1 | what | < 1 | new |").unwrap();
        let b2 = doc.find("| B2 | what | < 1 | first |").unwrap();
        assert!(b1 < b2, "rows are in id order");
        assert!(!doc.contains("| old |"));
        std::fs::remove_file(&path).unwrap();
    }
}
