//! The service's edge from outside, for tests and the attack tool (`examples/attack.rs`): clients that
//! connect from a chosen loopback address (Linux routes all of 127/8 to loopback, so one machine has
//! many client addresses), HTTP/1.1 and HTTP/2 over such connections with real hyper clients, and a real
//! nginx in front of the service, started with a configuration written to a temporary directory.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, client::conn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{net::TcpStream, task::JoinHandle};

use tari_wallet_sync::service::ForwardedHeader;

/// A TCP connection to `server` from `local` (any 127.0.0.0/8 address on Linux).
pub async fn connect_from(local: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match local {
        IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An answer read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The error code of a JSON error body, or `""`.
    pub fn code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: Option<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    // HTTP/2 takes the authority from the URI; HTTP/1.1 needs the header.
    if !uri.starts_with("http") {
        builder = builder.header("host", "localhost");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.unwrap_or_default()))
        .expect("a valid request")
}

/// One HTTP/1.1 keep-alive connection from a chosen address.
pub struct Http1 {
    sender: conn::http1::SendRequest<Full<Bytes>>,
    connection: JoinHandle<()>,
}

impl Http1 {
    pub async fn connect(local: IpAddr, server: SocketAddr) -> Result<Http1, String> {
        let stream = connect_from(local, server).await.map_err(|e| e.to_string())?;
        let (sender, connection) = conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http1 { sender, connection })
    }

    /// Sends a request and returns its response head with the body still to read (an event stream).
    pub async fn open(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        self.sender
            .send_request(request(method, path, headers, body))
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a request and reads its whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let response = self.open(method, path, headers, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Whether the server has closed the connection.
    pub fn closed(&self) -> bool {
        self.connection.is_finished()
    }
}

impl Drop for Http1 {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// One HTTP/2 (h2c prior knowledge) connection from a chosen address whose client sends a `PING` every
/// `ping_every` while it is open, busy or idle: the control traffic that must not keep it open.
pub struct Http2 {
    sender: conn::http2::SendRequest<Full<Bytes>>,
    connection: JoinHandle<()>,
}

impl Http2 {
    pub async fn connect(local: IpAddr, server: SocketAddr, ping_every: Duration) -> Result<Http2, String> {
        let stream = connect_from(local, server).await.map_err(|e| e.to_string())?;
        let (sender, connection) = conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(ping_every)
            .keep_alive_while_idle(true)
            .keep_alive_timeout(Duration::from_secs(3600))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http2 { sender, connection })
    }

    /// Sends a request and returns its response head with the body still to read (an event stream).
    pub async fn open(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let uri = format!("http://localhost{path}");
        self.sender
            .send_request(request(method, &uri, headers, None))
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a request and reads its whole answer.
    pub async fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
        let response = self.open(method, path, headers).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Whether the connection has ended (the server closed it).
    pub fn closed(&self) -> bool {
        self.connection.is_finished()
    }

    /// Waits up to `within` for the connection to end; `true` if it did.
    pub async fn closes_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, &mut self.connection).await.is_ok()
    }
}

impl Drop for Http2 {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The nginx binary, or how to install it.
pub fn nginx_binary() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "nginx is not installed: these tests run the service behind a real nginx. Install the Debian \
             package `nginx` (apt-get install -y nginx)"
                .to_string()
        })
}

/// A real nginx on 127.0.0.1 proxying to the service, as an operator would run it: it connects to the
/// service from `proxy_source` (list that address in `trusted_proxies`) and appends its peer's address
/// to `header`, passing whatever else a client sent through. Stopped when dropped.
pub struct Nginx {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    pub async fn start(upstream: SocketAddr, proxy_source: IpAddr, header: ForwardedHeader) -> Result<Nginx, String> {
        let binary = nginx_binary()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // A port of its own: bound and released here, then taken by nginx (the kernel does not hand a
        // just-released port out again at once).
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?;
        let config = nginx_config(dir.path(), addr, upstream, proxy_source, header);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut nginx = Nginx { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(nginx);
            }
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("nginx did not start listening within 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// nginx's error log so far (for a failing test's message).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx as a reverse proxy for the service: one process in the foreground (so stopping the child stops
/// it all), temporary files in `dir`, unbuffered answers (event streams), keep-alive to the service.
fn nginx_config(
    dir: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    source: IpAddr,
    header: ForwardedHeader,
) -> String {
    let dir = dir.display();
    // Run as root (a CI container), nginx would hand its work to `nobody`, which cannot use `dir`.
    let user = match std::fs::metadata(format!("{dir}")) {
        Ok(meta) if std::os::unix::fs::MetadataExt::uid(&meta) == 0 => "user root root;",
        _ => "",
    };
    // The usual configurations: `$proxy_add_x_forwarded_for` appends to what the client sent; for
    // `Forwarded` the map nginx's documentation suggests appends `for=` the same way.
    let forwarding = match header {
        ForwardedHeader::XForwardedFor => "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;".to_string(),
        ForwardedHeader::Forwarded => "proxy_set_header Forwarded $tws_forwarded;".to_string(),
    };
    format!(
        r#"{user}
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_forwarded $tws_forwarded {{
        ""      "for=$remote_addr";
        default "$http_forwarded, for=$remote_addr";
    }}
    upstream tws {{
        server {upstream};
        keepalive 64;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://tws;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_bind {source};
            proxy_buffering off;
            proxy_read_timeout 1h;
            {forwarding}
        }}
    }}
}}
"#
    )
}
