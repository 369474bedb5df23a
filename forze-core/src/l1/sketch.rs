//! TinyLFU's frequency estimate: a doorkeeper Bloom filter in front of a count-min sketch of 4-bit
//! counters, both aged by halving (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient
//! Cache Admission Policy", 2017).
//!
//! * The **doorkeeper** absorbs the first sighting of a key within a sample period, so one-hit
//!   wonders never reach the sketch.
//! * The **count-min sketch** has 4 rows of `width` 4-bit counters (saturating at 15), one hash
//!   function per row; the estimate is the row minimum. Counters are bumped with the
//!   conservative update (only the counters equal to the minimum grow), which keeps the
//!   overestimate from collisions low without changing what the sketch bounds.
//! * **Aging**: after `sample_size` recorded accesses every counter is halved, the doorkeeper is
//!   cleared and the access count halves, so old popularity fades and a new hot set can take over.

/// Rows (hash functions) of the count-min sketch.
const ROWS: usize = 4;
/// 4-bit counters per `u64` word.
const COUNTERS_PER_WORD: usize = 16;
/// A counter's ceiling.
const MAX_COUNT: u64 = 15;
/// Odd multipliers that derive one row index each from the key hash.
const ROW_SEEDS: [u64; ROWS] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0xD6E8_FEB8_6659_FD93,
];
/// Multiplier that derives the doorkeeper probe from the key hash.
const DOOR_SEED: u64 = 0xA076_1D64_78BD_642F;

/// A 4-row count-min sketch of 4-bit counters.
#[derive(Debug)]
pub(crate) struct CountMinSketch {
    /// `ROWS` rows of `width / 16` words each.
    table: Vec<u64>,
    words_per_row: usize,
    /// `64 - log2(width)`: the shift that turns a 64-bit product into a row index.
    index_shift: u32,
}

impl CountMinSketch {
    /// A sketch with `width` (a power of two, at least 16) counters per row.
    pub(crate) fn new(width: usize) -> Self {
        let width = width.max(COUNTERS_PER_WORD).next_power_of_two();
        let words_per_row = width / COUNTERS_PER_WORD;
        CountMinSketch {
            table: vec![0; words_per_row * ROWS],
            words_per_row,
            index_shift: 64 - width.trailing_zeros(),
        }
    }

    /// Counters per row.
    #[cfg(test)]
    pub(crate) fn width(&self) -> usize {
        self.words_per_row * COUNTERS_PER_WORD
    }

    /// (word index, bit shift) of the counter for `hash` in `row`.
    #[inline]
    fn slot(&self, hash: u64, row: usize) -> (usize, u32) {
        // Truncation is the point: the top `log2(width)` bits pick the counter.
        let counter = (hash.wrapping_mul(ROW_SEEDS[row]) >> self.index_shift) as usize;
        let word = row * self.words_per_row + counter / COUNTERS_PER_WORD;
        let shift = ((counter % COUNTERS_PER_WORD) * 4) as u32;
        (word, shift)
    }

    #[inline]
    fn slots(&self, hash: u64) -> [(usize, u32); ROWS] {
        std::array::from_fn(|row| self.slot(hash, row))
    }

    #[inline]
    fn count(&self, (word, shift): (usize, u32)) -> u64 {
        (self.table[word] >> shift) & MAX_COUNT
    }

    /// The estimated count of `hash`: never below the true count since the last aging (up to 15).
    #[inline]
    pub(crate) fn estimate(&self, hash: u64) -> u64 {
        self.slots(hash)
            .into_iter()
            .map(|slot| self.count(slot))
            .min()
            .unwrap_or(0)
    }

    /// Count one more occurrence of `hash` (conservative update).
    #[inline]
    pub(crate) fn increment(&mut self, hash: u64) {
        let slots = self.slots(hash);
        let counts = slots.map(|slot| self.count(slot));
        let min = counts.into_iter().min().unwrap_or(MAX_COUNT);
        if min >= MAX_COUNT {
            return;
        }
        for ((word, shift), count) in slots.into_iter().zip(counts) {
            if count == min {
                self.table[word] += 1 << shift;
            }
        }
    }

    /// Halve every counter.
    pub(crate) fn halve(&mut self) {
        for word in &mut self.table {
            *word = (*word >> 1) & 0x7777_7777_7777_7777;
        }
    }

    /// Zero every counter.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.table.fill(0);
    }
}

/// A blocked Bloom filter (one 64-bit block per key, 3 bits set in it).
#[derive(Debug)]
pub(crate) struct Doorkeeper {
    words: Vec<u64>,
    index_shift: u32,
}

impl Doorkeeper {
    /// A filter of at least `bits` bits (rounded up to a power of two, at least 64).
    pub(crate) fn new(bits: usize) -> Self {
        let words = (bits / 64).max(1).next_power_of_two();
        Doorkeeper {
            words: vec![0; words],
            index_shift: 64 - words.trailing_zeros(),
        }
    }

    /// Bits in the filter.
    #[cfg(test)]
    pub(crate) fn bits(&self) -> usize {
        self.words.len() * 64
    }

    /// (word index, bit mask) for `hash`.
    #[inline]
    fn probe(&self, hash: u64) -> (usize, u64) {
        let mixed = hash.wrapping_mul(DOOR_SEED);
        // One word from the top bits (none if there is a single word), three bits from below.
        let word = mixed.checked_shr(self.index_shift).unwrap_or(0) as usize;
        let mask =
            (1u64 << (mixed & 63)) | (1u64 << ((mixed >> 6) & 63)) | (1u64 << ((mixed >> 12) & 63));
        (word, mask)
    }

    #[inline]
    pub(crate) fn contains(&self, hash: u64) -> bool {
        let (word, mask) = self.probe(hash);
        self.words[word] & mask == mask
    }

    /// Add `hash`; `true` if it was (probably) present already.
    #[inline]
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        let (word, mask) = self.probe(hash);
        let present = self.words[word] & mask == mask;
        self.words[word] |= mask;
        present
    }

    pub(crate) fn clear(&mut self) {
        self.words.fill(0);
    }
}

/// Access frequencies with aging: what W-TinyLFU admission compares.
#[derive(Debug)]
pub(crate) struct FrequencySketch {
    sketch: CountMinSketch,
    doorkeeper: Doorkeeper,
    /// Accesses recorded since the last aging (halved by it).
    additions: usize,
    /// Age every `sample_size` accesses.
    sample_size: usize,
}

impl FrequencySketch {
    /// Sized for a cache of `capacity` entries: a sample of `10 × capacity` accesses, a sketch
    /// `next_power_of_two(4 × capacity)` counters wide, and a doorkeeper of about 8 bits per
    /// access in a sample.
    pub(crate) fn for_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let sample_size = capacity.saturating_mul(10);
        FrequencySketch {
            sketch: CountMinSketch::new(capacity.saturating_mul(4)),
            doorkeeper: Doorkeeper::new(sample_size.saturating_mul(8)),
            additions: 0,
            sample_size,
        }
    }

    /// Record one access to `hash`.
    #[inline]
    pub(crate) fn record(&mut self, hash: u64) {
        if self.doorkeeper.insert(hash) {
            self.sketch.increment(hash);
        }
        self.additions += 1;
        if self.additions >= self.sample_size {
            self.age();
        }
    }

    /// The estimated recent access count of `hash`.
    #[inline]
    pub(crate) fn frequency(&self, hash: u64) -> u64 {
        self.sketch.estimate(hash) + u64::from(self.doorkeeper.contains(hash))
    }

    fn age(&mut self) {
        self.sketch.halve();
        self.doorkeeper.clear();
        self.additions /= 2;
    }

    /// Forget everything (not used by `clear`, which keeps the history on purpose).
    #[cfg(test)]
    pub(crate) fn reset(&mut self) {
        self.sketch.clear();
        self.doorkeeper.clear();
        self.additions = 0;
    }

    #[cfg(test)]
    pub(crate) fn sample_size(&self) -> usize {
        self.sample_size
    }

    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.sketch.width(), self.doorkeeper.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l1::hash::splitmix64;

    fn hashes(seed: u64, n: usize) -> Vec<u64> {
        let mut state = seed;
        (0..n).map(|_| splitmix64(&mut state)).collect()
    }

    #[test]
    fn count_min_never_underestimates_and_saturates_at_15() {
        let mut sketch = CountMinSketch::new(256);
        let keys = hashes(1, 200);
        for (i, &h) in keys.iter().enumerate() {
            for _ in 0..(i % 20) {
                sketch.increment(h);
            }
        }
        for (i, &h) in keys.iter().enumerate() {
            let truth = (i % 20).min(15) as u64;
            assert!(sketch.estimate(h) >= truth, "key {i}");
            assert!(sketch.estimate(h) <= 15);
        }
    }

    #[test]
    fn count_min_is_mostly_exact_when_wide() {
        let mut sketch = CountMinSketch::new(4096);
        let keys = hashes(2, 100);
        for &h in &keys {
            sketch.increment(h);
            sketch.increment(h);
        }
        let exact = keys.iter().filter(|&&h| sketch.estimate(h) == 2).count();
        assert!(exact >= 95, "{exact} of 100 exact");
    }

    #[test]
    fn halving_halves_each_counter() {
        let mut sketch = CountMinSketch::new(64);
        let h = hashes(3, 1)[0];
        for _ in 0..15 {
            sketch.increment(h);
        }
        assert_eq!(sketch.estimate(h), 15);
        sketch.halve();
        assert_eq!(sketch.estimate(h), 7);
        sketch.halve();
        assert_eq!(sketch.estimate(h), 3);
        sketch.clear();
        assert_eq!(sketch.estimate(h), 0);
    }

    #[test]
    fn doorkeeper_remembers_and_clears() {
        let mut door = Doorkeeper::new(8 * 1000);
        let keys = hashes(4, 1000);
        for &h in &keys {
            door.insert(h);
        }
        assert!(keys.iter().all(|&h| door.contains(h)));
        let strangers = hashes(5, 10_000);
        let false_positives = strangers.iter().filter(|&&h| door.contains(h)).count();
        assert!(false_positives < 1_000, "{false_positives} false positives");
        door.clear();
        assert!(keys.iter().all(|&h| !door.contains(h)));
    }

    #[test]
    fn first_access_goes_to_the_doorkeeper_only() {
        let mut freq = FrequencySketch::for_capacity(100);
        let h = hashes(6, 1)[0];
        assert_eq!(freq.frequency(h), 0);
        freq.record(h);
        assert_eq!(freq.frequency(h), 1);
        assert_eq!(freq.sketch.estimate(h), 0);
        freq.record(h);
        freq.record(h);
        assert_eq!(freq.frequency(h), 3);
        freq.reset();
        assert_eq!(freq.frequency(h), 0);
    }

    #[test]
    fn aging_halves_after_the_sample_and_clears_the_doorkeeper() {
        let mut freq = FrequencySketch::for_capacity(10);
        assert_eq!(freq.sample_size(), 100);
        let (width, bits) = freq.sizes();
        assert!(width >= 40 && width.is_power_of_two());
        assert!(bits >= 800);
        let hot = hashes(7, 1)[0];
        for _ in 0..9 {
            freq.record(hot); // doorkeeper + 8 in the sketch
        }
        assert_eq!(freq.frequency(hot), 9);
        // 91 more accesses to other keys complete the sample of 100.
        for h in hashes(8, 90) {
            freq.record(h);
        }
        assert_eq!(freq.additions, 99);
        assert!(freq.frequency(hot) >= 9);
        freq.record(hashes(9, 1)[0]);
        assert_eq!(freq.additions, 50, "the access count halves");
        assert_eq!(
            freq.frequency(hot),
            4,
            "8 in the sketch halve to 4, the doorkeeper bit is gone"
        );
    }
}
