//! The main crate's recogniser (`src/recognize`) without the rest of the crate: every module of it except
//! `memo` (the one that reads memos with the Tari crates' type; hits here carry the memo bytes). The
//! sources are the main crate's, included by path, so this checks the code that ships.

// Items the rest of the main crate uses (the scanner, the cache) are unused here.
#[allow(dead_code, unused_imports)]
pub mod recognize;
