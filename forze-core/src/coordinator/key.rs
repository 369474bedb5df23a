//! The cache key of a document: its id, or `<tenant>:<id>` when a tenant is bound. The one
//! place that writes and parses it.

/// The cache key of a document: its id, prefixed by the tenant when one is bound.
pub(crate) fn cache_key(tenant: Option<uuid::Uuid>, id: uuid::Uuid) -> String {
    KeyBuf::new(tenant, id).as_str().to_owned()
}

/// The cache key of `key` (a document id as text, or anything else a caller passes) under
/// `tenant`: the same form as [`cache_key`], for keys that are not parsed ids.
pub(crate) fn tenant_key(tenant: Option<uuid::Uuid>, key: &str) -> String {
    match tenant {
        Some(tenant) => format!("{tenant}:{key}"),
        None => key.to_owned(),
    }
}

/// The (tenant, id) of a cache key made by [`cache_key`], if it is one.
pub(crate) fn parse_cache_key(key: &str) -> Option<(Option<uuid::Uuid>, uuid::Uuid)> {
    const L: usize = uuid::fmt::Hyphenated::LENGTH;
    match key.len() {
        L => Some((None, uuid::Uuid::try_parse(key).ok()?)),
        n if n == 2 * L + 1 && key.as_bytes()[L] == b':' => Some((
            Some(uuid::Uuid::try_parse(&key[..L]).ok()?),
            uuid::Uuid::try_parse(&key[L + 1..]).ok()?,
        )),
        _ => None,
    }
}

/// A cache key on the stack, so the hit path does not allocate one.
pub(crate) struct KeyBuf {
    buf: [u8; 2 * uuid::fmt::Hyphenated::LENGTH + 1],
    len: usize,
}

impl KeyBuf {
    pub(crate) fn new(tenant: Option<uuid::Uuid>, id: uuid::Uuid) -> Self {
        const L: usize = uuid::fmt::Hyphenated::LENGTH;
        let mut buf = [0u8; 2 * L + 1];
        let len = match tenant {
            Some(tenant) => {
                tenant.hyphenated().encode_lower(&mut buf[..L]);
                buf[L] = b':';
                id.hyphenated().encode_lower(&mut buf[L + 1..]);
                2 * L + 1
            }
            None => {
                id.hyphenated().encode_lower(&mut buf[..L]);
                L
            }
        };
        KeyBuf { buf, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Hyphenated UUIDs and ':' are ASCII.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn keys_are_the_id_or_tenant_colon_id() {
        let (t, id) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(cache_key(None, id), id.to_string());
        assert_eq!(cache_key(Some(t), id), format!("{t}:{id}"));
        assert_eq!(KeyBuf::new(Some(t), id).as_str(), format!("{t}:{id}"));
        assert_eq!(parse_cache_key(&cache_key(None, id)), Some((None, id)));
        assert_eq!(
            parse_cache_key(&cache_key(Some(t), id)),
            Some((Some(t), id))
        );
        assert_eq!(parse_cache_key("nope"), None);
        assert_eq!(tenant_key(Some(t), &id.to_string()), cache_key(Some(t), id));
        assert_eq!(tenant_key(None, &id.to_string()), cache_key(None, id));
        assert_eq!(parse_cache_key(&format!("{t};{id}")), None);
    }
}
