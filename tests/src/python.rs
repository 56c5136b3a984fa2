//! Python peers from PyPI, in a virtual environment cached under the target directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::{fnv1a, MARKER};

/// Environment variable naming the Python interpreter that creates the virtual environments
/// (default: `python3` on the `PATH`).
pub const PYTHON_ENV: &str = "ENGINEIO_PYTHON";

/// Environment variable naming the directory that holds the virtual environments (default:
/// `<cargo target dir>/py-peers`).
pub const PY_PEERS_DIR_ENV: &str = "ENGINEIO_PY_PEERS_DIR";

/// How long creating a virtual environment and installing into it may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The directory of the committed Python scripts (`tests/python/`).
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Where virtual environments are created.
pub fn py_peers_root() -> PathBuf {
    match std::env::var_os(PY_PEERS_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => crate::target_dir().join("py-peers"),
    }
}

/// The interpreter of a virtual environment made by [`python_venv`].
pub fn python_bin(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<(), String> {
    let file =
        fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let file_err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file_err)
        .spawn()
        .map_err(|e| format!("cannot run {what} ({e}): Python 3 with venv and pip is required"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > INSTALL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {INSTALL_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({status}):\n{}",
            fs::read_to_string(log).unwrap_or_default()
        ))
    }
}

/// Creates a virtual environment with the PyPI `packages` (pip requirement specifiers)
/// installed, once, and returns its directory (`<root>/<name>-<hash of the specs>`). Later
/// calls reuse it. Concurrent callers are safe: each builds in a temporary directory renamed
/// into place whole (the environment's interpreter works from the new place; its console
/// scripts, which are not used, would not).
///
/// Panics with a clear message if Python, `venv` or the install fails.
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    let specs = packages.join("\n");
    let root = py_peers_root();
    let dir = root.join(format!("{name}-{:016x}", fnv1a(specs.as_bytes())));
    if dir.join(MARKER).is_file() {
        return dir;
    }
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(MARKER).is_file() {
        return dir;
    }
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = root.join(format!(
        ".{name}.tmp-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let logs = root.join(format!(".{name}-logs-{}", std::process::id()));
    let _ = fs::create_dir_all(&logs);
    let fail = |msg: String| -> ! {
        let _ = fs::remove_dir_all(&tmp);
        panic!("{msg}");
    };
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned());
    if let Err(e) = run_logged(
        Command::new(&python).args(["-m", "venv"]).arg(&tmp),
        &logs.join("venv.log"),
        &format!("`{python} -m venv`"),
    ) {
        fail(format!(
            "{e}\n(on Debian, `apt-get install python3-venv` provides venv)"
        ));
    }
    if let Err(e) = run_logged(
        Command::new(python_bin(&tmp))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .args(packages),
        &logs.join("pip.log"),
        &format!("`pip install {}`", packages.join(" ")),
    ) {
        fail(format!(
            "{e}\nthe Python peers are required by this interop test"
        ));
    }
    let _ = fs::remove_dir_all(&logs);
    crate::publish_install(&tmp, &dir, &specs)
        .unwrap_or_else(|e| fail(format!("virtual environment: {e}")));
    dir
}

/// The installed version of a distribution in a virtual environment from [`python_venv`].
pub fn python_package_version(venv: &Path, package: &str) -> String {
    let out = Command::new(python_bin(venv))
        .args([
            "-c",
            "import sys, importlib.metadata as m; print(m.version(sys.argv[1]))",
            package,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run the venv's python: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
