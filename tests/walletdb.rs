//! Wallet files from demo scans, read back with plain SQLite after zstd decompression: clean integrity and
//! foreign keys, the demo's balance and spends, the scanned tip on top, the account opening with its
//! password only, and a valid file for a wallet with nothing.

use std::sync::atomic::AtomicBool;

use rusqlite::Connection;
use tari_wallet_sync::{
    cache::CacheView,
    demo::chain::{DemoChainSpec, DemoWallet, write_demo_chain},
    recognize::WalletKey,
    scan::{ScanOptions, ScanRequest, ScanResult, scan},
    source::full_outputs::{FullOutputSources, ResolvedOutputs},
    walletdb::{
        AccountSpec, BuildOptions, ChainBlock, WalletDbError, WalletFile, account, build_from_chain, build_wallet_file,
        kept_heights,
    },
};
use zeroize::Zeroizing;

const PASSWORD: &str = "correct horse battery staple";

/// A demo chain needs no source: its wallet outputs are rebuilt from the cache itself.
fn no_sources() -> FullOutputSources {
    FullOutputSources::default()
}

fn demo(dir: &std::path::Path) -> (CacheView, Vec<DemoWallet>) {
    let spec = DemoChainSpec {
        outputs: 4000,
        blocks: 80,
        wallets: 3,
        seed: 42,
    };
    let wallets = write_demo_chain(&spec, dir).unwrap();
    (CacheView::open(dir).unwrap(), wallets)
}

fn key(w: &DemoWallet) -> WalletKey {
    WalletKey::from_hex(&w.view_key, &w.spend_public_key).unwrap()
}

fn scan_all(view: &CacheView, keys: &[(WalletKey, u64)]) -> Vec<ScanResult> {
    let requests: Vec<ScanRequest> = keys
        .iter()
        .map(|(key, birthday)| ScanRequest {
            key: key.clone(),
            birthday: *birthday,
        })
        .collect();
    scan(
        view,
        &requests,
        &ScanOptions::default(),
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap()
}

fn spec(birthday: u64) -> AccountSpec {
    AccountSpec {
        name: "default".into(),
        password: Zeroizing::new(PASSWORD.into()),
        birthday,
    }
}

/// Decompresses the file and opens it from disk with plain SQLite, as a user would after download.
fn open(file: &WalletFile, dir: &std::path::Path, name: &str) -> Connection {
    let raw = zstd::decode_all(&file.to_vec()[..]).unwrap();
    assert_eq!(raw.len() as u64, file.raw_len);
    // A rollback-journal database (file format bytes 1/1), not WAL, so the file stands alone.
    assert_eq!((raw[18], raw[19]), (1, 1));
    let path = dir.join(name);
    std::fs::write(&path, &raw).unwrap();
    Connection::open(&path).unwrap()
}

fn int(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn assert_clean(conn: &Connection) {
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let violations = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query([])
        .unwrap()
        .next()
        .unwrap()
        .is_none();
    assert!(violations, "foreign key violations");
    assert_eq!(int(conn, "PRAGMA user_version"), 30);
    assert_eq!(int(conn, "SELECT COUNT(*) FROM accounts"), 1);
}

#[test]
fn demo_wallet_files_hold_the_demo_wallets_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(&dir.path().join("cache"));
    let keys: Vec<(WalletKey, u64)> = wallets.iter().map(|w| (key(w), w.birthday)).collect();
    let results = scan_all(&view, &keys);
    let tip = view.tip().unwrap();
    for ((wallet, (key, _)), result) in wallets.iter().zip(&keys).zip(&results) {
        let file = build_from_chain(key, &spec(600), result, &view, &no_sources(), &BuildOptions::default()).unwrap();
        assert_eq!(file.summary.outputs, wallet.expected_outputs);
        assert_eq!(file.summary.unspent_value, wallet.expected_balance);
        let conn = open(&file, dir.path(), &format!("{}.db", wallet.name));
        assert_clean(&conn);

        // Outputs and spends: what the demo planted, spent ones marked and debited.
        assert_eq!(
            int(&conn, "SELECT COUNT(*) FROM outputs") as u64,
            wallet.expected_outputs
        );
        let unspent = int(
            &conn,
            "SELECT COALESCE(SUM(value), 0) FROM outputs WHERE status = 'UNSPENT' AND is_burn = 0 AND deleted_at IS NULL",
        );
        assert_eq!(unspent as u64, wallet.expected_balance, "{}", wallet.name);
        assert_eq!(
            int(&conn, "SELECT COUNT(*) FROM outputs WHERE status = 'SPENT'") as u64,
            wallet.expected_spent
        );
        assert_eq!(int(&conn, "SELECT COUNT(*) FROM inputs") as u64, wallet.expected_spent);
        assert_eq!(
            int(
                &conn,
                "SELECT COUNT(*) FROM outputs o JOIN inputs i ON i.output_id = o.id WHERE o.status != 'SPENT'"
            ),
            0
        );
        // The client's ledger: one credit per output (burns included, as it writes them), one debit per spend.
        let burns = int(
            &conn,
            "SELECT COALESCE(SUM(value), 0) FROM outputs WHERE is_burn = 1 AND status = 'UNSPENT'",
        );
        let ledger = int(
            &conn,
            "SELECT SUM(balance_credit) - SUM(balance_debit) FROM balance_changes",
        );
        assert_eq!(ledger - burns, wallet.expected_balance as i64);
        assert_eq!(file.summary.client_total as i64, ledger);
        assert_eq!(
            int(&conn, "SELECT COUNT(*) FROM balance_changes WHERE balance_credit > 0") as u64,
            wallet.expected_outputs
        );
        // Confirmations: every output 3 or more below the tip, at exactly 3 above it, with that block's hash.
        let confirmed = int(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM outputs WHERE mined_in_block_height + 3 <= {}",
                tip.height
            ),
        );
        assert_eq!(
            int(
                &conn,
                "SELECT COUNT(*) FROM outputs WHERE confirmed_height = mined_in_block_height + 3"
            ),
            confirmed
        );
        let mut stmt = conn
            .prepare("SELECT confirmed_height, confirmed_hash FROM outputs WHERE confirmed_height IS NOT NULL")
            .unwrap();
        for row in stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .unwrap()
        {
            let (height, hash) = row.unwrap();
            assert_eq!(&hash[..], view.block(height as u64).unwrap().hash);
        }
        assert_eq!(
            int(&conn, "SELECT COUNT(*) FROM events WHERE event_type = 'OutputDetected'") as u64,
            wallet.expected_outputs
        );
        assert_eq!(
            int(
                &conn,
                "SELECT COUNT(*) FROM events WHERE event_type = 'OutputConfirmed'"
            ),
            confirmed
        );

        // Resume point: the top row is the cache tip; the rest are the client's thinned shape.
        let (height, hash): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT height, hash FROM scanned_tip_blocks ORDER BY height DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((height as u64, &hash[..]), (tip.height, &tip.hash[..]));
        let heights: Vec<u64> = conn
            .prepare("SELECT height FROM scanned_tip_blocks ORDER BY height")
            .unwrap()
            .query_map([], |r| r.get::<_, i64>(0).map(|h| h as u64))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(heights, kept_heights(result.from_height, tip.height));

        // Every displayed transaction's JSON reads back; the list covers every credit and debit.
        let mut stmt = conn
            .prepare("SELECT transaction_json FROM displayed_transactions")
            .unwrap();
        let mut credited = 0u64;
        for json in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            let value: serde_json::Value = serde_json::from_str(&json.unwrap()).unwrap();
            credited += value["details"]["outputs"].as_array().unwrap().len() as u64;
        }
        assert!(credited <= wallet.expected_outputs && credited > 0);

        // The account opens with the password as typed, and with nothing else.
        let (ciphertext, nonce, salt, birthday): (Vec<u8>, Vec<u8>, Vec<u8>, i64) = conn
            .query_row(
                "SELECT encrypted_wallet, cipher_nonce, salt, birthday FROM accounts",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((nonce.len(), salt.len(), birthday), (24, 16, 600));
        let json = account::open(PASSWORD, &salt, &nonce, &ciphertext).expect("opens with the password");
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["ViewWallet"]["view_key"], wallet.view_key);
        assert_eq!(value["ViewWallet"]["public_spend_key"], wallet.spend_public_key);
        assert!(account::open("correct horse battery stapl", &salt, &nonce, &ciphertext).is_none());
        let fingerprint: Vec<u8> = conn
            .query_row("SELECT fingerprint FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fingerprint, account::fingerprint(key).to_vec());
    }
}

#[test]
fn a_wallet_with_nothing_still_gets_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let (view, _) = demo(&dir.path().join("cache"));
    let stranger = WalletKey::from_bytes(
        &[9u8; 32],
        curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.as_bytes(),
    )
    .unwrap();
    let result = scan_all(&view, &[(stranger.clone(), 0)]).pop().unwrap();
    assert!(result.outputs.is_empty());
    let file = build_from_chain(
        &stranger,
        &spec(0),
        &result,
        &view,
        &no_sources(),
        &BuildOptions::default(),
    )
    .unwrap();
    let conn = open(&file, dir.path(), "stranger.db");
    assert_clean(&conn);
    assert_eq!(int(&conn, "SELECT COUNT(*) FROM outputs"), 0);
    assert_eq!(
        int(&conn, "SELECT MAX(height) FROM scanned_tip_blocks") as u64,
        view.tip().unwrap().height
    );

    // An empty cache: no tip, no rows but the account; the client would start from the birthday.
    let empty = ScanResult {
        tip: None,
        from_height: 0,
        outputs: Vec::new(),
    };
    let no_blocks = |_: u64| -> Option<ChainBlock> { None };
    let none = ResolvedOutputs::default();
    let file = build_wallet_file(&stranger, &spec(0), &empty, &no_blocks, &none, &BuildOptions::default()).unwrap();
    let conn = open(&file, dir.path(), "empty.db");
    assert_clean(&conn);
    assert_eq!(int(&conn, "SELECT COUNT(*) FROM scanned_tip_blocks"), 0);
    assert_eq!(file.summary.tip_height, None);
}

#[test]
fn a_chain_view_that_is_not_the_scanned_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (view, wallets) = demo(&dir.path().join("cache"));
    let key = key(&wallets[0]);
    let result = scan_all(&view, &[(key.clone(), 0)]).pop().unwrap();
    let other = |height: u64| {
        view.block(height).map(|b| ChainBlock {
            hash: [7u8; 32],
            timestamp: b.timestamp,
        })
    };
    let full = no_sources().resolve(&view, &result.outputs).unwrap();
    assert!(full.reconstructed, "a demo chain is rebuilt from its cache");
    let err = build_wallet_file(&key, &spec(0), &result, &other, &full, &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, WalletDbError::ChainMismatch(79)), "{err}");
    assert_eq!(err.code(), "SOURCE_INCONSISTENT");
}
