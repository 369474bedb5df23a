//! The history checker: every successful read of a recorded history is checked against forze's
//! freshness contract.
//!
//! A history is a list of [`Op`]s, each with the replica it ran on, the document, and the start
//! and end instants the *driver* took around the request and the response (so an op really
//! started after its recorded start and really ended before its recorded end: the checks below
//! are conservative), and the [`Fault`]s the driver injected.
//!
//! For every read that returned a rev or `NotFound`:
//!
//! - **(a) read your writes**: never older than a write on the same replica that returned before
//!   the read began (a delete means `NotFound`);
//! - **(b) other replicas**: never older than a write on another replica that returned more than
//!   the configuration's budget ([`Budgets`]) before the read began, the budget being extended
//!   around faults (writes made while Redis was unreachable, reads served from a held store
//!   value during an outage, a push stream that was cut);
//! - **(c) no phantoms**: never a rev (or a `NotFound`) that no write started before the read
//!   ended could have produced.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use uuid::Uuid;

/// What an op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `create` (rev 1).
    Create,
    /// `update` (rev + 1).
    Update,
    /// `touch` (rev + 1).
    Touch,
    /// `delete` (the document is gone; outranks every rev).
    Delete,
    /// `get`, or one document of a `get_many`.
    Read,
}

impl OpKind {
    /// A write (anything but a read).
    pub fn is_write(self) -> bool {
        !matches!(self, OpKind::Read)
    }
}

/// How an op ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A read or a write returned the document at this rev.
    Rev(i64),
    /// A read returned `NotFound`.
    NotFound,
    /// A delete returned `Ok`.
    Deleted,
    /// The op failed. `unknown`: the outcome of a write is unknown (it may have committed).
    Error {
        /// The error kind, as the replica named it.
        kind: String,
        /// Whether a failed write may still have been applied.
        unknown: bool,
    },
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Position in the history (for reports).
    pub index: usize,
    /// The replica (process) it ran on.
    pub replica: usize,
    /// What it did.
    pub kind: OpKind,
    /// The document.
    pub doc: Uuid,
    /// When the driver sent it (since the start of the run).
    pub start: Duration,
    /// When the driver received its answer.
    pub end: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} replica {} {:?} {} [{:.1} ms .. {:.1} ms] -> {:?}",
            self.index,
            self.replica,
            self.kind,
            self.doc,
            ms(self.start),
            ms(self.end),
            self.outcome
        )
    }
}

/// A fault the driver injected into the shared Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `CLIENT PAUSE` (every client frozen).
    Pause,
    /// `CLIENT KILL` of the push-tracking connections.
    KillTracking,
    /// `CLIENT KILL TYPE normal`: every connection (data and tracking) reset.
    KillAll,
    /// The server killed and started again, empty, on the same port.
    Restart,
}

/// An injected fault and its window: `start` before the driver sent it, `end` when the server is
/// known to be back (conservatively late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What was done.
    pub kind: FaultKind,
    /// The window's start.
    pub start: Duration,
    /// The window's end.
    pub end: Duration,
}

impl Fault {
    /// Whether the fault cuts (or delays) the push stream of invalidations.
    pub fn disrupts_push(&self) -> bool {
        true
    }
}

/// The freshness budgets of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// How long after a write returned another replica may still read the old value when
    /// nothing goes wrong: 0 without L1, the L1 ttl with an L1, a round trip (plus slack) with
    /// push invalidation.
    pub base: Duration,
    /// With push: the L1 ttl, the budget of writes made around a cut push stream.
    pub push_fallback: Option<Duration>,
    /// Pending invalidations are written within this long after Redis is back.
    pub recovery: Duration,
    /// After a cut push stream, tracking is re-armed within this long.
    pub push_resume: Duration,
    /// During a cache outage a replica may serve a value it read from the store for this long.
    pub outage_hold: Duration,
    /// How long after a fault ended a replica may still consider the cache unavailable (the
    /// breaker's cool-down plus the recovery allowance).
    pub outage_tail: Duration,
}

impl Budgets {
    /// Without L1: no budget at all across replicas.
    pub fn no_l1() -> Self {
        Budgets {
            base: Duration::ZERO,
            push_fallback: None,
            recovery: Duration::from_millis(100),
            push_resume: Duration::from_secs(1),
            outage_hold: Duration::from_secs(1),
            outage_tail: Duration::from_millis(600),
        }
    }

    /// With an L1 of `ttl`, TTL-only.
    pub fn l1(ttl: Duration) -> Self {
        Budgets {
            base: ttl,
            ..Budgets::no_l1()
        }
    }

    /// With an L1 of `ttl` and push invalidation delivering within `push`.
    pub fn push(ttl: Duration, push: Duration) -> Self {
        Budgets {
            base: push,
            push_fallback: Some(ttl),
            ..Budgets::no_l1()
        }
    }

    /// The instant after which a read `r` must observe the write `w`.
    fn deadline(&self, w: &Op, r: &Op, faults: &[Fault]) -> Duration {
        if w.replica == r.replica {
            return w.end;
        }
        let mut budget = self.base;
        if let Some(fallback) = self.push_fallback {
            let cut = faults.iter().any(|f| {
                f.disrupts_push()
                    && w.end + self.base >= f.start
                    && w.start <= f.end + self.push_resume
            });
            if cut {
                budget = budget.max(fallback);
            }
        }
        let mut deadline = w.end + budget;
        for f in faults {
            // A write overlapping the fault (or the recovery right after it): its invalidation
            // may be pending until the fault ends plus the recovery allowance.
            if w.end >= f.start && w.start <= f.end + self.recovery {
                deadline = deadline.max(w.end.max(f.end) + self.recovery + budget);
            }
            // A read during the outage (or while the replica still treats the cache as
            // unavailable): it may be served a value held from a store read.
            if r.start >= f.start && r.start <= f.end + self.outage_tail + self.outage_hold {
                deadline = deadline.max(w.end + self.outage_hold);
            }
        }
        deadline
    }
}

/// What a read can observe, in contract order: any rev, then the document gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Rev(i64),
    Gone,
}

fn written(op: &Op) -> Option<Version> {
    match (&op.kind, &op.outcome) {
        (OpKind::Create | OpKind::Update | OpKind::Touch, Outcome::Rev(rev)) => {
            Some(Version::Rev(*rev))
        }
        (OpKind::Delete, Outcome::Deleted) => Some(Version::Gone),
        _ => None,
    }
}

fn observed(op: &Op) -> Option<Version> {
    match op.outcome {
        Outcome::Rev(rev) => Some(Version::Rev(rev)),
        Outcome::NotFound => Some(Version::Gone),
        _ => None,
    }
}

/// Which rule a read broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// (a) older than a write on the same replica that returned before the read began.
    ReadYourWrites,
    /// (b) older than a write on another replica, beyond the budget.
    OtherReplica,
    /// (c) a rev or a `NotFound` no write could have produced.
    Phantom,
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The read.
    pub read: Op,
    /// The write that bounds it (for (a) and (b)).
    pub bound: Option<Op>,
    /// The instant after which the read had to observe `bound`.
    pub deadline: Option<Duration>,
    /// In words.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {}\n    read:  {}",
            self.rule, self.detail, self.read
        )?;
        if let Some(bound) = &self.bound {
            write!(f, "\n    write: {bound}")?;
        }
        if let Some(deadline) = self.deadline {
            write!(
                f,
                "\n    the read began {:.1} ms after the write's deadline ({:.1} ms)",
                ms(self.read.start.saturating_sub(deadline)),
                ms(deadline)
            )?;
        }
        Ok(())
    }
}

/// The checker's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Reads checked (those that returned a rev or `NotFound`).
    pub reads_checked: usize,
    /// Reads skipped because they failed.
    pub reads_failed: usize,
    /// Writes in the history (successful, failed).
    pub writes: (usize, usize),
    /// Every violation, in history order.
    pub violations: Vec<Violation>,
}

impl Report {
    /// Violations per rule.
    pub fn counts(&self) -> HashMap<Rule, usize> {
        let mut counts = HashMap::new();
        for v in &self.violations {
            *counts.entry(v.rule).or_insert(0) += 1;
        }
        counts
    }
}

/// Check every read of `ops` against the contract of `budgets`, under `faults`.
pub fn check(ops: &[Op], faults: &[Fault], budgets: &Budgets) -> Report {
    let mut by_doc: HashMap<Uuid, Vec<&Op>> = HashMap::new();
    for op in ops {
        by_doc.entry(op.doc).or_default().push(op);
    }
    let mut report = Report::default();
    for op in ops {
        if op.kind.is_write() {
            if written(op).is_some() {
                report.writes.0 += 1;
            } else {
                report.writes.1 += 1;
            }
        }
    }
    for r in ops.iter().filter(|op| op.kind == OpKind::Read) {
        let Some(seen) = observed(r) else {
            report.reads_failed += 1;
            continue;
        };
        report.reads_checked += 1;
        let writes: Vec<&Op> = by_doc
            .get(&r.doc)
            .map(|ops| ops.iter().copied().filter(|w| w.kind.is_write()).collect())
            .unwrap_or_default();

        // (a) and (b): the newest write the read must observe.
        let mut required: Option<(Version, &Op, Duration)> = None;
        for w in &writes {
            let Some(version) = written(w) else { continue };
            let deadline = budgets.deadline(w, r, faults);
            if deadline < r.start && required.is_none_or(|(v, _, _)| version > v) {
                required = Some((version, w, deadline));
            }
        }
        if let Some((version, w, deadline)) = required
            && seen < version
        {
            let rule = if w.replica == r.replica {
                Rule::ReadYourWrites
            } else {
                Rule::OtherReplica
            };
            report.violations.push(Violation {
                rule,
                read: r.clone(),
                bound: Some((*w).clone()),
                deadline: Some(deadline),
                detail: format!("read {seen:?}, older than {version:?}"),
            });
            continue;
        }

        // (c): something a write started before the read ended could have produced.
        let started: Vec<&&Op> = writes.iter().filter(|w| w.start < r.end).collect();
        let possible = match seen {
            Version::Gone => started.iter().any(|w| {
                w.kind == OpKind::Delete
                    && matches!(
                        w.outcome,
                        Outcome::Deleted | Outcome::Error { unknown: true, .. }
                    )
            }),
            Version::Rev(rev) => {
                let known = started
                    .iter()
                    .filter_map(|w| match written(w) {
                        Some(Version::Rev(n)) => Some(n),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                let unknown = started
                    .iter()
                    .filter(|w| {
                        matches!(w.kind, OpKind::Update | OpKind::Touch | OpKind::Create)
                            && matches!(w.outcome, Outcome::Error { unknown: true, .. })
                    })
                    .count();
                rev >= 1 && rev <= known + i64::try_from(unknown).unwrap_or(i64::MAX)
            }
        };
        if !possible {
            report.violations.push(Violation {
                rule: Rule::Phantom,
                read: r.clone(),
                bound: None,
                deadline: None,
                detail: format!("read {seen:?}, which no write started before the read ended made"),
            });
        }
    }
    report
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: usize = 0;
    const B: usize = 1;

    fn t(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    struct H {
        doc: Uuid,
        ops: Vec<Op>,
    }

    impl H {
        /// A history where the document was created on A at 0..1 ms.
        fn new() -> Self {
            let mut h = H {
                doc: Uuid::from_u128(7),
                ops: Vec::new(),
            };
            h.op(A, OpKind::Create, 0, 1, Outcome::Rev(1));
            h
        }

        fn op(&mut self, replica: usize, kind: OpKind, start: u64, end: u64, outcome: Outcome) {
            let index = self.ops.len();
            self.ops.push(Op {
                index,
                replica,
                kind,
                doc: self.doc,
                start: t(start),
                end: t(end),
                outcome,
            });
        }

        fn write(&mut self, replica: usize, start: u64, end: u64, rev: i64) {
            self.op(replica, OpKind::Update, start, end, Outcome::Rev(rev));
        }

        fn read(&mut self, replica: usize, start: u64, end: u64, rev: i64) {
            self.op(replica, OpKind::Read, start, end, Outcome::Rev(rev));
        }

        fn check(&self, faults: &[Fault], budgets: Budgets) -> Report {
            check(&self.ops, faults, &budgets)
        }
    }

    fn rules(report: &Report) -> Vec<Rule> {
        report.violations.iter().map(|v| v.rule).collect()
    }

    #[test]
    fn reading_the_latest_write_passes() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(A, 21, 22, 2);
        h.read(B, 21, 22, 2);
        let report = h.check(&[], Budgets::no_l1());
        assert_eq!(report.violations, vec![]);
        assert_eq!(report.reads_checked, 2);
        assert_eq!(report.writes, (2, 0));
    }

    #[test]
    fn a_stale_read_after_an_own_write_fails() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(A, 21, 22, 1);
        let report = h.check(&[], Budgets::l1(t(1000)));
        assert_eq!(rules(&report), [Rule::ReadYourWrites]);
        let v = &report.violations[0];
        assert_eq!(v.bound.as_ref().map(|w| w.index), Some(1));
        assert!(v.to_string().contains("older than Rev(2)"), "{v}");
    }

    #[test]
    fn a_read_overlapping_the_write_may_see_either() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(A, 15, 25, 1);
        h.read(B, 19, 30, 2);
        assert_eq!(h.check(&[], Budgets::no_l1()).violations, vec![]);
    }

    #[test]
    fn without_l1_another_replica_has_no_budget() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(B, 21, 22, 1);
        assert_eq!(rules(&h.check(&[], Budgets::no_l1())), [Rule::OtherReplica]);
    }

    #[test]
    fn with_l1_another_replica_may_be_stale_for_the_ttl_only() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(B, 500, 501, 1); // within 1 s of the write's end
        assert_eq!(h.check(&[], Budgets::l1(t(1000))).violations, vec![]);
        h.read(B, 1021, 1022, 1); // beyond
        assert_eq!(
            rules(&h.check(&[], Budgets::l1(t(1000)))),
            [Rule::OtherReplica]
        );
    }

    #[test]
    fn with_push_the_budget_is_small_unless_the_stream_was_cut() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(B, 400, 401, 1);
        let push = Budgets::push(t(3000), t(200));
        assert_eq!(rules(&h.check(&[], push)), [Rule::OtherReplica]);
        let cut = Fault {
            kind: FaultKind::KillTracking,
            start: t(5),
            end: t(6),
        };
        assert_eq!(h.check(&[cut], push).violations, vec![]);
        // Long after the cut the small budget applies again.
        let mut later = H::new();
        later.write(A, 5000, 5010, 2);
        later.read(B, 5400, 5401, 1);
        assert_eq!(rules(&later.check(&[cut], push)), [Rule::OtherReplica]);
    }

    #[test]
    fn a_delete_means_not_found() {
        let mut h = H::new();
        h.op(B, OpKind::Delete, 10, 20, Outcome::Deleted);
        h.op(B, OpKind::Read, 30, 31, Outcome::NotFound);
        h.op(A, OpKind::Read, 30, 31, Outcome::NotFound);
        assert_eq!(h.check(&[], Budgets::no_l1()).violations, vec![]);
        h.read(B, 40, 41, 1);
        h.read(A, 40, 41, 1);
        assert_eq!(
            rules(&h.check(&[], Budgets::no_l1())),
            [Rule::ReadYourWrites, Rule::OtherReplica]
        );
    }

    #[test]
    fn a_rev_nobody_wrote_is_a_phantom() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.read(B, 5, 8, 2); // ended before the write started
        h.read(B, 30, 31, 3);
        assert_eq!(
            rules(&h.check(&[], Budgets::no_l1())),
            [Rule::Phantom, Rule::Phantom]
        );
    }

    #[test]
    fn a_not_found_without_a_delete_is_a_phantom() {
        let mut h = H::new();
        h.op(B, OpKind::Read, 30, 31, Outcome::NotFound);
        assert_eq!(rules(&h.check(&[], Budgets::no_l1())), [Rule::Phantom]);
    }

    #[test]
    fn a_write_of_unknown_outcome_may_explain_a_rev() {
        let mut h = H::new();
        h.op(
            A,
            OpKind::Touch,
            10,
            20,
            Outcome::Error {
                kind: "unavailable".into(),
                unknown: true,
            },
        );
        h.read(B, 30, 31, 2);
        assert_eq!(h.check(&[], Budgets::no_l1()).violations, vec![]);
        // A write refused before it was sent explains nothing.
        let mut refused = H::new();
        refused.op(
            A,
            OpKind::Touch,
            10,
            20,
            Outcome::Error {
                kind: "unavailable".into(),
                unknown: false,
            },
        );
        refused.read(B, 30, 31, 2);
        assert_eq!(
            rules(&refused.check(&[], Budgets::no_l1())),
            [Rule::Phantom]
        );
    }

    #[test]
    fn failed_reads_are_skipped() {
        let mut h = H::new();
        h.write(A, 10, 20, 2);
        h.op(
            A,
            OpKind::Read,
            30,
            31,
            Outcome::Error {
                kind: "unavailable".into(),
                unknown: false,
            },
        );
        let report = h.check(&[], Budgets::no_l1());
        assert_eq!(report.violations, vec![]);
        assert_eq!((report.reads_checked, report.reads_failed), (0, 1));
    }

    #[test]
    fn a_write_during_an_outage_gets_the_recovery_allowance_on_other_replicas_only() {
        let pause = Fault {
            kind: FaultKind::Pause,
            start: t(100),
            end: t(600),
        };
        let mut h = H::new();
        h.write(A, 200, 210, 2);
        // Another replica, after the pause, within the recovery allowance: allowed.
        h.read(B, 650, 651, 1);
        // Also during the outage (a held value, and the pending invalidation).
        h.read(B, 300, 301, 1);
        // The writer itself: never.
        h.read(A, 220, 221, 1);
        let budgets = Budgets {
            outage_hold: Duration::ZERO,
            ..Budgets::no_l1()
        };
        assert_eq!(rules(&h.check(&[pause], budgets)), [Rule::ReadYourWrites]);
        // Beyond the recovery allowance: stale.
        h.read(B, 750, 751, 1);
        assert_eq!(
            rules(&h.check(&[pause], budgets)),
            [Rule::ReadYourWrites, Rule::OtherReplica]
        );
    }

    #[test]
    fn during_an_outage_a_held_store_value_is_allowed_for_the_hold() {
        let pause = Fault {
            kind: FaultKind::Pause,
            start: t(5000),
            end: t(9000),
        };
        let mut h = H::new();
        h.write(A, 3000, 3010, 2);
        h.write(A, 4500, 4510, 3);
        // Inside the outage, less than the hold after rev 3 returned: a held rev 2 is fine.
        h.read(B, 5200, 5201, 2);
        assert_eq!(h.check(&[pause], Budgets::no_l1()).violations, vec![]);
        // Rev 2 returned long before: rev 1 is stale even during the outage.
        h.read(B, 5300, 5301, 1);
        // More than the hold after rev 3 returned: rev 2 is stale.
        h.read(B, 5600, 5601, 2);
        let report = h.check(&[pause], Budgets::no_l1());
        assert_eq!(rules(&report), [Rule::OtherReplica, Rule::OtherReplica]);
        assert_eq!(report.violations[0].read.index, 4);
        assert_eq!(report.violations[1].read.index, 5);
        // Without the outage, no hold at all.
        let mut calm = H::new();
        calm.write(A, 4500, 4510, 3);
        calm.read(B, 5200, 5201, 1);
        assert_eq!(
            rules(&calm.check(&[], Budgets::no_l1())),
            [Rule::OtherReplica]
        );
    }
}
