//! `get_many`: the L1, one cache round trip, one store query for the misses, one fill.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::cache::Lookup;
use crate::codec::{many_not_found, not_found, row_to_read};
use crate::coordinator::l1::Stamp;
use crate::coordinator::push::Change;
use crate::error::Result;
use crate::l1::L1Key;
use crate::model::Document;
use crate::store::StoreCx;

use crate::coordinator::key::cache_key;

use super::ReadThrough;

impl<D: Document> ReadThrough<D> {
    /// A read-through `get_many`: the L1, then one cache round trip, one store query for the
    /// misses, one fill round trip. Input order, duplicates repeated; missing ids are
    /// `NotFound`.
    pub(crate) async fn get_many(
        &self,
        tenant: Option<Uuid>,
        ids: &[Uuid],
    ) -> Result<Vec<D::Read>> {
        let mut unique = Vec::with_capacity(ids.len());
        {
            let mut seen = std::collections::HashSet::with_capacity(ids.len());
            unique.extend(ids.iter().copied().filter(|id| seen.insert(*id)));
        }
        let mut found: HashMap<Uuid, D::Read> = HashMap::with_capacity(unique.len());
        // The ids the L1 does not have, with the stamps to insert them with.
        let mut wanted: Vec<(Uuid, Option<Stamp>)> = Vec::with_capacity(unique.len());
        for id in unique {
            match &self.l1 {
                Some(l1) => {
                    let key = L1Key::new(tenant, id);
                    match l1.get(&key) {
                        Some(read) => {
                            found.insert(id, read);
                        }
                        None => wanted.push((id, Some(l1.stamp(&key)))),
                    }
                }
                None => wanted.push((id, None)),
            }
        }
        if !wanted.is_empty() {
            self.get_many_shared(tenant, &wanted, &mut found).await?;
        }
        let missing: Vec<Uuid> = wanted
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !found.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(many_not_found(&self.name, &missing));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match found.get(id) {
                Some(read) => out.push(read.clone()),
                None => return Err(not_found(&self.name, *id)),
            }
        }
        Ok(out)
    }

    /// `get_many` past the L1, for `wanted`: found documents go into `found` (and the L1).
    pub(super) async fn get_many_shared(
        &self,
        tenant: Option<Uuid>,
        wanted: &[(Uuid, Option<Stamp>)],
        found: &mut HashMap<Uuid, D::Read>,
    ) -> Result<()> {
        let keys: Vec<String> = wanted
            .iter()
            .map(|(id, _)| cache_key(tenant, *id))
            .collect();
        let mut misses: Vec<(Uuid, &str, Option<Stamp>)> = Vec::new();
        let mut fill = false;
        let entries = if self.lane.reads_enabled().await {
            match self.lane.call(|| self.lane.lookup_many(&keys)).await {
                Ok(entries) if entries.len() == keys.len() => Some(entries),
                Ok(entries) => {
                    self.lane.counters.cache_errors.inc();
                    tracing::warn!(document = %self.name, asked = keys.len(), got = entries.len(), "cache get_many answered the wrong number of entries; ignoring it");
                    None
                }
                Err(_) => None,
            }
        } else {
            None
        };
        match entries {
            Some(entries) => {
                fill = true;
                // Evicted together (concurrently) once the batch is sorted: after a schema
                // change every entry may be undecodable.
                let mut undecodable = Vec::new();
                // The store read below starts after these lookups returned, so a tombstone
                // needs no floor here: the read sees the write that left it.
                for (((id, stamp), key), entry) in wanted.iter().zip(&keys).zip(entries) {
                    match entry {
                        Lookup::Value(entry) => match self.decode(*id, &entry) {
                            Ok((read, _)) => {
                                self.lane.counters.hits.inc();
                                found.insert(*id, self.keep(tenant, *id, *stamp, read));
                            }
                            Err(bad) => {
                                undecodable.push((*id, key.as_str(), entry.rev, bad));
                                misses.push((*id, key, *stamp));
                            }
                        },
                        Lookup::Tombstone(_) | Lookup::Absent => {
                            self.lane.counters.misses.inc();
                            misses.push((*id, key, *stamp));
                        }
                    }
                }
                futures_util::future::join_all(
                    undecodable
                        .iter()
                        .map(|(id, key, rev, bad)| self.discard(tenant, *id, key, *rev, bad)),
                )
                .await;
            }
            None => {
                // The cache is unavailable: serve what the outage hold has.
                for ((id, stamp), key) in wanted.iter().zip(&keys) {
                    match self.held_get(tenant, *id) {
                        Some(read) => {
                            found.insert(*id, read);
                        }
                        None => misses.push((*id, key.as_str(), *stamp)),
                    }
                }
            }
        }
        if misses.is_empty() {
            return Ok(());
        }
        let hold = if fill { None } else { self.hold() };
        let held_stamps: Vec<Stamp> = match hold {
            Some(hold) => misses
                .iter()
                .map(|(id, _, _)| hold.stamp(&L1Key::new(tenant, *id)))
                .collect(),
            None => Vec::new(),
        };
        let generation = self.lane.cache.generation();
        self.lane.counters.store_reads.inc();
        let miss_ids: Vec<Uuid> = misses.iter().map(|(id, _, _)| *id).collect();
        let cx = StoreCx::none().with_tenant(tenant);
        let started = self.lane.clock().now();
        let rows = self.store.get_many(&cx, &miss_ids).await?;
        let elapsed = self.lane.clock().now().saturating_duration_since(started);
        let recompute = elapsed / u32::try_from(rows.len().max(1)).unwrap_or(u32::MAX);
        // Too old to cache anywhere: return the rows, fill nothing, keep nothing in the L1.
        let outlived = self.lane.outlived_tombstones(elapsed);
        let fill = fill && !outlived;
        let by_id: HashMap<Uuid, (&str, Option<Stamp>)> = misses
            .iter()
            .map(|(id, key, stamp)| (*id, (*key, *stamp)))
            .collect();
        let mut reads = Vec::with_capacity(rows.len());
        let mut fills = Vec::new();
        let mut filled = Vec::new();
        for row in rows {
            let id = row.meta.id;
            let Some((key, stamp)) = by_id.get(&id) else {
                continue;
            };
            let read = row_to_read::<D>(&self.name, row)?;
            if fill
                && let Some(f) = self.encode((*key).to_owned(), &read, recompute, false, generation)
            {
                fills.push(f);
                filled.push(id);
            }
            reads.push((id, *stamp, read));
        }
        let mut rejected = std::collections::HashSet::new();
        if !fills.is_empty() {
            let expected: Vec<Option<Change>> = fills
                .iter()
                .zip(&filled)
                .map(|(fill, id)| self.expect(L1Key::new(tenant, *id), Change::Fill(fill.rev)))
                .collect();
            match self
                .lane
                .call(move || self.lane.cache.fill_many(fills))
                .await
            {
                Ok(installed) => {
                    let mut installed = installed.into_iter();
                    for (id, expected) in filled.into_iter().zip(expected) {
                        // A missing flag (a short answer) counts as "maybe": retract.
                        match installed.next() {
                            Some(true) => self.lane.counters.fills.inc(),
                            Some(false) => {
                                self.retract(L1Key::new(tenant, id), expected);
                                self.lane.counters.fills_rejected.inc();
                                rejected.insert(id);
                            }
                            None => self.retract(L1Key::new(tenant, id), expected),
                        }
                    }
                }
                Err(_) => {
                    for (id, expected) in filled.into_iter().zip(expected) {
                        self.retract(L1Key::new(tenant, id), expected);
                    }
                }
            }
        }
        if let Some(hold) = hold {
            let stamps: HashMap<Uuid, Stamp> = misses
                .iter()
                .zip(held_stamps)
                .map(|((id, _, _), stamp)| (*id, stamp))
                .collect();
            for (id, _, read) in &reads {
                if let Some(stamp) = stamps.get(id) {
                    hold.insert(L1Key::new(tenant, *id), *stamp, Arc::new(read.clone()));
                }
            }
        }
        for (id, stamp, read) in reads {
            let read = if outlived || rejected.contains(&id) {
                read
            } else {
                self.keep(tenant, id, stamp, read)
            };
            found.insert(id, read);
        }
        Ok(())
    }
}
