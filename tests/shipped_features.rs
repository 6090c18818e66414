//! The binaries tests spawn are the shipped ones: the workspace's crates are compiled for
//! `cargo test --workspace` with the features a release build of the plugin gives them, and the library
//! declares no test feature (test builders live in `testkit/`, a dev-dependency only).
//!
//! Cargo compiles each crate once per `cargo test` run, with the union of the features every target of
//! the run asks for, dev-dependencies included: a dev-dependency that turned a feature of the library on
//! would turn it on in the plugin binary the plugin tests start, too. `cargo tree` resolves features the
//! same way, with dev-dependencies (what `cargo test --workspace` builds) or without them (what
//! `cargo build --release -p tari-wallet-sync-plugin` builds); this test compares the two.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

/// The workspace's crates the plugin binary is built from.
const SHIPPED_CRATES: [&str; 3] = ["tari-wallet-sync", "tari-wallet-sync-plugin", "tari-wallet-sync-sse"];

/// Features the test build adds to a shipped crate, each with why it leaves the binary's behaviour as
/// shipped. Anything else a dev-dependency turns on fails this test.
const ALLOWED_TEST_ADDITIONS: [(&str, &str, &str); 1] = [(
    "tari-wallet-sync-sse",
    "client",
    "the tests' wallet-app client: a module of its own (sse/src/lib.rs) that nothing in the binary calls",
)];

/// Features the library may declare, and what each is for: none of them is for tests.
const LIBRARY_FEATURES: [(&str, &str); 1] = [(
    "fuzzing",
    "entry points for the fuzz targets, enabled by the fuzz crate only (its own workspace, never in a binary)",
)];

/// Runs `cargo` in the workspace, offline (every crate is already downloaded: the test is built).
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo writes UTF-8")
}

/// The features each shipped crate is compiled with, as `cargo tree` resolves them for `args`.
fn resolved_features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let tree = cargo(&[&["tree", "--prefix", "none", "--format", "{p}|{f}"], args].concat());
    let mut features: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in tree.lines() {
        let Some((package, enabled)) = line.split_once('|') else {
            continue;
        };
        let name = package.split(' ').next().unwrap_or_default();
        if !SHIPPED_CRATES.contains(&name) {
            continue;
        }
        let enabled = enabled.trim_end_matches(" (*)");
        let set: BTreeSet<String> = enabled.split(',').filter(|f| !f.is_empty()).map(String::from).collect();
        // A crate compiled twice with different features would be two crates; both would be listed.
        let previous = features.insert(name.to_string(), set.clone());
        assert!(
            previous.is_none_or(|p| p == set),
            "{name} is resolved with two feature sets"
        );
    }
    features
}

#[test]
fn tests_build_the_shipped_crates_with_the_shipped_features() {
    let shipped = resolved_features(&["-p", "tari-wallet-sync-plugin", "--edges", "normal,build"]);
    let tested = resolved_features(&["--workspace", "--edges", "normal,build,dev"]);
    assert_eq!(
        shipped.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(SHIPPED_CRATES),
        "the plugin binary is built from these workspace crates"
    );
    for (name, shipped_features) in &shipped {
        let tested_features = &tested[name];
        let added: Vec<&String> = tested_features
            .difference(shipped_features)
            .filter(|feature| {
                !ALLOWED_TEST_ADDITIONS
                    .iter()
                    .any(|(crate_name, allowed, _)| crate_name == name && allowed == feature)
            })
            .collect();
        assert!(
            added.is_empty(),
            "`cargo test --workspace` builds {name} with {added:?}, which the release build has not: \
             a dev-dependency turns it on (put test code in testkit/ instead)"
        );
        assert!(
            shipped_features.is_subset(tested_features),
            "the tests build {name} without features the release has"
        );
    }
    // The library itself: exactly its shipped (default) features, nothing added.
    assert_eq!(shipped["tari-wallet-sync"], tested["tari-wallet-sync"]);
    assert_eq!(shipped["tari-wallet-sync-plugin"], tested["tari-wallet-sync-plugin"]);
}

#[test]
fn the_library_declares_no_test_feature() {
    let metadata: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--no-deps", "--format-version", "1"])).expect("cargo metadata");
    let library = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "tari-wallet-sync")
        .expect("the library is a workspace member");
    let declared: BTreeSet<&str> = library["features"]
        .as_object()
        .expect("features")
        .keys()
        .map(String::as_str)
        .collect();
    let known: BTreeSet<&str> = LIBRARY_FEATURES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        declared, known,
        "the library's features changed: say in LIBRARY_FEATURES what a new one is for (test code goes in \
         testkit/, never behind a feature)"
    );
}
