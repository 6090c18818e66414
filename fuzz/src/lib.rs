//! Shared by the fuzz targets and the seed generator: how a fuzz input is cut into the parts a target
//! needs (numbers, length-prefixed chunks), and the two container formats that are more than a kind
//! byte and a body: the cache target's directory of files and the pager target's scripted node.
//! Every reader accepts any bytes: a part cut short is just shorter.

use std::{
    collections::VecDeque,
    fs,
    path::{Path, PathBuf},
};

/// Reads parts off the front of a fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let b = self.bytes(N);
        a[..b.len()].copy_from_slice(b);
        a
    }

    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    pub fn hash(&mut self) -> [u8; 32] {
        self.array()
    }

    /// A chunk: `len u32 LE` then that many bytes (fewer at the end of the input).
    pub fn chunk(&mut self) -> &'a [u8] {
        let len = self.u32() as usize;
        self.bytes(len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn put_chunk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

// ---------------------------------------------------------------------------------------------------
// The cache target: `flags u8`, then files `kind u8, id u8, chunk`. Kinds (mod 7): a header slot
// (`head.{id % 2}`), a segment's blocks, outputs, spent hashes and blobs (`seg-{id}.*`), a spent-index
// run (`run-{id}.index`), a segment's stored sender offset keys (`seg-{id}.offsets`, format 3; last, so
// the kinds of older seeds keep their meaning). Flags: bit 1 sets every block checksum the slots'
// segments lead to, bit 2 sets every file checksum the slots hold (format 4: each segment file's and
// each run's) to match the files, bit 0 then sets each slot's length field and checksum to match its
// bytes, so mutations get past the checksums to the checks behind them.

pub const FIX_SLOTS: u8 = 1;
pub const FIX_BLOCKS: u8 = 2;
pub const FIX_FILES: u8 = 4;

/// Bytes of a segment entry in a slot of `version` (format 4 added flags and the files' checksums).
fn segment_len(version: u32) -> usize {
    if version >= 4 { 96 } else { 64 }
}

const PARTS: [&str; 4] = ["blocks", "outputs", "spent", "blobs"];

fn file_name(kind: u8, id: u8) -> String {
    match kind % 7 {
        0 => format!("head.{}", id % 2),
        k @ 1..=4 => format!("seg-{:010}.{}", id, PARTS[usize::from(k - 1)]),
        5 => format!("run-{id:010}.index"),
        _ => format!("seg-{id:010}.offsets"),
    }
}

/// The kind and id of a cache file name, for the seed generator.
pub fn file_kind(name: &str) -> Option<(u8, u8)> {
    if let Some(slot) = name.strip_prefix("head.") {
        return Some((0, slot.parse().ok()?));
    }
    if let Some(run) = name.strip_prefix("run-").and_then(|r| r.strip_suffix(".index")) {
        return Some((5, run.parse().ok()?));
    }
    let (id, part) = name.strip_prefix("seg-")?.split_once('.')?;
    let kind = match part {
        "offsets" => 6,
        part => PARTS.iter().position(|p| *p == part)? as u8 + 1,
    };
    Some((kind, id.parse().ok()?))
}

/// Encodes a cache directory's files (`(name, bytes)`) as a cache target input.
pub fn encode_cache(flags: u8, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![flags];
    for (name, bytes) in files {
        if let Some((kind, id)) = file_kind(name) {
            out.extend_from_slice(&[kind, id]);
            put_chunk(&mut out, bytes);
        }
    }
    out
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

/// Sets a slot's total length (bytes 12..16) and trailing CRC-32 to match its bytes.
fn fix_slot(slot: &mut [u8]) {
    let n = slot.len();
    if n < 20 {
        return;
    }
    slot[12..16].copy_from_slice(&(n as u32).to_le_bytes());
    let crc = crc32fast::hash(&slot[..n - 4]);
    slot[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the checksum of every block record of the segments `slot` names, over the bytes the record
/// points at within each file's published length (records pointing outside are left alone).
fn fix_blocks(slot: &[u8], files: &mut [(String, Vec<u8>)]) {
    let segments = le32(slot, 104) as usize;
    let entry = segment_len(le32(slot, 8));
    for i in 0..segments.min(64) {
        let at = 128 + entry * i;
        let [id, _first_height, blocks, first_output, outputs, spent, blob_len] =
            std::array::from_fn(|k| le64(slot, at + 8 * k));
        let Ok(id) = u8::try_from(id) else { continue };
        let published = |part: u8, len: u64| -> Vec<u8> {
            let name = file_name(part, id);
            let bytes = files.iter().find(|(n, _)| *n == name).map_or(&[][..], |(_, b)| b);
            bytes[..bytes.len().min(usize::try_from(len).unwrap_or(usize::MAX))].to_vec()
        };
        let (outs, spends, blobs) = (
            published(2, outputs.saturating_mul(128)),
            published(3, spent.saturating_mul(32)),
            published(4, blob_len),
        );
        let name = file_name(1, id);
        let Some((_, records)) = files.iter_mut().find(|(n, _)| *n == name) else {
            continue;
        };
        let count = records
            .len()
            .min(usize::try_from(blocks.saturating_mul(128)).unwrap_or(usize::MAX))
            / 128;
        for record in records.chunks_exact_mut(128).take(count) {
            let slice = |bytes: &[u8], start: u64, n: u64, width: u64| -> Option<Vec<u8>> {
                let a = usize::try_from(start.checked_mul(width)?).ok()?;
                let b = a.checked_add(usize::try_from(n.checked_mul(width)?).ok()?)?;
                bytes.get(a..b).map(<[u8]>::to_vec)
            };
            let rel = le64(record, 80).checked_sub(first_output);
            let parts = rel.and_then(|rel| {
                Some((
                    slice(&outs, rel, u64::from(le32(record, 88)), 128)?,
                    slice(&spends, le64(record, 96), u64::from(le32(record, 92)), 32)?,
                    slice(&blobs, le64(record, 104), le64(record, 112), 1)?,
                ))
            });
            let Some((o, s, b)) = parts else { continue };
            let mut h = crc32fast::Hasher::new();
            h.update(&record[..120]);
            h.update(&record[124..]);
            h.update(&o);
            h.update(&s);
            h.update(&b);
            record[120..124].copy_from_slice(&h.finalize().to_le_bytes());
        }
    }
}

/// Sets the checksums a format-4 slot holds for its segments' files and its runs to those of the files'
/// published bytes (what a file holds past them is not covered).
fn fix_files(slot: &mut [u8], files: &[(String, Vec<u8>)]) {
    if le32(slot, 8) < 4 {
        return;
    }
    let published = |name: &str, len: u64| -> Vec<u8> {
        let bytes = files.iter().find(|(n, _)| n == name).map_or(&[][..], |(_, b)| b);
        bytes[..bytes.len().min(usize::try_from(len).unwrap_or(usize::MAX))].to_vec()
    };
    let segments = le32(slot, 104) as usize;
    for i in 0..segments.min(64) {
        let at = 128 + 96 * i;
        let [id, _first_height, blocks, _first_output, outputs, spent, blob_len] =
            std::array::from_fn(|k| le64(slot, at + 8 * k));
        let Ok(id) = u8::try_from(id) else { continue };
        let lens = [
            blocks.saturating_mul(128),
            outputs.saturating_mul(128),
            spent.saturating_mul(32),
            blob_len,
            outputs.saturating_mul(96),
        ];
        for (k, (kind, len)) in [1u8, 2, 3, 4, 6].into_iter().zip(lens).enumerate() {
            let crc = crc32fast::hash(&published(&file_name(kind, id), len));
            if let Some(field) = slot.get_mut(at + 64 + 4 * k..at + 68 + 4 * k) {
                field.copy_from_slice(&crc.to_le_bytes());
            }
        }
    }
    let runs_at = 128 + 96 * segments;
    for i in 0..(le32(slot, 108) as usize).min(64) {
        let at = runs_at + 40 * i;
        let (id, entries) = (le64(slot, at), le64(slot, at + 8));
        let Ok(id) = u8::try_from(id) else { continue };
        let crc = crc32fast::hash(&published(&file_name(5, id), entries.saturating_mul(40)));
        if let Some(field) = slot.get_mut(at + 32..at + 36) {
            field.copy_from_slice(&crc.to_le_bytes());
        }
    }
}

/// Decodes a cache target input into its files, with the fix-ups its flags ask for.
pub fn decode_cache(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut input = Input(data);
    let flags = input.u8();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    while !input.is_empty() {
        let (kind, id) = (input.u8(), input.u8());
        let name = file_name(kind, id);
        let bytes = input.chunk().to_vec();
        match files.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => *b = bytes,
            None => files.push((name, bytes)),
        }
    }
    // Blocks first (their records change the blocks files), then the files' checksums (which change the
    // slots), then the slots' own.
    if flags & FIX_BLOCKS != 0 {
        let slots: Vec<Vec<u8>> = files
            .iter()
            .filter(|(n, _)| n.starts_with("head."))
            .map(|(_, b)| b.clone())
            .collect();
        for slot in &slots {
            fix_blocks(slot, &mut files);
        }
    }
    if flags & FIX_FILES != 0 {
        for i in 0..files.len() {
            if files[i].0.starts_with("head.") {
                let mut slot = std::mem::take(&mut files[i].1);
                fix_files(&mut slot, &files);
                files[i].1 = slot;
            }
        }
    }
    if flags & FIX_SLOTS != 0 {
        for (name, bytes) in &mut files {
            if name.starts_with("head.") {
                fix_slot(bytes);
            }
        }
    }
    files
}

/// A directory of this process for the cache target's files, on a memory file system where there is
/// one (each input rewrites it), emptied first.
pub fn scratch_dir(name: &str) -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Replaces the files of `dir` with `files`.
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = fs::remove_file(entry.path());
        }
    }
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).expect("writing a scratch file");
    }
}

// ---------------------------------------------------------------------------------------------------
// The pager target: `flags u8` (bit 0: a previous hash follows; bit 1: fetch full outputs), `from u64`,
// [`prev [32]`], `page_limit u16`, `max_blocks u16`, `max_outputs u32`, then answers `route u8, status
// u16, chunk`. Each request of the pager gets the next answer of its route (mod 3: header, sync page,
// full outputs); a route without answers left gets 503.

pub const PREV: u8 = 1;
pub const FULL_OUTPUTS: u8 = 2;

/// The fetch a pager input asks for.
pub struct PagerInput {
    pub flags: u8,
    pub from: u64,
    pub prev: Option<[u8; 32]>,
    pub page_limit: u16,
    pub max_blocks: u16,
    pub max_outputs: u32,
    /// Answers per route, in order: `(status, body)`.
    pub answers: [VecDeque<(u16, Vec<u8>)>; 3],
}

impl PagerInput {
    pub fn decode(data: &[u8]) -> PagerInput {
        let mut input = Input(data);
        let flags = input.u8();
        let from = input.u64();
        let prev = (flags & PREV != 0).then(|| input.hash());
        let (page_limit, max_blocks, max_outputs) = (input.u16(), input.u16(), input.u32());
        let mut answers: [VecDeque<(u16, Vec<u8>)>; 3] = Default::default();
        while !input.is_empty() {
            let route = usize::from(input.u8() % 3);
            let status = input.u16();
            answers[route].push_back((status, input.chunk().to_vec()));
        }
        PagerInput {
            flags,
            from,
            prev,
            page_limit,
            max_blocks,
            max_outputs,
            answers,
        }
    }

    /// Encodes a pager input; `answers` in the order they were given, each with its route index.
    pub fn encode(&self, answers: &[(u8, u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![self.flags];
        out.extend_from_slice(&self.from.to_le_bytes());
        if let Some(prev) = self.prev {
            out.extend_from_slice(&prev);
        }
        out.extend_from_slice(&self.page_limit.to_le_bytes());
        out.extend_from_slice(&self.max_blocks.to_le_bytes());
        out.extend_from_slice(&self.max_outputs.to_le_bytes());
        for (route, status, body) in answers {
            out.push(*route);
            out.extend_from_slice(&status.to_le_bytes());
            put_chunk(&mut out, body);
        }
        out
    }
}
