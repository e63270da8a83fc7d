//! A blocked bit filter over archived ids, kept by the SQLite store beside
//! its archived-id records: an id whose bits are not all set is certainly
//! not archived, so the append path skips the record lookup for it. Without
//! it, every new event costs one random probe into a records table that
//! grows with the archive (about 450 MB at 10 million archived events),
//! which cost more than the rest of an import. Bits are never cleared, so
//! the filter only ever errs towards a lookup: it decides nothing on its own.
//!
//! Layout: a power of two of at least 16 bits per record (2 to 4 bytes a
//! record), 2^20 bits at the least, cut into 64-bit words; an id sets
//! [`BITS_PER_ID`] bits of one word, so a test costs one cache miss. With 2
//! to 4 ids per word that lets 0.05 to 0.4% of new ids through to a lookup,
//! where one bit per id (the first format) let 3 to 6% through, and those
//! lookups were most of the cost of importing beside a large archive
//! (docs/performance.md). The word and the bits come from a 64-bit mix of
//! the id's 16 bytes (see [`hash_of`]), so ids whose leading bits are a
//! timestamp (UUID v1, v7) spread as well as random ones.
//!
//! Stored form: the bitmap followed by one byte, [`FORMAT`]. A filter in
//! another form (the first format was the bare bitmap) is not read but
//! rebuilt from the records, so an old store upgrades itself on its first
//! append; a chronicle that only knows the first format does the reverse.

use uuid::Uuid;

/// Bits per record the filter is sized for (16 to 32 once rounded up).
pub const BITS_PER_RECORD: u64 = 16;
/// The smallest filter, 128 KiB.
pub const MIN_BITS_LOG2: u32 = 20;
/// Bits set per id, all in one 64-bit word.
pub const BITS_PER_ID: u32 = 5;
/// The byte after the bitmap: this layout and hash.
pub const FORMAT: u8 = 2;

/// The bitmap and its size as a power of two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFilter {
    bits_log2: u32,
    /// The load it is sized for: [`BITS_PER_RECORD`] unless made by
    /// [`IdFilter::for_load`].
    bits_per_record: u64,
    /// The bitmap (2^(bits_log2 - 3) bytes), then [`FORMAT`].
    bytes: Vec<u8>,
}

/// A 64-bit mix of the id: murmur3's finaliser of `hi ^ rotl(lo, 29)` with
/// `hi`, `lo` the id's two big-endian 64-bit halves. Its top bits choose
/// the word, its low 30 bits the five bits in it (at most 34 + 30 bits).
pub fn hash_of(id: &Uuid) -> u64 {
    let v = id.as_u128();
    let mut h = (v >> 64) as u64 ^ (v as u64).rotate_left(29);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The byte offset of the id's word and the mask of its bits in it.
fn word_and_mask(id: &Uuid, bits_log2: u32) -> (usize, u64) {
    let h = hash_of(id);
    let word = (h >> (64 - (bits_log2 - 6))) as usize;
    let mut mask = 0u64;
    for i in 0..BITS_PER_ID {
        mask |= 1 << ((h >> (6 * i)) & 63);
    }
    (word * 8, mask)
}

impl IdFilter {
    /// An empty filter sized for `records` records.
    pub fn for_records(records: u64) -> IdFilter {
        IdFilter::for_load(records, BITS_PER_RECORD)
    }

    /// An empty filter of `bits_per_record` (rounded up to a power of two
    /// of the whole) for `records` records: fewer bits let more ids through
    /// to a lookup, in return for memory.
    pub fn for_load(records: u64, bits_per_record: u64) -> IdFilter {
        let wanted = records.saturating_mul(bits_per_record).max(1);
        let bits_log2 = (64 - (wanted - 1).leading_zeros()).clamp(MIN_BITS_LOG2, 40);
        let mut bytes = vec![0; (1usize << (bits_log2 - 3)) + 1];
        *bytes.last_mut().expect("not empty") = FORMAT;
        IdFilter {
            bits_log2,
            bits_per_record,
            bytes,
        }
    }

    /// A filter read back from its stored form; `None` when it is not this
    /// format (a first-format filter, or damaged): then it is rebuilt.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<IdFilter> {
        let (&format, bitmap) = bytes.split_last()?;
        let len = bitmap.len() as u64;
        if format != FORMAT || !len.is_power_of_two() || len < 1 << (MIN_BITS_LOG2 - 3) {
            return None;
        }
        Some(IdFilter {
            bits_log2: len.trailing_zeros() + 3,
            bits_per_record: BITS_PER_RECORD,
            bytes,
        })
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many records this size is meant for; beyond it the filter is
    /// rebuilt larger.
    pub fn capacity(&self) -> u64 {
        (1u64 << self.bits_log2) / self.bits_per_record
    }

    fn word(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    pub fn insert(&mut self, id: &Uuid) {
        let (at, mask) = word_and_mask(id, self.bits_log2);
        let word = self.word(at) | mask;
        self.bytes[at..at + 8].copy_from_slice(&word.to_le_bytes());
    }

    /// False only when `id` was never inserted.
    pub fn may_contain(&self, id: &Uuid) -> bool {
        let (at, mask) = word_and_mask(id, self.bits_log2);
        self.word(at) & mask == mask
    }

    /// [`Self::may_contain`] of each id, in order. Each test is a cache miss
    /// (the words are scattered over the whole bitmap, 32 MiB at 10M
    /// archived ids); tested one at a time between two inserts, every miss
    /// is waited for in turn, while this tight loop of independent loads
    /// lets the CPU overlap them.
    pub fn may_contain_each<'a>(&self, ids: impl Iterator<Item = &'a Uuid>) -> Vec<bool> {
        // No iteration depends on another's load, so one pass suffices.
        ids.map(|id| {
            let (at, mask) = word_and_mask(id, self.bits_log2);
            self.word(at) & mask == mask
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills a filter to its capacity (the worst load) and returns the
    /// share of other ids it lets through.
    fn false_positive_rate(inserted: &[Uuid], others: impl Iterator<Item = Uuid>) -> f64 {
        rate_at_load(inserted, others, BITS_PER_RECORD)
    }

    fn rate_at_load(
        inserted: &[Uuid],
        others: impl Iterator<Item = Uuid>,
        bits_per_record: u64,
    ) -> f64 {
        let mut f = IdFilter::for_load(inserted.len() as u64, bits_per_record);
        assert_eq!(
            f.capacity(),
            inserted.len() as u64,
            "not filled to capacity"
        );
        for id in inserted {
            f.insert(id);
        }
        assert!(inserted.iter().all(|id| f.may_contain(id)));
        assert!(f.may_contain_each(inserted.iter()).into_iter().all(|m| m));
        let others: Vec<Uuid> = others.collect();
        let each = f.may_contain_each(others.iter());
        let mut through = 0u64;
        for (id, batch_verdict) in others.iter().zip(each) {
            // The batch test and the single test always agree.
            assert_eq!(batch_verdict, f.may_contain(id), "{id}");
            through += batch_verdict as u64;
        }
        through as f64 / others.len() as f64
    }

    #[test]
    fn inserted_ids_are_always_found_and_others_rarely() {
        // 2^17 records fill a 2^21-bit filter to capacity: 4 ids a word.
        let n = 1u128 << 17;
        let sequential: Vec<Uuid> = (0..n).map(|i| Uuid::from_u128(i * 0x1_0000_0001)).collect();
        let random = (0..200_000u128).map(|i| Uuid::new_v5(&Uuid::NAMESPACE_URL, &i.to_le_bytes()));
        let rate = false_positive_rate(&sequential, random);
        assert!(rate < 0.006, "{rate}");
        // v7-like ids: a millisecond timestamp in the leading 48 bits.
        let v7 = |i: u128| {
            Uuid::from_u128(
                ((1_700_000_000_000 + i / 4) << 80) | (0x7000 << 64) | (i * 0x9E37_79B9),
            )
        };
        let timed: Vec<Uuid> = (0..n).map(v7).collect();
        let rate = false_positive_rate(&timed, (n..n + 200_000).map(v7));
        assert!(rate < 0.006, "{rate}");
    }

    /// The live-id filter's load (src/store/sqlite/ids.rs): 8 ids a word.
    #[test]
    fn half_the_bits_let_about_two_percent_through() {
        let n = 1u128 << 18;
        let id = |i: u128| Uuid::new_v5(&Uuid::NAMESPACE_DNS, &i.to_le_bytes());
        let inserted: Vec<Uuid> = (0..n).map(id).collect();
        let rate = rate_at_load(&inserted, (n..n + 200_000).map(id), 8);
        assert!((0.01..0.04).contains(&rate), "{rate}");
    }

    /// The figure in docs/performance.md: the share of 1M new random ids
    /// looked up beside 10M archived ones, in this format and in the first
    /// (one bit per id). `cargo test --lib store::idfilter -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn lookups_beside_ten_million_archived_ids() {
        let id = |i: u128| Uuid::new_v5(&Uuid::NAMESPACE_OID, &i.to_le_bytes());
        let archived = 10_000_000u128;
        let mut f = IdFilter::for_records(archived as u64);
        let bits_log2 = f.bits_log2;
        let mut first = vec![0u8; 1 << (bits_log2 - 3)];
        // The first format's bit: the top bits of a multiplicative mix.
        let first_bit = |id: &Uuid| {
            let v = id.as_u128();
            let (hi, lo) = ((v >> 64) as u64, v as u64);
            (hi ^ lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits_log2)
        };
        for i in 0..archived {
            let id = id(i);
            f.insert(&id);
            let bit = first_bit(&id);
            first[(bit >> 3) as usize] |= 1 << (bit & 7);
        }
        let (mut now, mut before) = (0u64, 0u64);
        for i in archived..archived + 1_000_000 {
            let id = id(i);
            now += f.may_contain(&id) as u64;
            let bit = first_bit(&id);
            before += (first[(bit >> 3) as usize] & (1 << (bit & 7)) != 0) as u64;
        }
        println!(
            "2^{bits_log2} bits; of 1,000,000 new ids looked up: {now} (first format: {before})"
        );
    }

    #[test]
    fn the_stored_form_round_trips_and_other_forms_are_refused() {
        let mut f = IdFilter::for_records(1000);
        f.insert(&Uuid::from_u128(7));
        let back = IdFilter::from_bytes(f.as_bytes().to_vec()).unwrap();
        assert_eq!(back, f);
        assert!(back.may_contain(&Uuid::from_u128(7)));
        // The first format: a bare power-of-two bitmap.
        assert!(IdFilter::from_bytes(vec![0; 1 << 17]).is_none());
        assert!(IdFilter::from_bytes(vec![0; 1000]).is_none());
        assert!(IdFilter::from_bytes(Vec::new()).is_none());
        let mut other = f.as_bytes().to_vec();
        *other.last_mut().unwrap() = 9;
        assert!(IdFilter::from_bytes(other).is_none());
        assert_eq!(IdFilter::for_records(0).capacity(), 1 << 16);
        assert_eq!(IdFilter::for_records(0).as_bytes().len(), (1 << 17) + 1);
    }
}
