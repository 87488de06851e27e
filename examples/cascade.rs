//! The cascade demo: why a service wants Buttress, in under a minute.
//!
//! `cargo run --release --example cascade`
//!
//! Starts three services A → B → C on 127.0.0.1 (B needs C for part of its
//! answer only) and a load generator, then plays a scenario — normal
//! traffic, C failing, C slow, C recovered, B failing, B recovered, a 3×
//! spike of mostly sheddable traffic — twice: with naive HTTP calls (a
//! timeout per call and immediate retries) and with Buttress stacks. It
//! prints a live line per second, a side-by-side summary per phase, and
//! writes `target/cascade-report.html` with charts of both runs.
//!
//! Flags: `--duration <secs>` (one run, default 23), `--rate <req/s>`
//! (default 100), `--spike <multiple>` (default 3), `--quiet` (no live
//! lines), `--report <path>`.

#[path = "cascade/mod.rs"]
mod cascade;

use std::path::PathBuf;
use std::time::Duration;

use cascade::{Mode, Settings, report};

fn usage() -> ! {
    eprintln!(
        "usage: cascade [--duration SECS] [--rate REQ_PER_SEC] [--spike MULTIPLE] [--quiet] [--report PATH]"
    );
    std::process::exit(2)
}

fn parse() -> (Settings, PathBuf) {
    let mut settings = Settings::standard();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let mut report = target.join("cascade-report.html");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> f64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--duration" => settings = settings.with_duration(Duration::from_secs_f64(number())),
            "--rate" => settings.rate = number(),
            "--spike" => settings.spike = number().max(1.0),
            "--quiet" => settings.quiet = true,
            "--report" => report = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    (settings, report)
}

#[tokio::main]
async fn main() {
    let (settings, report_path) = parse();
    println!(
        "cascade: {:.0} s per run, {} req/s, {}x spike; naive first, then buttress\n",
        settings.run_length().as_secs_f64(),
        settings.rate,
        settings.spike
    );
    let naive = cascade::run(Mode::Naive, &settings).await;
    // Let the naive run's stragglers (retries still waiting on C) finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!();
    let buttress = cascade::run(Mode::Buttress, &settings).await;

    let summary = report::summary_text(&report::summarize(&naive), &report::summarize(&buttress));
    println!("\n{summary}");
    let html = report::html(&naive, &buttress, &summary);
    match std::fs::create_dir_all(report_path.parent().unwrap_or(&PathBuf::from(".")))
        .and_then(|()| std::fs::write(&report_path, html))
    {
        Ok(()) => println!("report: {}", report_path.display()),
        Err(e) => eprintln!("could not write {}: {e}", report_path.display()),
    }
}
