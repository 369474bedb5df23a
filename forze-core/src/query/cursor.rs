//! Cursor tokens: opaque, tamper-evident positions in a keyset-paginated query.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use std::fmt::Write as _;

use crate::query::check::{Cond, Predicate, Scalar, Schema, SortKey};
use crate::query::filter::SortOrder;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a token.
const TAG_LEN: usize = 16;
/// The longest token accepted (a page position is a few sort values).
const MAX_TOKEN_LEN: usize = 4096;

/// A position in a keyset-paginated query: where the next page starts.
///
/// Opaque and tamper-evident: it carries the sort values of the last row of a page, bound by a
/// MAC to the document, the tenant, the filter and the sort it was issued for. A token that was
/// altered, or is used with another query, is a [`Validation`](crate::ErrorKind::Validation)
/// error. Serializes as a plain string, for a JSON response and the next request.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// A token as received from a client (checked when used).
    pub fn from_token(token: impl Into<String>) -> Self {
        Cursor(token.into())
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cursor").field(&self.0).finish()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Cursor {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Cursor(s.to_owned()))
    }
}

/// The key cursor tokens are signed with: set one secret on every replica of a service with
/// [`ExecutionRuntime::with_cursor_secret`](crate::ExecutionRuntime::with_cursor_secret).
///
/// Without a secret, tokens are signed with a fixed, public key: still tamper-evident against
/// edits and mix-ups, but a client who knows forze could forge one. A forged token gains
/// nothing a filter could not ask for (the filter and the tenant are applied to every page and
/// the position is a bound parameter), so a secret is defence in depth.
#[derive(Clone)]
pub struct CursorKey(Arc<[u8]>);

impl CursorKey {
    /// A key from secret bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        CursorKey(Arc::from(secret.as_ref()))
    }
}

impl Default for CursorKey {
    fn default() -> Self {
        CursorKey::new(b"forze cursor key: set ExecutionRuntime::with_cursor_secret")
    }
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// The fingerprint of the query the token belongs to.
    q: String,
    /// The sort values of the last row.
    k: Vec<Value>,
}

/// What a token is bound to.
#[derive(Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) schema: Schema<'a>,
    pub(crate) tenant: Option<uuid::Uuid>,
    pub(crate) filter: Option<&'a Predicate>,
    pub(crate) sort: &'a [SortKey],
}

impl Binding<'_> {
    fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        // An explicit canonical text (not `Debug`), so replicas of different versions agree.
        let mut text = format!(
            "v1\u{0}{}\u{0}{}\u{0}",
            self.schema.document,
            self.tenant.map(|t| t.to_string()).unwrap_or_default()
        );
        if let Some(filter) = self.filter {
            canonical(filter, &mut text);
        }
        for key in self.sort {
            let dir = match key.order {
                SortOrder::Asc => "asc",
                SortOrder::Desc => "desc",
            };
            let _ = write!(text, "\u{0}{} {dir}", key.field.name);
        }
        hash.update(text.as_bytes());
        let digest = hash.finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The token for a page that ended at a row with these sort values.
    pub(crate) fn encode(&self, key: &CursorKey, values: &[Option<Scalar>]) -> Cursor {
        let payload = Payload {
            q: self.fingerprint(),
            k: values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect(),
        };
        let mut bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = mac(key, &bytes);
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        Cursor(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The sort values a token carries, if it is intact and belongs to this query.
    pub(crate) fn decode(&self, key: &CursorKey, cursor: &Cursor) -> Result<Vec<Option<Scalar>>> {
        let altered = || {
            self.schema.invalid(
                "the cursor is malformed or was altered; pass back the `next` cursor of a page \
                 unchanged",
            )
        };
        if cursor.0.len() > MAX_TOKEN_LEN {
            return Err(altered());
        }
        let bytes = URL_SAFE_NO_PAD.decode(&cursor.0).map_err(|_| altered())?;
        if bytes.len() <= TAG_LEN {
            return Err(altered());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let expected = mac(key, payload);
        if !constant_time_eq(&expected[..TAG_LEN], tag) {
            return Err(altered());
        }
        let payload: Payload = serde_json::from_slice(payload).map_err(|_| altered())?;
        if payload.q != self.fingerprint() || payload.k.len() != self.sort.len() {
            return Err(self.schema.invalid(
                "the cursor belongs to another query (its filter, sort, tenant or document \
                 differ); a cursor continues only the query that issued it",
            ));
        }
        payload
            .k
            .iter()
            .zip(self.sort)
            .map(|(v, key)| {
                if v.is_null() {
                    if key.field.nullable {
                        Ok(None)
                    } else {
                        Err(altered())
                    }
                } else {
                    self.schema
                        .scalar(key.field, "cursor", v)
                        .map(Some)
                        .map_err(|_| altered())
                }
            })
            .collect()
    }
}

/// A predicate as stable text: operators by name, values in a fixed notation.
fn canonical(p: &Predicate, out: &mut String) {
    match p {
        Predicate::And(all) | Predicate::Or(all) => {
            out.push_str(if matches!(p, Predicate::And(_)) {
                "and("
            } else {
                "or("
            });
            for (i, p) in all.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(p, out);
            }
            out.push(')');
        }
        Predicate::Not(p) => {
            out.push_str("not(");
            canonical(p, out);
            out.push(')');
        }
        Predicate::Column(field, cond) => {
            let _ = write!(out, "{}:", field.name);
            match cond {
                Cond::Compare(op, v) => {
                    let _ = write!(out, "{}", op.sql());
                    scalar(v, out);
                }
                Cond::In { values, negated } => {
                    out.push_str(if *negated { "not_in[" } else { "in[" });
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        scalar(v, out);
                    }
                    out.push(']');
                }
                Cond::IsNull { negated } => {
                    out.push_str(if *negated { "not_null" } else { "is_null" });
                }
                Cond::Prefix {
                    pattern,
                    case_insensitive,
                } => {
                    let _ = write!(out, "prefix/{case_insensitive}");
                    scalar(&Scalar::Text(pattern.clone()), out);
                }
                Cond::Contains {
                    pattern,
                    case_insensitive,
                } => {
                    let _ = write!(out, "contains/{case_insensitive}");
                    scalar(&Scalar::Text(pattern.clone()), out);
                }
                #[allow(unreachable_patterns)]
                _ => out.push('?'),
            }
        }
        #[allow(unreachable_patterns)]
        _ => out.push('?'),
    }
}

fn scalar(v: &Scalar, out: &mut String) {
    let _ = match v {
        Scalar::Text(s) => write!(out, "t{}", Value::String(s.clone())),
        Scalar::Int(n) => write!(out, "i{n}"),
        Scalar::Float(x) => write!(out, "f{x}"),
        Scalar::Bool(b) => write!(out, "b{b}"),
        Scalar::Uuid(u) => write!(out, "u{u}"),
        Scalar::Timestamp(t) => write!(
            out,
            "d{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        #[allow(unreachable_patterns)]
        _ => write!(out, "?"),
    };
}

fn mac(key: &CursorKey, bytes: &[u8]) -> Vec<u8> {
    // HMAC accepts a key of any length.
    let mut mac = match HmacSha256::new_from_slice(&key.0) {
        Ok(mac) => mac,
        Err(_) => return Vec::new(),
    };
    mac.update(bytes);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldKind, FieldSchema};
    use crate::query::filter::{Filter, Op, Sort};

    static FIELDS: [FieldSchema; 2] = [
        FieldSchema::new("name", FieldKind::Text, false),
        FieldSchema::new("note", FieldKind::Text, true),
    ];

    fn schema() -> Schema<'static> {
        Schema {
            document: "products",
            fields: &FIELDS,
        }
    }

    #[test]
    fn round_trips_and_rejects_tampering_and_other_queries() {
        let s = schema();
        let sort = s.sort(&[Sort::desc("note")]).unwrap();
        let filter = s.filter(&Filter::field("name", Op::Prefix, "a")).unwrap();
        let binding = Binding {
            schema: s,
            tenant: None,
            filter: Some(&filter),
            sort: &sort,
        };
        let key = CursorKey::default();
        let values = vec![None, Some(Scalar::Uuid(uuid::Uuid::now_v7()))];
        let token = binding.encode(&key, &values);
        assert_eq!(binding.decode(&key, &token).unwrap(), values);

        // every single-character change is caught
        let text = token.as_str();
        for i in 0..text.len() {
            let mut chars: Vec<char> = text.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let tampered = Cursor(chars.into_iter().collect());
            if tampered != token {
                let err = binding.decode(&key, &tampered).unwrap_err().to_string();
                assert!(err.contains("malformed or was altered"), "{err}");
            }
        }
        let err = binding
            .decode(&CursorKey::new("another secret"), &token)
            .unwrap_err();
        assert!(err.to_string().contains("altered"));

        let other_filter = s.filter(&Filter::field("name", Op::Prefix, "b")).unwrap();
        let other = Binding {
            filter: Some(&other_filter),
            ..binding
        };
        let err = other.decode(&key, &token).unwrap_err().to_string();
        assert!(err.contains("belongs to another query"), "{err}");
        let tenant = Binding {
            tenant: Some(uuid::Uuid::nil()),
            ..binding
        };
        assert!(tenant.decode(&key, &token).is_err());
        assert!(binding.decode(&key, &Cursor::from_token("")).is_err());
        assert!(binding.decode(&key, &Cursor::from_token("!!!")).is_err());
    }
}
