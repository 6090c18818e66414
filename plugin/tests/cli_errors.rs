//! Errors of the `tari-wallet-sync` binary as a person meets them on a developer machine, where
//! `RUST_BACKTRACE=1` is common: a missing directory gives the message chain, its stable code and a hint
//! on standard error and a non-zero exit, and no backtrace.

use std::{path::Path, process::Command};

/// The demo wallet's keys are public test data; any valid pair does here, the command fails before the
/// scan. (Scalar 1 and the Ristretto basepoint.)
const VIEW_KEY: &str = "0100000000000000000000000000000000000000000000000000000000000000";
const SPEND_PUBLIC_KEY: &str = "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76";

/// Runs the binary with `RUST_BACKTRACE=1` and no `TWS_*` variables; returns success and standard error.
fn run_with_backtraces(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    for arg in args {
        command.arg(arg);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWS_") || name == "TARI_NETWORK" {
            command.env_remove(name);
        }
    }
    let output = command
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Neither anyhow's backtrace (`Stack backtrace:` and numbered frames) nor the `Error: {:?}` that a
/// `main` returning `Result` prints.
fn assert_no_backtrace(stderr: &str) {
    for marker in ["Stack backtrace", "stack backtrace", "   0: ", "Error: ", "anyhow"] {
        assert!(!stderr.contains(marker), "{marker:?} in:\n{stderr}");
    }
}

#[test]
fn scan_of_a_missing_cache_says_so_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("view.key");
    std::fs::write(&key_file, VIEW_KEY).unwrap();
    let missing = dir.path().join("no/such/dir");
    let (ok, stdout, stderr) = run_with_backtraces(&[
        &"scan",
        &"--cache",
        &missing,
        &"--view-key-file",
        &key_file,
        &"--spend-public-key",
        &SPEND_PUBLIC_KEY,
    ]);
    assert!(!ok, "a failure exits non-zero");
    assert!(stdout.is_empty(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].starts_with("error: opening the cache at "), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(lines.contains(&"code: CACHE_NOT_FOUND"), "{stderr}");
    assert!(lines.last().unwrap().starts_with("hint: "), "{stderr}");
    assert!(!stderr.contains(VIEW_KEY), "the key is never printed");
    assert_no_backtrace(&stderr);
}

#[test]
fn import_of_a_missing_database_says_so_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let cache = dir.path().join("cache");
    let (ok, _, stderr) = run_with_backtraces(&[&"import", &"--lmdb", &missing, &"--cache", &cache]);
    assert!(!ok, "a failure exits non-zero");
    assert!(stderr.starts_with("error: import failed (NOT_FOUND)\n"), "{stderr}");
    assert!(stderr.contains("  caused by: "), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("\ncode: NOT_FOUND\n"), "{stderr}");
    assert!(stderr.contains("\nhint: ") && stderr.contains("data.mdb"), "{stderr}");
    assert!(!Path::new(&cache).exists(), "nothing created");
    assert_no_backtrace(&stderr);
}
