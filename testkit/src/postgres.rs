//! PostgreSQL for tests: a real server (Debian's `postgresql` package) started in a fresh temporary
//! directory on 127.0.0.1 and a free port, its databases and role made exactly as an operator makes them
//! (`deploy/postgres/roles.sql`), handed out as URLs. One server per test binary (`TestPostgres::shared`)
//! with a database per test keeps the run short; the server stops (`pg_ctl stop -m immediate`) and its
//! directory goes when the value is dropped, or, for the shared one, when the test process exits (a
//! watcher process sees it go).
//!
//! `initdb` and `pg_ctl` refuse to run as root: as root (CI, the tools' containers) they run as the
//! `postgres` user the package creates, in a directory handed to it.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The service role's password in every test database (tests check it never shows).
pub const PASSWORD: &str = "tws-test-password-8c41";
/// The service role (`roles.sql`'s `role`).
pub const ROLE: &str = "tws";

/// A PostgreSQL server of this test process.
pub struct TestPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    databases: AtomicUsize,
    scripts: Mutex<()>,
}

impl TestPostgres {
    /// The server every test of this binary shares (started at the first call).
    pub fn shared() -> &'static TestPostgres {
        static SERVER: OnceLock<TestPostgres> = OnceLock::new();
        SERVER.get_or_init(|| {
            let server = TestPostgres::start();
            server.watch_process();
            server
        })
    }

    /// Starts a server of its own. Panics with what to do when PostgreSQL is not installed.
    pub fn start() -> TestPostgres {
        TestPostgres::start_with_tls(None)
    }

    /// Starts a server of its own that also speaks TLS with `certificate` (PEM certificate and key).
    pub fn start_with_tls(certificate: Option<(&str, &str)>) -> TestPostgres {
        let bin = binaries().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are not \
                 installed: run the tests with tools/test, which installs the `postgresql` package"
            )
        });
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("tws-postgres-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).expect("the server's directory");
        if as_postgres {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir), "chown");
        }
        let data = dir.join("data");
        let mut server = TestPostgres {
            dir: dir.clone(),
            bin,
            port: 0,
            as_postgres,
            databases: AtomicUsize::new(0),
            scripts: Mutex::new(()),
        };
        run(
            server
                .tool("initdb")
                .args(["-D"])
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ])
                .arg("--no-sync"),
            "initdb",
        );
        let mut tls = String::new();
        if let Some((cert, key)) = certificate {
            let (cert_file, key_file) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_file, cert).expect("the certificate written");
            std::fs::write(&key_file, key).expect("the key written");
            run(Command::new("chmod").arg("600").arg(&key_file), "chmod");
            if as_postgres {
                run(
                    Command::new("chown")
                        .arg("postgres:postgres")
                        .arg(&cert_file)
                        .arg(&key_file),
                    "chown",
                );
            }
            tls = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_file.display(),
                key_file.display()
            );
        }
        // A port no other process holds now; another may take it before the server binds: then try again.
        for attempt in 0.. {
            let port = free_port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300{tls}",
                dir.display()
            );
            let started = server
                .tool("pg_ctl")
                .args(["-D"])
                .arg(&data)
                .args(["-w", "-t", "60", "-l"])
                .arg(dir.join("server.log"))
                .args(["-o", &options, "start"])
                .stdout(Stdio::null())
                .status()
                .expect("pg_ctl runs");
            if started.success() {
                server.port = port;
                return server;
            }
            assert!(
                attempt < 3,
                "the test PostgreSQL did not start: {}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
        }
        unreachable!()
    }

    /// A fresh database (made by `roles.sql`, as an operator makes one) and the service role's URL to it.
    pub fn database(&self) -> String {
        // One at a time: roles.sql creates and alters the one role, which concurrent runs would race on.
        let _one_at_a_time = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let db = format!("tws_{}_{n}", std::process::id());
        let script = std::fs::read(roles_sql()).expect("deploy/postgres/roles.sql");
        let mut psql = self.tool("psql");
        psql.args(["-X", "-q", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
            .args(["-v", &format!("db={db}"), "-v", &format!("role={ROLE}")])
            .args(["-v", &format!("password={PASSWORD}"), "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = psql.spawn().expect("psql runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &script).expect("the script sent");
        let output = child.wait_with_output().expect("psql ends");
        assert!(
            output.status.success(),
            "roles.sql failed for {db}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.url(&db, PASSWORD)
    }

    /// The service role's URL to `db` with `password`.
    pub fn url(&self, db: &str, password: &str) -> String {
        format!("postgres://{ROLE}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` in `db` as the administrator (to look at what the service role may not, or to break
    /// things on purpose); its output, unaligned.
    pub fn admin_sql(&self, db: &str, sql: &str) -> String {
        let output = self
            .tool("psql")
            .args(["-X", "-q", "-A", "-t", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// `name` of the server's binaries, run as the `postgres` user when this process is root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Stops the server and removes its directory once this process has gone, however it ends (a static
    /// is never dropped).
    fn watch_process(&self) {
        let stop = self.stop_command();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}'{}' -D '{}' -m immediate stop",
            pg_ctl.display(),
            self.dir.join("data").display()
        )
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_command()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server's binaries.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn roles_sql() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/postgres/roles.sql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(mut command: impl std::borrow::BorrowMut<Command>, what: &str) {
    let command = command.borrow_mut();
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits (bounded) until `check` holds; for a notification that crosses a connection.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}
