//! The entry storage shared by the stores: nodes in one `Vec`, found through a hash map of
//! indices, and chained into intrusive doubly linked recency lists by index.
//!
//! Nothing here allocates once the slab has grown to the store's capacity: freed nodes are
//! reused through a free list.

use std::collections::HashMap;

use super::hash::{HashedKey, PassThroughBuild};
use super::{L1Key, L1Value};

/// The "no node" index.
pub(crate) const NIL: usize = usize::MAX;

/// Never preallocate more than this many slots up front; larger stores grow on demand.
const MAX_PREALLOCATED: usize = 1 << 16;

/// One entry, live or on the free list.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) key: L1Key,
    pub(crate) hash: u64,
    /// `None` only while the node is on the free list.
    pub(crate) value: Option<L1Value>,
    /// Expiry in nanoseconds since the store's base instant.
    pub(crate) expires: u64,
    pub(crate) prev: usize,
    pub(crate) next: usize,
    /// Which list the node is on (the stores give the numbers a meaning).
    pub(crate) segment: u8,
}

/// Nodes plus the key index.
#[derive(Debug)]
pub(crate) struct Slab {
    nodes: Vec<Node>,
    index: HashMap<HashedKey, usize, PassThroughBuild>,
    free: usize,
}

impl Slab {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let pre = capacity.min(MAX_PREALLOCATED);
        Slab {
            nodes: Vec::with_capacity(pre),
            index: HashMap::with_capacity_and_hasher(pre, PassThroughBuild),
            free: NIL,
        }
    }

    /// Live nodes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &L1Key) -> Option<usize> {
        self.index.get(&HashedKey { hash, key: *key }).copied()
    }

    #[inline]
    pub(crate) fn node(&self, idx: usize) -> &Node {
        &self.nodes[idx]
    }

    #[inline]
    pub(crate) fn node_mut(&mut self, idx: usize) -> &mut Node {
        &mut self.nodes[idx]
    }

    /// Store a new entry (the caller checked that `key` is absent) and return its index. The
    /// node is on no list yet.
    pub(crate) fn alloc(
        &mut self,
        key: L1Key,
        hash: u64,
        value: L1Value,
        expires: u64,
        segment: u8,
    ) -> usize {
        let node = Node {
            key,
            hash,
            value: Some(value),
            expires,
            prev: NIL,
            next: NIL,
            segment,
        };
        let idx = if self.free == NIL {
            self.nodes.push(node);
            self.nodes.len() - 1
        } else {
            let idx = self.free;
            self.free = self.nodes[idx].next;
            self.nodes[idx] = node;
            idx
        };
        self.index.insert(HashedKey { hash, key }, idx);
        idx
    }

    /// Forget the entry at `idx` (already unlinked from its list) and return its value, which
    /// the caller drops after releasing its lock.
    pub(crate) fn release(&mut self, idx: usize) -> Option<L1Value> {
        let node = &mut self.nodes[idx];
        self.index.remove(&HashedKey {
            hash: node.hash,
            key: node.key,
        });
        let value = node.value.take();
        node.prev = NIL;
        node.next = self.free;
        self.free = idx;
        value
    }

    /// Forget everything; returns the old nodes so their values drop outside the lock.
    pub(crate) fn take_all(&mut self) -> Vec<Node> {
        self.index.clear();
        self.free = NIL;
        let keep = self.nodes.capacity();
        std::mem::replace(&mut self.nodes, Vec::with_capacity(keep))
    }
}

/// A recency list threaded through the slab: `head` is the most recently used end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    head: usize,
    tail: usize,
    len: usize,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The least recently used node, if any.
    #[inline]
    pub(crate) fn back(&self) -> Option<usize> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Iterate from most to least recently used.
    pub(crate) fn iter<'a>(&self, slab: &'a Slab) -> impl Iterator<Item = usize> + 'a {
        let mut cursor = self.head;
        std::iter::from_fn(move || {
            (cursor != NIL).then(|| {
                let idx = cursor;
                cursor = slab.nodes[idx].next;
                idx
            })
        })
    }

    #[inline]
    pub(crate) fn push_front(&mut self, slab: &mut Slab, idx: usize) {
        let old_head = self.head;
        {
            let node = &mut slab.nodes[idx];
            node.prev = NIL;
            node.next = old_head;
        }
        if old_head == NIL {
            self.tail = idx;
        } else {
            slab.nodes[old_head].prev = idx;
        }
        self.head = idx;
        self.len += 1;
    }

    #[inline]
    pub(crate) fn unlink(&mut self, slab: &mut Slab, idx: usize) {
        let (prev, next) = {
            let node = &slab.nodes[idx];
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            slab.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            slab.nodes[next].prev = prev;
        }
        let node = &mut slab.nodes[idx];
        node.prev = NIL;
        node.next = NIL;
        self.len -= 1;
    }

    #[inline]
    pub(crate) fn move_to_front(&mut self, slab: &mut Slab, idx: usize) {
        if self.head != idx {
            self.unlink(slab, idx);
            self.push_front(slab, idx);
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = List::default();
    }
}
