//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use engineio_tokio::proto::Transport;
use engineio_tokio::ClientConfig;

/// What `--help` and a bad command line print.
pub const USAGE: &str = "\
usage: load --url URL --server-pid PID [--sessions N] [--ramp PER_SECOND] [--duration SECS]
            [--interval MS] [--mix polling,websocket,upgrade] [--max-size BYTES]
            [--threads N] [--rss-bound-mib MIB] [--rounds R] [--rss-baseline start|warm]
            [--json OUT]
            [--churn [--life MIN-MAX] [--sample-every SECS] [--csv OUT] [--flat-bound-mib MIB]]

Opens N sessions of our client (engineio-tokio) to an echo server (the `echo` example of
engineio-tokio or engineio-smol), the modes of --mix in turn, --ramp new sessions a second.
Every session sends a message every --interval ms (jittered by +-50%), text and binary, each
with its session, a sequence number and a checksum, and checks that every echo comes back
once, in order and intact. Once all are open, traffic runs --duration seconds; then every
session stops sending, waits for its last echoes and closes. The server (--server-pid: its
/proc/PID/status VmRSS and /proc/PID/fd) must then be back to zero sessions (asked with the
echo server's `__stats`, which also says that it closed none itself: every close was
`transport close`), to its starting descriptors, and within --rss-bound-mib of its starting
RSS. Prints the figures (and writes them as JSON to --json); exits 1 if a check
failed, 2 on a bad command line.

--rounds R runs the load R times on the same server, each round ending with every session
closed and the checks above. With --rss-baseline warm, the RSS after the last round is
compared with the RSS after the first instead of the start: an allocator that keeps what it
took at the peak (glibc's does, unless trimmed) then counts in the baseline, and a leak shows
as growth from one round to the next.

--churn: a soak. N sessions stay alive at any time, each living a random --life seconds
(default 2-8; an upgrading session's from its upgrade) before it closes and another opens in
its place, for --duration seconds; the server's RSS and descriptors are sampled every
--sample-every seconds (default 10) into --csv. With --rss-baseline warm, the RSS after the
churn is compared with the largest RSS of its first third. Beyond the checks above, RSS must
stay flat: the largest sample of the last third of the run at most --flat-bound-mib (default
8) above the largest of the first third; and so must the descriptors (the last third's
largest at most 10% above the first third's).

Defaults: 600 sessions, 200 a second, 20 s, 1000 ms, all three modes, text up to 256 bytes
(one message in a hundred 16 times larger), one runtime thread per CPU the process may use,
16 MiB.";

/// A session's transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Long-polling only.
    Polling,
    /// WebSocket only.
    Websocket,
    /// Polling, then upgrading to WebSocket.
    Upgrade,
}

impl Mode {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Polling => "polling",
            Mode::Websocket => "websocket",
            Mode::Upgrade => "upgrade",
        }
    }

    /// Every mode, in the order of [`index`](Self::index).
    pub const ALL: [Mode; 3] = [Mode::Polling, Mode::Websocket, Mode::Upgrade];

    /// The mode's place in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }

    fn parse(s: &str) -> Option<Mode> {
        match s {
            "polling" => Some(Mode::Polling),
            "websocket" => Some(Mode::Websocket),
            "upgrade" => Some(Mode::Upgrade),
            _ => None,
        }
    }

    /// `base` with this mode's transports.
    pub fn config(self, base: &ClientConfig) -> ClientConfig {
        let mut config = base.clone();
        match self {
            Mode::Polling => {
                config.transports = vec![Transport::Polling];
                config.upgrade = false;
            }
            Mode::Websocket => config.transports = vec![Transport::Websocket],
            Mode::Upgrade => {
                config.transports = vec![Transport::Polling, Transport::Websocket];
                config.upgrade = true;
            }
        }
        config
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server's RSS after the load is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssBaseline {
    /// Its RSS before the first session.
    Start,
    /// Its RSS after the first round: what the allocator keeps of the peak (glibc keeps most
    /// of it) is then part of the baseline, and a leak shows as growth round over round.
    Warm,
}

/// The soak's options (`--churn`).
#[derive(Clone, Debug)]
pub struct Churn {
    /// Shortest life of a session.
    pub life_min: Duration,
    /// Longest life of a session.
    pub life_max: Duration,
    /// Time between two samples of the server.
    pub sample_every: Duration,
    /// Where the samples go, as CSV.
    pub csv: Option<PathBuf>,
    /// How far the last third's RSS may rise above the first third's, in MiB.
    pub flat_bound_mib: u64,
}

/// The command line.
#[derive(Clone, Debug)]
pub struct Args {
    /// The server's URL (its path, if any, is the Engine.IO path).
    pub url: String,
    /// The client configuration every session starts from.
    pub base: ClientConfig,
    /// The server's process id.
    pub server_pid: u32,
    /// Sessions (at once).
    pub sessions: usize,
    /// New sessions a second, while opening.
    pub ramp: f64,
    /// Traffic time once all are open (the whole run with `--churn`).
    pub duration: Duration,
    /// Mean time between two messages of a session.
    pub interval: Duration,
    /// The modes, taken in turn.
    pub mix: Vec<Mode>,
    /// Usual largest message, in bytes.
    pub max_size: usize,
    /// Runtime threads.
    pub threads: usize,
    /// How far the server's RSS may stay above its start after the load, in MiB.
    pub rss_bound_mib: u64,
    /// Times the load is run on the same server (sessions opened, traffic, all closed).
    pub rounds: usize,
    /// What the RSS after the last round is compared with.
    pub rss_baseline: RssBaseline,
    /// Where the JSON report goes.
    pub json: Option<PathBuf>,
    /// The soak's options, with `--churn`.
    pub churn: Option<Churn>,
}

/// The command line, or the message to print.
pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut url = None;
    let mut server_pid = None;
    let mut sessions = 600usize;
    let mut ramp = 200.0f64;
    let mut duration = Duration::from_secs(20);
    let mut interval = Duration::from_millis(1000);
    let mut mix = vec![Mode::Polling, Mode::Websocket, Mode::Upgrade];
    let mut max_size = 256usize;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rss_bound_mib = 16u64;
    let mut rounds = 1usize;
    let mut rss_baseline = RssBaseline::Start;
    let mut json = None;
    let mut churn = None::<Churn>;
    let (mut life, mut sample_every, mut csv, mut flat_bound_mib) = ((2.0, 8.0), 10.0, None, 8u64);
    while let Some(a) = args.next() {
        if a == "--help" || a == "-h" {
            return Err(USAGE.to_owned());
        }
        if a == "--churn" {
            churn = Some(Churn {
                life_min: Duration::ZERO,
                life_max: Duration::ZERO,
                sample_every: Duration::ZERO,
                csv: None,
                flat_bound_mib: 0,
            });
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |what: &str| format!("{a} {value}: {what}");
        match a.as_str() {
            "--url" => url = Some(value),
            "--server-pid" => server_pid = Some(value.parse().map_err(|_| bad("not a pid"))?),
            "--sessions" => sessions = number(&value).ok_or_else(|| bad("not a count"))?,
            "--ramp" => ramp = seconds(&value).ok_or_else(|| bad("not a rate"))?,
            "--duration" => duration = secs(&value).ok_or_else(|| bad("not seconds"))?,
            "--interval" => {
                let ms: u64 = value.parse().map_err(|_| bad("not milliseconds"))?;
                interval = Duration::from_millis(ms.max(1));
            }
            "--mix" => {
                mix = value
                    .split(',')
                    .map(|m| Mode::parse(m.trim()).ok_or_else(|| bad("unknown mode")))
                    .collect::<Result<_, _>>()?;
            }
            "--max-size" => max_size = number(&value).ok_or_else(|| bad("not a size"))?,
            "--threads" => threads = number(&value).ok_or_else(|| bad("not a count"))?,
            "--rss-bound-mib" => {
                rss_bound_mib = value.parse().map_err(|_| bad("not a number"))?;
            }
            "--rounds" => rounds = number(&value).ok_or_else(|| bad("not a count"))?,
            "--rss-baseline" => {
                rss_baseline = match value.as_str() {
                    "start" => RssBaseline::Start,
                    "warm" => RssBaseline::Warm,
                    _ => return Err(bad("start or warm")),
                }
            }
            "--json" => json = Some(PathBuf::from(value)),
            "--life" => {
                let (lo, hi) = value.split_once('-').ok_or_else(|| bad("not MIN-MAX"))?;
                let lo = seconds(lo).ok_or_else(|| bad("not seconds"))?;
                let hi = seconds(hi).ok_or_else(|| bad("not seconds"))?;
                if lo > hi || lo <= 0.0 {
                    return Err(bad("needs 0 < MIN <= MAX"));
                }
                life = (lo, hi);
            }
            "--sample-every" => sample_every = seconds(&value).ok_or_else(|| bad("not seconds"))?,
            "--csv" => csv = Some(PathBuf::from(value)),
            "--flat-bound-mib" => {
                flat_bound_mib = value.parse().map_err(|_| bad("not a number"))?;
            }
            _ => return Err(format!("unknown option {a}\n\n{USAGE}")),
        }
    }
    let url = url.ok_or_else(|| format!("--url is required\n\n{USAGE}"))?;
    let server_pid = server_pid.ok_or_else(|| format!("--server-pid is required\n\n{USAGE}"))?;
    if rounds == 0 || (rss_baseline == RssBaseline::Warm && rounds < 2 && churn.is_none()) {
        return Err(format!(
            "--rss-baseline warm needs --rounds 2 or more\n\n{USAGE}"
        ));
    }
    if mix.is_empty() || sessions == 0 || threads == 0 || ramp <= 0.0 {
        return Err(format!(
            "--mix, --sessions, --threads and --ramp need a value\n\n{USAGE}"
        ));
    }
    if let Some(c) = churn.as_mut() {
        c.life_min = Duration::from_secs_f64(life.0);
        c.life_max = Duration::from_secs_f64(life.1);
        c.sample_every = Duration::from_secs_f64(sample_every.max(0.1));
        c.csv = csv;
        c.flat_bound_mib = flat_bound_mib;
    }
    let uri = url
        .parse::<http::Uri>()
        .ok()
        .filter(|u| u.host().is_some())
        .ok_or_else(|| format!("--url {url}: not an http:// or ws:// URL"))?;
    let mut base = ClientConfig::new(uri.clone());
    if !matches!(uri.path(), "" | "/") {
        base.path = uri.path().to_owned();
    }
    // Seen by the echo server, not compressed: the sessions measure the server, not zlib.
    base.per_message_deflate = None;
    Ok(Args {
        url,
        base,
        server_pid,
        sessions,
        ramp,
        duration,
        interval,
        mix,
        max_size,
        threads,
        rss_bound_mib,
        rounds,
        rss_baseline,
        json,
        churn,
    })
}

fn number(s: &str) -> Option<usize> {
    s.replace('_', "").parse().ok()
}

fn seconds(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

fn secs(s: &str) -> Option<Duration> {
    seconds(s).map(Duration::from_secs_f64)
}
