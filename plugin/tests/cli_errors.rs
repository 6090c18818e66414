//! Errors of the `tari-wallet-sync` binary as a person meets them on a developer machine, where
//! `RUST_BACKTRACE=1` is common: a missing directory gives the message chain, its stable code and a hint
//! on standard error and a non-zero exit, and no backtrace. A configuration that would serve the wrong
//! chain (no source, a misspelt variable) stops `serve` the same way before it listens.

use std::{path::Path, process::Command};

/// The demo wallet's keys are public test data; any valid pair does here, the command fails before the
/// scan. (Scalar 1 and the Ristretto basepoint.)
const VIEW_KEY: &str = "0100000000000000000000000000000000000000000000000000000000000000";
const SPEND_PUBLIC_KEY: &str = "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76";

/// Runs the binary with `RUST_BACKTRACE=1` and no `TWS_*` variables; returns success and standard error.
fn run_with_backtraces(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    run_with_env(&[], args)
}

/// `run_with_backtraces` with `env` set. A command still running after a minute (a `serve` that did not
/// refuse) is killed and fails the test.
fn run_with_env(env: &[(&str, &str)], args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    use std::{process::Stdio, time::Duration};
    let mut command = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    for arg in args {
        command.arg(arg);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWS_") || name == "TARI_NETWORK" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after a minute:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
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

/// A config file, or `TWS_*` variables, that name no chain: `serve` stops before it listens (never the
/// demo chain said `ready` in the place of a node's), naming the keys that would, and builds nothing.
#[test]
fn serve_refuses_a_configuration_that_names_no_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tws.toml");
    std::fs::write(&config, "[wallet_sync]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let refusals = [
        run_with_env(&[], &[&"serve", &"--config", &config, &"--data-dir", &data]),
        run_with_env(&[("TWS_LISTEN", "127.0.0.1:0")], &[&"serve", &"--data-dir", &data]),
    ];
    for (ok, stdout, stderr) in refusals {
        assert!(!ok, "refused:\n{stderr}");
        assert!(stderr.contains("\ncode: NO_SOURCE\n"), "{stderr}");
        for key in ["node_url", "lmdb_dir", "cache_dir"] {
            assert!(stderr.contains(key), "{key}: {stderr}");
        }
        assert!(
            !stdout.contains("demo") && !stderr.contains("listening"),
            "{stdout}{stderr}"
        );
        assert_no_backtrace(&stderr);
    }
    assert!(!data.join("demo").exists(), "no demo chain built");
}

/// A misspelt `TWS_*` variable stops `serve` like an unknown key in the file does, naming the variable
/// it was probably meant to be.
#[test]
fn serve_refuses_an_unknown_variable_naming_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, _, stderr) = run_with_env(
        &[("TWS_NODEURL", "http://127.0.0.1:9000")],
        &[&"serve", &"--data-dir", &data, &"--listen", &"127.0.0.1:0"],
    );
    assert!(!ok);
    assert!(
        stderr.starts_with(
            "error: unknown environment variable TWS_NODEURL; did you mean TWS_NODE_URL? [UNKNOWN_VARIABLE]\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("\ncode: UNKNOWN_VARIABLE\n"), "{stderr}");
    assert!(!data.exists(), "nothing created");
    assert_no_backtrace(&stderr);
}

/// A bad value stops `serve` in one line naming the key, where the value came from (the file and its key,
/// the variable, the flag) and why, with its code; an unknown file key names the nearest known one.
#[test]
fn serve_refuses_bad_values_naming_the_key_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tws.toml");
    let serve = |env: &[(&str, &str)], flags: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"serve", &"--config", &config, &"--data-dir", &data];
        args.extend_from_slice(flags);
        let (ok, _, stderr) = run_with_env(env, &args);
        assert!(!ok, "refused: {stderr}");
        assert_no_backtrace(&stderr);
        eprintln!("{stderr}");
        stderr
    };
    let file = config.display().to_string();
    std::fs::write(
        &config,
        "[wallet_sync]\nnode_url = \"http://127.0.0.1:9\"\nresult_ttl = \"10y\"\n",
    )
    .unwrap();
    let stderr = serve(&[], &[]);
    assert!(
        stderr.starts_with(&format!(
            "error: result_ttl (from {file}, key result_ttl): `10y`: use s, m, h, d or ms [INVALID_VALUE]\n"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("\ncode: INVALID_VALUE\n"), "{stderr}");

    std::fs::write(&config, "[wallet_sync]\nnode_url = \"http://127.0.0.1:9\"\n").unwrap();
    let stderr = serve(&[("TWS_MAX_QUEUED_JOBS", "0")], &[]);
    assert!(
        stderr.starts_with(
            "error: max_queued_jobs (from environment variable TWS_MAX_QUEUED_JOBS): must be at least 1 [INVALID_VALUE]\n"
        ),
        "{stderr}"
    );
    let stderr = serve(&[], &[&"--listen", &"nowhere"]);
    assert!(
        stderr.starts_with("error: listen (from flag --listen): ") && stderr.contains("[INVALID_VALUE]\n"),
        "{stderr}"
    );

    std::fs::write(&config, "[wallet_sync]\nresult_tll = \"1h\"\n").unwrap();
    let stderr = serve(&[], &[]);
    assert!(
        stderr.starts_with(&format!(
            "error: unknown key `result_tll` ({file}, key result_tll); did you mean result_ttl? [UNKNOWN_KEY]\n"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("\ncode: UNKNOWN_KEY\n"), "{stderr}");
    assert!(!data.exists(), "nothing created");
}
