//! Shared pieces of the benchmark tools in `tests/bench` (see `tests/bench/run`).
//!
//! - [`args`]: a tiny `--key value` command-line parser.
//! - [`net`]: the load generator's Engine.IO v4 wire, on raw hyper 1 (client, HTTP/1.1) and
//!   tokio-tungstenite, spread over several loopback source addresses.
//! - [`procstat`]: the server's CPU time and RSS from `/proc`.
//! - [`stats`]: latency samples and percentiles.
//!
//! The load generator deliberately does not use our own client (`engineio_driver::Client`):
//! our stack is what is measured, so the load comes from an independent implementation.

pub mod args;
pub mod net;
pub mod procstat;
pub mod stats;

/// The error type of the tools: anything, with a message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Raises this process's open-file limit (RLIMIT_NOFILE) to `want` (or to the hard limit if
/// raising that is refused), for tens of thousands of sockets. Returns the soft limit in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return want;
        }
        let soft = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 {
            return lim.rlim_max;
        }
        lim.rlim_cur
    }
}
