//! The differential test of the query layer: the in-memory store (`forze_core::query::eval`) and
//! the Postgres store (`forze_postgres` SQL rendering) run the same random queries over the same
//! random rows and must return identical results — the same ids in the same order, equal counts.
//!
//! Rows have a field of every kind, nullable and not, with nulls (absent keys and explicit
//! `null`), values drawn from small pools so that sort keys tie, text with mixed case, `%`, `_`,
//! `\`, non-ASCII letters that must not fold (`é`/`É`, `ß`, `İ`), and code points whose UTF-8
//! order differs from their UTF-16 order; `-0.0`, values that are not 32-bit floats in `real`
//! fields; timestamps before 1970 and 2000 and with nanoseconds.
//!
//! Queries are random filter trees over every operator with `and` / `or` / `not` (empty ones
//! too), random multi-key sorts in mixed directions, random `limit` / `offset`, keyset walks
//! (every page compared, its `after` taken from the last row with `eval::sort_values`) and
//! random keyset positions, nulls included.
//!
//! The seed is printed at the start; `FORZE_QUERY_SEED=<n>` replays it. A mismatch panics with
//! the seed, the query and both results.

mod common;

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{TestDb, watchdog};
use forze_core::Document;
use forze_core::memory::MemoryDocumentStore;
use forze_core::prelude::*;
use forze_core::query::{Filter, META_FIELDS, Scalar, Select, Sort, eval};
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
use forze_core::testing::TestDepsModule;
use forze_core::{
    DepsRegistry, DocumentMeta, ExecutionRuntime, FieldKind, FieldSchema, LifecyclePlan, Row,
};
use forze_postgres::{PostgresDocumentBackend, create_table_sql};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The test document: one field of every kind, required and optional.
#[derive(Document)]
#[document_spec(name = "items")]
pub struct Item {
    /// Text.
    pub text: String,
    /// Optional text.
    pub text_opt: Option<String>,
    /// Smallint.
    pub small: i16,
    /// Optional smallint.
    pub small_opt: Option<i16>,
    /// Integer.
    pub int: i32,
    /// Optional integer.
    pub int_opt: Option<i32>,
    /// Bigint.
    pub big: i64,
    /// Optional bigint.
    pub big_opt: Option<i64>,
    /// Real.
    pub real: f32,
    /// Optional real.
    pub real_opt: Option<f32>,
    /// Double.
    pub double: f64,
    /// Optional double.
    pub double_opt: Option<f64>,
    /// Boolean.
    pub flag: bool,
    /// Optional boolean.
    pub flag_opt: Option<bool>,
    /// Uuid.
    pub uuid: Uuid,
    /// Optional uuid.
    pub uuid_opt: Option<Uuid>,
    /// Timestamp.
    pub at: DateTime<Utc>,
    /// Optional timestamp.
    pub at_opt: Option<DateTime<Utc>>,
    /// JSON.
    pub json: Vec<String>,
    /// Optional JSON.
    pub json_opt: Option<Value>,
}

const SEED_VAR: &str = "FORZE_QUERY_SEED";

/// Random queries per run (each a full find with its count, an offset page, a keyset walk or a
/// random keyset position).
const QUERIES: usize = 1_200;

fn seed() -> u64 {
    if let Some(seed) = std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return seed;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
        .unwrap_or(42)
}

// ---------------------------------------------------------------------------------------------
// value pools
// ---------------------------------------------------------------------------------------------

/// Pieces of text values and patterns. No NUL: Postgres text cannot hold it, so the Postgres
/// store refuses it on write and the query check refuses it in a filter value, the same
/// `Validation` error on both backends (`query::check` tests it); nothing to compare.
const TEXT_ATOMS: &[&str] = &[
    "",
    "a",
    "A",
    "b",
    "B",
    "ab",
    "AB",
    "aB",
    "z",
    "Z",
    "e",
    "E",
    "é",
    "É",
    "è",
    "ß",
    "SS",
    "ı",
    "İ",
    "%",
    "_",
    "\\",
    "%_",
    "a%",
    "_b",
    "\\%",
    " ",
    "~",
    "\u{7f}",
    "\u{80}",
    "日本",
    "\u{FF21}",  // fullwidth A: after every ASCII byte
    "\u{FFFD}",  // U+FFFD: in UTF-16 after a surrogate pair, in UTF-8 before it
    "\u{1F600}", // a 4-byte character
    "e\u{301}",  // e + combining acute: not equal to é
];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// The atoms where the semantics are subtlest (case folding, wildcards), drawn more often.
const HOT_ATOMS: &[&str] = &["a", "A", "é", "É", "%", "_", "\\"];

fn text_value(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..=3);
    (0..n)
        .map(|_| {
            if rng.random_bool(0.4) {
                *pick(rng, HOT_ATOMS)
            } else {
                *pick(rng, TEXT_ATOMS)
            }
        })
        .collect()
}

/// A pattern for prefix / contains: a piece of a stored value or of the atoms, its case
/// sometimes flipped: ASCII letters only, or every letter (`é` → `É`, which must not match
/// case-insensitively).
fn text_pattern(rng: &mut StdRng, rows: &[Row], field: &str) -> String {
    let base = match rows[rng.random_range(0..rows.len())].fields.get(field) {
        Some(Value::String(s)) if rng.random_bool(0.7) => {
            let chars: Vec<char> = s.chars().collect();
            let start = rng.random_range(0..=chars.len());
            let end = rng.random_range(start..=chars.len());
            chars[start..end].iter().collect()
        }
        _ => text_value(rng),
    };
    let flip = |c: char| -> String {
        if c.is_lowercase() {
            c.to_uppercase().collect()
        } else {
            c.to_lowercase().collect()
        }
    };
    match rng.random_range(0..4) {
        0 => base
            .chars()
            .map(|c| if c.is_ascii() { flip(c) } else { c.to_string() })
            .collect(),
        1 => base.chars().map(flip).collect(),
        _ => base,
    }
}

const SMALLS: &[i64] = &[i16::MIN as i64, -100, -1, 0, 1, 2, 7, i16::MAX as i64];
const INTS: &[i64] = &[i32::MIN as i64, -5, -1, 0, 1, 3, 1000, i32::MAX as i64];
const BIGS: &[i64] = &[
    i64::MIN,
    -(1 << 53) - 1,
    -1,
    0,
    1,
    1 << 53,
    (1 << 53) + 1,
    i64::MAX,
];
/// Values of `real` fields as written (f64): some are not 32-bit floats and round when stored.
const REALS: &[f64] = &[
    0.0,
    -0.0,
    0.1,
    -0.1,
    0.3,
    1.0,
    1.5,
    -1.5,
    16_777_217.0, // rounds to 16777216 as f32
    3.4e38,
    -3.4e38,
    1e-45, // the smallest subnormal f32
    1.175_494_350_822_287_5e-38,
];
const DOUBLES: &[f64] = &[
    0.0,
    -0.0,
    0.1,
    0.3,
    0.300_000_000_000_000_04,
    1.0,
    -2.5,
    1e300,
    -1e300,
    5e-324,
    f64::MAX,
    f64::MIN,
];
const UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "00000000-0000-0000-0000-000000000001",
    "018f0000-0000-7000-8000-000000000000",
    "7fffffff-ffff-ffff-ffff-ffffffffffff",
    "80000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
];
/// Timestamps as stored: at microsecond precision (what both backends keep: see
/// `forze_core::query` # Semantics), before 1970 and 2000 (Postgres' epoch) too.
const TIMESTAMPS: &[&str] = &[
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59.999999Z",
    "2000-01-01T00:00:00Z",
    "2000-01-01T00:00:00.000001Z",
    "2024-02-29T12:00:00.5Z",
    "2024-02-29T14:00:00.5+02:00",
    "9999-12-31T23:59:59.999999Z",
    // nanoseconds: both keep whole microseconds, truncated (before 2000 too)
    "1999-12-31T23:59:59.9999995Z",
    "2000-01-01T00:00:00.0000015Z",
    "2024-02-29T12:00:00.5000009Z",
];
/// Timestamps only filters use: nanoseconds (truncated by the check) and offsets.
const FILTER_TIMESTAMPS: &[&str] = &[
    "1999-12-31T23:59:59.9999995Z",
    "2000-01-01T00:00:00.0000009Z",
    "2024-02-29T12:00:00.4999999Z",
    "1970-01-01T01:00:00+01:00",
];

fn sometimes<T>(rng: &mut StdRng, value: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    if rng.random_bool(0.25) {
        None
    } else {
        Some(value(rng))
    }
}

fn int_json(rng: &mut StdRng, pool: &[i64]) -> Value {
    json!(*pick(rng, pool))
}

/// A value of `kind` for a row (never null).
fn row_value(rng: &mut StdRng, kind: FieldKind) -> Value {
    match kind {
        FieldKind::Text => json!(text_value(rng)),
        FieldKind::SmallInt => int_json(rng, SMALLS),
        FieldKind::Int => int_json(rng, INTS),
        FieldKind::BigInt => int_json(rng, BIGS),
        FieldKind::Real => json!(*pick(rng, REALS)),
        FieldKind::Double => json!(*pick(rng, DOUBLES)),
        FieldKind::Bool => json!(rng.random_bool(0.5)),
        FieldKind::Uuid => json!(*pick(rng, UUIDS)),
        FieldKind::Timestamp => json!(*pick(rng, TIMESTAMPS)),
        _ => json!({"k": rng.random_range(0..3)}),
    }
}

fn random_uuid(rng: &mut StdRng) -> Uuid {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    Uuid::from_bytes(bytes)
}

fn timestamp(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid timestamp")
        .with_timezone(&Utc)
}

fn random_rows(rng: &mut StdRng, n: usize) -> Vec<Row> {
    (0..n)
        .map(|_| {
            let mut fields = Map::new();
            for f in Item::FIELDS {
                if f.name == "json" {
                    fields.insert("json".into(), json!(["x", text_value(rng)]));
                    continue;
                }
                let value = if f.nullable {
                    sometimes(rng, |rng| row_value(rng, f.kind))
                } else {
                    Some(row_value(rng, f.kind))
                };
                match value {
                    Some(v) => {
                        fields.insert(f.name.into(), v);
                    }
                    // a null is an explicit `null` or an absent key
                    None if rng.random_bool(0.5) => {
                        fields.insert(f.name.into(), Value::Null);
                    }
                    None => {}
                }
            }
            let meta = DocumentMeta::from_parts(
                random_uuid(rng),
                rng.random_range(1..=3),
                timestamp(pick::<&str>(rng, TIMESTAMPS)),
                timestamp(pick::<&str>(rng, TIMESTAMPS)),
            );
            Row::new(meta, fields)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// queries
// ---------------------------------------------------------------------------------------------

fn all_fields() -> Vec<&'static FieldSchema> {
    META_FIELDS.iter().chain(Item::FIELDS.iter()).collect()
}

/// The JSON value of `field` in `row` (null when absent), metadata included.
fn json_of(row: &Row, field: &str) -> Value {
    match field {
        "id" => json!(row.meta.id.to_string()),
        "rev" => json!(row.meta.rev),
        "created_at" => json!(row.meta.created_at.to_rfc3339()),
        "last_update_at" => json!(row.meta.last_update_at.to_rfc3339()),
        _ => row.fields.get(field).cloned().unwrap_or(Value::Null),
    }
}

/// A comparison value for `field`: often one a row holds (so comparisons hit), else from the
/// pools.
fn filter_value(rng: &mut StdRng, rows: &[Row], field: &FieldSchema) -> Value {
    if rng.random_bool(0.5) {
        let v = json_of(&rows[rng.random_range(0..rows.len())], field.name);
        if !v.is_null() {
            return v;
        }
    }
    match (field.name, field.kind) {
        ("id", _) => json!(random_uuid(rng).to_string()),
        ("rev", _) => json!(rng.random_range(0..=4)),
        (_, FieldKind::Timestamp) if rng.random_bool(0.3) => json!(*pick(rng, FILTER_TIMESTAMPS)),
        (_, kind) => row_value(rng, kind),
    }
}

fn leaf(rng: &mut StdRng, rows: &[Row]) -> Value {
    let fields: Vec<&FieldSchema> = all_fields()
        .into_iter()
        .filter(|f| f.kind != FieldKind::Json || f.nullable)
        .collect();
    // text has the most operators and the subtlest semantics: a quarter of the comparisons
    let field = if rng.random_bool(0.25) {
        *pick(rng, &[&Item::FIELDS[0], &Item::FIELDS[1]])
    } else {
        *pick(rng, &fields)
    };
    let mut ops: Vec<&str> = Vec::new();
    if field.kind != FieldKind::Json {
        ops.extend(["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in"]);
    }
    if field.nullable {
        ops.extend(["is_null", "not_null", "is_null", "not_null"]);
    }
    if field.kind == FieldKind::Text {
        ops.extend(["prefix", "contains", "prefix", "contains"]);
    }
    let op = *pick(rng, &ops);
    match op {
        "is_null" | "not_null" => json!({"field": field.name, "op": op}),
        "in" | "not_in" => {
            let n = rng.random_range(0..=4);
            let values: Vec<Value> = (0..n).map(|_| filter_value(rng, rows, field)).collect();
            json!({"field": field.name, "op": op, "value": values})
        }
        "prefix" | "contains" => {
            let pattern = text_pattern(rng, rows, field.name);
            if rng.random_bool(0.5) {
                json!({"field": field.name, "op": op, "value": pattern, "case_insensitive": true})
            } else {
                json!({"field": field.name, "op": op, "value": pattern})
            }
        }
        _ => json!({"field": field.name, "op": op, "value": filter_value(rng, rows, field)}),
    }
}

fn random_filter(rng: &mut StdRng, rows: &[Row], depth: usize) -> Value {
    if depth >= 4 || rng.random_bool(0.45) {
        return leaf(rng, rows);
    }
    match rng.random_range(0..3) {
        0 | 1 => {
            let n = rng.random_range(0..=3);
            let parts: Vec<Value> = (0..n)
                .map(|_| random_filter(rng, rows, depth + 1))
                .collect();
            if rng.random_bool(0.5) {
                json!({ "and": parts })
            } else {
                json!({ "or": parts })
            }
        }
        _ => json!({"not": random_filter(rng, rows, depth + 1)}),
    }
}

fn random_sort(rng: &mut StdRng) -> Vec<Sort> {
    let mut fields: Vec<&FieldSchema> = all_fields()
        .into_iter()
        .filter(|f| f.kind != FieldKind::Json)
        .collect();
    let n = rng.random_range(0..=3);
    let mut sort = Vec::new();
    for _ in 0..n {
        let i = rng.random_range(0..fields.len());
        let field = fields.swap_remove(i);
        sort.push(if rng.random_bool(0.5) {
            Sort::asc(field.name)
        } else {
            Sort::desc(field.name)
        });
    }
    sort
}

/// A keyset position for `select.sort`: a value from the pools or a row for each key, null for
/// nullable keys sometimes.
fn random_after(rng: &mut StdRng, rows: &[Row], select: &Select) -> Vec<Option<Scalar>> {
    select
        .sort
        .iter()
        .map(|key| {
            if key.field.nullable && rng.random_bool(0.3) {
                return None;
            }
            // check the value the way a filter value is checked (typed, normalized)
            let value = filter_value(rng, rows, key.field);
            let probe = Filter::field(key.field.name, forze_core::query::Op::Eq, value);
            let checked = Select::new("items", Item::FIELDS, Some(&probe), &[])
                .expect("a pool value fits its field");
            match checked.filter {
                Some(forze_core::query::Predicate::Column(
                    _,
                    forze_core::query::Cond::Compare(_, scalar),
                )) => Some(scalar),
                other => panic!("unexpected check of a probe: {other:?}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// running and comparing
// ---------------------------------------------------------------------------------------------

struct Backends {
    memory: Arc<dyn DocumentStore>,
    postgres: Arc<dyn DocumentStore>,
    seed: u64,
    calls: usize,
}

fn describe_rows(rows: &[Row], select: &Select) -> String {
    let mut out = String::new();
    for r in rows {
        let keys: Vec<String> = eval::sort_values(r, &select.sort)
            .iter()
            .map(|v| match v {
                Some(v) => serde_json::to_string(v).unwrap_or_default(),
                None => "null".to_owned(),
            })
            .collect();
        let _ = writeln!(out, "    {} sort=[{}]", r.meta.id, keys.join(", "));
    }
    out
}

impl Backends {
    fn fail(&self, what: &str, query: &str, select: &Select, mem: &[Row], pg: &[Row]) -> ! {
        let only = |a: &[Row], b: &[Row]| -> String {
            let mut out = String::new();
            for r in a
                .iter()
                .filter(|r| !b.iter().any(|o| o.meta.id == r.meta.id))
            {
                let _ = writeln!(
                    out,
                    "    {} {}",
                    r.meta.id,
                    serde_json::to_string(&r.fields).unwrap_or_default()
                );
            }
            out
        };
        panic!(
            "query differential: {what} differs (seed {seed}; replay with {SEED_VAR}={seed})\n\
             query: {query}\n\
             checked: {select:?}\n\
             memory ({} rows):\n{}postgres ({} rows):\n{}only in memory:\n{}only in postgres:\n{}",
            mem.len(),
            describe_rows(mem, select),
            pg.len(),
            describe_rows(pg, select),
            only(mem, pg),
            only(pg, mem),
            seed = self.seed,
        );
    }

    /// Run `select` on both; they must return the same ids in the same order.
    async fn find(&mut self, query: &str, select: &Select) -> Vec<Row> {
        self.calls += 1;
        let cx = StoreCx::none();
        let mem = self.memory.find(&cx, select).await.expect("memory find");
        let pg = match self.postgres.find(&cx, select).await {
            Ok(rows) => rows,
            Err(e) => panic!(
                "query differential: postgres failed (seed {}): {e}\nquery: {query}\nchecked: {select:?}",
                self.seed
            ),
        };
        let ids = |rows: &[Row]| rows.iter().map(|r| r.meta.id).collect::<Vec<_>>();
        if ids(&mem) != ids(&pg) {
            self.fail("find", query, select, &mem, &pg);
        }
        mem
    }

    async fn count(&mut self, query: &str, select: &Select) -> u64 {
        self.calls += 1;
        let cx = StoreCx::none();
        let mem = self
            .memory
            .count(&cx, select.filter.as_ref())
            .await
            .expect("memory count");
        let pg = self
            .postgres
            .count(&cx, select.filter.as_ref())
            .await
            .expect("postgres count");
        if mem != pg {
            panic!(
                "query differential: count differs (seed {seed}; replay with {SEED_VAR}={seed}): \
                 memory {mem}, postgres {pg}\nquery: {query}\nchecked: {select:?}",
                seed = self.seed
            );
        }
        mem
    }
}

fn ids(rows: &[Row]) -> Vec<Uuid> {
    rows.iter().map(|r| r.meta.id).collect()
}

/// Rows into both stores: `Item`'s table in a private schema, and a fresh memory store.
async fn stores(db: &TestDb, rows: &[Row]) -> (Arc<dyn DocumentBackend>, Arc<dyn DocumentBackend>) {
    let config = db.config("items");
    db.client
        .execute(&create_table_sql(&config, Item::FIELDS))
        .await
        .expect("create the items table");
    let pg: Arc<dyn DocumentBackend> =
        Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
    let mem: Arc<dyn DocumentBackend> = Arc::new(MemoryDocumentStore::new());
    let cx = StoreCx::none();
    for backend in [&mem, &pg] {
        backend
            .bind(&DocumentBinding::new("items", Item::FIELDS))
            .expect("bind items")
            .insert(&cx, rows.to_vec())
            .await
            .expect("insert the random rows");
    }
    (mem, pg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_postgres_agree_on_random_queries() {
    let seed = seed();
    println!("query differential: seed {seed} (replay with {SEED_VAR}={seed})");
    watchdog(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let rows = random_rows(&mut rng, 80);
        let db = TestDb::new("qdiff").await;
        let (mem, pg) = stores(&db, &rows).await;
        let bind = |b: &Arc<dyn DocumentBackend>| {
            b.bind(&DocumentBinding::new("items", Item::FIELDS))
                .expect("bind items")
        };
        let mut b = Backends {
            memory: bind(&mem),
            postgres: bind(&pg),
            seed,
            calls: 0,
        };
        let mut nonempty = 0;
        for _ in 0..QUERIES {
            let filter_json = if rng.random_bool(0.1) {
                None
            } else {
                Some(random_filter(&mut rng, &rows, 0))
            };
            let filter: Option<Filter> = filter_json
                .as_ref()
                .map(|f| serde_json::from_value(f.clone()).expect("a generated filter parses"));
            let sort = random_sort(&mut rng);
            let base = Select::new("items", Item::FIELDS, filter.as_ref(), &sort)
                .unwrap_or_else(|e| panic!("a generated query is valid: {e}\n{filter_json:?}"));
            let query = format!(
                "filter {} sort {}",
                filter_json.map_or("none".to_owned(), |f| f.to_string()),
                serde_json::to_string(&sort).unwrap_or_default()
            );
            let all = b.find(&query, &base).await;
            if !all.is_empty() {
                nonempty += 1;
            }
            let total = b.count(&query, &base).await;
            assert_eq!(
                total,
                all.len() as u64,
                "seed {seed}: count vs find\n{query}"
            );
            match rng.random_range(0..3) {
                0 => {
                    // offset + limit
                    let offset = rng.random_range(0..=all.len() as u64 + 2);
                    let mut select = base.clone().with_offset(offset);
                    if rng.random_bool(0.8) {
                        select = select.with_limit(rng.random_range(0..=12));
                    }
                    let q = format!("{query} offset {offset} limit {:?}", select.limit);
                    let page = b.find(&q, &select).await;
                    let expected: Vec<Uuid> = ids(&all)
                        .into_iter()
                        .skip(offset as usize)
                        .take(select.limit.map_or(usize::MAX, |l| l as usize))
                        .collect();
                    assert_eq!(
                        ids(&page),
                        expected,
                        "seed {seed}: a page is a slice of the whole\n{q}"
                    );
                }
                1 => {
                    // a keyset walk, page by page
                    let size = rng.random_range(1..=12);
                    let mut walked = Vec::new();
                    let mut after: Option<Vec<Option<Scalar>>> = None;
                    loop {
                        let mut select = base.clone().with_limit(size);
                        if let Some(a) = after.clone() {
                            select = select.with_after(a);
                        }
                        let q = format!("{query} limit {size} after {after:?}");
                        let page = b.find(&q, &select).await;
                        walked.extend(ids(&page));
                        match page.last() {
                            Some(last) if page.len() as u64 == size => {
                                after = Some(eval::sort_values(last, &select.sort));
                            }
                            _ => break,
                        }
                    }
                    assert_eq!(
                        walked,
                        ids(&all),
                        "seed {seed}: a keyset walk returns every row once, in order\n{query}"
                    );
                }
                _ => {
                    // a random keyset position (not necessarily a row's), nulls included
                    let after = random_after(&mut rng, &rows, &base);
                    let mut select = base.clone().with_after(after.clone());
                    if rng.random_bool(0.5) {
                        select = select.with_limit(rng.random_range(1..=10));
                    }
                    let q = format!("{query} limit {:?} after {after:?}", select.limit);
                    b.find(&q, &select).await;
                }
            }
        }
        println!(
            "query differential: seed {seed}: {QUERIES} random queries ({} store calls on each \
             backend, {nonempty} with rows) agree",
            b.calls
        );
        assert!(
            nonempty > QUERIES / 4,
            "the generator should produce many queries that match rows ({nonempty} of {QUERIES})"
        );
    })
    .await;
}

/// Cursor pagination through the ports (`DocumentQuery::find().cursor()`): on a runtime backed
/// by Postgres and one backed by memory over the same rows, walking every page of a random query
/// returns each matching document exactly once, in the order of `all()`, and both agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_walks_through_the_ports_agree() {
    let seed = seed();
    println!("query differential (ports): seed {seed} (replay with {SEED_VAR}={seed})");
    watchdog(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let rows = random_rows(&mut rng, 60);
        let db = TestDb::new("qdiff_port").await;
        let (mem, pg) = stores(&db, &rows).await;
        let runtime = |name: &str, backend: Arc<dyn DocumentBackend>| {
            ExecutionRuntime::new(
                DepsRegistry::from_modules([TestDepsModule::new(name)
                    .document("items", backend)
                    .boxed()])
                .freeze()
                .expect("deps"),
                LifecyclePlan::new().freeze().expect("plan"),
            )
        };
        let runtimes = [runtime("memory", mem), runtime("postgres", pg)];
        for _ in 0..40 {
            let filter_json = random_filter(&mut rng, &rows, 1);
            let filter: Filter = serde_json::from_value(filter_json.clone()).expect("parses");
            let sort = random_sort(&mut rng);
            let size = rng.random_range(1..=7);
            let query = format!(
                "filter {filter_json} sort {} page size {size}",
                serde_json::to_string(&sort).unwrap_or_default()
            );
            let mut results = Vec::new();
            for runtime in &runtimes {
                let ctx = runtime.context();
                let items = ctx.document().query(&ITEM_SPEC).expect("query port");
                let all: Vec<Uuid> = items
                    .find()
                    .filter(filter.clone())
                    .sort_by(sort.clone())
                    .all()
                    .await
                    .expect("all")
                    .iter()
                    .map(|i| i.id)
                    .collect();
                let mut walked = Vec::new();
                let mut next = None;
                loop {
                    let page = items
                        .find()
                        .filter(filter.clone())
                        .sort_by(sort.clone())
                        .limit(size)
                        .cursor(next.as_ref())
                        .await
                        .unwrap_or_else(|e| panic!("seed {seed}: cursor page: {e}\n{query}"));
                    assert!(page.items.len() as u64 <= size);
                    walked.extend(page.items.iter().map(|i| i.id));
                    match page.next {
                        Some(cursor) => {
                            assert_eq!(page.items.len() as u64, size, "only a full page has a next");
                            next = Some(cursor);
                        }
                        None => break,
                    }
                    assert!(walked.len() <= rows.len(), "seed {seed}: the walk does not end\n{query}");
                }
                assert_eq!(
                    walked, all,
                    "seed {seed}: a cursor walk returns every document of all() once, in order\n{query}"
                );
                results.push(all);
            }
            assert_eq!(
                results[0], results[1],
                "seed {seed}: memory and postgres agree through the ports\n{query}"
            );
        }
    })
    .await;
}
