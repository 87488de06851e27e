//! The cascade demo: why a service wants Buttress, in under a minute.
//!
//! `cargo run --release --example cascade`
//!
//! Starts three services A → B → C on 127.0.0.1 (B needs C for part of
//! its answer only) and a load generator, then plays a scenario — normal
//! traffic, C failing, C slow, C recovered, B failing, B recovered, a
//! greedy caller, a 3× spike of mostly sheddable traffic — twice: with
//! naive HTTP calls (a timeout per call and immediate retries) and with
//! Buttress stacks configured from `examples/cascade/a.toml` and
//! `b.toml`. It prints a live line per second and a side-by-side summary
//! per phase, and writes `target/cascade-report.html` (charts of both
//! runs, a verdict per phase) and `target/cascade.svg` (the README's
//! chart).
//!
//! Flags: `--duration <secs>` (one run, default 24), `--rate <req/s>`
//! (default 100), `--spike <multiple>` (default 3), `--quiet` (no live
//! lines), `--report <path>`, `--svg <path>` (`--svg cascade.svg`
//! refreshes the README's copy).

#[path = "cascade/mod.rs"]
mod cascade;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cascade::{Mode, Settings, config, figures, report, stats, summary};

fn usage() -> ! {
    eprintln!(
        "usage: cascade [--duration SECS] [--rate REQ_PER_SEC] [--spike MULTIPLE] [--quiet] [--report PATH] [--svg PATH]"
    );
    std::process::exit(2)
}

struct Args {
    settings: Settings,
    report: PathBuf,
    svg: PathBuf,
}

fn parse() -> Args {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let mut out = Args {
        settings: Settings::standard(),
        report: target.join("cascade-report.html"),
        svg: target.join("cascade.svg"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> f64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .unwrap_or_else(|| usage())
        };
        let settings = &mut out.settings;
        match flag.as_str() {
            "--duration" => {
                *settings = settings
                    .clone()
                    .with_duration(Duration::from_secs_f64(number()))
            }
            "--rate" => settings.rate = number(),
            "--spike" => settings.spike = number().max(1.0),
            "--quiet" => settings.quiet = true,
            "--report" => out.report = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            "--svg" => out.svg = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    out
}

fn write(path: &Path, contents: &str, what: &str) {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    match dir
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, contents))
    {
        Ok(()) => println!("{what}: {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

#[tokio::main]
async fn main() {
    let Args {
        settings,
        report: report_path,
        svg: svg_path,
    } = parse();
    println!(
        "cascade: {:.0} s per run, {} req/s from {} callers, a greedy caller at {}x, a {}x spike; naive first, then buttress",
        settings.run_length().as_secs_f64(),
        settings.rate,
        settings.callers,
        settings.greedy,
        settings.spike
    );
    println!("buttress stacks from {}\n", config::SOURCE);
    let began = Instant::now();
    let naive = cascade::run(Mode::Naive, &settings).await;
    // Let the naive run's stragglers finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!();
    let buttress = cascade::run(Mode::Buttress, &settings).await;
    let took = began.elapsed();

    let (n, b) = (stats::summarize(&naive), stats::summarize(&buttress));
    let text = summary::text(&settings, &n, &b);
    println!("\n{text}");
    println!("both runs took {:.1} s", took.as_secs_f64());
    write(
        &report_path,
        &report::html(&naive, &buttress, &n, &b, &text),
        "report",
    );
    write(&svg_path, &figures::outcomes(&naive, &buttress), "chart");
}
