//! The follower's pager against a scripted node (see `tari_wallet_sync_fuzz::PagerInput`): each request
//! (header, sync page, full outputs) gets the next answer of its route from the input, decoded exactly
//! as `NodeClient` decodes it, through paging, chunk merging, repeated blocks, fork and link checks and
//! `fill_details`. Blocks it returns must extend `from` (and `prev`) as a chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::fuzzing::{self, Answer, FetchLimits, Fetched, Route};
use tari_wallet_sync_fuzz::{FULL_OUTPUTS, PagerInput};

fuzz_target!(|data: &[u8]| {
    let mut input = PagerInput::decode(data);
    let limits = FetchLimits {
        page_limit: u64::from(input.page_limit).clamp(1, 2000),
        max_blocks: u64::from(input.max_blocks),
        max_outputs: u64::from(input.max_outputs),
        full_outputs: input.flags & FULL_OUTPUTS != 0,
        full_concurrency: 4,
    };
    let mut answers = std::mem::take(&mut input.answers);
    let fetched = fuzzing::fetch_blocks(input.from, input.prev, &limits, |request| {
        let route = match request.route {
            Route::Header => 0,
            Route::SyncPage => 1,
            Route::FullOutputs => 2,
        };
        let (status, body) = answers[route].pop_front().unwrap_or((503, Vec::new()));
        Answer { status, body }
    });
    let Ok(Fetched::Blocks(blocks)) = fetched else { return };
    if let Some(first) = blocks.first() {
        assert_eq!(first.height, input.from, "the first block is at `from`");
        if let Some(prev) = input.prev {
            assert_eq!(first.prev_hash, prev, "the first block extends `prev`");
        }
    }
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].height, pair[0].height + 1, "heights in order");
        assert_eq!(pair[1].prev_hash, pair[0].hash, "each block links to the one before");
    }
    assert!(blocks.iter().all(|b| b.output_details == limits.full_outputs));
});
