//! The hot-list index: every read is checked against every active hot-list entry.
//!
//! A read matches an entry exactly, by look-alike substitutions within a budget (each
//! substitution between two characters of one [`LookAlikeClasses`] class), or — when
//! enabled — with one character missing or extra.
//!
//! # Data structure
//!
//! Each listed plate is keyed by its *canonical form*: every character replaced by the
//! representative of its look-alike component. Two plates that differ only by look-alike
//! substitutions share a canonical form, so every exact or look-alike match of a read is in
//! the bucket of the read's canonical form: one hash probe whatever the budget, then a
//! per-character check of the few candidates (which also rejects substitutions across
//! classes that overlapping classes would otherwise connect, and pairs over budget).
//!
//! For one missing or extra character a second table holds the *deletion neighbourhood*:
//! the canonical form of each listed plate with one character removed. A read missing a
//! character is one probe there; a read with an extra character is one probe of the main
//! table per deleted read position.
//!
//! Both tables are flat arrays: a directory indexed by the top bits of a 64-bit key hash
//! points at a run of `(32-bit tag, entry slot)` pairs, and the plates live back to back in
//! one byte arena. Per entry that is about 8 bytes of id, 4 of offset, the plate's bytes and
//! 8 bytes of table (plus about 4 of directory); the deletion table adds about 8 bytes per
//! plate character. The index is immutable after [`HotListIndex::build`], `Send + Sync`,
//! and rebuilt when a list changes.

use crate::lookalike::LookAlikeClasses;
use rustc_hash::FxHasher;
use std::hash::Hasher;

/// The largest look-alike budget: more substitutions match too many innocent plates.
pub const MAX_LOOKALIKE_BUDGET: u8 = 2;

/// How loosely reads match the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOptions {
    /// Look-alike substitutions allowed, `0..=2` (higher values are taken as 2); default 1.
    pub lookalike_budget: u8,
    /// Also match a read with one character missing or one extra (otherwise exact);
    /// default false.
    pub allow_missing_or_extra: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            lookalike_budget: 1,
            allow_missing_or_extra: false,
        }
    }
}

/// How a read matched an entry; orders best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchKind {
    Exact,
    LookAlike { substitutions: u8 },
    MissingOrExtra,
}

/// One entry that a read matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotMatch {
    pub entry_id: i64,
    /// The entry's plate in normal form.
    pub listed_plate: String,
    pub kind: MatchKind,
}

fn key_hash(canonical: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(canonical);
    // splitmix64 finaliser: the directory uses the top bits, so spread every input bit.
    let mut z = hasher.finish();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A multimap from key hash to entry slot, laid out flat.
#[derive(Debug, Default)]
struct KeyTable {
    shift: u32,
    /// `dir[b]..dir[b + 1]` is bucket `b`'s run in `tags` and `slots`.
    dir: Vec<u32>,
    tags: Vec<u32>,
    slots: Vec<u32>,
}

impl KeyTable {
    /// Builds from a key generator called twice (count, then place): `keys(emit)` must
    /// call `emit(hash, slot)` for the same keys each time.
    ///
    /// Keys are first scattered into 256 partitions by their top 8 bits, then each
    /// partition is counting-sorted into its buckets; both steps write to few places at a
    /// time, which keeps the build cache-friendly at tens of millions of keys.
    fn build(expected: usize, keys: impl Fn(&mut dyn FnMut(u64, u32))) -> Self {
        const PARTITION_BITS: u32 = 8;
        const PARTITIONS: usize = 1 << PARTITION_BITS;
        // One to two keys per bucket on average.
        let bits = (usize::BITS - expected.leading_zeros())
            .saturating_sub(1)
            .clamp(PARTITION_BITS, 31);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let per_partition = buckets / PARTITIONS;

        let mut starts = vec![0usize; PARTITIONS + 1];
        keys(&mut |hash, _| starts[(hash >> (64 - PARTITION_BITS)) as usize + 1] += 1);
        for p in 1..=PARTITIONS {
            starts[p] += starts[p - 1];
        }
        let total = starts[PARTITIONS];
        assert!(
            u32::try_from(total).is_ok(),
            "hot-list index exceeds 4 billion keys"
        );
        let mut staged_hashes = vec![0u64; total];
        let mut staged_slots = vec![0u32; total];
        let mut cursor = starts[..PARTITIONS].to_vec();
        keys(&mut |hash, slot| {
            let p = (hash >> (64 - PARTITION_BITS)) as usize;
            staged_hashes[cursor[p]] = hash;
            staged_slots[cursor[p]] = slot;
            cursor[p] += 1;
        });

        let mut dir = vec![0u32; buckets + 1];
        let mut tags = vec![0u32; total];
        let mut slots = vec![0u32; total];
        let mut counts = vec![0u32; per_partition + 1];
        for p in 0..PARTITIONS {
            let (from, to) = (starts[p], starts[p + 1]);
            let first_bucket = p * per_partition;
            counts.iter_mut().for_each(|c| *c = 0);
            for &hash in &staged_hashes[from..to] {
                counts[(hash >> shift) as usize - first_bucket + 1] += 1;
            }
            let mut at = from as u32;
            for b in 0..per_partition {
                dir[first_bucket + b] = at;
                at += counts[b + 1];
                counts[b + 1] = dir[first_bucket + b];
            }
            for (&hash, &slot) in staged_hashes[from..to].iter().zip(&staged_slots[from..to]) {
                let b = (hash >> shift) as usize - first_bucket + 1;
                let i = counts[b] as usize;
                tags[i] = hash as u32;
                slots[i] = slot;
                counts[b] += 1;
            }
        }
        dir[buckets] = total as u32;
        KeyTable {
            shift,
            dir,
            tags,
            slots,
        }
    }

    #[inline]
    fn probe(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let b = (hash >> self.shift) as usize;
        let run = self.dir[b] as usize..self.dir[b + 1] as usize;
        let tag = hash as u32;
        self.tags[run.clone()]
            .iter()
            .zip(&self.slots[run])
            .filter(move |(t, _)| **t == tag)
            .map(|(_, s)| *s)
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn heap_bytes(&self) -> usize {
        (self.dir.len() + self.tags.len() + self.slots.len()) * 4
    }
}

/// Hot-list entries indexed for matching reads.
#[derive(Debug)]
pub struct HotListIndex {
    opts: MatchOptions,
    classes: LookAlikeClasses,
    ids: Vec<i64>,
    /// Plate of slot `s` is `plates[ends[s]..ends[s + 1]]`.
    ends: Vec<u32>,
    plates: Vec<u8>,
    main: KeyTable,
    deletions: Option<KeyTable>,
}

fn canonicalize_into(classes: &LookAlikeClasses, plate: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(plate.iter().map(|&c| classes.canonical(c)));
}

/// Whether removing one character from `long` gives `short`.
fn is_one_deletion(long: &[u8], short: &[u8]) -> bool {
    if long.len() != short.len() + 1 {
        return false;
    }
    let prefix = long.iter().zip(short).take_while(|(a, b)| a == b).count();
    long[prefix + 1..] == short[prefix..]
}

impl HotListIndex {
    /// Indexes `(entry id, plate)` pairs with the vendor-default look-alike classes.
    /// Plates are normalised; entries whose plate normalises to nothing are skipped, and a
    /// repeated `(id, plate)` pair is kept once (one id with two plates, or one plate under
    /// two ids, are separate entries).
    pub fn build(entries: impl IntoIterator<Item = (i64, String)>, opts: MatchOptions) -> Self {
        Self::build_with_classes(entries, opts, LookAlikeClasses::default())
    }

    /// [`HotListIndex::build`] with the agency's own look-alike classes.
    ///
    /// # Panics
    ///
    /// When the plates together exceed 4 GiB, or the list (or, with missing/extra
    /// matching, the plates' total length) 4 billion entries: the index uses 32-bit offsets.
    pub fn build_with_classes(
        entries: impl IntoIterator<Item = (i64, String)>,
        opts: MatchOptions,
        classes: LookAlikeClasses,
    ) -> Self {
        let opts = MatchOptions {
            lookalike_budget: opts.lookalike_budget.min(MAX_LOOKALIKE_BUDGET),
            ..opts
        };
        let entries = entries.into_iter();
        let mut ids = Vec::with_capacity(entries.size_hint().0);
        let mut ends = Vec::with_capacity(entries.size_hint().0 + 1);
        let mut plates = Vec::with_capacity(entries.size_hint().0 * 7);
        ends.push(0u32);
        for (id, raw) in entries {
            let start = plates.len();
            plates.extend(raw.chars().filter_map(crate::normalize_char));
            if plates.len() == start {
                continue;
            }
            ids.push(id);
            ends.push(u32::try_from(plates.len()).expect("hot-list plates exceed 4 GiB"));
        }
        u32::try_from(ids.len()).expect("hot list exceeds 4 billion entries");
        let plate = |s: usize| &plates[ends[s] as usize..ends[s + 1] as usize];

        let main = KeyTable::build(ids.len(), |emit| {
            let mut canon = Vec::new();
            for slot in 0..ids.len() {
                canonicalize_into(&classes, plate(slot), &mut canon);
                emit(key_hash(&canon), slot as u32);
            }
        });
        let main = dedupe(main, |s| (ids[s as usize], plate(s as usize)));

        let deletions = opts.allow_missing_or_extra.then(|| {
            let expected = main.slots.iter().map(|&s| plate(s as usize).len()).sum();
            KeyTable::build(expected, |emit| {
                let mut canon = Vec::new();
                let mut shorter = Vec::new();
                for &slot in &main.slots {
                    let p = plate(slot as usize);
                    canonicalize_into(&classes, p, &mut canon);
                    for i in 0..p.len() {
                        // Deleting either of two equal neighbours gives the same text.
                        if p.len() == 1 || (i > 0 && canon[i] == canon[i - 1]) {
                            continue;
                        }
                        shorter.clear();
                        shorter.extend_from_slice(&canon[..i]);
                        shorter.extend_from_slice(&canon[i + 1..]);
                        emit(key_hash(&shorter), slot);
                    }
                }
            })
        });

        HotListIndex {
            opts,
            classes,
            ids,
            ends,
            plates,
            main,
            deletions,
        }
    }

    /// Number of entries indexed.
    pub fn len(&self) -> usize {
        self.main.len()
    }

    /// Whether the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The options in force (budget clamped to [`MAX_LOOKALIKE_BUDGET`]).
    pub fn options(&self) -> MatchOptions {
        self.opts
    }

    /// Approximate heap memory held by the index, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 8
            + self.ends.capacity() * 4
            + self.plates.capacity()
            + self.main.heap_bytes()
            + self.deletions.as_ref().map_or(0, KeyTable::heap_bytes)
    }

    fn plate(&self, slot: u32) -> &[u8] {
        let s = slot as usize;
        &self.plates[self.ends[s] as usize..self.ends[s + 1] as usize]
    }

    /// Every entry `read_plate` matches, best kind first (then by entry id). The read is
    /// normalised first; an empty read matches nothing.
    pub fn find(&self, read_plate: &str) -> Vec<HotMatch> {
        let read: Vec<u8> = read_plate
            .chars()
            .filter_map(crate::normalize_char)
            .collect();
        let mut found: Vec<(MatchKind, u32)> = Vec::new();
        if read.is_empty() || self.is_empty() {
            return Vec::new();
        }
        let mut canon = Vec::with_capacity(read.len());
        canonicalize_into(&self.classes, &read, &mut canon);

        for slot in self.main.probe(key_hash(&canon)) {
            if let Some(n) = self.classes.substitutions(&read, self.plate(slot))
                && n <= self.opts.lookalike_budget
            {
                let kind = match n {
                    0 => MatchKind::Exact,
                    n => MatchKind::LookAlike { substitutions: n },
                };
                found.push((kind, slot));
            }
        }

        if let Some(deletions) = &self.deletions {
            // Read missing a character: the read is some entry with one character removed.
            for slot in deletions.probe(key_hash(&canon)) {
                if is_one_deletion(self.plate(slot), &read) {
                    found.push((MatchKind::MissingOrExtra, slot));
                }
            }
            // Read with an extra character: the read with one character removed is an entry.
            let mut shorter = Vec::with_capacity(canon.len());
            for i in 0..read.len() {
                if read.len() == 1 || (i > 0 && canon[i] == canon[i - 1]) {
                    continue;
                }
                shorter.clear();
                shorter.extend_from_slice(&canon[..i]);
                shorter.extend_from_slice(&canon[i + 1..]);
                for slot in self.main.probe(key_hash(&shorter)) {
                    if is_one_deletion(&read, self.plate(slot)) {
                        found.push((MatchKind::MissingOrExtra, slot));
                    }
                }
            }
        }

        found.sort_unstable_by_key(|&(kind, slot)| (slot, kind));
        found.dedup_by_key(|&mut (_, slot)| slot);
        let mut matches: Vec<HotMatch> = found
            .into_iter()
            .map(|(kind, slot)| HotMatch {
                entry_id: self.ids[slot as usize],
                listed_plate: String::from_utf8_lossy(self.plate(slot)).into_owned(),
                kind,
            })
            .collect();
        matches.sort_by(|a, b| {
            (a.kind, a.entry_id, &a.listed_plate).cmp(&(b.kind, b.entry_id, &b.listed_plate))
        });
        matches
    }
}

/// Drops repeated `(id, plate)` pairs from a built table: they share a key, hence a bucket,
/// so sorting each bucket brings them together.
fn dedupe<'a>(mut table: KeyTable, entry: impl Fn(u32) -> (i64, &'a [u8])) -> KeyTable {
    let buckets = table.dir.len() - 1;
    let mut write = 0usize;
    let mut start = table.dir[0] as usize;
    let mut run: Vec<(u32, u32)> = Vec::new();
    for b in 0..buckets {
        let end = table.dir[b + 1] as usize;
        table.dir[b] = write as u32;
        if end - start == 1 {
            table.tags[write] = table.tags[start];
            table.slots[write] = table.slots[start];
            write += 1;
        } else if end > start {
            run.clear();
            run.extend(
                table.tags[start..end]
                    .iter()
                    .copied()
                    .zip(table.slots[start..end].iter().copied()),
            );
            run.sort_unstable_by(|x, y| (x.0, entry(x.1), x.1).cmp(&(y.0, entry(y.1), y.1)));
            run.dedup_by(|x, y| x.0 == y.0 && entry(x.1) == entry(y.1));
            for &(tag, slot) in &run {
                table.tags[write] = tag;
                table.slots[write] = slot;
                write += 1;
            }
        }
        start = end;
    }
    table.dir[buckets] = write as u32;
    table.tags.truncate(write);
    table.slots.truncate(write);
    table.tags.shrink_to_fit();
    table.slots.shrink_to_fit();
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(plates: &[(i64, &str)], opts: MatchOptions) -> HotListIndex {
        HotListIndex::build(plates.iter().map(|&(id, p)| (id, p.to_string())), opts)
    }

    fn kinds(found: &[HotMatch]) -> Vec<(i64, MatchKind)> {
        found.iter().map(|m| (m.entry_id, m.kind)).collect()
    }

    const BUDGET_1: MatchOptions = MatchOptions {
        lookalike_budget: 1,
        allow_missing_or_extra: false,
    };
    const BUDGET_2: MatchOptions = MatchOptions {
        lookalike_budget: 2,
        allow_missing_or_extra: false,
    };

    #[test]
    fn exact_match_after_normalising_both_sides() {
        let idx = index(&[(1, "abc-1234"), (2, "XYZ987")], BUDGET_1);
        assert_eq!(idx.len(), 2);
        let found = idx.find("ABC 1234");
        assert_eq!(kinds(&found), [(1, MatchKind::Exact)]);
        assert_eq!(found[0].listed_plate, "ABC1234");
        assert!(idx.find("ABC1235").is_empty());
        assert!(idx.find("").is_empty());
        assert!(idx.find("--").is_empty());
    }

    #[test]
    fn one_substitution_within_a_class() {
        let idx = index(&[(1, "ABC1234")], BUDGET_1);
        assert_eq!(
            kinds(&idx.find("A8C1234")),
            [(1, MatchKind::LookAlike { substitutions: 1 })]
        );
        assert_eq!(
            kinds(&idx.find("ABCI234")),
            [(1, MatchKind::LookAlike { substitutions: 1 })]
        );
        // two substitutions exceed a budget of one
        assert!(idx.find("A8CI234").is_empty());
    }

    #[test]
    fn two_substitutions_with_budget_two() {
        let idx = index(&[(1, "ABC1234"), (2, "0DQ555")], BUDGET_2);
        assert_eq!(
            kinds(&idx.find("A8CI234")),
            [(1, MatchKind::LookAlike { substitutions: 2 })]
        );
        assert!(idx.find("A8CIZ34").is_empty(), "three is over budget");
        assert_eq!(
            kinds(&idx.find("QD0555")),
            [(2, MatchKind::LookAlike { substitutions: 2 })]
        );
    }

    #[test]
    fn budget_is_clamped_to_two() {
        let opts = MatchOptions {
            lookalike_budget: 9,
            allow_missing_or_extra: false,
        };
        let idx = index(&[(1, "ABC1234")], opts);
        assert_eq!(idx.options().lookalike_budget, 2);
        assert!(idx.find("A8CIZ34").is_empty());
    }

    #[test]
    fn substitution_across_classes_is_refused() {
        let idx = index(&[(1, "ABC1234")], BUDGET_2);
        // 3 is not in {8, B} under the default classes
        assert!(idx.find("A3C1234").is_empty());
        // overlapping extended classes connect T, Y and V, but T~V is not a look-alike
        let ext = HotListIndex::build_with_classes(
            [(1, "TTT123".to_string())],
            BUDGET_2,
            LookAlikeClasses::extended(),
        );
        assert!(ext.find("VTT123").is_empty());
        assert_eq!(
            kinds(&ext.find("YTT123")),
            [(1, MatchKind::LookAlike { substitutions: 1 })]
        );
        assert_eq!(
            kinds(&ext.find("YT7123")),
            [(1, MatchKind::LookAlike { substitutions: 2 })]
        );
    }

    #[test]
    fn budget_zero_is_exact_only() {
        let opts = MatchOptions {
            lookalike_budget: 0,
            allow_missing_or_extra: false,
        };
        let idx = index(&[(1, "ABC1234")], opts);
        assert_eq!(kinds(&idx.find("ABC1234")), [(1, MatchKind::Exact)]);
        assert!(idx.find("A8C1234").is_empty());
    }

    #[test]
    fn missing_or_extra_character() {
        let opts = MatchOptions {
            lookalike_budget: 1,
            allow_missing_or_extra: true,
        };
        let idx = index(&[(1, "ABC1234"), (2, "XY7")], opts);
        assert_eq!(kinds(&idx.find("ABC123")), [(1, MatchKind::MissingOrExtra)]);
        assert_eq!(kinds(&idx.find("BC1234")), [(1, MatchKind::MissingOrExtra)]);
        assert_eq!(
            kinds(&idx.find("ABC12345")),
            [(1, MatchKind::MissingOrExtra)]
        );
        assert_eq!(
            kinds(&idx.find("AABC1234")),
            [(1, MatchKind::MissingOrExtra)]
        );
        assert_eq!(
            kinds(&idx.find("ABXC1234")),
            [(1, MatchKind::MissingOrExtra)]
        );
        assert_eq!(kinds(&idx.find("XY")), [(2, MatchKind::MissingOrExtra)]);
        assert_eq!(kinds(&idx.find("XYZ7")), [(2, MatchKind::MissingOrExtra)]);
        // two missing, or a missing character plus a look-alike, is not a match
        assert!(idx.find("ABC12").is_empty());
        assert!(idx.find("A8C123").is_empty());
        assert!(idx.find("X").is_empty());
        // without the option, none of these match
        let strict = index(&[(1, "ABC1234")], BUDGET_1);
        assert!(strict.find("ABC123").is_empty());
        assert!(strict.find("ABC12345").is_empty());
    }

    #[test]
    fn results_rank_best_kind_first() {
        let opts = MatchOptions {
            lookalike_budget: 2,
            allow_missing_or_extra: true,
        };
        let idx = index(
            &[
                (5, "ABC1234"),
                (4, "A8C1234"),
                (3, "A8CI234"),
                (2, "ABC12340"),
            ],
            opts,
        );
        assert_eq!(
            kinds(&idx.find("ABC1234")),
            [
                (5, MatchKind::Exact),
                (4, MatchKind::LookAlike { substitutions: 1 }),
                (3, MatchKind::LookAlike { substitutions: 2 }),
                (2, MatchKind::MissingOrExtra),
            ]
        );
    }

    #[test]
    fn duplicates() {
        let idx = index(
            &[(1, "ABC1234"), (1, "abc 1234"), (2, "ABC1234"), (1, "XYZ1")],
            BUDGET_1,
        );
        // the repeated (1, ABC1234) is kept once; the same plate under id 2 stays
        assert_eq!(idx.len(), 3);
        assert_eq!(
            kinds(&idx.find("ABC1234")),
            [(1, MatchKind::Exact), (2, MatchKind::Exact)]
        );
        assert_eq!(kinds(&idx.find("XYZ1")), [(1, MatchKind::Exact)]);
        // many duplicates in one bucket, with look-alike variants in between
        let many = HotListIndex::build(
            (0..300).map(|i| (i % 3, if i % 2 == 0 { "O1" } else { "01" }.to_string())),
            BUDGET_1,
        );
        assert_eq!(many.len(), 6);
        assert_eq!(many.find("01").len(), 6);
    }

    #[test]
    fn empty_index_and_empty_plates() {
        let idx = index(&[], BUDGET_1);
        assert_eq!(idx.len(), 0);
        assert!(idx.is_empty());
        assert!(idx.find("ABC1234").is_empty());
        let blanks = index(
            &[(1, " - "), (2, "")],
            MatchOptions {
                lookalike_budget: 1,
                allow_missing_or_extra: true,
            },
        );
        assert!(blanks.is_empty());
        assert!(blanks.find("A").is_empty());
    }

    #[test]
    fn agrees_with_brute_force_on_random_lists() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        // a small alphabet rich in look-alikes makes many near misses
        let alphabet = b"0ODQ1I8B3A";
        let plate = |rng: &mut StdRng| -> String {
            let len = rng.random_range(3..=5);
            (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                .collect()
        };
        let entries: Vec<(i64, String)> = (0..400).map(|i| (i, plate(&mut rng))).collect();
        let classes = LookAlikeClasses::default();
        for budget in 0..=2 {
            for missing in [false, true] {
                let opts = MatchOptions {
                    lookalike_budget: budget,
                    allow_missing_or_extra: missing,
                };
                let idx = HotListIndex::build(entries.clone(), opts);
                for _ in 0..200 {
                    let read = plate(&mut rng);
                    let mut expected: Vec<(i64, MatchKind)> = entries
                        .iter()
                        .filter_map(|(id, listed)| {
                            let (r, l) = (read.as_bytes(), listed.as_bytes());
                            let kind = match classes.substitutions(r, l) {
                                Some(0) => Some(MatchKind::Exact),
                                Some(n) if n <= budget => {
                                    Some(MatchKind::LookAlike { substitutions: n })
                                }
                                _ if missing
                                    && (is_one_deletion(r, l) || is_one_deletion(l, r)) =>
                                {
                                    Some(MatchKind::MissingOrExtra)
                                }
                                _ => None,
                            };
                            kind.map(|k| (*id, k))
                        })
                        .collect();
                    expected.sort_by_key(|&(id, k)| (k, id));
                    assert_eq!(kinds(&idx.find(&read)), expected, "read {read}");
                }
            }
        }
    }

    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HotListIndex>();
    }
}
