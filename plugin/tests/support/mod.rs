//! The `tari-wallet-sync serve` binary as an operator runs it, for the plugin's integration tests: spawn
//! it with a `[wallet_sync]` file, read its log, find the address it listens on, stop it with SIGTERM.

#![allow(dead_code)]

use std::{
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"))
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("TWS_NODE_URL")
        .env_remove("TWS_LMDB_DIR")
        .env("TWS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
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

impl Served {
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
