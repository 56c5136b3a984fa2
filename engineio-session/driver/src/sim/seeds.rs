//! Running many seeds, and replaying the one that failed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The environment variable that replays one seed: `ENGINEIO_SIM_SEED=42 cargo test ...`.
pub const SEED_VAR: &str = "ENGINEIO_SIM_SEED";

/// The environment variable that prints every run's whole trace to standard error as it
/// happens (for replaying one seed): `ENGINEIO_SIM_TRACE=1`.
pub const TRACE_VAR: &str = "ENGINEIO_SIM_TRACE";

/// Runs `one` for every seed of `seeds` (or only for `$ENGINEIO_SIM_SEED` when it is set),
/// on as many threads as the machine has cores, each seed on one thread. `one` returns an
/// error (or panics) for a failing seed.
///
/// # Panics
/// When a seed failed: the message names the lowest failing seed, its error, and the command
/// that replays it alone.
///
/// ```
/// engineio_driver::sim::check_seeds(0..4, |seed| {
///     if seed < 100 { Ok(()) } else { Err(format!("seed {seed} is too large")) }
/// });
/// ```
pub fn check_seeds<F>(seeds: std::ops::Range<u64>, one: F)
where
    F: Fn(u64) -> Result<(), String> + Sync,
{
    let (start, end) = match std::env::var(SEED_VAR)
        .ok()
        .map(|s| s.trim().parse::<u64>())
    {
        Some(Ok(seed)) => (seed, seed + 1),
        Some(Err(e)) => panic!("{SEED_VAR} must be a number: {e}"),
        None => (seeds.start, seeds.end),
    };
    // The test's name, for the replay command (libtest names each test's thread after it).
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_owned);
    let next = AtomicU64::new(start);
    let failures = Mutex::new(Vec::<(u64, String)>::new());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads.min((end - start) as usize).max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    break;
                }
                let failed = match catch_unwind(AssertUnwindSafe(|| one(seed))) {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => e,
                    Err(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "a task panicked".to_owned()),
                };
                super::world::lock(&failures).push((seed, failed));
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|f| f.0);
    if let Some((seed, error)) = failures.first() {
        let exe = std::env::current_exe()
            .map_or_else(|_| "<this test binary>".into(), |p| p.display().to_string());
        let which = test.map_or_else(String::new, |t| format!(" {t} --exact"));
        panic!(
            "{} of {} seeds failed; the first, seed {seed}:\n{error}\n\n\
             replay it alone: {SEED_VAR}={seed} {exe}{which}\n\
             (or {SEED_VAR}={seed} before the same cargo test command; add {TRACE_VAR}=1 to print \
             its whole trace)",
            failures.len(),
            end - start,
        );
    }
}
