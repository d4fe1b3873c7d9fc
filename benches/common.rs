//! A tiny timing harness for `cargo bench` (harness = false): runs a closure a few times and
//! reports the median, so targets are measured here and never asserted in timed tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Runs `f` `runs` times (after one warm-up) and returns the median duration.
pub fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Prints one result line: name, median, and a rate when `per_run` items are done per run.
pub fn report(name: &str, d: Duration, per_run: Option<(f64, &str)>) {
    match per_run {
        Some((n, unit)) => println!(
            "{name:<48} {:>10.3} ms   {:>12.0} {unit}/s",
            d.as_secs_f64() * 1e3,
            n / d.as_secs_f64()
        ),
        None => println!("{name:<48} {:>10.3} ms", d.as_secs_f64() * 1e3),
    }
}
