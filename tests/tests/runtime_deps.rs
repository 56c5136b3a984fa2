//! The smol binding links no Tokio runtime: its whole dependency graph, examples (dev
//! dependencies) and every feature included, holds no `tokio-*` crate, and `tokio` itself
//! only with its runtime-agnostic `sync` module. (hyper 1 always depends on `tokio` with
//! `sync`, for its channels; the driver uses the same module. No reactor, timer, executor
//! or socket of Tokio's is compiled.)

use std::process::Command;

/// `cargo tree` lines `NAME vVERSION [FEATURES]` for `package` with every feature and its
/// dev-dependencies (which the examples use).
fn dependency_graph(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo)
        .args(["tree", "--quiet", "-p", package, "--all-features"])
        .args([
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
            "-f",
            "{p} [{f}]",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo} tree: {e}"));
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The crate name and enabled features of each Tokio crate in `graph`.
fn tokio_crates(graph: &[String]) -> Vec<(String, Vec<String>)> {
    graph
        .iter()
        .filter_map(|line| {
            let name = line.split_whitespace().next()?;
            if !name.starts_with("tokio") {
                return None;
            }
            let features = line
                .split('[')
                .nth(1)?
                .split(']')
                .next()?
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            Some((name.to_owned(), features))
        })
        .collect()
}

#[test]
fn smol_links_no_tokio_runtime() {
    let graph = dependency_graph("engineio-smol");
    assert!(
        graph.iter().any(|l| l.starts_with("smol ")),
        "not the smol binding's graph:\n{}",
        graph.join("\n")
    );
    let tokio = tokio_crates(&graph);
    for (name, features) in &tokio {
        // tokio's channels, and tokio-util's codecs and I/O adapters (the redis crate's, with
        // the `cluster` feature): no reactor, timer or executor.
        let allowed: &[&str] = match name.as_str() {
            "tokio" => &["sync", "default"],
            "tokio-util" => &["codec", "compat", "default", "futures-io", "io", "libc"],
            _ => panic!("a Tokio crate in the smol build: {name}"),
        };
        for f in features {
            assert!(
                allowed.contains(&f.as_str()),
                "{name} is built with feature `{f}` for engineio-smol: {features:?}"
            );
        }
    }
}

#[test]
fn the_check_sees_tokio_in_the_tokio_binding() {
    // The same check on the Tokio binding finds its runtime: the parsing above works.
    let tokio = tokio_crates(&dependency_graph("engineio-tokio"));
    assert!(
        tokio
            .iter()
            .any(|(n, f)| n == "tokio" && f.iter().any(|f| f == "rt")),
        "{tokio:?}"
    );
    assert!(tokio.iter().any(|(n, _)| n == "tokio-util"), "{tokio:?}");
}
