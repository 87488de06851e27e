//! The fuzz targets of every parser of untrusted input (`fuzz/targets.rs`),
//! driven three ways:
//!
//! - `every_corpus_input_replays_without_panic`: each file kept under
//!   `fuzz/corpus/<target>/` goes through its target again (the targets
//!   assert that nothing panics and that output stays within its caps);
//! - `mutated_inputs_never_panic`: a short, seeded run of the mutation
//!   loop below over every target, in the ordinary suite;
//! - `fuzz_loop` (ignored; `scripts/fuzz` runs it): the stable fuzzer. It
//!   mutates corpus inputs (bit flips, bytes, dictionary tokens, splices,
//!   repeats that grow inputs past the caps) for a set time and keeps an
//!   input when it gives the target a (result, length class) pair not seen
//!   before — output-guided, not coverage-guided: the libFuzzer targets in
//!   `fuzz/fuzz_targets/` are the coverage-guided driver, where a nightly
//!   toolchain is there.

#![cfg(all(feature = "context", feature = "chaos"))]

#[allow(dead_code, unreachable_pub)] // also the fuzz crate's library root
#[path = "../fuzz/targets.rs"]
mod targets;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use targets::{MAX_INPUT, TARGETS, Target};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_root().join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let mut bytes = std::fs::read(&p).unwrap();
            bytes.truncate(MAX_INPUT);
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Runs `target` on `input`, naming the input if it panics.
fn run(name: &str, target: Target, input: &[u8], origin: &dyn std::fmt::Display) -> &'static str {
    match std::panic::catch_unwind(|| target(input)) {
        Ok(label) => label,
        Err(_) => panic!(
            "target {name} panicked on {origin} ({} bytes: {:?})",
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(200)])
        ),
    }
}

#[test]
fn every_corpus_input_replays_without_panic() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for input in seeds(name) {
            run(name, *target, &input, &"a built-in seed");
        }
        for (path, input) in corpus(name) {
            run(name, *target, &input, &path.display());
            replayed += 1;
        }
    }
    // Every corpus folder belongs to a target.
    if let Ok(entries) = std::fs::read_dir(corpus_root()) {
        for entry in entries.filter_map(Result::ok) {
            let folder = entry.file_name();
            let folder = folder.to_string_lossy();
            assert!(
                targets::target(&folder).is_some(),
                "fuzz/corpus/{folder} names no target"
            );
        }
    }
    println!("replayed {replayed} corpus inputs");
}

#[test]
fn mutated_inputs_never_panic() {
    for (name, target) in TARGETS {
        let mut fuzzer = Fuzzer::new(name, *target, 0x5eed ^ name.len() as u64);
        fuzzer.run_for(None, 3_000);
    }
}

/// The stable fuzzer: `FUZZ_TARGET` (one name, or all), `FUZZ_SECONDS`
/// per target (default 60), `FUZZ_SEED`. New interesting inputs are
/// written to `fuzz/corpus/<target>/`.
#[test]
#[ignore = "the fuzzer runs for minutes, not in every suite; run: scripts/fuzz [SECONDS] [TARGET...]"]
fn fuzz_loop() {
    let only = std::env::var("FUZZ_TARGET").ok();
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    for (name, target) in TARGETS {
        if only.as_deref().is_some_and(|only| only != *name) {
            continue;
        }
        let mut fuzzer = Fuzzer::new(name, *target, seed);
        let before = fuzzer.pool.len();
        let stats = fuzzer.run_for(Some(Duration::from_secs(seconds)), u64::MAX);
        let dir = corpus_root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut written = 0;
        for input in &fuzzer.pool[before..] {
            let path = dir.join(format!("{:016x}", fnv(input)));
            if !path.exists() {
                std::fs::write(path, input).unwrap();
                written += 1;
            }
        }
        let mut labels: Vec<_> = fuzzer.labels.iter().copied().collect();
        labels.sort_unstable();
        println!(
            "fuzz {name}: {} execs in {:.1} s ({:.0}/s), seed {seed}, no panic; \
             corpus {} (+{written} written), longest input {} bytes; results: {}",
            stats.execs,
            stats.elapsed.as_secs_f64(),
            stats.execs as f64 / stats.elapsed.as_secs_f64(),
            fuzzer.pool.len(),
            fuzzer.longest,
            labels.join(" "),
        );
    }
}

struct Stats {
    execs: u64,
    elapsed: Duration,
}

/// The mutation loop: a pool of inputs (seeds and corpus), each new input
/// a few stacked mutations of one of them, kept when its (result, length
/// class) signature is new.
struct Fuzzer {
    name: &'static str,
    target: Target,
    rng: Rng,
    pool: Vec<Vec<u8>>,
    seen: HashSet<(&'static str, u32)>,
    labels: HashSet<&'static str>,
    longest: usize,
}

fn length_class(len: usize) -> u32 {
    usize::BITS - len.leading_zeros()
}

impl Fuzzer {
    fn new(name: &'static str, target: Target, seed: u64) -> Self {
        let mut fuzzer = Fuzzer {
            name,
            target,
            rng: Rng(seed | 1),
            pool: Vec::new(),
            seen: HashSet::new(),
            labels: HashSet::new(),
            longest: 0,
        };
        for (path, input) in corpus(name) {
            let label = run(name, target, &input, &path.display());
            fuzzer.note(label, &input);
            fuzzer.pool.push(input);
        }
        let known = fuzzer.pool.len();
        for input in seeds(name) {
            let label = run(name, target, &input, &"a built-in seed");
            if fuzzer.note(label, &input) || known == 0 {
                fuzzer.pool.push(input);
            }
        }
        fuzzer
    }

    /// Records a result; `true` when its signature is new.
    fn note(&mut self, label: &'static str, input: &[u8]) -> bool {
        self.labels.insert(label);
        self.longest = self.longest.max(input.len());
        self.seen.insert((label, length_class(input.len())))
    }

    fn run_for(&mut self, time: Option<Duration>, max_execs: u64) -> Stats {
        let start = Instant::now();
        let mut execs = 0;
        while execs < max_execs {
            if execs % 256 == 0 && time.is_some_and(|t| start.elapsed() >= t) {
                break;
            }
            let input = self.mutate();
            let label = run(self.name, self.target, &input, &"a mutated input");
            if self.note(label, &input) {
                self.pool.push(input);
            }
            execs += 1;
        }
        Stats {
            execs,
            elapsed: start.elapsed(),
        }
    }

    fn mutate(&mut self) -> Vec<u8> {
        let base = if self.pool.is_empty() {
            Vec::new()
        } else {
            self.pool[self.rng.below(self.pool.len())].clone()
        };
        let mut input = base;
        for _ in 0..1 + self.rng.below(4) {
            self.mutate_once(&mut input);
        }
        input.truncate(MAX_INPUT);
        input
    }

    fn mutate_once(&mut self, input: &mut Vec<u8>) {
        let rng = &mut self.rng;
        let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
        match rng.below(10) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = at(rng, input.len());
                let byte = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.next() as u8
                };
                input.insert(i, byte);
            }
            3 if !input.is_empty() => {
                let i = rng.below(input.len());
                let n = 1 + rng.below((input.len() - i).min(8));
                input.drain(i..i + n);
            }
            4 if !input.is_empty() => {
                // Repeat a chunk: grows inputs towards and past the caps.
                let i = rng.below(input.len());
                let n = 1 + rng.below((input.len() - i).min(64));
                let chunk = input[i..i + n].to_vec();
                let most = if rng.below(8) == 0 { 512 } else { 4 };
                let times = 1 + rng.below(most);
                for _ in 0..times {
                    input.splice(i..i, chunk.iter().copied());
                    if input.len() > MAX_INPUT {
                        break;
                    }
                }
            }
            5 if !self.pool.is_empty() => {
                let other = &self.pool[rng.below(self.pool.len())];
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                let i = at(rng, input.len());
                input.splice(i..i, other[from..to].iter().copied());
            }
            6 | 7 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                let i = at(rng, input.len());
                input.splice(i..i, token.iter().copied());
            }
            8 if !input.is_empty() => {
                let n = rng.below(input.len());
                input.truncate(n);
            }
            _ => {
                // The whole input again, after a list separator.
                let separator = [b',', b';', b'\n', b' '][rng.below(4)];
                let copy = input.clone();
                input.push(separator);
                input.extend_from_slice(&copy);
            }
        }
    }
}

/// Bytes that sit on parser boundaries.
const INTERESTING: &[u8] = b"\0\t\n\r -,;=/:.[]_+0189afAFzZ\x7f\x80\xc3\xff";

/// Tokens of the grammars under test.
const DICTIONARY: &[&str] = &[
    "00-",
    "ff-",
    "01-",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00000000000000000000000000000000",
    "00f067aa0ba902b7",
    "0000000000000000",
    "-01",
    "-00",
    "rojo=00f067aa0ba902b7",
    "congo=t61rcWkgMzE",
    "vendor@tenant=x",
    "dependency=",
    "abort=",
    "delay=",
    "percent=",
    "503",
    "599",
    "reset",
    "unavailable",
    "14",
    "100ms",
    "60s",
    "61s",
    "H",
    "M",
    "S",
    "m",
    "u",
    "n",
    "99999999",
    "9999999999",
    "18446744073709551615",
    "-1",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Thu, 01 Jan 2026 00:00:10 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "GMT",
    "CRITICAL_PLUS",
    "sheddable_plus",
    "127.0.0.1",
    "10.0.0.0/8",
    "::ffff:",
    "::1",
    "2001:db8::/32",
    "/33",
    "/129",
    "%eth0",
];

/// Valid and near-valid inputs each target starts from.
fn seeds(name: &str) -> Vec<Vec<u8>> {
    let text: &[&str] = match name {
        "correlation_id" => &[
            "req-42.a:b_c",
            "0190b1c2-7e8f-7abc-9def-0123456789ab",
            "ab+/cd==",
            "bad id",
            "",
        ],
        "traceparent" => &[
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ],
        "tracestate" => &[
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "a=1\nb=2,c=3",
            "vendor@tenant=x, k=v",
            "bad",
        ],
        "grpc_timeout" => &["100m", "1S", "99999999H", "123456789n", "1x", ""],
        "timeout_ms" => &["250", "0", "9999999999", "-1"],
        "retry_after" => &[
            "120",
            "Thu, 01 Jan 2026 00:00:10 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "soon",
        ],
        "grpc_retry_pushback" => &["0", "1500", "-1", "9999999999", "+5"],
        "fault_directive" => &[
            "dependency=payments;abort=503;percent=50",
            "dependency=db;delay=100ms, dependency=cache;abort=reset",
            "dependency=a;abort=unavailable;delay=2s;percent=100",
            "abort=503",
        ],
        "criticality" => &["CRITICAL", "sheddable_plus", "Critical_Plus", "NONE"],
        "client_address" => &[
            "10.0.0.0/8",
            "2001:db8::/32",
            "::ffff:192.168.0.1",
            "127.0.0.1",
            "1.2.3.4/33",
        ],
        _ => &[],
    };
    text.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// xorshift64*: enough for mutations, and repeatable from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// FNV-1a: the corpus file name of an input.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
