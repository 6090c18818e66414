//! The service section's defaults and validation.

use std::{path::PathBuf, time::Duration};

use super::*;

#[test]
fn values_the_service_cannot_run_with_are_refused_by_name() {
    let good = ServiceConfig::new("d", "c");
    good.validate().unwrap();
    let mut zero_keep_alive = good.clone();
    zero_keep_alive.sse_keep_alive = Duration::ZERO;
    assert!(
        zero_keep_alive
            .validate()
            .unwrap_err()
            .to_string()
            .contains("sse_keep_alive")
    );
    let mut huge_ttl = good.clone();
    huge_ttl.result_ttl = Duration::from_secs(u64::MAX);
    assert!(huge_ttl.validate().unwrap_err().to_string().contains("result_ttl"));
    let mut huge_window = good.clone();
    huge_window.submit_rate_per_ip.window = Duration::from_secs(u64::MAX / 2);
    assert!(
        huge_window
            .validate()
            .unwrap_err()
            .to_string()
            .contains("submit_rate_per_ip")
    );
    let mut no_build_time = good.clone();
    no_build_time.build_timeout = Duration::ZERO;
    assert!(
        no_build_time
            .validate()
            .unwrap_err()
            .to_string()
            .contains("build_timeout")
    );
    let mut no_verify = good.clone();
    no_verify.cache_verify_interval = Duration::ZERO;
    no_verify
        .validate()
        .expect("a zero verify interval turns the check off");
    // 585 years: past what governor's nanosecond clock holds (it panicked at start).
    let mut huge_ops_window = good.clone();
    huge_ops_window.ops_rate_per_ip = parse_rate("1/213525d").unwrap();
    assert!(
        huge_ops_window
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ops_rate_per_ip")
    );
    let mut too_many_connections = good.clone();
    too_many_connections.max_connections = usize::MAX;
    assert!(
        too_many_connections
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_connections")
    );
    too_many_connections.max_connections = MAX_CONNECTIONS_LIMIT;
    too_many_connections.validate().unwrap();
    let mut threads = good.clone();
    threads.scan_threads = usize::MAX;
    assert!(threads.validate().unwrap_err().to_string().contains("scan_threads"));
    let mut key_file = good.clone();
    key_file.server_key_file = Some(PathBuf::new());
    assert!(key_file.validate().unwrap_err().to_string().contains("server_key_file"));
    // A rotation's key in the current key's file (the data directory's default included), or both
    // rotation roles in one file, is a step half done.
    let mut same_file = good.clone();
    same_file.previous_server_key_file = Some(same_file.server_key_path());
    let error = same_file.validate().unwrap_err().to_string();
    assert!(
        error.contains("previous_server_key_file") && error.contains("server_key_file too"),
        "{error}"
    );
    let mut both = good.clone();
    both.next_server_key_file = Some(PathBuf::from("/etc/tws/rotating"));
    both.previous_server_key_file = Some(PathBuf::from("/etc/tws/rotating"));
    let error = both.validate().unwrap_err().to_string();
    assert!(error.contains("next_server_key_file too"), "{error}");
    both.previous_server_key_file = Some(PathBuf::from("/etc/tws/previous"));
    both.validate().unwrap();
    let mut no_queue = good.clone();
    no_queue.max_queued_jobs = 0;
    assert!(no_queue.validate().unwrap_err().to_string().contains("max_queued_jobs"));
    let mut keep_alive_too_slow = good.clone();
    keep_alive_too_slow.sse_keep_alive = keep_alive_too_slow.idle_timeout;
    assert!(
        keep_alive_too_slow
            .validate()
            .unwrap_err()
            .to_string()
            .contains("idle_timeout")
    );
    let mut origins = good.clone();
    origins.cors_origins = vec!["https://wallet.example/".into()];
    assert!(origins.validate().unwrap_err().to_string().contains("cors_origins"));
    let mut hooks = good.clone();
    hooks.webhook_urls = vec!["http://127.0.0.1:9/hooks".into()];
    assert!(
        hooks
            .validate()
            .unwrap_err()
            .to_string()
            .contains("webhook_secret_file")
    );
    hooks.webhook_secret_file = Some("secret".into());
    hooks.validate().unwrap();
    hooks.webhook_urls = vec!["https://hooks.example/".into()];
    hooks.validate().unwrap();
    hooks.webhook_urls = vec!["ftp://hooks.example/".into()];
    assert!(hooks.validate().unwrap_err().to_string().contains("webhook_urls"));
    hooks.webhook_urls = vec!["https://hooks.example/a".into(), "https://hooks.example/a".into()];
    assert!(hooks.validate().unwrap_err().to_string().contains("listed twice"));
    hooks.webhook_urls = vec!["https://hooks.example/a".into()];
    for (key, broken) in [
        ("webhook_max_queued", {
            let mut c = hooks.clone();
            c.webhook_max_queued = 0;
            c
        }),
        ("webhook_breaker_failures", {
            let mut c = hooks.clone();
            c.webhook_breaker_failures = 0;
            c
        }),
        ("webhook_connect_timeout", {
            let mut c = hooks.clone();
            c.webhook_connect_timeout = Duration::ZERO;
            c
        }),
        ("webhook_attempt_timeout", {
            let mut c = hooks.clone();
            c.webhook_attempt_timeout = Duration::ZERO;
            c
        }),
        ("webhook_breaker_cooldown", {
            let mut c = hooks.clone();
            c.webhook_breaker_cooldown = Duration::from_secs(u64::MAX / 2);
            c
        }),
    ] {
        assert!(broken.validate().unwrap_err().to_string().contains(key), "{key}");
    }
    let mut prefix = good.clone();
    prefix.clients.ipv6_prefix_len = 129;
    assert!(prefix.validate().unwrap_err().to_string().contains("ipv6_prefix_len"));
    let mut aggregate = good.clone();
    aggregate.clients.ipv6_aggregate_prefix_len = 129;
    assert!(
        aggregate
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ipv6_aggregate_prefix_len")
    );
    let mut budget = good.clone();
    budget.connection_idle_budget = Duration::from_secs(30);
    assert!(
        budget
            .validate()
            .unwrap_err()
            .to_string()
            .contains("connection_idle_budget")
    );
    let mut streams = good;
    streams.max_sse_per_client = 0;
    assert!(
        streams
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_sse_per_client")
    );
}

#[test]
fn plain_key_policy_parses() {
    assert_eq!("never".parse::<PlainKeyPolicy>().unwrap(), PlainKeyPolicy::Never);
    assert!("sometimes".parse::<PlainKeyPolicy>().is_err());
}

/// The defaults deserialize from an empty section, and a key the section does not have is refused.
#[test]
fn the_section_deserializes_with_defaults_and_refuses_unknown_keys() {
    let config: ServiceConfig = serde_json::from_str(r#"{"result_ttl": "2h", "submit_rate_per_ip": "5/m"}"#).unwrap();
    assert_eq!(config.result_ttl, Duration::from_secs(7200));
    assert_eq!(config.submit_rate_per_ip, parse_rate("5/m").unwrap());
    assert_eq!(config.max_queued_jobs, ServiceConfig::default().max_queued_jobs);
    let error = serde_json::from_str::<ServiceConfig>(r#"{"result_tll": "2h"}"#).unwrap_err();
    assert!(error.to_string().contains("result_tll"), "{error}");
    let error = serde_json::from_str::<ServiceConfig>(r#"{"plain_view_key": 0}"#).unwrap_err();
    assert!(
        error.to_string().contains("is not one of"),
        "no variant by number: {error}"
    );
    // Rendering the defaults and reading them back changes nothing (the doc's defaults are rendered).
    let rendered = serde_json::to_value(ServiceConfig::default()).unwrap();
    let back: ServiceConfig = serde_json::from_value(rendered.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), rendered);
    assert_eq!(rendered["client_scan_budget"], "250000000/h");
    assert_eq!(rendered["cache_verify_interval"], "6h");
}
