//! Schedule: the reproducible plan of the chain, per height and branch: who a coinbase pays, when the funder pays,
//! which test wallet spends, and the seeded random choices (amounts, recipients, inputs) within a block. It decides;
//! it builds nothing.

use super::{
    FORK_HEIGHT, FORK_TIP,
    parties::{FUNDER, STRANGER, TEST_WALLETS},
};

/// SplitMix64: the schedule's amounts and choices are reproducible (keys are too; nonces are not).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(height: u64, fork: bool) -> Self {
        Rng(height
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(if fork { 0xf0f0_1234 } else { 0x5eed }))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Who a block's coinbase pays. The competing branch rotates differently, so it pays different wallets.
pub(super) fn coinbase_owner(height: u64, fork: bool) -> usize {
    if height <= 12 {
        return FUNDER;
    }
    let slot = if fork { (height + 3) % 6 } else { height % 6 };
    match slot {
        0 => FUNDER,
        1..=4 => (slot - 1) as usize,
        _ => STRANGER,
    }
}

pub(super) fn funder_pays(height: u64, fork: bool) -> bool {
    if (FORK_HEIGHT + 1..=FORK_TIP).contains(&height) {
        return if fork {
            height == 287 || height == 290
        } else {
            height == 287 || height == 289
        };
    }
    height >= 15 && height % 5 == 2
}

pub(super) fn wallet_spender(height: u64, fork: bool) -> Option<usize> {
    if (FORK_HEIGHT + 1..=FORK_TIP).contains(&height) {
        return match (fork, height) {
            (false, 288) => Some(1),
            (true, 292) => Some(2),
            _ => None,
        };
    }
    (height >= 30 && height % 7 == 4).then_some(((height / 7) % TEST_WALLETS as u64) as usize)
}
