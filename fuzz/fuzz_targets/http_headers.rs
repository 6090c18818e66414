//! Request headers the service parses: `len u64` (the file's length for `Range`), then one header
//! value's raw bytes, read as `Range` (downloads), `Last-Event-ID` (SSE resume) and
//! `Authorization: Bearer` (job routes). Each answer must be one the handlers can use as they do, and
//! must read back the same from its canonical spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::fuzzing::{self, RangeAnswer};
use tari_wallet_sync_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let len = input.u64();
    let value = input.0;
    match fuzzing::range(value, len) {
        RangeAnswer::Part(r) => {
            assert!(r.start < r.end && r.end <= len, "{r:?} inside a file of {len} bytes");
            let canonical = format!("bytes={}-{}", r.start, r.end - 1);
            assert_eq!(fuzzing::range(canonical.as_bytes(), len), RangeAnswer::Part(r));
        }
        RangeAnswer::Unsatisfiable => {}
        RangeAnswer::Whole => {}
    }
    if let Some(id) = fuzzing::last_event_id(value) {
        assert_eq!(fuzzing::last_event_id(id.to_string().as_bytes()), Some(id));
    }
    if let Some(token) = fuzzing::bearer(value) {
        assert_eq!(token, token.trim(), "a token without surrounding whitespace");
        if !token.is_empty() {
            assert_eq!(fuzzing::bearer(format!("Bearer {token}").as_bytes()), Some(token));
        }
    }
});
