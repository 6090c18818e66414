//! Replica processes: a fleet of `tari-wallet-sync serve` processes on 127.0.0.1 as an operator runs
//! them, for failover tests: each with its own data directory and `[wallet_sync]` file, all with the
//! fleet's one sealing key file, `replica_id` `r1`, `r2`, ..., the demo chain's cache, and 127.0.0.1 as
//! their trusted proxy (HAProxy, `haproxy`, in front). The test adds its own keys (`job_store` and the
//! like, as TOML lines). One replica can be killed (`SIGKILL`: a lost machine), stopped (`SIGTERM`: a
//! roll) and started again on the same port, so a load balancer's `server` line stays true. The binary
//! is the caller's (`env!("CARGO_BIN_EXE_tari-wallet-sync")` in the plugin's tests), so this kit does not
//! build it.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use crate::service::demo_chain;

/// One replica's process, its log and where it listens.
pub struct ReplicaProcess {
    /// `r1`, `r2`, ...
    pub id: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl ReplicaProcess {
    /// Whether its process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Everything it logged (standard output and error).
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

/// N replicas sharing one sealing key.
pub struct ReplicaSet {
    binary: PathBuf,
    pub key_file: PathBuf,
    pub replicas: Vec<ReplicaProcess>,
    _dir: tempfile::TempDir,
}

impl ReplicaSet {
    /// Starts `count` replicas of `binary`, each with the fleet's keys and `extra` (TOML lines of the
    /// `[wallet_sync]` section, the same for every replica), and waits until each listens.
    pub fn start(binary: &Path, count: usize, extra: &[String]) -> Result<ReplicaSet, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let key_file = dir.path().join("server-key");
        tari_wallet_sync::service::generate_key_file(&key_file).map_err(|e| e.to_string())?;
        let mut set = ReplicaSet {
            binary: binary.to_path_buf(),
            key_file,
            replicas: Vec::new(),
            _dir: dir,
        };
        for n in 1..=count {
            let id = format!("r{n}");
            let data_dir = set._dir.path().join(&id);
            let config = set._dir.path().join(format!("{id}.toml"));
            let mut lines = vec![
                "[wallet_sync]".to_string(),
                "listen = \"127.0.0.1:0\"".to_string(),
                toml_line("data_dir", &data_dir.display().to_string()),
                toml_line("cache_dir", &demo_chain().cache_dir.display().to_string()),
                toml_line("server_key_file", &set.key_file.display().to_string()),
                toml_line("replica_id", &id),
                "trusted_proxies = [\"127.0.0.1/32\"]".to_string(),
            ];
            lines.extend(extra.iter().cloned());
            std::fs::write(&config, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
            let mut replica = ReplicaProcess {
                id,
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                data_dir,
                config,
                child: None,
                log: Arc::default(),
            };
            set.spawn(&mut replica, None)?;
            set.replicas.push(replica);
        }
        Ok(set)
    }

    /// The replicas' addresses, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.replicas.iter().map(|r| r.addr).collect()
    }

    /// Kills replica `index` (0-based) with SIGKILL and reaps it: no drain, as when its machine is lost.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.replicas[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops replica `index` with SIGTERM (it drains) and waits; whether it exited with success.
    pub fn terminate(&mut self, index: usize) -> bool {
        let Some(mut child) = self.replicas[index].child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        sent && child.wait().is_ok_and(|s| s.success())
    }

    /// Starts replica `index` again, on the port it had.
    pub fn restart(&mut self, index: usize) -> Result<(), String> {
        let mut replica = std::mem::replace(
            &mut self.replicas[index],
            ReplicaProcess {
                id: String::new(),
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                data_dir: PathBuf::new(),
                config: PathBuf::new(),
                child: None,
                log: Arc::default(),
            },
        );
        let port = replica.addr;
        let started = self.spawn(&mut replica, Some(port));
        self.replicas[index] = replica;
        started
    }

    /// Spawns `replica`'s process (on `listen`, else the port its config names) and waits up to five
    /// minutes (a loaded machine) for its `listening` line.
    fn spawn(&self, replica: &mut ReplicaProcess, listen: Option<SocketAddr>) -> Result<(), String> {
        let mut command = Command::new(&self.binary);
        command.arg("serve").arg("--config").arg(&replica.config);
        if let Some(addr) = listen {
            command.arg("--listen").arg(addr.to_string());
        }
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TWS_") || name == "CREDENTIALS_DIRECTORY" {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("TWS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        let (lines_tx, lines) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let (log, lines_tx) = (replica.log.clone(), lines_tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    log.lock().expect("log lock").push(line.clone());
                    let _ = lines_tx.send(line);
                }
            });
        }
        drop(lines_tx);
        replica.child = Some(child);
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(300))
                .map_err(|_| format!("{} never said where it listens:\n{}", replica.id, replica.log()))?;
            if let Some(addr) = listening_addr(&line) {
                replica.addr = addr;
                return Ok(());
            }
        }
    }
}

impl Drop for ReplicaSet {
    fn drop(&mut self) {
        for index in 0..self.replicas.len() {
            self.kill(index);
        }
    }
}

/// `key = "value"` with the value escaped as a TOML basic string.
fn toml_line(key: &str, value: &str) -> String {
    format!("{key} = \"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The address in the service's `listening addr=...` log line (colour codes removed).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    let rest = &plain[plain.find("listening")?..];
    rest.split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))?
        .parse()
        .ok()
}
