//! The `tari-wallet-sync serve` binary as an operator runs it, for the plugin's integration tests: spawn
//! it with a `[wallet_sync]` file, read its log, find the address it listens on, stop it with SIGTERM.

#![allow(dead_code)]

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// A running `serve` process and its log so far.
pub struct Served {
    pub child: Child,
    pub addr: String,
    pub log: Vec<String>,
    lines: mpsc::Receiver<String>,
}

/// The address in the service's `listening addr=...` log line (colour codes, if any, removed).
fn listening_addr(line: &str) -> Option<String> {
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
    let addr = rest.split_whitespace().find_map(|f| f.strip_prefix("addr="))?;
    Some(addr.to_string())
}

/// Starts `serve --config config` and waits for the line saying where it listens.
pub fn serve(config: &Path) -> Served {
    spawn(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()], None)
}

/// Starts the binary with `args` (in `cwd`, if given) and no `TWS_*` variables but the log level, and
/// waits for the line saying where it listens. Standard output and error both land in the log.
pub fn spawn(args: &[&OsStr], cwd: Option<&Path>) -> Served {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWS_") {
            command.env_remove(name);
        }
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command
        .env("TWS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout_tx = lines_tx.clone();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || forward(stdout, stdout_tx));
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || forward(stderr, lines_tx));
    let mut log = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("no listening line:\n{}", log.join("\n")));
        log.push(line.clone());
        if let Some(addr) = listening_addr(&line) {
            break addr;
        }
    };
    Served {
        child,
        addr,
        log,
        lines,
    }
}

fn forward(from: impl std::io::Read, to: mpsc::Sender<String>) {
    for line in BufReader::new(from).lines().map_while(Result::ok) {
        if to.send(line).is_err() {
            break;
        }
    }
}

impl Served {
    /// The log lines that arrived so far (standard output and error), appended to `log`.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited with success, and the whole log.
    pub async fn terminate(mut self) -> (bool, String) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut child = self.child;
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.log.push(line);
        }
        (status.success(), self.log.join("\n"))
    }
}
