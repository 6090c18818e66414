//! Shared: the Diffie-Hellman products `(v/2)·R` of a chunk for every key of a pass, with the work that
//! does not depend on the key done once per output. Owns the multiplication paths and the choice among
//! them; not the rest of recognition (`batch`), not the field arithmetic (`field`).
//!
//! A constant-time windowed multiplication `s·R` (signed radix-16 digits) spends ~252 doublings and 64
//! additions of table entries. The doublings and the tables depend on `R` only, so per output the shared
//! path builds, window by window, the multiples `j·16^w·R` (j = 1..=8, w = 0..64; ~one multiplication of
//! work) and each key then adds one entry per window: 64 additions, about a quarter of a multiplication.
//! The window's table is applied to every key before the next is built, so the tables never exist whole.
//!
//! Lanes hold outputs, not keys: a table is built for eight outputs at once (IFMA), and each key's 64
//! additions then run on those eight outputs in the same instruction stream, every lane with the same
//! digit. Lanes stay full whatever the number of keys, and a table is consumed where it was built.
//!
//! Paths ([`Multiplication`]): dalek's variable-base multiplication per pair (today's, and the only one
//! where dalek's point layout cannot be read); our windowed multiplication per key (no shared table,
//! eight outputs per instruction); the shared tables. [`Multiplication::for_pass`] chooses by the number
//! of keys and the CPU. All are constant time in the keys: no branch and no memory address depends on a
//! key's digits (table entries are selected by masks, `point::lookup`).

mod digits;
mod engine;
mod point;

pub use digits::signed_radix_16;
pub use engine::{LaneKind, Multiplication, Products, vector_lanes_enabled};

#[cfg(test)]
mod tests;
