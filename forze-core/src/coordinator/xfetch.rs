//! The cached payload and XFetch early refresh (Vattani, Chierichetti, Lowenstein: "Optimal
//! Probabilistic Cache Stampede Prevention", VLDB 2015).
//!
//! # Payload format
//!
//! Without `early_refresh_beta`, a payload is the read model as compact JSON, exactly as before.
//! With it, the payload is an envelope:
//!
//! ```text
//! {"_xf":{"at":1767225600000,"d":1250,"ttl":300000},"doc":{"id":"…","rev":3,…}}
//! ```
//!
//! * `at`: when the value was encoded, unix milliseconds on the runtime clock;
//! * `d`: how long the recompute (the store read) took, in microseconds;
//! * `ttl`: the lifetime the value was filled with, in milliseconds (the cache `ttl`, or the
//!   `age_ttl` lifetime): `at + ttl` is when the entry really expires.
//!
//! Both forms decode whatever the spec says, so switching beta on or off needs no flush: a
//! payload starting with `{"_xf":` is read as an envelope (falling back to a plain read model
//! if it is not one), anything else as a plain read model.
//!
//! # Election
//!
//! A shared-cache hit of an envelope elects to recompute when
//! `now − d·beta·ln(U) ≥ at + ttl`, with `U` uniform in (0, 1]: the probability is
//! `exp(−(at + ttl − now) / (d·beta))`, so it rises as the real expiry nears, and sooner for
//! entries that are expensive to recompute. An envelope with `d = 0` never elects.

use crate::l1::hash::{SPLITMIX_GAMMA, mix64};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The XFetch metadata of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct XfMeta {
    /// Encoded at, unix milliseconds.
    pub(crate) at: i64,
    /// Recompute time, microseconds.
    pub(crate) d: u64,
    /// Lifetime, milliseconds.
    pub(crate) ttl: u64,
}

impl XfMeta {
    /// Whether a hit at `now_ms` with the uniform draw `u` in (0, 1] elects to recompute.
    pub(crate) fn elects(&self, now_ms: i64, beta: f64, u: f64) -> bool {
        if self.d == 0 {
            return false;
        }
        let expiry = self.at as f64 + self.ttl as f64;
        let delta_ms = self.d as f64 / 1000.0;
        now_ms as f64 - delta_ms * beta * u.ln() >= expiry
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a, R> {
    #[serde(rename = "_xf")]
    xf: XfMeta,
    doc: &'a R,
}

#[derive(Deserialize)]
struct EnvelopeIn<R> {
    #[serde(rename = "_xf")]
    xf: XfMeta,
    doc: R,
}

const ENVELOPE_START: &[u8] = b"{\"_xf\":";

/// The payload of `read`: the envelope when `xf` is given, the plain read model otherwise.
pub(crate) fn encode<R: Serialize>(read: &R, xf: Option<XfMeta>) -> serde_json::Result<Vec<u8>> {
    match xf {
        Some(xf) => serde_json::to_vec(&EnvelopeOut { xf, doc: read }),
        None => serde_json::to_vec(read),
    }
}

/// A payload in either form, and its XFetch metadata if it was an envelope.
pub(crate) fn decode<R: DeserializeOwned>(
    payload: &[u8],
) -> serde_json::Result<(R, Option<XfMeta>)> {
    if payload.starts_with(ENVELOPE_START) {
        match serde_json::from_slice::<EnvelopeIn<R>>(payload) {
            Ok(envelope) => return Ok((envelope.doc, Some(envelope.xf))),
            Err(err) => {
                // A read model whose first field is `_xf`: read it as one.
                return serde_json::from_slice::<R>(payload)
                    .map(|read| (read, None))
                    .map_err(|_| err);
            }
        }
    }
    serde_json::from_slice::<R>(payload).map(|read| (read, None))
}

/// A lock-free SplitMix64 stream (the mixer of [`crate::l1::hash`]): uniform draws for
/// elections, seedable for reproducible tests (`CoordinatorConfig::early_refresh_seed`), seeded
/// from `rand` otherwise.
#[derive(Debug)]
pub(crate) struct ElectionRng {
    state: AtomicU64,
}

impl ElectionRng {
    pub(crate) fn new(seed: u64) -> Self {
        ElectionRng {
            state: AtomicU64::new(seed),
        }
    }

    /// A seed that differs between lanes and processes.
    pub(crate) fn entropy() -> u64 {
        rand::random()
    }

    fn next_u64(&self) -> u64 {
        let z = self
            .state
            .fetch_add(SPLITMIX_GAMMA, Ordering::Relaxed)
            .wrapping_add(SPLITMIX_GAMMA);
        mix64(z)
    }

    /// Uniform in (0, 1].
    pub(crate) fn unit(&self) -> f64 {
        let bits = self.next_u64() >> 11; // 53 bits
        (bits + 1) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        id: u32,
        name: String,
    }

    const META: XfMeta = XfMeta {
        at: 1_000_000,
        d: 50_000,
        ttl: 300_000,
    };

    #[test]
    fn envelopes_and_plain_payloads_decode_either_way() {
        let doc = Doc {
            id: 1,
            name: "w".into(),
        };
        let plain = encode(&doc, None).unwrap();
        assert_eq!(plain, br#"{"id":1,"name":"w"}"#);
        assert_eq!(
            decode::<Doc>(&plain).unwrap(),
            (
                Doc {
                    id: 1,
                    name: "w".into()
                },
                None
            )
        );

        let envelope = encode(&doc, Some(META)).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&envelope).unwrap(),
            json!({"_xf": {"at": 1_000_000, "d": 50_000, "ttl": 300_000}, "doc": {"id": 1, "name": "w"}})
        );
        let (read, meta) = decode::<Doc>(&envelope).unwrap();
        assert_eq!(read, doc);
        assert_eq!(meta, Some(META));
    }

    #[test]
    fn a_read_model_whose_first_field_is_xf_still_decodes() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Odd {
            _xf: u32,
            doc: u32,
        }
        let odd = Odd { _xf: 1, doc: 2 };
        let payload = encode(&odd, None).unwrap();
        assert_eq!(decode::<Odd>(&payload).unwrap(), (odd, None));
        assert!(decode::<Doc>(b"{\"_xf\":1}").is_err());
        assert!(decode::<Doc>(b"garbage").is_err());
    }

    #[test]
    fn election_follows_the_formula() {
        let beta = 1.0;
        let expiry = META.at + META.ttl as i64;
        // At or past the expiry every draw elects.
        assert!(META.elects(expiry, beta, 1.0));
        // Far from expiry (g = 10 s, d·beta = 50 ms): no plausible draw elects.
        assert!(!META.elects(expiry - 10_000, beta, 1e-12));
        // g = 100 ms = 2·d: elects iff -ln(u) >= 2, i.e. u <= e^-2.
        let now = expiry - 100;
        assert!(META.elects(now, beta, 0.13));
        assert!(!META.elects(now, beta, 0.14));
        // A larger beta elects earlier.
        assert!(META.elects(now, 2.0, 0.36));
        // No recompute cost measured: never.
        let free = XfMeta { d: 0, ..META };
        assert!(!free.elects(expiry + 1, beta, 1e-12));
    }

    #[test]
    fn draws_are_seeded_and_in_the_unit_interval() {
        let a = ElectionRng::new(7);
        let b = ElectionRng::new(7);
        for _ in 0..10_000 {
            let u = a.unit();
            assert!(u > 0.0 && u <= 1.0);
            assert_eq!(u.to_bits(), b.unit().to_bits());
        }
        let mean: f64 = (0..10_000).map(|_| a.unit()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert_ne!(ElectionRng::entropy(), ElectionRng::entropy());
    }
}
