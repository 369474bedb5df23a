//! Value ranges and cross-field rules: from the spanned model to a valid [`Spec`].
//!
//! Every rule mirrors the run-time validation in `forze_core::spec` and words its message the
//! same way. A rule involving a key that was already reported as malformed is skipped, so one
//! mistake gives one error.

use syn::{Ident, Path};

use crate::attr::{
    AgeAttr, CacheAttr, IndexAttr, Input, L1Attr, Slot, Spanned, SpecAttr, StoreAttr,
};
use crate::case;
use crate::duration;
use crate::error::Errors;
use crate::index::index_rule;
use crate::types::Kind;

/// The default cache `ttl`: 5 minutes (`forze_core::spec::DEFAULT_CACHE_TTL`).
const DEFAULT_CACHE_TTL_MS: u64 = 300_000;
/// The default L1 capacity (`forze_core::spec::DEFAULT_L1_CAPACITY`).
const DEFAULT_L1_CAPACITY: u64 = 1024;
/// Field names every read model already has.
const RESERVED_FIELDS: &[&str] = &["id", "rev", "created_at", "last_update_at"];

/// The document spec with every default applied.
///
/// When errors were reported, the values of the offending keys are replaced by defaults: the
/// expansion still compiles (the errors do not cascade into "cannot find `ProductRead`"), and the
/// `compile_error!`s make the build fail.
pub(crate) struct Spec<'a> {
    pub(crate) name: String,
    pub(crate) cache: Option<Cache<'a>>,
    /// Filled by [`indexes`] once the struct's fields are known.
    pub(crate) indexes: Vec<Index>,
    /// `tenant = "..."`: `None`, or the `forze_core::Tenancy` variant (`Column`, `Schema`).
    pub(crate) tenant: Option<&'static str>,
}

/// `cache(...)` with every default applied.
pub(crate) struct Cache<'a> {
    pub(crate) name: String,
    pub(crate) ttl_ms: u64,
    pub(crate) early_refresh_beta: Option<Positive>,
    pub(crate) early_refresh_background: bool,
    pub(crate) sliding_ttl_ms: Option<u64>,
    pub(crate) age_ttl: Option<AgeTtl>,
    pub(crate) l1: Option<L1<'a>>,
}

/// `age_ttl(...)`.
pub(crate) struct AgeTtl {
    pub(crate) alpha: Positive,
    pub(crate) min_ttl_ms: u64,
    pub(crate) max_ttl_ms: u64,
}

/// `l1(...)` with every default applied.
pub(crate) struct L1<'a> {
    pub(crate) ttl_ms: u64,
    pub(crate) capacity: u64,
    pub(crate) store: Store<'a>,
}

/// The L1 eviction policy.
pub(crate) enum Store<'a> {
    Lru,
    TinyLfu,
    Custom(&'a Path),
}

/// A finite number greater than zero.
#[derive(Clone, Copy)]
pub(crate) struct Positive(f64);

impl Positive {
    fn new(value: f64) -> Option<Self> {
        (value.is_finite() && value > 0.0).then_some(Positive(value))
    }

    pub(crate) fn get(self) -> f64 {
        self.0
    }
}

/// The cache `ttl` other durations are compared with, and how to name it in messages.
struct Bound {
    millis: u64,
    shown: String,
}

/// A valid `unique(..)` / `index(..)`.
pub(crate) struct Index {
    pub(crate) unique: bool,
    /// Each column's name and whether it is descending.
    pub(crate) columns: Vec<(String, bool)>,
}

/// Check every `unique(..)` / `index(..)` against the struct's fields (the rule of
/// `forze_core::spec::check_indexes`); the valid ones, in order.
pub(crate) fn indexes(attrs: &[IndexAttr], input: &Input<'_>, errors: &mut Errors) -> Vec<Index> {
    let columns: Vec<(&str, bool)> = RESERVED_FIELDS
        .iter()
        .map(|name| (*name, true))
        .chain(
            input
                .fields
                .iter()
                .map(|f| (f.name.as_str(), f.kind != Kind::Json)),
        )
        .collect();
    let mut out: Vec<Index> = Vec::new();
    for attr in attrs {
        let keys: Vec<(&str, bool)> = attr
            .columns
            .iter()
            .map(|(name, desc)| (name.value.as_str(), *desc))
            .collect();
        let earlier: Vec<(Vec<(&str, bool)>, bool)> = out
            .iter()
            .map(|index| {
                let keys = index
                    .columns
                    .iter()
                    .map(|(name, desc)| (name.as_str(), *desc))
                    .collect();
                (keys, index.unique)
            })
            .collect();
        match index_rule(&columns, &keys, attr.unique, &earlier) {
            Ok(()) => out.push(Index {
                unique: attr.unique,
                columns: keys
                    .iter()
                    .map(|(name, desc)| ((*name).to_owned(), *desc))
                    .collect(),
            }),
            Err(problem) => {
                let at = problem.at.and_then(|i| attr.columns.get(i));
                errors.push(match at {
                    Some((column, _)) => column.error(problem.message),
                    None => attr.whole.error(problem.message),
                });
            }
        }
    }
    out
}

/// Check the attribute against `forze_core::spec`'s rules and apply the defaults.
pub(crate) fn spec<'a>(attr: &'a SpecAttr, ident: &Ident, errors: &mut Errors) -> Spec<'a> {
    let name = match attr.name.get() {
        Some(name) => {
            check_name(name, "name", errors);
            name.value.clone()
        }
        None => {
            let name = case::snake_case(&ident.to_string());
            if let (true, Err(problem)) = (attr.name.is_absent(), case::check_name(&name)) {
                errors.push(syn::Error::new_spanned(
                    ident,
                    format!(
                        "the default document name `{name}` (the type name in snake_case) is \
                         invalid: {problem}; set one with `#[document_spec(name = \"...\")]`"
                    ),
                ));
            }
            name
        }
    };
    let cache = attr
        .cache
        .get()
        .map(|cache_attr| cache(&cache_attr.value, &name, errors));
    let tenant = attr
        .tenant
        .get()
        .and_then(|tenant| match tenant.value.as_str() {
            "column" => Some("Column"),
            "schema" => Some("Schema"),
            other => {
                errors.push(tenant.error(format!(
                    "invalid `tenant` \"{other}\": expected \"column\" (a tenant_id column on one \
                 table) or \"schema\" (a schema per tenant)"
                )));
                None
            }
        });
    Spec {
        name,
        cache,
        indexes: Vec::new(),
        tenant,
    }
}

/// Reject the field names every read model already has. `false` if one was found.
pub(crate) fn fields(input: &Input<'_>, errors: &mut Errors) -> bool {
    let mut ok = true;
    for field in &input.fields {
        if RESERVED_FIELDS.contains(&field.name.as_str()) {
            errors.push(syn::Error::new_spanned(
                field.ident,
                format!(
                    "field `{}` is reserved: every read model carries `id`, `rev`, `created_at` \
                     and `last_update_at`; rename the field",
                    field.name
                ),
            ));
            ok = false;
        }
    }
    ok
}

fn check_name(name: &Spanned<String>, key: &str, errors: &mut Errors) {
    if let Err(problem) = case::check_name(&name.value) {
        errors.push(name.error(format!("invalid `{key}` `{}`: {problem}", name.value)));
    }
}

fn positive(value: &Spanned<f64>, key: &str, errors: &mut Errors) -> Option<Positive> {
    let positive = Positive::new(value.value);
    if positive.is_none() {
        errors.push(value.error(format!(
            "`{key}` must be a positive number, got {}",
            value.value
        )));
    }
    positive
}

fn cache<'a>(attr: &'a CacheAttr, document_name: &str, errors: &mut Errors) -> Cache<'a> {
    let name = match attr.name.get() {
        Some(name) => {
            check_name(name, "cache(name)", errors);
            name.value.clone()
        }
        None => document_name.to_owned(),
    };
    let ttl = match &attr.ttl {
        Slot::Absent => Some(Bound {
            millis: DEFAULT_CACHE_TTL_MS,
            shown: format!(
                "{}, the default",
                duration::format_millis(DEFAULT_CACHE_TTL_MS)
            ),
        }),
        Slot::Set(ttl) => Some(Bound {
            millis: ttl.value.millis,
            shown: ttl.value.text.clone(),
        }),
        Slot::Invalid => None,
    };

    let early_refresh_beta = attr
        .early_refresh_beta
        .get()
        .and_then(|beta| positive(beta, "early_refresh_beta", errors));
    let early_refresh_background = match attr.early_refresh_background.get() {
        Some(background) if background.value && attr.early_refresh_beta.is_absent() => {
            errors.push(background.error(
                "`early_refresh_background` requires `early_refresh_beta`, for example \
                 `early_refresh_beta = 1.0`",
            ));
            false
        }
        Some(background) => background.value,
        None => false,
    };

    let sliding_ttl_ms = attr.sliding_ttl.get().and_then(|sliding| match &ttl {
        Some(ttl) if sliding.value.millis >= ttl.millis => {
            errors.push(sliding.error(format!(
                "`sliding_ttl` ({}) must be strictly smaller than the cache `ttl` ({})",
                sliding.value.text, ttl.shown
            )));
            None
        }
        _ => Some(sliding.value.millis),
    });

    let age_ttl = attr
        .age_ttl
        .get()
        .and_then(|age| age_ttl(age, ttl.as_ref(), errors));
    let l1 = attr
        .l1
        .get()
        .and_then(|l1_attr| l1(l1_attr, ttl.as_ref(), errors));
    // L1 hits do not reach the shared cache: a window no longer than the L1 ttl lets an entry
    // read only from the L1 idle out there between two L1 refreshes.
    let l1_ttl = attr.l1.get().and_then(|l1| l1.value.ttl.get());
    let sliding_ttl_ms = match (attr.sliding_ttl.get(), l1_ttl) {
        (Some(sliding), Some(l1_ttl))
            if sliding_ttl_ms.is_some() && sliding.value.millis <= l1_ttl.value.millis =>
        {
            errors.push(sliding.error(format!(
                "`sliding_ttl` ({}) must be longer than `l1(ttl)` ({}): L1 hits do not reach \
                 Redis, so an entry read from the L1 would idle out there between two L1 \
                 refreshes, and every refresh would read the store",
                sliding.value.text, l1_ttl.value.text
            )));
            None
        }
        _ => sliding_ttl_ms,
    };

    Cache {
        name,
        ttl_ms: ttl.map_or(DEFAULT_CACHE_TTL_MS, |ttl| ttl.millis),
        early_refresh_beta,
        early_refresh_background,
        sliding_ttl_ms,
        age_ttl,
        l1,
    }
}

fn age_ttl(age: &Spanned<AgeAttr>, ttl: Option<&Bound>, errors: &mut Errors) -> Option<AgeTtl> {
    let attr = &age.value;
    let missing: Vec<&str> = [
        ("alpha", attr.alpha.is_absent()),
        ("min_ttl", attr.min_ttl.is_absent()),
        ("max_ttl", attr.max_ttl.is_absent()),
    ]
    .into_iter()
    .filter_map(|(key, absent)| absent.then_some(key))
    .collect();
    if !missing.is_empty() && !attr.had_unknown_key {
        let missing = missing
            .iter()
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(", ");
        errors.push(age.error(format!(
            "`age_ttl` is missing {missing}; it takes all three keys: \
             `age_ttl(alpha = 0.1, min_ttl = \"30s\", max_ttl = \"1h\")`"
        )));
    }

    let alpha = attr
        .alpha
        .get()
        .and_then(|alpha| positive(alpha, "age_ttl(alpha)", errors));
    let mut ok = true;
    if let (Some(min), Some(max)) = (attr.min_ttl.get(), attr.max_ttl.get())
        && min.value.millis > max.value.millis
    {
        errors.push(min.error(format!(
            "`age_ttl(min_ttl)` ({}) must not exceed `age_ttl(max_ttl)` ({})",
            min.value.text, max.value.text
        )));
        ok = false;
    }
    if let (Some(max), Some(ttl)) = (attr.max_ttl.get(), ttl)
        && max.value.millis > ttl.millis
    {
        errors.push(max.error(format!(
            "`age_ttl(max_ttl)` ({}) must not exceed the cache `ttl` ({})",
            max.value.text, ttl.shown
        )));
        ok = false;
    }
    match (alpha, attr.min_ttl.get(), attr.max_ttl.get()) {
        (Some(alpha), Some(min), Some(max)) if ok => Some(AgeTtl {
            alpha,
            min_ttl_ms: min.value.millis,
            max_ttl_ms: max.value.millis,
        }),
        _ => None,
    }
}

fn l1<'a>(
    l1: &'a Spanned<L1Attr>,
    cache_ttl: Option<&Bound>,
    errors: &mut Errors,
) -> Option<L1<'a>> {
    let attr = &l1.value;
    if attr.ttl.is_absent() && !attr.had_unknown_key {
        errors.push(l1.error(
            "`l1` is missing `ttl`, the staleness budget of the in-process cache: \
             `l1(ttl = \"2s\")`",
        ));
    }
    let mut ttl_ms = attr.ttl.get().map(|ttl| ttl.value.millis);
    if let (Some(ttl), Some(cache_ttl)) = (attr.ttl.get(), cache_ttl)
        && ttl.value.millis >= cache_ttl.millis
    {
        errors.push(ttl.error(format!(
            "`l1(ttl)` ({}) must be strictly smaller than the cache `ttl` ({})",
            ttl.value.text, cache_ttl.shown
        )));
        ttl_ms = None;
    }

    let store = match attr.store.get().map(|store| &store.value) {
        None | Some(StoreAttr::Lru) => Store::Lru,
        Some(StoreAttr::TinyLfu) => Store::TinyLfu,
        Some(StoreAttr::Custom(path)) => Store::Custom(path),
    };
    let minimum = if matches!(store, Store::TinyLfu) {
        2
    } else {
        1
    };
    let capacity = match attr.capacity.get() {
        None => Some(DEFAULT_L1_CAPACITY),
        Some(capacity) if capacity.value < 1 => {
            errors.push(capacity.error("`l1(capacity)` must be at least 1"));
            None
        }
        Some(capacity) if capacity.value < minimum => {
            errors.push(
                capacity.error("`l1(capacity)` must be at least 2 with `store = \"tiny_lfu\"`"),
            );
            None
        }
        Some(capacity) => match u64::try_from(capacity.value) {
            Ok(value) => Some(value),
            Err(_) => {
                errors.push(capacity.error("`l1(capacity)` is too large"));
                None
            }
        },
    };

    Some(L1 {
        ttl_ms: ttl_ms?,
        capacity: capacity.unwrap_or(DEFAULT_L1_CAPACITY),
        store,
    })
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    use super::*;
    use crate::messages;

    fn one(input: DeriveInput) -> String {
        let messages = messages(&input);
        assert_eq!(messages.len(), 1, "{messages:#?}");
        messages.into_iter().next().unwrap_or_default()
    }

    /// The validated spec of a correct input.
    fn checked(input: &DeriveInput, check: impl FnOnce(&Spec<'_>)) {
        let mut errors = Errors::default();
        let attr = crate::attr::parse_spec(&input.attrs, &mut errors);
        let spec = spec(&attr, &input.ident, &mut errors);
        assert!(errors.into_error().is_none(), "unexpected errors");
        check(&spec);
    }

    #[test]
    fn defaults_apply() {
        checked(
            &parse_quote!(
                struct ProductLine {
                    a: u8,
                }
            ),
            |spec| {
                assert_eq!(spec.name, "product_line");
                assert!(spec.cache.is_none());
            },
        );
        checked(
            &parse_quote!(
                #[document_spec(name = "items", cache(l1(ttl = "2s")))]
                struct P {
                    a: u8,
                }
            ),
            |spec| {
                let cache = spec.cache.as_ref().unwrap();
                assert_eq!(cache.name, "items");
                assert_eq!(cache.ttl_ms, 300_000);
                assert!(cache.early_refresh_beta.is_none());
                assert!(!cache.early_refresh_background);
                assert!(cache.sliding_ttl_ms.is_none() && cache.age_ttl.is_none());
                let l1 = cache.l1.as_ref().unwrap();
                assert_eq!((l1.ttl_ms, l1.capacity), (2_000, 1024));
                assert!(matches!(l1.store, Store::Lru));
            },
        );
    }

    #[test]
    fn every_key_is_read() {
        let input: DeriveInput = parse_quote! {
            #[document_spec(
                name = "products",
                cache(
                    name = "product_cache", ttl = "1h", early_refresh_beta = 2,
                    early_refresh_background = true, sliding_ttl = "60s",
                    age_ttl(alpha = 0.25, min_ttl = "30s", max_ttl = "1h"),
                    l1(ttl = "1500ms", capacity = 2, store = crate::stores::mine),
                ),
            )]
            struct Product { a: u8 }
        };
        checked(&input, |spec| {
            assert_eq!(spec.name, "products");
            let cache = spec.cache.as_ref().unwrap();
            assert_eq!(cache.name, "product_cache");
            assert_eq!(cache.ttl_ms, 3_600_000);
            assert_eq!(cache.early_refresh_beta.map(Positive::get), Some(2.0));
            assert!(cache.early_refresh_background);
            assert_eq!(cache.sliding_ttl_ms, Some(60_000));
            let age = cache.age_ttl.as_ref().unwrap();
            assert_eq!(
                (age.alpha.get(), age.min_ttl_ms, age.max_ttl_ms),
                (0.25, 30_000, 3_600_000)
            );
            let l1 = cache.l1.as_ref().unwrap();
            assert_eq!((l1.ttl_ms, l1.capacity), (1_500, 2));
            let Store::Custom(path) = &l1.store else {
                panic!("a custom store")
            };
            assert_eq!(quote::quote!(#path).to_string(), "crate :: stores :: mine");
        });
        checked(
            &parse_quote!(
                #[document_spec(cache(l1(ttl = "1s", capacity = 2, store = "tiny_lfu")))]
                struct P {
                    a: u8,
                }
            ),
            |spec| {
                let l1 = spec.cache.as_ref().and_then(|c| c.l1.as_ref()).unwrap();
                assert!(matches!(l1.store, Store::TinyLfu));
            },
        );
    }

    #[test]
    fn names_must_be_snake_identifiers_of_at_most_63_bytes() {
        assert_eq!(
            one(parse_quote!(
                #[document_spec(name = "Products")]
                struct P {
                    a: u8,
                }
            )),
            "invalid `name` `Products`: expected `[a-z][a-z0-9_]*`, for example \"products\""
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(name = "my-cache"))]
                struct P {
                    a: u8,
                }
            )),
            "invalid `cache(name)` `my-cache`: expected `[a-z][a-z0-9_]*`, for example \"products\""
        );
        let long = "a".repeat(64);
        let input: DeriveInput = syn::parse_str(&format!(
            "#[document_spec(name = \"{long}\")] struct P {{ a: u8 }}"
        ))
        .unwrap();
        assert_eq!(
            one(input),
            format!("invalid `name` `{long}`: 64 bytes, at most 63 are accepted")
        );
        let input: DeriveInput =
            syn::parse_str(&format!("struct {} {{ a: u8 }}", "A".repeat(64))).unwrap();
        assert!(one(input).starts_with(&format!("the default document name `{}`", "a".repeat(64))),);
        checked(
            &parse_quote!(
                #[document_spec(name = "ok")]
                struct Ä {
                    a: u8,
                }
            ),
            |spec| {
                assert_eq!(spec.name, "ok");
            },
        );
        assert!(
            one(parse_quote!(
                struct Ä {
                    a: u8,
                }
            ))
            .contains("set one with `#[document_spec(name = \"...\")]`")
        );
    }

    #[test]
    fn early_refresh_rules() {
        for (beta, shown) in [("0", "0"), ("0.0", "0"), ("-1.5", "-1.5"), ("1e999", "inf")] {
            let input: DeriveInput = syn::parse_str(&format!(
                "#[document_spec(cache(early_refresh_beta = {beta}))] struct P {{ a: u8 }}"
            ))
            .unwrap();
            assert_eq!(
                one(input),
                format!("`early_refresh_beta` must be a positive number, got {shown}")
            );
        }
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(early_refresh_background = true))]
                struct P {
                    a: u8,
                }
            )),
            "`early_refresh_background` requires `early_refresh_beta`, for example \
             `early_refresh_beta = 1.0`"
        );
        // false without beta is what the run-time builder accepts too
        assert!(
            messages(&parse_quote!(
                #[document_spec(cache(early_refresh_background = false))]
                struct P {
                    a: u8,
                }
            ))
            .is_empty()
        );
        // an invalid beta is one error, not two
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(early_refresh_beta = 0, early_refresh_background = true))]
                struct P {
                    a: u8,
                }
            )),
            "`early_refresh_beta` must be a positive number, got 0"
        );
    }

    #[test]
    fn lifetimes_are_ordered() {
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(sliding_ttl = "5m"))]
                struct P {
                    a: u8,
                }
            )),
            "`sliding_ttl` (5m) must be strictly smaller than the cache `ttl` (5m, the default)"
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(ttl = "1m", l1(ttl = "60s")))]
                struct P {
                    a: u8,
                }
            )),
            "`l1(ttl)` (60s) must be strictly smaller than the cache `ttl` (1m)"
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(
                    ttl = "2h",
                    age_ttl(alpha = 0.1, min_ttl = "2h", max_ttl = "1h")
                ))]
                struct P {
                    a: u8,
                }
            )),
            "`age_ttl(min_ttl)` (2h) must not exceed `age_ttl(max_ttl)` (1h)"
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h")))]
                struct P {
                    a: u8,
                }
            )),
            "`age_ttl(max_ttl)` (1h) must not exceed the cache `ttl` (5m, the default)"
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(
                    ttl = "1h",
                    age_ttl(alpha = 0, min_ttl = "30s", max_ttl = "1h")
                ))]
                struct P {
                    a: u8,
                }
            )),
            "`age_ttl(alpha)` must be a positive number, got 0"
        );
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(age_ttl(alpha = 0.1)))]
                struct P {
                    a: u8,
                }
            )),
            "`age_ttl` is missing `min_ttl`, `max_ttl`; it takes all three keys: \
             `age_ttl(alpha = 0.1, min_ttl = \"30s\", max_ttl = \"1h\")`"
        );
        // equal bounds are fine, as at run time
        assert!(
            messages(&parse_quote!(
                #[document_spec(cache(
                    ttl = "1h",
                    age_ttl(alpha = 1, min_ttl = "1h", max_ttl = "1h")
                ))]
                struct P {
                    a: u8,
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn a_malformed_ttl_is_not_compared_again() {
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(ttl = "soon", l1(ttl = "10m"), sliding_ttl = "1h"))]
                struct P {
                    a: u8,
                }
            )),
            "invalid duration `soon`: expected \"<int><ms|s|m|h|d>\", for example \"300ms\", \
             \"2s\", \"5m\", \"1h\", \"7d\""
        );
    }

    #[test]
    fn a_misspelt_key_is_not_also_reported_missing() {
        assert!(
            one(parse_quote!(
                #[document_spec(cache(l1(tll = "2s")))]
                struct P {
                    a: u8,
                }
            ))
            .ends_with("did you mean `ttl`?")
        );
        assert!(
            one(parse_quote!(
                #[document_spec(cache(
                    ttl = "1h",
                    age_ttl(alpha = 0.1, min = "1s", max_ttl = "1h")
                ))]
                struct P {
                    a: u8,
                }
            ))
            .starts_with("unknown `age_ttl` key `min`")
        );
    }

    #[test]
    fn l1_rules() {
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(l1(capacity = 10)))]
                struct P {
                    a: u8,
                }
            )),
            "`l1` is missing `ttl`, the staleness budget of the in-process cache: `l1(ttl = \"2s\")`"
        );
        for capacity in ["0", "-3"] {
            let input: DeriveInput = syn::parse_str(&format!(
                "#[document_spec(cache(l1(ttl = \"1s\", capacity = {capacity})))] struct P {{ a: u8 }}"
            ))
            .unwrap();
            assert_eq!(one(input), "`l1(capacity)` must be at least 1");
        }
        assert_eq!(
            one(parse_quote!(
                #[document_spec(cache(l1(ttl = "1s", capacity = 1, store = "tiny_lfu")))]
                struct P {
                    a: u8,
                }
            )),
            "`l1(capacity)` must be at least 2 with `store = \"tiny_lfu\"`"
        );
        assert!(
            messages(&parse_quote!(
                #[document_spec(cache(l1(ttl = "1s", capacity = 1)))]
                struct P {
                    a: u8,
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn reserved_fields_are_rejected() {
        let messages = messages(&parse_quote! {
            struct P { id: u8, rev: i64, created_at: u8, last_update_at: u8, r#type: u8 }
        });
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert_eq!(
            messages[0],
            "field `id` is reserved: every read model carries `id`, `rev`, `created_at` and \
             `last_update_at`; rename the field"
        );
        assert!(messages[3].starts_with("field `last_update_at` is reserved"));
    }

    #[test]
    fn index_rules() {
        let fields =
            "struct P { sku: String, price: i32, tags: Vec<String>, note: Option<String> }";
        let case = |attr: &str| {
            let input: DeriveInput =
                syn::parse_str(&format!("#[document_spec({attr})] {fields}")).unwrap();
            messages(&input)
        };
        assert!(case("unique(sku), index(price desc, id), unique(note, created_at)").is_empty());
        assert!(case("index(r#sku)").is_empty());
        assert_eq!(
            case("unique(colour)"),
            [
                "unknown field `colour` in `unique(..)`; expected one of: `id`, `rev`, `created_at`, \
              `last_update_at`, `sku`, `price`, `tags`, `note`"
            ]
        );
        assert_eq!(
            case("index(price, tags)"),
            [
                "field `tags` is stored as JSON and cannot be indexed; `index(..)` takes text, \
              integer, float, bool, Uuid and DateTime<Utc> fields"
            ]
        );
        assert_eq!(
            case("index(price, price desc)"),
            ["field `price` appears twice in one `index(..)`"]
        );
        assert_eq!(
            case("unique()"),
            ["`unique` needs at least one field: `unique(sku)` or `unique(shop, sku)`"]
        );
        assert_eq!(
            case("index(sku), index(sku)"),
            ["the same columns are already declared by an earlier `index(..)`"]
        );
        assert_eq!(
            case("unique(sku desc)"),
            ["a direction in `unique(..)` means nothing; write `sku` without `desc`"]
        );
        assert_eq!(
            case("index = \"sku\""),
            ["`index` takes a list of fields: `index(price desc, name)`"]
        );
        assert_eq!(
            case("index(sku up)"),
            [
                "unknown direction `up` in `index(..)`; expected `asc` or `desc` after the field name"
            ]
        );
        assert_eq!(case("index(sku desc price)"), ["expected `,`"]);
        // every problem in one compile
        assert_eq!(case("unique(a), index(), unique(tags)").len(), 3);
    }

    #[test]
    fn indexes_are_kept_in_order() {
        let input: DeriveInput = parse_quote! {
            #[document_spec(unique(sku), index(price desc, id))]
            struct P { sku: String, price: i32 }
        };
        let mut errors = Errors::default();
        let attr = crate::attr::parse_spec(&input.attrs, &mut errors);
        let shape = crate::attr::parse_input(&input, &mut errors).unwrap();
        let indexes = indexes(&attr.indexes, &shape, &mut errors);
        assert!(errors.into_error().is_none());
        let got: Vec<(bool, Vec<(String, bool)>)> =
            indexes.into_iter().map(|i| (i.unique, i.columns)).collect();
        assert_eq!(
            got,
            [
                (true, vec![("sku".to_owned(), false)]),
                (
                    false,
                    vec![("price".to_owned(), true), ("id".to_owned(), false)]
                ),
            ]
        );
    }
}
