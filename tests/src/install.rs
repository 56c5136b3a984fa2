//! Installing peers once into a cache directory (npm packages, Python virtual environments):
//! the caching, locking and publishing both installers share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long one install command (`npm install`, `python -m venv`, `pip install`) may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The file an install directory holds once its install is complete; it lists the specs.
const MARKER: &str = ".engineio-peer-complete";

/// Installs `packages` once into `<root>/<name>-<hash of the specs>` and returns that
/// directory. `build` fills a fresh temporary directory (it exists, empty); on success the
/// directory is marked complete and renamed into place whole.
///
/// An install that is already complete is reused. Concurrent callers are safe: the tests of
/// one process wait for each other; other processes each build their own temporary
/// directory, and one that loses the rename race uses the winner's.
///
/// Panics with `build`'s message if it fails (or panics itself); the temporary directory is
/// removed either way.
pub(crate) fn install_once(
    root: &Path,
    name: &str,
    packages: &[&str],
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> PathBuf {
    let specs = packages.join("\n");
    let dir = root.join(format!("{name}-{:016x}", crate::fnv1a(specs.as_bytes())));
    if dir.join(MARKER).is_file() {
        return dir;
    }
    // A panic of another holder is no reason to stop.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(MARKER).is_file() {
        return dir;
    }
    fs::create_dir_all(root).unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
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
    // Removed however `build` ends, unless it was published (renamed away).
    let tmp = TempDir(tmp);
    let built = fs::create_dir_all(&tmp.0)
        .map_err(|e| format!("cannot create {}: {e}", tmp.0.display()))
        .and_then(|()| build(&tmp.0))
        .and_then(|()| publish(&tmp.0, &dir, &specs));
    if let Err(e) = built {
        panic!("{e}");
    }
    dir
}

/// A directory removed when dropped (if it still exists).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Marks the finished install in `tmp` complete and renames it into `dir` whole. A caller
/// that loses the race to another process uses the winner's install and drops its own.
fn publish(tmp: &Path, dir: &Path, specs: &str) -> Result<(), String> {
    fs::write(tmp.join(MARKER), specs)
        .map_err(|e| format!("cannot write the install marker: {e}"))?;
    match fs::rename(tmp, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(MARKER).is_file() => {
            let _ = fs::remove_dir_all(tmp);
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot move the install into {} ({e}); delete that directory and retry",
            dir.display()
        )),
    }
}

/// Runs `cmd` with its output in `log`, within the install timeout; an error with the log's
/// text if it fails. `what` names the command in messages.
pub(crate) fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<(), String> {
    let file =
        fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let file_err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file_err)
        .spawn()
        .map_err(|e| format!("cannot run {what} ({e})"))?;
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
