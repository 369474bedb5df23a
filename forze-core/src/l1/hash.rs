//! Keyed hashing of [`L1Key`]s: one 64-bit hash per operation feeds both the index map and the
//! frequency sketch.
//!
//! The hash is a folded multiply (the construction of foldhash and ahash) keyed with a per-store
//! random seed, so a caller who picks document ids cannot aim them at one bucket. It is not a
//! cryptographic hash.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

use super::L1Key;

/// Multiply two words to 128 bits and fold the halves together.
#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    // Truncations are the point: the low and the high word are folded together.
    (full as u64) ^ ((full >> 64) as u64)
}

/// The SplitMix64 increment (the golden ratio in 64 bits).
pub(crate) const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: expands one seed word into several well-mixed words.
#[inline]
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(SPLITMIX_GAMMA);
    mix64(*state)
}

/// The SplitMix64 output function: a bijective mix of one word.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyed hash function for [`L1Key`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    seeds: [u64; 6],
}

impl KeyHasher {
    /// A hasher keyed from the process's random source (the one `HashMap` uses).
    pub(crate) fn random() -> Self {
        Self::with_seed(RandomState::new().hash_one(0x5eed_u64))
    }

    /// A hasher with a fixed key: the same seed always gives the same hashes.
    pub(crate) fn with_seed(seed: u64) -> Self {
        let mut state = seed;
        KeyHasher {
            seeds: std::array::from_fn(|_| splitmix64(&mut state)),
        }
    }

    /// The 64-bit hash of `key`.
    #[inline]
    pub(crate) fn hash(&self, key: &L1Key) -> u64 {
        let [s0, s1, s2, s3, s4, s5] = self.seeds;
        let id = key.id.as_u128();
        let a = folded_multiply((id as u64) ^ s0, ((id >> 64) as u64) ^ s1);
        let b = match key.tenant {
            // A keyed constant that no tenant maps to except by chance.
            None => s4.rotate_left(17) ^ s5,
            Some(tenant) => {
                let t = tenant.as_u128();
                folded_multiply((t as u64) ^ s2, ((t >> 64) as u64) ^ s3)
            }
        };
        folded_multiply(a ^ s4, b ^ s5)
    }
}

/// A map key that carries its precomputed hash, so the map does not hash the key again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashedKey {
    pub(crate) hash: u64,
    pub(crate) key: L1Key,
}

impl PartialEq for HashedKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for HashedKey {}

impl Hash for HashedKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes the precomputed hash of a [`HashedKey`] through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is reached through `HashedKey`; stay correct for anything else.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Builds [`PassThroughHasher`]s.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThroughBuild;

impl BuildHasher for PassThroughBuild {
    type Hasher = PassThroughHasher;

    #[inline]
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn same_seed_same_hash_and_tenants_are_separated() {
        let a = KeyHasher::with_seed(7);
        let b = KeyHasher::with_seed(7);
        let key = L1Key::new(None, Uuid::from_u128(42));
        assert_eq!(a.hash(&key), b.hash(&key));
        let nil_tenant = L1Key::new(Some(Uuid::nil()), Uuid::from_u128(42));
        assert_ne!(a.hash(&key), a.hash(&nil_tenant));
        assert_ne!(a.hash(&key), KeyHasher::with_seed(8).hash(&key));
    }

    #[test]
    fn sequential_ids_spread_over_low_and_high_bits() {
        let hasher = KeyHasher::with_seed(1);
        let mut low = [0u32; 16];
        let mut high = [0u32; 16];
        for i in 0..16_000u128 {
            let h = hasher.hash(&L1Key::new(None, Uuid::from_u128(i)));
            low[(h & 15) as usize] += 1;
            high[(h >> 60) as usize] += 1;
        }
        for bucket in low.iter().chain(high.iter()) {
            assert!(
                (800..1200).contains(bucket),
                "skewed buckets: {low:?} {high:?}"
            );
        }
    }
}
