//! `clustron top`: scrapes nodes' metrics endpoints every interval and shows, per node and
//! store, requests/s (with the busiest kinds), errors/s, p50/p99 latency over the interval,
//! the Raft view and the store's contents. Redraws in place on a terminal; prints one frame
//! after another otherwise (and with `--iterations`, stops by itself).

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Args;

use crate::client::parse_duration;
use crate::exit::{CliError, Outcome};
use crate::prom::{scrape, Sample};

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Metrics endpoints (host:port, as given to `clustron node --metrics`); comma-separated
    /// or repeated.
    #[arg(long = "metrics", required = true, value_delimiter = ',', env = "CLUSTRON_TOP_METRICS")]
    endpoints: Vec<String>,
    /// How often to refresh (1s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "1s", env = "CLUSTRON_TOP_INTERVAL")]
    interval: Duration,
    /// Stop after this many frames (default: until interrupted).
    #[arg(long)]
    iterations: Option<u64>,
    /// Only this store.
    #[arg(long)]
    store: Option<String>,
}

/// One node's scrape, boiled down per store.
#[derive(Default, Clone)]
struct StoreView {
    node: String,
    /// Requests answered, by kind (cumulative).
    requests: BTreeMap<String, f64>,
    errors: f64,
    /// Cumulative latency buckets summed over kinds: upper bound (s) → count.
    buckets: BTreeMap<u64, f64>,
    leader: bool,
    gauges: HashMap<&'static str, f64>,
}

const GAUGES: [(&str, &str); 9] = [
    ("clustron_raft_term", "term"),
    ("clustron_raft_commit_index", "commit"),
    ("clustron_raft_applied_index", "applied"),
    ("clustron_store_keys", "keys"),
    ("clustron_store_bytes", "bytes"),
    ("clustron_store_watchers", "watchers"),
    ("clustron_store_leases", "leases"),
    ("clustron_store_locks", "locks"),
    ("clustron_raft_voters", "voters"),
];

/// Bucket bounds are kept in nanoseconds so they can be map keys.
fn bound_key(le: &str) -> u64 {
    if le == "+Inf" {
        u64::MAX
    } else {
        le.parse::<f64>().map_or(u64::MAX, |seconds| (seconds * 1e9) as u64)
    }
}

fn views(samples: &[Sample]) -> BTreeMap<String, StoreView> {
    let node = samples
        .iter()
        .find(|sample| sample.name == "clustron_node_info")
        .and_then(|sample| sample.label("id"))
        .unwrap_or("?")
        .to_owned();
    let mut stores: BTreeMap<String, StoreView> = BTreeMap::new();
    for sample in samples {
        let Some(store) = sample.label("store") else { continue };
        let view =
            stores.entry(store.to_owned()).or_insert_with(|| StoreView { node: node.clone(), ..StoreView::default() });
        match sample.name.as_str() {
            "clustron_requests_total" => {
                *view.requests.entry(sample.label("op").unwrap_or("?").to_owned()).or_default() += sample.value;
            }
            "clustron_errors_total" => view.errors += sample.value,
            "clustron_request_duration_seconds_bucket" => {
                *view.buckets.entry(bound_key(sample.label("le").unwrap_or("+Inf"))).or_default() += sample.value;
            }
            "clustron_raft_is_leader" => view.leader = sample.value > 0.0,
            name => {
                if let Some((_, short)) = GAUGES.iter().find(|(metric, _)| *metric == name) {
                    view.gauges.insert(short, sample.value);
                }
            }
        }
    }
    stores
}

/// The latency at quantile `q` from the growth of cumulative buckets between two scrapes
/// (the upper bound of the bucket it falls in), in milliseconds.
fn quantile(before: &BTreeMap<u64, f64>, after: &BTreeMap<u64, f64>, q: f64) -> Option<f64> {
    let deltas: Vec<(u64, f64)> =
        after.iter().map(|(bound, count)| (*bound, count - before.get(bound).copied().unwrap_or(0.0))).collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (bound, _) = deltas.iter().find(|(_, cumulative)| *cumulative >= rank)?;
    Some(if *bound == u64::MAX { f64::INFINITY } else { *bound as f64 / 1e6 })
}

fn human(number: f64) -> String {
    match number {
        n if n >= 1e9 => format!("{:.1}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e4 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn millis(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(ms) if ms.is_infinite() => ">10s".into(),
        Some(ms) => format!("{ms:.2}"),
    }
}

/// One frame: the rates between `before` and `after` (`None` on the first frame).
fn frame(
    endpoints: &[String],
    before: Option<&[Result<BTreeMap<String, StoreView>, String>]>,
    after: &[Result<BTreeMap<String, StoreView>, String>],
    elapsed: Duration,
    only: Option<&str>,
) -> String {
    let mut out = String::new();
    let seconds = elapsed.as_secs_f64().max(1e-6);
    out.push_str(&format!(
        "{:<10} {:<12} {:<8} {:>5} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}\n",
        "NODE",
        "STORE",
        "ROLE",
        "TERM",
        "COMMIT",
        "APPLIED",
        "REQ/S",
        "ERR/S",
        "P50(ms)",
        "P99(ms)",
        "KEYS",
        "BYTES",
        "WATCH",
        "LEASE",
        "LOCKS"
    ));
    for (index, (endpoint, scraped)) in endpoints.iter().zip(after).enumerate() {
        let stores = match scraped {
            Ok(stores) => stores,
            Err(error) => {
                out.push_str(&format!("{endpoint:<10} unreachable: {error}\n"));
                continue;
            }
        };
        let previous = before.and_then(|before| before[index].as_ref().ok());
        for (store, view) in stores {
            if only.is_some_and(|only| only != store) {
                continue;
            }
            let earlier = previous.and_then(|previous| previous.get(store));
            let rate = |now: f64, then: Option<f64>| then.map(|then| ((now - then) / seconds).max(0.0));
            let total: f64 = view.requests.values().sum();
            let requests = rate(total, earlier.map(|e| e.requests.values().sum()));
            let errors = rate(view.errors, earlier.map(|e| e.errors));
            let (p50, p99) = match earlier {
                Some(earlier) => {
                    (quantile(&earlier.buckets, &view.buckets, 0.5), quantile(&earlier.buckets, &view.buckets, 0.99))
                }
                None => (None, None),
            };
            let gauge = |name: &str| view.gauges.get(name).copied().unwrap_or(0.0);
            let role = if view.leader { "leader" } else { "follower" };
            let node: String = view.node.chars().take(10).collect();
            out.push_str(&format!(
                "{:<10} {:<12} {:<8} {:>5} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}\n",
                node,
                store,
                role,
                gauge("term"),
                gauge("commit"),
                gauge("applied"),
                requests.map_or("-".into(), human),
                errors.map_or("-".into(), |e| format!("{e:.1}")),
                millis(p50),
                millis(p99),
                human(gauge("keys")),
                human(gauge("bytes")),
                gauge("watchers"),
                gauge("leases"),
                gauge("locks"),
            ));
            if let Some(earlier) = earlier {
                let mut kinds: Vec<(&String, f64)> = view
                    .requests
                    .iter()
                    .map(|(kind, count)| (kind, (count - earlier.requests.get(kind).copied().unwrap_or(0.0)) / seconds))
                    .filter(|(_, rate)| *rate > 0.0)
                    .collect();
                kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
                if !kinds.is_empty() {
                    let busiest: Vec<String> =
                        kinds.iter().take(5).map(|(kind, rate)| format!("{kind} {}/s", human(*rate))).collect();
                    out.push_str(&format!("{:<10}   {}\n", "", busiest.join(", ")));
                }
            }
        }
    }
    out
}

pub fn run(args: TopArgs) -> Result<Outcome, CliError> {
    if args.interval.is_zero() {
        return Err(CliError::usage("--interval must be above zero"));
    }
    let timeout = args.interval.clamp(Duration::from_millis(500), Duration::from_secs(5));
    let collect = |endpoints: &[String]| -> Vec<Result<BTreeMap<String, StoreView>, String>> {
        endpoints.iter().map(|endpoint| scrape(endpoint, timeout).map(|samples| views(&samples))).collect()
    };
    let terminal = std::io::stdout().is_terminal();
    let mut previous = collect(&args.endpoints);
    let mut previous_at = Instant::now();
    let mut shown = 0u64;
    loop {
        std::thread::sleep(args.interval);
        let current = collect(&args.endpoints);
        let now = Instant::now();
        let text = frame(&args.endpoints, Some(&previous), &current, now - previous_at, args.store.as_deref());
        let mut out = std::io::stdout().lock();
        if terminal {
            // Home and clear, then the frame: a redraw in place.
            let _ = write!(out, "\x1b[H\x1b[2J");
        }
        let _ = writeln!(
            out,
            "clustron top: {} node(s), every {:.1}s (Ctrl+C to quit)\n{text}",
            args.endpoints.len(),
            args.interval.as_secs_f64()
        );
        let _ = out.flush();
        drop(out);
        previous = current;
        previous_at = now;
        shown += 1;
        if args.iterations.is_some_and(|limit| shown >= limit) {
            return Ok(Outcome::Done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_bucket_growth() {
        let before: BTreeMap<u64, f64> = [(1_000_000, 10.0), (2_000_000, 10.0), (u64::MAX, 10.0)].into();
        // 100 new: 90 under 1 ms, 9 under 2 ms, 1 above.
        let after: BTreeMap<u64, f64> = [(1_000_000, 100.0), (2_000_000, 109.0), (u64::MAX, 110.0)].into();
        assert_eq!(quantile(&before, &after, 0.5), Some(1.0));
        assert_eq!(quantile(&before, &after, 0.95), Some(2.0));
        assert_eq!(quantile(&before, &after, 0.999), Some(f64::INFINITY));
        assert_eq!(quantile(&after, &after, 0.5), None);
    }

    #[test]
    fn a_frame_shows_rates_between_scrapes() {
        let text = |ops: u64| {
            format!(
                "clustron_node_info{{id=\"abc\"}} 1\nclustron_requests_total{{store=\"s\",op=\"put\"}} {ops}\n\
                 clustron_raft_is_leader{{store=\"s\"}} 1\nclustron_store_keys{{store=\"s\"}} 42\n"
            )
        };
        let parse = |ops| Ok(views(&crate::prom::parse(&text(ops)).unwrap()));
        let endpoints = vec!["n1".to_owned()];
        let frame = frame(&endpoints, Some(&[parse(100)]), &[parse(300)], Duration::from_secs(2), None);
        assert!(frame.contains("leader"), "{frame}");
        assert!(frame.contains(" 100 "), "100 requests/s expected: {frame}");
        assert!(frame.contains("put 100/s"), "{frame}");
        assert!(frame.contains(" 42 "), "{frame}");
    }
}
