//! Lookups by a unique field, read through the cache.
//!
//! A bounded in-process map remembers which document holds a unique value; the document itself
//! is read through the lane (L1, shared cache, store) and checked: if it no longer holds the
//! value (or is gone), the mapping is dropped and the store is asked. So a lookup never returns
//! a document whose field no longer has the value (as of a read made by `get` at the same time),
//! and a stale mapping costs one store query.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::l1::{L1Config, L1Key, L1Store, L1StoreKind, build_store};
use crate::model::FieldSchema;
use crate::query::Scalar;

/// Mappings remembered per lane.
const CAPACITY: usize = 10_000;
/// A mapping is checked on every use; its lifetime only bounds the memory of dead ones.
const LIFETIME: Duration = Duration::from_secs(300);

/// value → id of the document holding it, per (tenant, field).
pub(crate) struct UniqueIds {
    map: Box<dyn L1Store>,
    document: String,
}

impl std::fmt::Debug for UniqueIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniqueIds")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

impl UniqueIds {
    pub(crate) fn new(document: &str, clock: &SharedClock) -> Self {
        let config = L1Config::new(CAPACITY, LIFETIME, Arc::clone(clock));
        UniqueIds {
            map: build_store(L1StoreKind::Lru, &config),
            document: document.to_owned(),
        }
    }

    /// The map key of `value` of `field`: a hash, so any value fits the L1's key.
    fn key(&self, tenant: Option<Uuid>, field: &FieldSchema, value: &Scalar) -> L1Key {
        let mut hash = Sha256::new();
        hash.update(self.document.as_bytes());
        hash.update([0]);
        hash.update(field.name.as_bytes());
        hash.update([0]);
        hash.update(format!("{value:?}").as_bytes());
        let digest = hash.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        L1Key::new(tenant, Uuid::from_bytes(bytes))
    }

    pub(crate) fn get(
        &self,
        tenant: Option<Uuid>,
        field: &FieldSchema,
        value: &Scalar,
    ) -> Option<Uuid> {
        let held = self.map.get(&self.key(tenant, field, value))?;
        held.downcast_ref::<Uuid>().copied()
    }

    pub(crate) fn insert(
        &self,
        tenant: Option<Uuid>,
        field: &FieldSchema,
        value: &Scalar,
        id: Uuid,
    ) {
        self.map
            .insert(self.key(tenant, field, value), Arc::new(id));
    }

    pub(crate) fn remove(&self, tenant: Option<Uuid>, field: &FieldSchema, value: &Scalar) {
        self.map.remove(&self.key(tenant, field, value));
    }
}
