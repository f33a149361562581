//! Plate text: normalisation, jurisdiction formats, look-alike characters, wildcard
//! patterns and fuzzy matching against hot lists. No I/O, no storage.
