//! A document backend wrapper whose store reads can be slow *after* the row was read: the read
//! then holds an old value while writes go on (the "slow store read" of the fleet schedules).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use forze_core::Row;
use forze_core::prelude::*;
use forze_core::runtime::Registrations;
use forze_core::store::{
    BoxFuture, DocumentBackend, DocumentBinding, Patch, StoreCx, Updated, Upsert, Upserted,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Mutex;
use uuid::Uuid;

/// The knob shared by every store of a [`SlowBackend`], and its counters.
#[derive(Debug)]
pub struct SlowKnob {
    setting: Mutex<(f64, Duration)>,
    rng: Mutex<StdRng>,
    reads: AtomicU64,
    slowed: AtomicU64,
}

impl SlowKnob {
    /// No read is slow until [`set`](Self::set).
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(SlowKnob {
            setting: Mutex::new((0.0, Duration::ZERO)),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            reads: AtomicU64::new(0),
            slowed: AtomicU64::new(0),
        })
    }

    /// From now on a `fraction` of store reads sleep `delay` after reading.
    pub fn set(&self, fraction: f64, delay: Duration) {
        if let Ok(mut s) = self.setting.lock() {
            *s = (fraction.clamp(0.0, 1.0), delay);
        }
    }

    /// Store reads (`get`, `get_many`) seen.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Store reads that were held.
    pub fn slowed(&self) -> u64 {
        self.slowed.load(Ordering::Relaxed)
    }

    /// The delay for this read (`None`: not slow).
    fn draw(&self) -> Option<Duration> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let (fraction, delay) = self.setting.lock().map(|s| *s).ok()?;
        if fraction <= 0.0 || delay.is_zero() {
            return None;
        }
        let hit = self.rng.lock().ok()?.random_bool(fraction);
        if hit {
            self.slowed.fetch_add(1, Ordering::Relaxed);
            Some(delay)
        } else {
            None
        }
    }
}

/// Wraps a document backend; its stores' reads may be held by a [`SlowKnob`].
#[derive(Debug, Clone)]
pub struct SlowBackend {
    inner: Arc<dyn DocumentBackend>,
    knob: Arc<SlowKnob>,
}

impl SlowBackend {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn DocumentBackend>, knob: Arc<SlowKnob>) -> Self {
        SlowBackend { inner, knob }
    }
}

impl DocumentBackend for SlowBackend {
    fn bind(&self, binding: &DocumentBinding) -> forze_core::Result<Arc<dyn DocumentStore>> {
        Ok(Arc::new(SlowStore {
            inner: self.inner.bind(binding)?,
            knob: Arc::clone(&self.knob),
        }))
    }
}

struct SlowStore {
    inner: Arc<dyn DocumentStore>,
    knob: Arc<SlowKnob>,
}

impl fmt::Debug for SlowStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlowStore").finish_non_exhaustive()
    }
}

async fn hold(knob: &SlowKnob, cx: &StoreCx) {
    if cx.tx.is_some() {
        return;
    }
    if let Some(delay) = knob.draw() {
        tokio::time::sleep(delay).await;
    }
}

impl DocumentStore for SlowStore {
    fn insert<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<Row>>> {
        self.inner.insert(cx, rows)
    }

    fn ensure<'a>(
        &'a self,
        cx: &'a StoreCx,
        row: Row,
    ) -> BoxFuture<'a, forze_core::Result<(Row, bool)>> {
        self.inner.ensure(cx, row)
    }

    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<Updated>>> {
        self.inner.update(cx, patches, now)
    }

    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, forze_core::Result<Row>> {
        self.inner.touch(cx, id, now)
    }

    fn delete<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, forze_core::Result<()>> {
        self.inner.delete(cx, ids)
    }

    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<Upserted>>> {
        self.inner.upsert(cx, items)
    }

    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<(Row, bool)>>> {
        self.inner.ensure_many(cx, rows)
    }

    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<Row>>> {
        self.inner.touch_many(cx, ids, now)
    }

    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, forze_core::Result<()>> {
        self.inner.delete_at(cx, expected)
    }

    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a forze_core::query::Predicate,
        fields: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, forze_core::Result<Vec<(Uuid, i64)>>> {
        self.inner.update_matching(cx, filter, fields, now)
    }

    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        lock: bool,
    ) -> BoxFuture<'a, forze_core::Result<Option<Row>>> {
        Box::pin(async move {
            let out = self.inner.get(cx, id, lock).await;
            if !lock {
                hold(&self.knob, cx).await;
            }
            out
        })
    }

    fn get_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
    ) -> BoxFuture<'a, forze_core::Result<Vec<Row>>> {
        Box::pin(async move {
            let out = self.inner.get_many(cx, ids).await;
            hold(&self.knob, cx).await;
            out
        })
    }

    fn find<'a>(
        &'a self,
        cx: &'a StoreCx,
        select: &'a forze_core::query::Select,
    ) -> BoxFuture<'a, forze_core::Result<Vec<Row>>> {
        self.inner.find(cx, select)
    }

    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a forze_core::query::Predicate>,
    ) -> BoxFuture<'a, forze_core::Result<u64>> {
        self.inner.count(cx, filter)
    }
}

/// Registers one document backend under a spec name.
#[derive(Debug)]
pub struct DocumentModule {
    name: &'static str,
    backend: Arc<dyn DocumentBackend>,
}

impl DocumentModule {
    /// Register `backend` as the document backend of `name`.
    pub fn new(name: &'static str, backend: Arc<dyn DocumentBackend>) -> Self {
        DocumentModule { name, backend }
    }
}

impl DepsModule for DocumentModule {
    fn name(&self) -> &str {
        "fleet-slow-store"
    }

    fn register(&self, deps: &mut Registrations) {
        deps.document(self.name, Arc::clone(&self.backend));
    }
}
