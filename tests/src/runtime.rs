//! The runtime bindings whose examples the conformance tests run, and the macro that turns one
//! test body into a test per runtime.

use std::fmt;

/// Environment variable naming a prebuilt `echo` example of engineio-tokio to use instead of
/// building it (`cargo build -p engineio-tokio --example echo`).
pub const ECHO_BIN_ENV: &str = "ENGINEIO_ECHO_BIN";

/// Environment variable naming a prebuilt `echo` example of engineio-smol to use instead of
/// building it (`cargo build -p engineio-smol --example echo`).
pub const SMOL_ECHO_BIN_ENV: &str = "ENGINEIO_SMOL_ECHO_BIN";

/// Environment variable naming a prebuilt `echo-client` example of engineio-tokio to use
/// instead of building it (`cargo build -p engineio-tokio --example echo-client`).
pub const ECHO_CLIENT_BIN_ENV: &str = "ENGINEIO_ECHO_CLIENT_BIN";

/// Environment variable naming a prebuilt `echo-client` example of engineio-smol to use
/// instead of building it (`cargo build -p engineio-smol --example echo-client`).
pub const SMOL_ECHO_CLIENT_BIN_ENV: &str = "ENGINEIO_SMOL_ECHO_CLIENT_BIN";

/// A runtime binding of engineio-rs: its crate has the examples `echo` and `echo-client`, with
/// the same command lines, output and behaviour on every runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `engineio-tokio`.
    Tokio,
    /// `engineio-smol`.
    Smol,
}

impl Runtime {
    /// Every runtime.
    pub const ALL: [Runtime; 2] = [Runtime::Tokio, Runtime::Smol];

    /// The workspace package of the binding (`engineio-tokio`, `engineio-smol`).
    pub fn package(self) -> &'static str {
        match self {
            Runtime::Tokio => "engineio-tokio",
            Runtime::Smol => "engineio-smol",
        }
    }

    /// The short name used in process names and failure messages (`tokio`, `smol`).
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tokio => "tokio",
            Runtime::Smol => "smol",
        }
    }

    /// The environment variable that may name a prebuilt `echo` example of this runtime
    /// ([`ECHO_BIN_ENV`], [`SMOL_ECHO_BIN_ENV`]).
    pub fn echo_bin_env(self) -> &'static str {
        match self {
            Runtime::Tokio => ECHO_BIN_ENV,
            Runtime::Smol => SMOL_ECHO_BIN_ENV,
        }
    }

    /// The environment variable that may name a prebuilt `echo-client` example of this
    /// runtime ([`ECHO_CLIENT_BIN_ENV`], [`SMOL_ECHO_CLIENT_BIN_ENV`]).
    pub fn echo_client_bin_env(self) -> &'static str {
        match self {
            Runtime::Tokio => ECHO_CLIENT_BIN_ENV,
            Runtime::Smol => SMOL_ECHO_CLIENT_BIN_ENV,
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs each listed function of the calling test file once per runtime: for every
/// `fn name(rt: Runtime)` listed, it defines the tests `on_tokio::name` and `on_smol::name`,
/// which call `name(Runtime::Tokio)` and `name(Runtime::Smol)`. So a failure names its
/// runtime, the two run in parallel, and `cargo test -- on_tokio` (or `on_smol`) selects one
/// runtime.
///
/// ```
/// use engineio_tests::{Runtime, ServerProcess};
///
/// engineio_tests::runtime_tests!(overlapping_gets, payload_limit);
///
/// fn overlapping_gets(rt: Runtime) {
///     let server = ServerProcess::echo(rt, &[]);
///     // ...
/// }
///
/// fn payload_limit(rt: Runtime) {
///     let server = ServerProcess::echo(rt, &["--max-payload", "1000"]);
///     // ...
/// }
/// # fn main() {}
/// ```
///
/// Use it once per test file (it defines the two modules). A function that takes a runtime but
/// is not listed is never called, which the `dead_code` lint reports.
#[macro_export]
macro_rules! runtime_tests {
    ($($name:ident),+ $(,)?) => {
        $crate::runtime_tests!(@module on_tokio, Tokio, "Tokio", $($name),+);
        $crate::runtime_tests!(@module on_smol, Smol, "smol", $($name),+);
    };
    (@module $module:ident, $rt:ident, $what:literal, $($name:ident),+) => {
        #[doc = concat!("The tests against the ", $what, " build of our examples.")]
        mod $module {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::Runtime::$rt);
                }
            )+
        }
    };
}
