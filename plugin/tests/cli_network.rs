//! The network from the command line, as an operator meets it: `import` tells a node database's network
//! by its genesis block (no `--network` needed), refuses one that `--network`, an existing cache or
//! `TARI_NETWORK` contradicts with `NETWORK_MISMATCH` / `NETWORK_ENV_DISAGREES` naming both networks and
//! creating nothing; and `export` of a light cache with no source of full outputs is refused
//! (`FULL_OUTPUTS_UNAVAILABLE`) instead of writing an empty wallet.

#[path = "../../tests/node_fixture/mod.rs"]
mod node_fixture;

use std::{path::Path, process::Command};

fn tws(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tari-wallet-sync"));
    for arg in args {
        command.arg(arg);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TWS_") || name == "TARI_NETWORK" {
            command.env_remove(name);
        }
    }
    command
}

fn run(mut command: Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn import(db: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut command = tws(&[&"import", &"--lmdb", &db, &"--cache", &cache]);
    command.args(extra);
    command
}

#[test]
fn import_tells_the_network_and_refuses_contradictions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    node_fixture::unpack(&db);

    // Another network named on the command line: refused, both named, no cache created.
    let cache = dir.path().join("mainnet-cache");
    let (ok, text) = run(import(&db, &cache, &["--network", "mainnet"]));
    assert!(!ok && text.contains("NETWORK_MISMATCH"), "{text}");
    assert!(text.contains("localnet") && text.contains("mainnet"), "{text}");
    assert!(!cache.exists(), "nothing created");

    // TARI_NETWORK saying otherwise is refused too.
    let mut command = import(&db, &cache, &[]);
    command.env("TARI_NETWORK", "esmeralda");
    let (ok, text) = run(command);
    assert!(!ok && text.contains("NETWORK_ENV_DISAGREES"), "{text}");
    assert!(!cache.exists());

    // No --network: the database's own, from its genesis block.
    let cache = dir.path().join("cache");
    let (ok, text) = run(import(&db, &cache, &[]));
    assert!(ok, "{text}");
    assert!(text.contains("(localnet)"), "{text}");
    let manifest = node_fixture::manifest();
    assert!(
        text.contains(&format!("cache at height {}", manifest.tip_height)),
        "{text}"
    );
    // Again into the same cache, naming the network: a no-op.
    let (ok, text) = run(import(&db, &cache, &["--network", "localnet"]));
    assert!(ok, "{text}");
}

#[test]
fn import_of_another_networks_database_into_a_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let igor = dir.path().join("igor");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/node-lmdb-igor");
    let data = zstd::decode_all(&std::fs::read(fixtures.join("data.mdb.zst")).unwrap()[..]).unwrap();
    std::fs::create_dir_all(&igor).unwrap();
    std::fs::write(igor.join("data.mdb"), data).unwrap();
    // A LocalNet cache first, from the LocalNet fixture.
    let db = dir.path().join("db");
    node_fixture::unpack(&db);
    let cache = dir.path().join("cache");
    assert!(run(import(&db, &cache, &[])).0);
    let before = std::fs::read_dir(&cache).unwrap().count();
    let (ok, text) = run(import(&igor, &cache, &[]));
    assert!(!ok && text.contains("NETWORK_MISMATCH"), "{text}");
    assert!(text.contains("igor") && text.contains("localnet"), "{text}");
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        before,
        "the cache is untouched"
    );
}

#[test]
fn export_of_a_cache_without_full_outputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    node_fixture::unpack(&db);
    let cache = dir.path().join("cache");
    assert!(run(import(&db, &cache, &[])).0);
    let manifest = node_fixture::manifest();
    let wallet = &manifest.wallets[0];
    let key_file = dir.path().join("view.key");
    std::fs::write(&key_file, &wallet.view_private_key).unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "fixture password").unwrap();
    let out = dir.path().join("wallet.db.zst");
    let export = |extra: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut command = tws(&[
            &"export",
            &"--cache",
            &cache,
            &"--view-key-file",
            &key_file,
            &"--spend-public-key",
            &wallet.spend_public_key,
            &"--password-file",
            &password,
            &"--out",
            &out,
        ]);
        for arg in extra {
            command.arg(arg);
        }
        run(command)
    };
    let (ok, text) = export(&[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("FULL_OUTPUTS_UNAVAILABLE") && text.contains("--lmdb"),
        "{text}"
    );
    assert!(!out.exists(), "no file written");

    // With the node's database to read them from, the export holds every owned output.
    let (ok, text) = export(&[&"--lmdb", &db]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{} outputs", wallet.outputs.len())) && text.contains(&format!("{} µT", wallet.balance)),
        "{text}"
    );
    assert!(!text.contains("rebuilt"), "real outputs, not a reconstruction: {text}");
}
