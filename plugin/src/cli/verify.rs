//! `verify`: reads every segment and spent-index run of a cache and checks it against its checksums,
//! printing one line per damaged segment or run. Exits with 0 when every file is intact, and fails
//! (`CACHE_DAMAGED`, exit 1) when any is damaged, or when the cache cannot be read at all.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tari_wallet_sync::cache::{CacheError, DirReport, verify_dir};

#[derive(clap::Args)]
pub struct Args {
    /// The cache directory (`import`, `follow`, `serve` or `demo-chain` filled it).
    #[arg(long)]
    pub cache: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let started = std::time::Instant::now();
    let report = verify_dir(&args.cache).with_context(|| format!("reading the cache at {}", args.cache.display()))?;
    for damage in &report.damaged {
        println!("damaged: {damage}");
    }
    println!("{}", summary(&report, started.elapsed().as_secs_f64()));
    match report.damaged.first() {
        None => Ok(()),
        Some(first) => Err(CacheError::Damaged(first.clone())).with_context(|| {
            format!(
                "{} of {} segments and runs of the cache at {} are damaged",
                report.damaged.len(),
                report.segments + report.runs,
                args.cache.display()
            )
        }),
    }
}

fn summary(report: &DirReport, seconds: f64) -> String {
    let verdict = match report.damaged.len() {
        0 => "every file intact".to_string(),
        n => format!("{n} damaged"),
    };
    let checks = if report.format_version >= 4 {
        "file checksums"
    } else {
        "block checksums (format 3 and older have no file checksums; the offsets files are checked once a writer migrates the cache)"
    };
    format!(
        "format {}: {} ({} outputs) and {}, {:.1} MB, checked against their {checks} in {seconds:.2} s: {verdict}",
        report.format_version,
        count(report.segments, "segment"),
        report.outputs,
        count(report.runs, "spent-index run"),
        report.bytes as f64 / 1e6,
    )
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
