//! Load balancers as processes: HAProxy and nginx from Debian's packages, run on loopback from
//! the configurations documented in `docs/several-nodes/`, in front of our echo nodes.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::LineProcess;
use crate::target_dir;

/// Environment variable naming the `haproxy` binary (default: `haproxy` on the `PATH`, then
/// `/usr/sbin/haproxy`).
pub const HAPROXY_ENV: &str = "ENGINEIO_HAPROXY";

/// Environment variable naming the `nginx` binary (default: `nginx` on the `PATH`, then
/// `/usr/sbin/nginx`).
pub const NGINX_ENV: &str = "ENGINEIO_NGINX";

/// A load-balancer configuration of `docs/several-nodes/`, and what the nodes behind it need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// HAProxy, `cookie SERVERID insert` (`haproxy-cookie-insert.cfg`).
    HaproxyCookieInsert,
    /// HAProxy, `cookie io prefix` over the nodes' own `io` cookie (`haproxy-cookie-prefix.cfg`).
    HaproxyCookiePrefix,
    /// HAProxy, routing by the node's prefix in the `sid` parameter (`haproxy-sid.cfg`).
    HaproxySid,
    /// nginx, the same by a `map` of `$arg_sid` (`nginx-sid.conf`).
    NginxSid,
    /// nginx, `hash $remote_addr consistent` (`nginx-ip-hash.conf`).
    NginxIpHash,
}

impl Recipe {
    /// The configuration file under `docs/several-nodes/`.
    pub fn file(self) -> &'static str {
        match self {
            Recipe::HaproxyCookieInsert => "haproxy-cookie-insert.cfg",
            Recipe::HaproxyCookiePrefix => "haproxy-cookie-prefix.cfg",
            Recipe::HaproxySid => "haproxy-sid.cfg",
            Recipe::NginxSid => "nginx-sid.conf",
            Recipe::NginxIpHash => "nginx-ip-hash.conf",
        }
    }

    /// Whether the balancer is nginx (else HAProxy).
    pub fn is_nginx(self) -> bool {
        matches!(self, Recipe::NginxSid | Recipe::NginxIpHash)
    }

    /// The echo example's options for node `name` (`n1`, `n2`, `n3`) behind this balancer.
    pub fn node_args(self, name: &str) -> Vec<String> {
        let mut args = vec!["--node".to_owned(), name.to_owned()];
        match self {
            Recipe::HaproxyCookiePrefix => args.extend(["--cookie".to_owned(), "io".to_owned()]),
            Recipe::HaproxySid | Recipe::NginxSid => {
                args.extend(["--sid-prefix".to_owned(), format!("{name}-")]);
            }
            Recipe::HaproxyCookieInsert | Recipe::NginxIpHash => {}
        }
        args
    }

    /// Whether sessions from one client address are spread over every node (all but the
    /// address hash, which sends one address to one node).
    pub fn spreads(self) -> bool {
        self != Recipe::NginxIpHash
    }
}

/// A load balancer on a free loopback port; killed when dropped.
pub struct Balancer {
    /// The process (for its stderr).
    pub process: LineProcess,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// A free loopback port (bound, then released: another process could take it in between,
/// which the balancer's start then reports).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// `name` on the `PATH` or in `/usr/sbin`, `/usr/local/sbin` or `/usr/bin`, unless `env` names
/// the binary; panics saying how to install Debian's `package`.
pub(crate) fn find_binary(env: &str, name: &str, package: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env) {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is required by the several-nodes tests and was not found: install \
                 Debian's `{package}` (`apt-get install {package}`; .ci/run does), or name the \
                 binary in {env}"
            )
        })
}

impl Balancer {
    /// Starts the balancer of `recipe` from its documented configuration, with the documented
    /// addresses (`127.0.0.1:3000` for itself, `127.0.0.1:3001` to `3003` for the nodes)
    /// replaced by a free port and `nodes`.
    pub fn start(recipe: Recipe, nodes: &[SocketAddr; 3]) -> Balancer {
        Balancer::start_file(recipe.file(), nodes)
    }

    /// Starts the balancer of `file`, a configuration under `docs/several-nodes/` (nginx if
    /// its name starts with `nginx`, else HAProxy), like [`start`](Self::start): for the
    /// configurations whose nodes need more than [`Recipe::node_args`] (for instance
    /// `haproxy-round-robin.cfg`, in front of a cluster).
    pub fn start_file(file: &str, nodes: &[SocketAddr; 3]) -> Balancer {
        let nginx = file.starts_with("nginx");
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/several-nodes")
            .join(file);
        let text = fs::read_to_string(&docs)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", docs.display()));
        let addr = free_addr();
        let mut text = text.replace("127.0.0.1:3000", &addr.to_string());
        for (k, node) in nodes.iter().enumerate() {
            text = text.replace(&format!("127.0.0.1:300{}", k + 1), &node.to_string());
        }
        let dir =
            target_dir()
                .join("balancers")
                .join(format!("{}-{}", std::process::id(), addr.port()));
        fs::create_dir_all(&dir).expect("a directory for the balancer");
        let name = format!("{} ({file})", if nginx { "nginx" } else { "haproxy" });
        let cmd = if nginx {
            fs::write(dir.join("engineio.conf"), text).expect("write the nginx site");
            for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                fs::create_dir_all(dir.join(t)).expect("nginx temp directory");
            }
            let d = dir.display();
            // The main context a packaged nginx has in /etc/nginx/nginx.conf, in the test's
            // directory, around the documented http-context file.
            let main = format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 include {d}/engineio.conf;\n}}\n"
            );
            fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
            let mut cmd = Command::new(find_binary(NGINX_ENV, "nginx", "nginx-light"));
            cmd.arg("-e")
                .arg("stderr")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"));
            cmd
        } else {
            fs::write(dir.join("haproxy.cfg"), text).expect("write haproxy.cfg");
            let mut cmd = Command::new(find_binary(HAPROXY_ENV, "haproxy", "haproxy"));
            cmd.arg("-db").arg("-f").arg(dir.join("haproxy.cfg"));
            cmd
        };
        let mut process = LineProcess::spawn(cmd, &name);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if process.wait_exit(Duration::from_millis(20)).is_some() || Instant::now() > deadline {
                let msg = process.failure(&format!("did not listen on {addr}"));
                panic!("{msg}");
            }
        }
        Balancer { process, addr }
    }

    /// `http://ADDR/engine.io/`.
    pub fn url(&self) -> String {
        format!("http://{}/engine.io/", self.addr)
    }
}
