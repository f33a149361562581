//! Plate text: normalisation, jurisdiction formats, look-alike characters, wildcard
//! patterns and fuzzy matching against hot lists. No I/O, no storage.
//!
//! Every plate string that crosses a crate boundary in Candor is in the normal form
//! produced by [`normalize`]: upper-case ASCII letters and digits only.

pub mod formats;
pub mod grams;
pub mod lookalike;
pub mod matcher;
pub mod wildcard;

mod normal;

pub use normal::{normalize, normalize_char};
