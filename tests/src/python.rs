//! Python peers from PyPI, in a virtual environment cached under the target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install;

/// Environment variable naming the Python interpreter that creates the virtual environments
/// (default: `python3` on the `PATH`).
pub const PYTHON_ENV: &str = "ENGINEIO_PYTHON";

/// Environment variable naming the directory that holds the virtual environments (default:
/// `<cargo target dir>/py-peers`).
pub const PY_PEERS_DIR_ENV: &str = "ENGINEIO_PY_PEERS_DIR";

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

/// Creates a virtual environment with the PyPI `packages` (pip requirement specifiers)
/// installed, once, and returns its directory (`<root>/<name>-<hash of the specs>`). Later
/// calls reuse it. Concurrent callers are safe: each builds in a temporary directory renamed
/// into place whole (the environment's interpreter works from the new place; its console
/// scripts, which are not used, would not).
///
/// Panics with a clear message if Python, `venv` or the install fails.
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    install::install_once(&py_peers_root(), name, packages, |tmp| {
        let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned());
        install::run_logged(
            Command::new(&python).args(["-m", "venv"]).arg(tmp),
            &tmp.join("venv.log"),
            &format!("`{python} -m venv`"),
        )
        .map_err(|e| {
            format!(
                "{e}\nPython 3 with venv is required (on Debian, `apt-get install python3-venv`)"
            )
        })?;
        install::run_logged(
            Command::new(python_bin(tmp))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                ])
                .args(packages),
            &tmp.join("pip.log"),
            &format!("`pip install {}`", packages.join(" ")),
        )
        .map_err(|e| format!("{e}\nthe Python peers are required by this interop test"))
    })
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
