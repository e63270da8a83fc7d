//! A one-hash bit filter over archived ids, kept by the SQLite store beside
//! its archived-id records: an id whose bit is clear is certainly not
//! archived, so the append path skips the record lookup for it. Without it,
//! every new event costs one random probe into a records table that grows
//! with the archive (about 450 MB at 10 million archived events), which
//! cost more than the rest of an import; with it, only the few ids whose bit
//! is set (at most about 6%) are looked up. Bits are never cleared, so the
//! filter only ever errs towards a lookup: it decides nothing on its own.
//!
//! Size: a power of two of at least 16 bits per record (2 to 4 bytes a
//! record), 2^20 bits at the least. The bit of an id is the top bits of a
//! 64-bit mix of its 16 bytes (see [`bit_of`]), so ids whose leading bits are
//! a timestamp (UUID v1, v7) spread as well as random ones.

use uuid::Uuid;

/// Bits per record the filter is sized for: a false-positive rate between
/// 1/32 and 1/16 (one hash, load 1/32 to 1/16).
pub const BITS_PER_RECORD: u64 = 16;
/// The smallest filter, 128 KiB.
pub const MIN_BITS_LOG2: u32 = 20;

/// The bitmap and its size as a power of two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdFilter {
    bits_log2: u32,
    bytes: Vec<u8>,
}

/// The bit of `id` in a filter of 2^`bits_log2` bits: the top bits of
/// `(hi ^ rotl(lo, 29)) * 0x9E3779B97F4A7C15` with `hi`, `lo` the id's two
/// big-endian 64-bit halves.
pub fn bit_of(id: &Uuid, bits_log2: u32) -> u64 {
    let v = id.as_u128();
    let (hi, lo) = ((v >> 64) as u64, v as u64);
    let mixed = (hi ^ lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed >> (64 - bits_log2)
}

impl IdFilter {
    /// An empty filter sized for `records` records.
    pub fn for_records(records: u64) -> IdFilter {
        let wanted = records.saturating_mul(BITS_PER_RECORD).max(1);
        let bits_log2 = (64 - (wanted - 1).leading_zeros()).clamp(MIN_BITS_LOG2, 40);
        IdFilter {
            bits_log2,
            bytes: vec![0; 1usize << (bits_log2 - 3)],
        }
    }

    /// A filter read back from its bytes; `None` when the length is not a
    /// power of two of at least the minimum size (then it is rebuilt).
    pub fn from_bytes(bytes: Vec<u8>) -> Option<IdFilter> {
        let len = bytes.len() as u64;
        if !len.is_power_of_two() || len < 1 << (MIN_BITS_LOG2 - 3) {
            return None;
        }
        Some(IdFilter {
            bits_log2: len.trailing_zeros() + 3,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many records this size is meant for; beyond it the filter is
    /// rebuilt larger.
    pub fn capacity(&self) -> u64 {
        (1u64 << self.bits_log2) / BITS_PER_RECORD
    }

    pub fn insert(&mut self, id: &Uuid) {
        let bit = bit_of(id, self.bits_log2);
        self.bytes[(bit >> 3) as usize] |= 1 << (bit & 7);
    }

    /// False only when `id` was never inserted.
    pub fn may_contain(&self, id: &Uuid) -> bool {
        let bit = bit_of(id, self.bits_log2);
        self.bytes[(bit >> 3) as usize] & (1 << (bit & 7)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_ids_are_always_found_and_others_mostly_not() {
        let mut f = IdFilter::for_records(100_000);
        assert_eq!(f.capacity(), 1 << 17);
        let inserted: Vec<Uuid> = (0..100_000u128)
            .map(|i| Uuid::from_u128(i * 0x1_0000_0001))
            .collect();
        for id in &inserted {
            f.insert(id);
        }
        assert!(inserted.iter().all(|id| f.may_contain(id)));
        let false_positives = (0..100_000u128)
            .map(|i| Uuid::new_v5(&Uuid::NAMESPACE_URL, &i.to_le_bytes()))
            .filter(|id| f.may_contain(id))
            .count();
        assert!(false_positives < 10_000, "{false_positives}");
        let back = IdFilter::from_bytes(f.as_bytes().to_vec()).unwrap();
        assert_eq!(back, f);
        assert!(IdFilter::from_bytes(vec![0; 1000]).is_none());
        assert_eq!(IdFilter::for_records(0).capacity(), 1 << 16);
    }
}
