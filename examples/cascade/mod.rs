//! The cascade demo: three services A → B → C on 127.0.0.1, a load
//! generator, a scripted scenario played twice — with naive HTTP calls and
//! with Buttress stacks configured from TOML — and the numbers side by
//! side.
//!
//! `examples/cascade.rs` runs it from the command line; `tests/cascade.rs`
//! plays a shortened scenario and checks the outcomes.

#![allow(dead_code, unreachable_pub, unused_imports)] // the example and the test use different parts

pub mod chart;
pub mod config;
pub mod counters;
pub mod figures;
pub mod in_code;
pub mod live;
pub mod load;
pub mod naive;
pub mod report;
pub mod resilient;
pub mod scenario;
pub mod services;
pub mod sink;
pub mod stats;
pub mod summary;

use std::sync::{Arc, Mutex};

pub use self::counters::Counters;
pub use self::load::Record;
pub use self::scenario::{Mode, Phase, Scenario, Settings};

/// Everything one run measured.
pub struct Run {
    /// Naive or Buttress.
    pub mode: Mode,
    /// The scenario's clock and phases.
    pub scenario: Scenario,
    /// One record per request the load generator sent.
    pub records: Vec<Record>,
    /// What the services and the Buttress layers did, and when.
    pub counters: Arc<Counters>,
}

/// Plays the scenario once in `mode`, printing a live line per second
/// unless `settings.quiet`.
pub async fn run(mode: Mode, settings: &Settings) -> Run {
    let counters = Arc::new(Counters::default());
    let scenario = Scenario::start(settings);
    sink::install(&scenario, &counters);
    let topology = services::start(mode, &scenario, settings, counters.clone()).await;
    let records = Arc::new(Mutex::new(Vec::new()));
    let live = (!settings.quiet).then(|| {
        tokio::spawn(live::lines(
            mode,
            scenario.clone(),
            records.clone(),
            counters.clone(),
        ))
    });
    let records = load::generate(topology.a, &scenario, settings, records).await;
    if let Some(live) = live {
        live.abort();
    }
    topology.stop();
    Run {
        mode,
        scenario,
        records,
        counters,
    }
}
