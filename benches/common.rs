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

/// A buyer's PII record like Amazon's (about 300 bytes sealed), distinct per `i`.
pub fn sample_pii(i: usize) -> fulfill::pii::BuyerPii {
    use fulfill::pii::{BuyerPii, Pii};
    BuyerPii {
        buyer_name: Some(Pii::new(format!("Buyer Name {i}"))),
        buyer_email: Some(Pii::new(format!("x{i}abcdef@marketplace.amazon.com"))),
        recipient_name: Some(Pii::new(format!("Recipient Name {i}"))),
        address_line1: Some(Pii::new(format!("{i} Some Long Street Name"))),
        address_line2: Some(Pii::new("Apartment 4B".to_string())),
        city: Some(Pii::new("Springfield".to_string())),
        state_or_region: Some(Pii::new("IL".to_string())),
        postal_code: Some(Pii::new("62704".to_string())),
        phone: Some(Pii::new(format!("+1 555 {i:07}"))),
        ..Default::default()
    }
}
