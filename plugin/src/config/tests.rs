use std::time::Duration;

use super::{layers::Layer, *};
use tari_wallet_sync::service::PlainKeyPolicy;

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tws.toml");
    std::fs::write(
        &file,
        "[wallet_sync]\nlisten = \"127.0.0.1:1\"\nresult_ttl = 60\nmax_batch_keys = 8\nplain_view_key = \"never\"\n",
    )
    .unwrap();
    let env: BTreeMap<String, String> = [
        ("TWS_LISTEN".to_string(), "127.0.0.1:2".to_string()),
        ("TWS_RESULT_TTL".to_string(), "2h".to_string()),
    ]
    .into();
    let flags = Flags {
        config: Some(file.clone()),
        listen: Some("127.0.0.1:3".into()),
        ..Flags::default()
    };
    let config = resolve(&flags, &env).unwrap();
    assert_eq!(config.listen.port(), 3);
    assert_eq!(config.service.result_ttl, Duration::from_secs(7200));
    assert_eq!(config.service.max_batch_keys, 8);
    assert_eq!(config.service.plain_view_key, PlainKeyPolicy::Never);
    assert_eq!(
        config.service.metrics_listen, None,
        "the public port serves /metrics by default"
    );
    assert_eq!(config.sources["listen"], "flag --listen");
    assert_eq!(config.sources["result_ttl"], "environment variable TWS_RESULT_TTL");
    assert!(config.cache_dir.is_none() && config.node_url.is_none());
    assert_eq!(config.service.cache_dir, PathBuf::from("tws-data/demo/cache"));
}

#[test]
fn a_node_url_follows_into_the_data_dirs_cache_and_the_old_cache_key_still_works() {
    let env: BTreeMap<String, String> = [
        ("TWS_NODE_URL".to_string(), "http://127.0.0.1:9000".to_string()),
        ("TWS_POLL_INTERVAL".to_string(), "250ms".to_string()),
        ("TWS_FULL_OUTPUTS".to_string(), "true".to_string()),
        ("TWS_NETWORK".to_string(), "localnet".to_string()),
    ]
    .into();
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(config.node_url.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(config.poll_interval, Duration::from_millis(250));
    assert!(config.full_outputs);
    assert_eq!(config.network, Some(Network::LocalNet));
    assert_eq!(config.service.cache_dir, PathBuf::from("tws-data/cache"));
    assert_eq!(config.node_cache_dir(), PathBuf::from("tws-data/cache"));

    let env: BTreeMap<String, String> = [("TWS_CACHE".to_string(), "/srv/cache".to_string())].into();
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(config.cache_dir, Some(PathBuf::from("/srv/cache")));
    assert_eq!(config.sources["cache_dir"], "environment variable TWS_CACHE");
    let flags = Flags {
        cache_dir: Some("/flag/cache".into()),
        ..Flags::default()
    };
    assert_eq!(
        resolve(&flags, &env).unwrap().service.cache_dir,
        PathBuf::from("/flag/cache")
    );
    for (name, value) in [
        ("TWS_NODE_URL", "https://node:9000"),
        ("TWS_POLL_INTERVAL", "0s"),
        ("TWS_FULL_OUTPUTS", "yes"),
        ("TWS_NETWORK", "moonnet"),
    ] {
        let env: BTreeMap<String, String> = [(name.to_string(), value.to_string())].into();
        let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
        assert!(error.contains(name), "{name}: {error}");
    }
}

/// The sample section in docs/config.md parses, and sets what it shows.
#[test]
fn the_documented_sample_parses() {
    let doc = include_str!("../../../docs/config.md");
    let sample = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml sample in docs/config.md");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, sample).unwrap();
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let config = resolve(&flags, &BTreeMap::new()).unwrap();
    assert!(config.node_url.is_some(), "the sample follows a node");
    let written = sample.lines().filter(|line| line.contains(" = ")).count();
    assert_eq!(config.sources.len(), written, "every line of the sample is a key");
    assert_eq!(Layer::file(&file).unwrap().keys().count(), written);
}

/// `docs/config.md`'s key table against the schema, both ways: every key the schema has is documented
/// with the default the code has (rendered as an operator writes it), and every documented key is one
/// the schema has. A key without a default (`None`, an empty list) is documented with words.
#[test]
fn the_documented_table_is_the_schema() {
    let doc = include_str!("../../../docs/config.md");
    let table = doc
        .split("\n## Keys\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Keys section in docs/config.md");
    // Each row: its keys (`a`, `b`) and its defaults in the same order.
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    for row in table.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let keys: Vec<&str> = cells[0].trim_start_matches("| ").split(", ").collect();
        let defaults: Vec<&str> = cells[1].split(", ").collect();
        for (position, key) in keys.iter().enumerate() {
            let default = if keys.len() == defaults.len() {
                defaults[position]
            } else {
                cells[1]
            };
            let previous = documented.insert(key.trim_matches('`').to_string(), default.to_string());
            assert!(previous.is_none(), "{key} documented twice");
        }
    }
    let defaults = serde_json::to_value(Schema::default()).unwrap();
    let mut missing = Vec::new();
    for section in schema::sections() {
        for key in section.keys {
            let Some(cell) = documented.remove(*key) else {
                missing.push(*key);
                continue;
            };
            let code_default = &defaults[section.name][key];
            let has_default = match code_default {
                serde_json::Value::Null => false,
                serde_json::Value::Array(items) => !items.is_empty(),
                _ => true,
            };
            if !has_default {
                assert!(
                    !cell.starts_with('`') || cell.contains("DATA_DIR"),
                    "docs/config.md gives {key} a default ({cell}); the code has none"
                );
                continue;
            }
            // The documented literal, read as the key's value the way a file's would be.
            let literal = cell
                .strip_prefix('`')
                .and_then(|rest| rest.split('`').next())
                .unwrap_or_else(|| panic!("docs/config.md gives {key} no default; the code's is {code_default}"));
            let written = serde_json::from_str(literal).unwrap_or(serde_json::Value::String(literal.into()));
            let read: Schema = serde_json::from_value(serde_json::json!({ section.name: { *key: written } }))
                .unwrap_or_else(|e| panic!("docs/config.md's default of {key}, {literal}: {e}"));
            assert_eq!(
                &serde_json::to_value(read).unwrap()[section.name][key],
                code_default,
                "docs/config.md documents {key}'s default as {literal}; the code's is {code_default}"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "keys missing from docs/config.md's table: {missing:?}"
    );
    assert!(
        documented.is_empty(),
        "docs/config.md documents keys the schema does not have: {:?}",
        documented.keys().collect::<Vec<_>>()
    );
}

#[test]
fn refuses_unknown_keys_and_bad_values_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tws.toml");
    std::fs::write(&file, "[wallet_sync]\nresult_tll = 60\n").unwrap();
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let error = format!("{:#}", resolve(&flags, &BTreeMap::new()).unwrap_err());
    assert!(error.contains("result_tll"), "{error}");
    let env: BTreeMap<String, String> = [("TWS_MAX_QUEUED_JOBS".to_string(), "many".to_string())].into();
    let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
    assert!(error.contains("TWS_MAX_QUEUED_JOBS"), "{error}");
    let env: BTreeMap<String, String> = [("TWS_TLS_CERT".to_string(), "c.pem".to_string())].into();
    assert!(resolve(&Flags::default(), &env).is_err());
    let env: BTreeMap<String, String> = [("TWS_METRICS_LISTEN".to_string(), "localhost".to_string())].into();
    let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
    assert!(error.contains("TWS_METRICS_LISTEN"), "{error}");
}

#[test]
fn cors_origins_are_a_list_in_the_file_and_comma_separated_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tws.toml");
    std::fs::write(
        &file,
        "[wallet_sync]\ncors_origins = [\"https://wallet.example\", \"http://127.0.0.1:5173\"]\n",
    )
    .unwrap();
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let config = resolve(&flags, &BTreeMap::new()).unwrap();
    assert_eq!(
        config.service.cors_origins,
        ["https://wallet.example", "http://127.0.0.1:5173"]
    );
    let env: BTreeMap<String, String> = [(
        "TWS_CORS_ORIGINS".to_string(),
        "https://a.example, https://b.example:8443".to_string(),
    )]
    .into();
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(
        config.service.cors_origins,
        ["https://a.example", "https://b.example:8443"]
    );
    assert!(
        resolve(&Flags::default(), &BTreeMap::new())
            .unwrap()
            .service
            .cors_origins
            .is_empty()
    );
}

#[test]
fn webhooks_take_a_list_of_endpoints_and_a_secret_file() {
    let env: BTreeMap<String, String> = [
        (
            "TWS_WEBHOOK_URLS".to_string(),
            "http://127.0.0.1:9000/a, http://hooks.internal/b".to_string(),
        ),
        (
            "TWS_WEBHOOK_SECRET_FILE".to_string(),
            "/etc/tws/webhook-secret".to_string(),
        ),
        ("TWS_WEBHOOK_RETRY_BASE".to_string(), "1s".to_string()),
        ("TWS_WEBHOOK_RETRY_MAX".to_string(), "10m".to_string()),
    ]
    .into();
    let service = resolve(&Flags::default(), &env).unwrap().service;
    assert_eq!(
        service.webhook_urls,
        ["http://127.0.0.1:9000/a", "http://hooks.internal/b"]
    );
    assert_eq!(
        service.webhook_secret_file,
        Some(PathBuf::from("/etc/tws/webhook-secret"))
    );
    assert_eq!(service.webhook_retry_base, Duration::from_secs(1));
    assert_eq!(service.webhook_retry_max, Duration::from_secs(600));
    let mut https = env.clone();
    https.insert("TWS_WEBHOOK_URLS".into(), "https://hooks.example/x".into());
    https.insert("TWS_WEBHOOK_CA_FILE".into(), "/etc/tws/hooks-ca.pem".into());
    https.insert("TWS_WEBHOOK_MAX_QUEUED".into(), "500".into());
    https.insert("TWS_WEBHOOK_BREAKER_FAILURES".into(), "3".into());
    https.insert("TWS_WEBHOOK_BREAKER_COOLDOWN".into(), "2m".into());
    https.insert("TWS_WEBHOOK_CONNECT_TIMEOUT".into(), "2s".into());
    https.insert("TWS_WEBHOOK_ATTEMPT_TIMEOUT".into(), "20s".into());
    let service = resolve(&Flags::default(), &https).unwrap().service;
    assert_eq!(service.webhook_urls, ["https://hooks.example/x"]);
    assert_eq!(service.webhook_ca_file, Some(PathBuf::from("/etc/tws/hooks-ca.pem")));
    assert_eq!((service.webhook_max_queued, service.webhook_breaker_failures), (500, 3));
    assert_eq!(service.webhook_breaker_cooldown, Duration::from_secs(120));
    assert_eq!(service.webhook_connect_timeout, Duration::from_secs(2));
    assert_eq!(service.webhook_attempt_timeout, Duration::from_secs(20));
    let mut ftp = env.clone();
    ftp.insert("TWS_WEBHOOK_URLS".into(), "ftp://hooks.example/x".into());
    let error = format!("{:#}", resolve(&Flags::default(), &ftp).unwrap_err());
    assert!(
        error.contains("https:// or http://") && error.contains("TWS_WEBHOOK_URLS"),
        "{error}"
    );
}

#[test]
fn the_edge_keys_come_from_any_source() {
    let env: BTreeMap<String, String> = [
        ("TWS_FORWARDED_HEADER".to_string(), "Forwarded".to_string()),
        ("TWS_IPV6_AGGREGATE_PREFIX_LEN".to_string(), "56".to_string()),
        ("TWS_IPV6_AGGREGATE_MULTIPLE".to_string(), "16".to_string()),
        ("TWS_MAX_SSE_PER_CLIENT".to_string(), "3".to_string()),
        ("TWS_CONNECTION_IDLE_BUDGET".to_string(), "1h".to_string()),
    ]
    .into();
    let service = resolve(&Flags::default(), &env).unwrap().service;
    assert_eq!(
        service.clients.forwarded_header,
        tari_wallet_sync::service::ForwardedHeader::Forwarded
    );
    assert_eq!(service.clients.ipv6_aggregate_prefix_len, 56);
    assert_eq!(service.ipv6_aggregate_multiple, 16);
    assert_eq!(service.max_sse_per_client, 3);
    assert_eq!(service.connection_idle_budget, Duration::from_secs(3600));
    let defaults = resolve(&Flags::default(), &BTreeMap::new()).unwrap().service;
    assert_eq!(
        defaults.clients.forwarded_header,
        tari_wallet_sync::service::ForwardedHeader::XForwardedFor
    );
}

#[test]
fn the_operator_port_and_its_limit_come_from_any_source() {
    let env: BTreeMap<String, String> = [
        ("TWS_METRICS_LISTEN".to_string(), "127.0.0.1:9102".to_string()),
        ("TWS_OPS_RATE_PER_IP".to_string(), "60/m".to_string()),
    ]
    .into();
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(config.service.metrics_listen, Some("127.0.0.1:9102".parse().unwrap()));
    assert_eq!(config.service.ops_rate_per_ip.per_window, 60);
    let flags = Flags {
        metrics_listen: Some("127.0.0.1:9103".into()),
        ..Flags::default()
    };
    let config = resolve(&flags, &env).unwrap();
    assert_eq!(config.service.metrics_listen, Some("127.0.0.1:9103".parse().unwrap()));
    assert_eq!(config.sources["metrics_listen"], "flag --metrics-listen");
}

/// Values that used to crash the service later (a zero keep-alive interval, a window that overflows
/// a clock) stop the start with the key, the reason and where the value came from.
#[test]
fn values_the_service_cannot_run_with_are_refused_with_their_source() {
    let cases = [
        (
            "TWS_SSE_KEEP_ALIVE",
            "0",
            "sse_keep_alive (from environment variable TWS_SSE_KEEP_ALIVE): must not be zero",
        ),
        ("TWS_RESULT_TTL", "99999999d", "result_ttl"),
        ("TWS_SUBMIT_RATE_PER_IP", "1/99999999d", "submit_rate_per_ip"),
        (
            "TWS_IDLE_TIMEOUT",
            "0",
            "idle_timeout (from environment variable TWS_IDLE_TIMEOUT): must not be zero",
        ),
        (
            "TWS_MAX_CONNECTIONS_PER_IP",
            "0",
            "max_connections_per_ip (from environment variable TWS_MAX_CONNECTIONS_PER_IP): must be at least 1",
        ),
        (
            "TWS_MAX_QUEUED_PER_CLIENT",
            "0",
            "max_queued_per_client (from environment variable TWS_MAX_QUEUED_PER_CLIENT): must be at least 1",
        ),
        ("TWS_IPV6_PREFIX_LEN", "200", "ipv6_prefix_len"),
        ("TWS_IPV6_AGGREGATE_PREFIX_LEN", "129", "ipv6_aggregate_prefix_len"),
        (
            "TWS_IPV6_AGGREGATE_MULTIPLE",
            "0",
            "ipv6_aggregate_multiple (from environment variable TWS_IPV6_AGGREGATE_MULTIPLE): must be at least 1",
        ),
        ("TWS_FORWARDED_HEADER", "x-real-ip", "forwarded_header"),
        (
            "TWS_MAX_SSE_PER_CLIENT",
            "0",
            "max_sse_per_client (from environment variable TWS_MAX_SSE_PER_CLIENT): must be at least 1",
        ),
        ("TWS_CONNECTION_IDLE_BUDGET", "10s", "connection_idle_budget"),
        ("TWS_TRUSTED_PROXIES", "10.0.0.0/33", "trusted_proxies"),
        ("TWS_UNSYNCED_NODE", "sometimes", "unsynced_node"),
        ("TWS_CORS_ORIGINS", "https://wallet.example/app", "cors_origins"),
        (
            "TWS_WEBHOOK_URLS",
            "http://127.0.0.1:9/hooks",
            "set webhook_secret_file",
        ),
        (
            "TWS_WEBHOOK_MAX_ATTEMPTS",
            "0",
            "webhook_max_attempts (from environment variable TWS_WEBHOOK_MAX_ATTEMPTS): must be at least 1",
        ),
        (
            "TWS_WEBHOOK_RETRY_BASE",
            "0",
            "webhook_retry_base (from environment variable TWS_WEBHOOK_RETRY_BASE): must not be zero",
        ),
        (
            "TWS_WEBHOOK_MAX_QUEUED",
            "0",
            "webhook_max_queued (from environment variable TWS_WEBHOOK_MAX_QUEUED): must be at least 1",
        ),
        (
            "TWS_WEBHOOK_CONNECT_TIMEOUT",
            "0",
            "webhook_connect_timeout (from environment variable TWS_WEBHOOK_CONNECT_TIMEOUT): must not be zero",
        ),
    ];
    for (var, value, expected) in cases {
        let env: BTreeMap<String, String> = [(var.to_string(), value.to_string())].into();
        let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
        assert!(error.contains(expected), "{var}={value}: {error}");
        assert!(error.contains(var), "{var}={value} names its source: {error}");
    }
}

/// The demo chain is served only when nothing at all is configured; a file or `TWS_*` variables without
/// a source are refused (`NO_SOURCE`), and `TWS_LOG` is not configuration.
#[test]
fn the_demo_chain_only_when_nothing_is_configured() {
    let nothing = resolve(&Flags::default(), &BTreeMap::new()).unwrap();
    assert!(nothing.serves_demo().unwrap());
    let flags = Flags {
        data_dir: Some("elsewhere".into()),
        listen: Some("127.0.0.1:0".into()),
        ..Flags::default()
    };
    assert!(
        resolve(&flags, &BTreeMap::new()).unwrap().serves_demo().unwrap(),
        "flags that name no chain"
    );
    let log: BTreeMap<String, String> = [("TWS_LOG".to_string(), "debug".to_string())].into();
    assert!(resolve(&Flags::default(), &log).unwrap().serves_demo().unwrap());

    let listen: BTreeMap<String, String> = [("TWS_LISTEN".to_string(), "127.0.0.1:1".to_string())].into();
    let error = resolve(&Flags::default(), &listen).unwrap().serves_demo().unwrap_err();
    assert_eq!(error.code(), "NO_SOURCE");
    assert!(error.to_string().contains("TWS_LISTEN"), "{error}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tws.toml");
    std::fs::write(&file, "# nothing yet\n").unwrap();
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let error = resolve(&flags, &BTreeMap::new()).unwrap().serves_demo().unwrap_err();
    assert!(error.to_string().contains(&file.display().to_string()), "{error}");
    for source in ["TWS_NODE_URL", "TWS_CACHE_DIR", "TWS_LMDB_DIR"] {
        let value = if source == "TWS_NODE_URL" {
            "http://127.0.0.1:9000"
        } else {
            "/srv/x"
        };
        let env: BTreeMap<String, String> = [(source.to_string(), value.to_string())].into();
        assert!(
            !resolve(&Flags::default(), &env).unwrap().serves_demo().unwrap(),
            "{source}"
        );
    }
}

#[test]
fn an_unknown_variable_is_refused_with_the_nearest_name() {
    let env: BTreeMap<String, String> = [("TWS_NODEURL".to_string(), "http://127.0.0.1:9000".to_string())].into();
    let error = resolve(&Flags::default(), &env).unwrap_err();
    let typed = error.downcast_ref::<ConfigError>().expect("a ConfigError");
    assert_eq!(typed.code(), "UNKNOWN_VARIABLE");
    assert_eq!(
        error.to_string(),
        "unknown environment variable TWS_NODEURL; did you mean TWS_NODE_URL? [UNKNOWN_VARIABLE]"
    );
    // An alias's variable and the log filter are known (every key's: `config::env`'s tests).
    let known: BTreeMap<String, String> = [
        ("TWS_CACHE".to_string(), "/srv/cache".to_string()),
        ("TWS_LOG".to_string(), "info".to_string()),
    ]
    .into();
    resolve(&Flags::default(), &known).unwrap();
}

/// The server key's file: configured, else a systemd credential named `server-key` when one is there,
/// else the data directory's (`ServiceConfig::server_key_path`).
#[test]
fn the_server_key_file_is_configured_or_a_systemd_credential() {
    let none = resolve(&Flags::default(), &BTreeMap::new()).unwrap();
    assert_eq!(none.service.server_key_file, None);
    assert_eq!(none.service.server_key_path(), PathBuf::from("tws-data/server-key"));

    let credentials = tempfile::tempdir().unwrap();
    let credential_env = |dir: &Path| -> BTreeMap<String, String> {
        [("CREDENTIALS_DIRECTORY".to_string(), dir.display().to_string())].into()
    };
    // No such credential: the default place.
    let config = resolve(&Flags::default(), &credential_env(credentials.path())).unwrap();
    assert_eq!(config.service.server_key_file, None);
    std::fs::write(credentials.path().join(CREDENTIAL_NAME), b"key").unwrap();
    let config = resolve(&Flags::default(), &credential_env(credentials.path())).unwrap();
    assert_eq!(
        config.service.server_key_file,
        Some(credentials.path().join("server-key"))
    );
    assert_eq!(config.sources["server_key_file"], "$CREDENTIALS_DIRECTORY");
    assert!(config.serves_demo().unwrap(), "a credential is not configuration");

    let mut env = credential_env(credentials.path());
    env.insert("TWS_SERVER_KEY_FILE".into(), "/etc/tws/server-key".into());
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(
        config.service.server_key_file,
        Some(PathBuf::from("/etc/tws/server-key")),
        "the configured file wins"
    );
}

/// A key rotation's next and previous keys come from their own credentials, each unless its file is
/// configured, and the same file in two roles is refused by name.
#[test]
fn a_rotations_keys_are_credentials_or_configured_files() {
    let credentials = tempfile::tempdir().unwrap();
    for name in [CREDENTIAL_NAME, NEXT_CREDENTIAL_NAME, PREVIOUS_CREDENTIAL_NAME] {
        std::fs::write(credentials.path().join(name), b"key").unwrap();
    }
    let mut env: BTreeMap<String, String> = [(
        "CREDENTIALS_DIRECTORY".to_string(),
        credentials.path().display().to_string(),
    )]
    .into();
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(
        config.service.next_server_key_file,
        Some(credentials.path().join("server-key-next"))
    );
    assert_eq!(
        config.service.previous_server_key_file,
        Some(credentials.path().join("server-key-previous"))
    );
    assert_eq!(config.sources["previous_server_key_file"], "$CREDENTIALS_DIRECTORY");

    env.insert("TWS_PREVIOUS_SERVER_KEY_FILE".into(), "/etc/tws/old-key".into());
    let config = resolve(&Flags::default(), &env).unwrap();
    assert_eq!(
        config.service.previous_server_key_file,
        Some(PathBuf::from("/etc/tws/old-key")),
        "the configured file wins"
    );

    let same: BTreeMap<String, String> = [
        ("TWS_SERVER_KEY_FILE".to_string(), "/etc/tws/key".to_string()),
        ("TWS_NEXT_SERVER_KEY_FILE".to_string(), "/etc/tws/key".to_string()),
    ]
    .into();
    let error = format!("{:#}", resolve(&Flags::default(), &same).unwrap_err());
    assert!(
        error.contains("next_server_key_file") && error.contains("TWS_NEXT_SERVER_KEY_FILE"),
        "{error}"
    );
}

/// Values that panicked at start (a rate window past what a nanosecond clock holds, more connections
/// than a semaphore counts, threads by the billion) are refused by name.
#[test]
fn values_that_would_overflow_are_refused() {
    for (var, value, expected) in [
        ("TWS_OPS_RATE_PER_IP", "1/213525d", "ops_rate_per_ip"),
        ("TWS_MAX_CONNECTIONS", "18446744073709551615", "max_connections"),
        ("TWS_SCAN_THREADS", "1000000000", "scan_threads"),
    ] {
        let env: BTreeMap<String, String> = [(var.to_string(), value.to_string())].into();
        let error = format!("{:#}", resolve(&Flags::default(), &env).unwrap_err());
        assert!(
            error.contains(expected) && error.contains(var),
            "{var}={value}: {error}"
        );
    }
}
