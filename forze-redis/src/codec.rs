//! Key layout and the value envelope: pure functions, no I/O.
//!
//! # Keys
//!
//! `fz:<len>:<namespace>:{<key>}`, where `<len>` is the byte length of the namespace in decimal.
//! The length prefix makes the layout injective: namespace `a:b` + key `c` gives
//! `fz:3:a:b:{c}`, namespace `a` + key `b:c` gives `fz:1:a:{b:c}`. Every key of a namespace starts
//! with the fixed data-key prefix `fz:<len>:<namespace>:` (what `CLIENT TRACKING BCAST PREFIX`
//! tracks), and the `{…}` hash tag puts every key of one document in the same hash slot.
//!
//! The idle deadline of an entry filled with a sliding window lives in a companion key,
//! `fz:<len>:<namespace>;idle:{<key>}`: same hash slot, but **outside** the data-key prefix (the
//! `;` where the prefix has `:`), so extending it on a hit is no change of a tracked key and
//! pushes no invalidation to other replicas. Its value is `1`; only its lifetime matters.
//!
//! # Values
//!
//! Every value ends with a 17-byte trailer: a kind byte and the rev as 16 lowercase hex digits.
//!
//! * value: `<payload>v<hex>`, where `<payload>` is the encoded read model exactly as filled;
//! * tombstone: `t<hex>` (exactly 17 bytes).
//!
//! `<hex>` is the rev with its sign bit flipped (`rev as u64 ^ 1 << 63`), so the hex digits order
//! like the signed revs and [`TOMBSTONE_DELETED`](forze_core::cache::TOMBSTONE_DELETED) is
//! `tffffffffffffffff`. The scripts compare revs as two exact 32-bit halves (Lua numbers are
//! doubles). The rev sits at the end so that a hit decodes by truncating the reply buffer: the
//! payload is never copied after it leaves the connection.

use std::io::Write;

use redis::{RedisWrite, ToRedisArgs, ToSingleRedisArg};

/// Length of the trailer at the end of every value: the kind byte and 16 hex digits.
pub(crate) const TRAILER_LEN: usize = 17;
/// The kind byte of a value.
pub(crate) const KIND_VALUE: u8 = b'v';
/// The kind byte of a tombstone.
pub(crate) const KIND_TOMBSTONE: u8 = b't';

const SIGN_BIT: u64 = 1 << 63;

/// The 16 lowercase hex digits of `rev` (sign bit flipped, so hex order = rev order).
pub(crate) fn rev_hex(rev: i64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let biased = (rev as u64) ^ SIGN_BIT;
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *slot = DIGITS[((biased >> shift) & 0xf) as usize];
    }
    out
}

/// The rev of 16 lowercase hex digits, or `None` if they are not exactly that.
pub(crate) fn parse_rev_hex(hex: &[u8]) -> Option<i64> {
    if hex.len() != 16 {
        return None;
    }
    let mut biased: u64 = 0;
    for &b in hex {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        biased = (biased << 4) | u64::from(digit);
    }
    Some((biased ^ SIGN_BIT) as i64)
}

/// The trailer of a value at `rev`.
pub(crate) fn value_trailer(rev: i64) -> [u8; TRAILER_LEN] {
    let mut out = [KIND_VALUE; TRAILER_LEN];
    out[1..].copy_from_slice(&rev_hex(rev));
    out
}

/// What a stored value decodes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A value: the rev and the payload (the reply buffer, truncated in place).
    Value(i64, Vec<u8>),
    /// A tombstone at a rev.
    Tombstone(i64),
    /// Bytes this crate did not write (no valid trailer); `len` for the log line.
    Garbage { len: usize },
}

/// Decode a stored value, reusing its buffer for the payload.
pub(crate) fn decode(mut bytes: Vec<u8>) -> Decoded {
    let len = bytes.len();
    let Some(start) = len.checked_sub(TRAILER_LEN) else {
        return Decoded::Garbage { len };
    };
    let Some(rev) = parse_rev_hex(&bytes[start + 1..]) else {
        return Decoded::Garbage { len };
    };
    match bytes[start] {
        KIND_VALUE => {
            bytes.truncate(start);
            Decoded::Value(rev, bytes)
        }
        KIND_TOMBSTONE if start == 0 => Decoded::Tombstone(rev),
        _ => Decoded::Garbage { len },
    }
}

/// The data-key prefix of a namespace: `fz:<len>:<namespace>:`.
pub(crate) fn key_prefix(namespace: &str) -> String {
    format!("fz:{}:{}:", namespace.len(), namespace)
}

/// The idle-key prefix of a namespace: `fz:<len>:<namespace>;idle:` (not under the data-key
/// prefix `fz:<len>:<namespace>:`).
pub(crate) fn idle_prefix(namespace: &str) -> String {
    format!("fz:{}:{};idle:", namespace.len(), namespace)
}

/// Split `fz:<len>:<namespace>:{<key>}` into its prefix `fz:<len>:<namespace>:` and `<key>`.
pub(crate) fn split_data_key(key: &[u8]) -> Option<(&str, &str)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix("fz:")?;
    let colon = rest.find(':')?;
    let digits = &rest[..colon];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = digits.parse().ok()?;
    // "fz:" + digits + ":" + namespace + ":"
    let prefix_len = len.checked_add(colon + 5)?;
    if key.len() < prefix_len || !key.is_char_boundary(prefix_len) {
        return None;
    }
    let (prefix, tagged) = key.split_at(prefix_len);
    if !prefix.ends_with(':') {
        return None;
    }
    let inner = tagged.strip_prefix('{')?.strip_suffix('}')?;
    Some((prefix, inner))
}

/// A data key, written straight into the command buffer: `<prefix>{<key>}`.
///
/// With the idle prefix ([`idle_prefix`]) it is the companion idle key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataKey<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) key: &'a str,
}

impl DataKey<'_> {
    /// The key as bytes (for tests and logs).
    #[cfg(test)]
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_into(&mut out);
        out
    }

    fn write_into(self, out: &mut impl Write) {
        // Writing into a command buffer (a Vec) cannot fail.
        let _ = out.write_all(self.prefix.as_bytes());
        let _ = out.write_all(b"{");
        let _ = out.write_all(self.key.as_bytes());
        let _ = out.write_all(b"}");
    }
}

impl ToRedisArgs for DataKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        self.write_into(&mut out.writer_for_next_arg());
    }
}

impl ToSingleRedisArg for DataKey<'_> {}

/// A value argument, `<payload><trailer>`, written straight into the command buffer (the payload
/// is copied once, from the fill into the request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueArg<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) trailer: [u8; TRAILER_LEN],
}

impl ToRedisArgs for ValueArg<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        let mut w = out.writer_for_next_arg();
        // Writing into a command buffer (a Vec) cannot fail.
        let _ = w.write_all(self.payload);
        let _ = w.write_all(&self.trailer);
    }
}

impl ToSingleRedisArg for ValueArg<'_> {}

/// Milliseconds for `PX`: rounded up to whole milliseconds, at least 1, capped so the server's
/// `now + ttl` cannot overflow (about 8900 years).
pub(crate) fn ttl_millis(ttl: std::time::Duration) -> u64 {
    const MAX_MS: u128 = 1 << 48;
    let nanos = ttl.as_nanos();
    let ms = nanos.div_ceil(1_000_000);
    ms.clamp(1, MAX_MS) as u64
}

/// The Redis Cluster hash slot of a key (CRC16/XMODEM of the hash tag, mod 16384).
#[cfg(test)]
pub(crate) fn hash_slot(key: &[u8]) -> u16 {
    let tagged = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(0) | None => key,
            Some(close) => &key[open + 1..open + 1 + close],
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;
    use forze_core::cache::TOMBSTONE_DELETED;
    use std::time::Duration;

    #[test]
    fn rev_hex_round_trips_and_orders_like_revs() {
        let revs = [
            i64::MIN,
            -2,
            -1,
            0,
            1,
            2,
            255,
            1 << 32,
            (1 << 53) + 1,
            TOMBSTONE_DELETED - 1,
            TOMBSTONE_DELETED,
        ];
        for w in revs.windows(2) {
            assert!(rev_hex(w[0]) < rev_hex(w[1]), "{} vs {}", w[0], w[1]);
        }
        for rev in revs {
            assert_eq!(parse_rev_hex(&rev_hex(rev)), Some(rev));
        }
        assert_eq!(&rev_hex(1), b"8000000000000001");
        assert_eq!(&rev_hex(TOMBSTONE_DELETED), b"ffffffffffffffff");
    }

    #[test]
    fn parse_rejects_other_shapes() {
        assert_eq!(parse_rev_hex(b"800000000000000"), None);
        assert_eq!(parse_rev_hex(b"80000000000000011"), None);
        assert_eq!(parse_rev_hex(b"800000000000000G"), None);
        assert_eq!(
            parse_rev_hex(b"800000000000000A"),
            None,
            "uppercase is not ours"
        );
    }

    #[test]
    fn decode_value_truncates_in_place() {
        let mut stored = b"{\"a\":1}".to_vec();
        stored.extend_from_slice(&value_trailer(7));
        let ptr = stored.as_ptr();
        match decode(stored) {
            Decoded::Value(7, payload) => {
                assert_eq!(payload, b"{\"a\":1}");
                assert_eq!(payload.as_ptr(), ptr, "the reply buffer is reused");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut empty = Vec::new();
        empty.extend_from_slice(&value_trailer(1));
        assert_eq!(decode(empty), Decoded::Value(1, Vec::new()));
    }

    #[test]
    fn decode_tombstones_and_garbage() {
        let mut t = vec![KIND_TOMBSTONE];
        t.extend_from_slice(&rev_hex(TOMBSTONE_DELETED));
        assert_eq!(decode(t.clone()), Decoded::Tombstone(TOMBSTONE_DELETED));
        let mut long_t = b"x".to_vec();
        long_t.extend_from_slice(&t);
        assert_eq!(decode(long_t), Decoded::Garbage { len: 18 });
        assert_eq!(decode(b"garbage".to_vec()), Decoded::Garbage { len: 7 });
        assert_eq!(decode(Vec::new()), Decoded::Garbage { len: 0 });
        assert_eq!(
            decode(b"{\"json\":\"but not ours\"}".to_vec()),
            Decoded::Garbage { len: 23 }
        );
        let mut bad_kind = b"p".to_vec();
        bad_kind.push(b'x');
        bad_kind.extend_from_slice(&rev_hex(3));
        assert_eq!(decode(bad_kind), Decoded::Garbage { len: 18 });
    }

    #[test]
    fn keys_are_length_prefixed_and_hash_tagged() {
        let p1 = key_prefix("a:b");
        let p2 = key_prefix("a");
        let k1 = DataKey {
            prefix: &p1,
            key: "c",
        }
        .to_bytes();
        let k2 = DataKey {
            prefix: &p2,
            key: "b:c",
        }
        .to_bytes();
        assert_eq!(k1, b"fz:3:a:b:{c}");
        assert_eq!(k2, b"fz:1:a:{b:c}");
        assert_ne!(k1, k2);
        assert!(!k2.starts_with(p1.as_bytes()));
        assert!(!k1.starts_with(p2.as_bytes()));
        let id = "0190f5a4-7e1c-7cc2-8a4e-6b1f0c2d3e4f";
        let key = DataKey {
            prefix: &p1,
            key: id,
        }
        .to_bytes();
        assert_eq!(hash_slot(&key), hash_slot(id.as_bytes()));
    }

    #[test]
    fn hash_slot_matches_redis_reference_values() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(hash_slot(b"123456789"), 12739);
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"{user1000}.following"), hash_slot(b"user1000"));
        assert_eq!(hash_slot(b"foo{}{bar}"), hash_slot(b"foo{}{bar}"));
        assert_ne!(hash_slot(b"foo{}{bar}"), hash_slot(b"bar"));
    }

    #[test]
    fn ttl_is_whole_milliseconds_rounded_up() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::MAX), 1 << 48);
    }
}
