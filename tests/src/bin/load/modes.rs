//! The two runs: the load (every session open at once for a while, then all closed, in one
//! round or more) and the soak (`--churn`: a steady population of short sessions).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::{sleep, sleep_until, Instant};

use crate::args::{Args, Churn, RssBaseline};
use crate::report::Checks;
use crate::run::{Baseline, Run, Stop};
use crate::sampler::{self, Row};
use crate::session;
use crate::wire::Rng;

/// How often the load samples the server.
const LOAD_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The load: `--rounds` times, `--sessions` sessions opened at `--ramp` a second, traffic for
/// `--duration` once all are open, then every one closed and the server back at rest.
pub async fn load(args: &Args) -> Result<(Value, Checks), String> {
    let run = Run::begin(args, LOAD_SAMPLE_EVERY, None).await?;
    let c = &run.ctx.counters;
    let mut checks = Checks::default();
    let (mut rests, mut windows, mut ramp) = (Vec::new(), Vec::new(), 0.0);
    for round in 0..args.rounds {
        let stop = Stop::new();
        let (opened_before, failed_before) = (c.opened.get(), c.connect_failed.get());
        let t = Instant::now();
        let mut tasks = Vec::with_capacity(args.sessions);
        for i in 0..args.sessions {
            sleep_until(t + Duration::from_secs_f64(i as f64 / args.ramp)).await;
            let mode = args.mix[i % args.mix.len()];
            let index = (round * args.sessions + i) as u32;
            let s = session::run(run.ctx.clone(), index, mode, stop.plan(None));
            tasks.push(tokio::spawn(async move {
                s.await;
            }));
        }
        // Every handshake done (or failed; each is bounded).
        let want = opened_before + failed_before + args.sessions as u64;
        while c.opened.get() + c.connect_failed.get() < want {
            sleep(Duration::from_millis(50)).await;
        }
        ramp = t.elapsed().as_secs_f64();
        let opened = c.opened.get() - opened_before;
        eprintln!(
            "[{:5.0} s] round {}: {} sessions open after {ramp:.1} s; traffic for {:?}",
            run.elapsed(),
            round + 1,
            c.alive.get(),
            args.duration
        );
        let from = run.elapsed();
        sleep(args.duration).await;
        windows.push((from, run.elapsed()));
        checks.check(
            &format!("every session opened (round {})", round + 1),
            opened == args.sessions as u64,
            format!("{opened} of {}", args.sessions),
        );
        stop.stop_all(&run.ctx, tasks).await;
        let rest = run.rest().await?;
        eprintln!(
            "[{:5.0} s] round {} ended: server at {} sessions, {} KiB RSS, {} fds",
            run.elapsed(),
            round + 1,
            rest.sessions.map_or("?".to_owned(), |n| n.to_string()),
            rest.sample.rss_kb,
            rest.sample.fds
        );
        rests.push(rest);
    }
    let baseline = match args.rss_baseline {
        RssBaseline::Start => Baseline::Start,
        RssBaseline::Warm => Baseline::Sample(rests[0].sample, "the first round's end"),
    };
    let (report, _) = run
        .finish("load", &rests, &windows, baseline, ramp, &mut checks)
        .await?;
    Ok((report, checks))
}

/// The soak: `--sessions` sessions alive at any time for `--duration`, each living a random
/// `--life` before another takes its place; the server sampled all along, its RSS and
/// descriptors required flat.
pub async fn churn(args: &Args, churn: &Churn) -> Result<(Value, Checks), String> {
    let run = Run::begin(args, churn.sample_every, Some(churn)).await?;
    let stop = Stop::new();
    let next_index = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::with_capacity(args.sessions);
    for slot in 0..args.sessions {
        let start = run.t0 + Duration::from_secs_f64(slot as f64 / args.ramp);
        let (ctx, mix, next_index) = (run.ctx.clone(), args.mix.clone(), next_index.clone());
        let slot_stop = stop.plan(None).stop;
        let (lo, hi) = (churn.life_min, churn.life_max);
        tasks.push(tokio::spawn(async move {
            sleep_until(start).await;
            let mut rng = Rng::new(slot as u64 ^ 0x5EED);
            while !*slot_stop.borrow() {
                let index = next_index.fetch_add(1, Relaxed);
                let mode = mix[index as usize % mix.len()];
                let plan = session::Plan {
                    stop: slot_stop.clone(),
                    life: Some(lo + (hi - lo).mul_f64(rng.unit())),
                };
                if !session::run(ctx.clone(), index, mode, plan).await {
                    // The server refused: not at full speed.
                    sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    sleep_until(run.t0 + args.duration).await;
    let end = run.elapsed();
    stop.stop_all(&run.ctx, tasks).await;
    let rest = run.rest().await?;
    let baseline = match args.rss_baseline {
        RssBaseline::Start => Baseline::Start,
        RssBaseline::Warm => Baseline::FirstThird,
    };
    let mut checks = Checks::default();
    let (mut report, rows) = run
        .finish("churn", &[rest], &[(0.0, end)], baseline, 0.0, &mut checks)
        .await?;
    let during: Vec<Row> = rows.iter().copied().filter(|r| r.t <= end).collect();
    report["churn"] = sampler::flat(&during, churn.flat_bound_mib, &mut checks);
    report["churn"]["life_s"] = json!([churn.life_min.as_secs_f64(), churn.life_max.as_secs_f64()]);
    report["churn"]["csv"] = json!(churn.csv.as_ref().map(|p| p.display().to_string()));
    Ok((report, checks))
}
