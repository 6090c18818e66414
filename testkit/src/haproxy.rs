//! HAProxy: the example deployment's load balancer run for real on 127.0.0.1, in front of three replicas,
//! for the fleet tests. The configuration is `deploy/haproxy/haproxy.cfg` exactly as shipped: HAProxy
//! expands its `${TWS_*}` variables from the environment it is started with, and this harness sets them
//! (loopback ports for the frontend, the stats page and the replicas; the timeouts and check interval a
//! test chooses; fewer connections than a server's; a certificate or none, for TLS with HTTP/2 or a
//! cleartext frontend speaking HTTP/1.1 and h2c). It runs in the foreground (`-db`), its log in a
//! temporary file, and is stopped when dropped. Reads each replica's state from the stats page (CSV).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream};

/// The shipped configuration this harness runs.
pub fn config_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/haproxy.cfg")
}

/// The haproxy binary, or how to install it.
pub fn haproxy_binary() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("haproxy"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "haproxy is not installed: the fleet tests run the replicas behind a real HAProxy. Install the \
             Debian package `haproxy` (apt-get install -y haproxy; tools/test does)"
                .to_string()
        })
}

/// What a test sets in the shipped configuration's variables.
#[derive(Debug, Clone)]
pub struct HaproxySettings {
    /// `TWS_HAPROXY_TIMEOUT`: inactivity allowed on a client or server connection.
    pub timeout: Duration,
    /// `TWS_HAPROXY_CHECK_EVERY`: the health checks' interval.
    pub check_every: Duration,
    /// `TWS_HAPROXY_CERT`: a PEM file with the certificate chain and its key; set, HAProxy terminates
    /// TLS (HTTP/2 and HTTP/1.1 by ALPN), else the frontend is cleartext.
    pub cert: Option<PathBuf>,
}

impl Default for HaproxySettings {
    /// Quick checks, so a stopped replica is out within a second; timeouts the file's own.
    fn default() -> Self {
        HaproxySettings {
            timeout: Duration::from_secs(60),
            check_every: Duration::from_millis(300),
            cert: None,
        }
    }
}

/// A replica's state as HAProxy's health checks see it (the stats page's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub name: String,
    pub status: String,
}

/// A running HAProxy in front of three replicas.
pub struct Haproxy {
    /// The frontend wallets connect to.
    pub addr: SocketAddr,
    /// The stats page.
    pub stats: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

/// A loopback port of its own: bound and released here, then taken by HAProxy (the kernel does not hand
/// a just-released port out again at once).
fn free_port() -> Result<SocketAddr, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())
}

/// `90ms`, as HAProxy reads a duration.
fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

impl Haproxy {
    /// Starts HAProxy with the shipped configuration in front of `replicas` (the `server` lines
    /// `replica1`..`replica3`), and waits until it listens and has checked every replica once.
    pub async fn start(replicas: [SocketAddr; 3], settings: &HaproxySettings) -> Result<Haproxy, String> {
        let binary = haproxy_binary()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (addr, stats) = (free_port()?, free_port()?);
        let log = std::fs::File::create(dir.path().join("haproxy.log")).map_err(|e| e.to_string())?;
        let mut command = Command::new(&binary);
        command
            .arg("-db")
            .arg("-f")
            .arg(config_path())
            .env("TWS_HAPROXY_BIND", addr.to_string())
            .env("TWS_HAPROXY_STATS", stats.to_string())
            .env("TWS_HAPROXY_TIMEOUT", millis(settings.timeout))
            .env("TWS_HAPROXY_CHECK_EVERY", millis(settings.check_every))
            // Within any test machine's file descriptor limit (each connection takes two).
            .env("TWS_HAPROXY_MAXCONN", "2000");
        match &settings.cert {
            Some(cert) => command.env("TWS_HAPROXY_CERT", cert),
            None => command.env_remove("TWS_HAPROXY_CERT"),
        };
        for (index, replica) in replicas.iter().enumerate() {
            command.env(format!("TWS_REPLICA_{}", index + 1), replica.to_string());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut haproxy = Haproxy {
            addr,
            stats,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(servers) = haproxy.servers().await
                && servers.len() == 3
                && servers.iter().all(|s| s.status == "UP" || s.status == "DOWN")
                && TcpStream::connect(addr).await.is_ok()
            {
                return Ok(haproxy);
            }
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                return Err(format!("haproxy exited ({status}): {}", haproxy.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("haproxy was not ready within 15 s: {}", haproxy.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The frontend's URL (cleartext).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What HAProxy has logged so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// The replicas' states from the stats page's CSV export.
    pub async fn servers(&self) -> Result<Vec<ServerState>, String> {
        let csv = get(self.stats, "/;csv").await?;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or("an empty stats page")?
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|c| *c == name)
                .ok_or(format!("no {name} column"))
        };
        let (proxy, server, status) = (column("pxname")?, column("svname")?, column("status")?);
        Ok(lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|fields| fields.get(proxy) == Some(&"replicas"))
            .filter(|fields| !matches!(fields.get(server), Some(&"BACKEND") | Some(&"FRONTEND")))
            .map(|fields| ServerState {
                name: fields.get(server).unwrap_or(&"").to_string(),
                status: fields.get(status).unwrap_or(&"").to_string(),
            })
            .collect())
    }

    /// Waits up to `within` until replica `name` (`replica1`..) has `status` (`UP`, `DOWN`).
    pub async fn wait_for(&self, name: &str, status: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let servers = self.servers().await?;
            if servers.iter().any(|s| s.name == name && s.status == status) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} is not {status} after {within:?}: {servers:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET read to its end: the stats page, without a client library (ASCII only).
async fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .map_err(|_| "the stats page did not answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no header end")?;
    if head.split_whitespace().nth(1) != Some("200") {
        return Err(format!("the stats page answered {}", head.lines().next().unwrap_or("")));
    }
    let chunked = head
        .lines()
        .any(|line| line.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    Ok(if chunked { unchunk(body)? } else { body.to_string() })
}

/// A chunked body's data (HAProxy answers a stats request in chunks, even to HTTP/1.0).
fn unchunk(mut body: &str) -> Result<String, String> {
    let mut data = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("a chunk without its size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("a chunk size that is not hex: {size}"))?;
        if size == 0 {
            return Ok(data);
        }
        data.push_str(rest.get(..size).ok_or("a chunk cut short")?);
        body = rest
            .get(size..)
            .and_then(|r| r.strip_prefix("\r\n"))
            .ok_or("a chunk without its end")?;
    }
}
