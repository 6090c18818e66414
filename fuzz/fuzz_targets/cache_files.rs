//! The cache reader on arbitrary files: header slots, segment files and spent-index runs written into a
//! scratch directory (see `tari_wallet_sync_fuzz::decode_cache`), opened with `CacheView::open`, then
//! every read the scanner and the service make, and `verify()`. Errors are fine; a panic or a signal
//! (SIGBUS from a map past a file's end) is a bug. When `verify()` passes, every read must succeed.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use tari_wallet_sync::cache::CacheView;
use tari_wallet_sync_fuzz::{decode_cache, scratch_dir, write_files};

/// Reads per input are bounded so one input stays fast (a seed holds a few dozen outputs).
const MAX_READS: u64 = 4096;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir("tws-fuzz-cache"))
}

fuzz_target!(|data: &[u8]| {
    let files = decode_cache(data);
    write_files(dir(), &files);
    let Ok(view) = CacheView::open(dir()) else { return };
    let (count, blocks) = (view.output_count(), view.block_count());
    let _ = (view.network(), view.is_demo(), view.sequence());
    assert_eq!(view.tip().is_some(), blocks > 0, "a tip exactly when blocks are held");
    if let Some(tip) = view.tip() {
        let block = view.block(tip.height).expect("open checked the tip's block");
        assert_eq!(*block.hash, tip.hash);
        assert!(view.first_height().is_some_and(|f| f <= tip.height));
    }
    for i in 0..count.min(MAX_READS) {
        let out = view.output(i);
        let _ = view.try_output(i);
        let _ = view.output_height(i);
        let _ = view.spent_by(out.output_hash);
    }
    assert!(view.get_output(count).is_none());
    assert!(view.try_output(count).is_err());
    let chunks = view.chunks(7);
    assert_eq!(chunks.iter().map(|c| c.end - c.start).sum::<u64>(), count);
    let _ = view.chunks_from(count / 2, 3);
    let mut seen = 0;
    for block in view.blocks(..).take(MAX_READS as usize) {
        seen += 1;
        for hash in block.spent.iter().take(64) {
            let _ = view.spent_by(hash);
        }
        let _ = view.outputs(block.outputs.clone()).take(MAX_READS as usize).count();
        let _ = view.first_output_at(block.height);
    }
    let _ = view.outputs(0..u64::MAX).take(MAX_READS as usize).count();
    let _ = (
        view.first_output_at(0),
        view.first_output_at(u64::MAX),
        view.block(u64::MAX),
    );
    let _ = view.blocks(5..3).count() + view.blocks(..0).count();
    if view.verify().is_ok() {
        // A cache that passes the full check reads without damage everywhere.
        if blocks <= MAX_READS {
            assert_eq!(seen, blocks, "every held height has its block");
        }
        for i in 0..count.min(MAX_READS) {
            assert!(view.try_output(i).is_ok(), "output {i} of a verified cache");
            assert!(
                view.output_height(i).is_some(),
                "output {i} of a verified cache has a block"
            );
        }
    }
});
