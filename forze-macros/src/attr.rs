//! Syntax to a spanned model: the `#[document_spec(...)]` attribute and the struct's shape.
//!
//! Every key keeps the tokens it was written with, so later phases can point at them. A bad value
//! is reported here (at its literal) and leaves its key [`Slot::Invalid`], so cross-field rules do
//! not pile further errors on it. Only a syntax error stops the parsing of an attribute.

use std::fmt::Display;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Ident, Lit, LitStr, Path,
    Token, Type, UnOp, Visibility,
};

use crate::duration;
use crate::error::Errors;
use crate::field_attr::{self, FieldOpts, StructOpts};
use crate::types::{self, Kind};

/// A value and the tokens it was written with.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    tokens: TokenStream,
}

impl<T> Spanned<T> {
    fn new(value: T, tokens: impl ToTokens) -> Self {
        Spanned {
            value,
            tokens: tokens.into_token_stream(),
        }
    }

    /// An error pointing at the tokens of this value (or key).
    pub(crate) fn error(&self, message: impl Display) -> syn::Error {
        syn::Error::new_spanned(&self.tokens, message)
    }
}

/// One key of the attribute.
#[derive(Default)]
pub(crate) enum Slot<T> {
    /// Not written: the default applies.
    #[default]
    Absent,
    /// Written with a bad value, already reported.
    Invalid,
    /// Written with a well-formed value.
    Set(Spanned<T>),
}

impl<T> Slot<T> {
    /// The value, if it was written and well-formed.
    pub(crate) fn get(&self) -> Option<&Spanned<T>> {
        match self {
            Slot::Set(value) => Some(value),
            Slot::Absent | Slot::Invalid => None,
        }
    }

    /// Whether the key was not written at all.
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, Slot::Absent)
    }
}

/// A duration literal: its value and the text as written (for messages).
pub(crate) struct Dur {
    pub(crate) millis: u64,
    pub(crate) text: String,
}

/// `#[document_spec(name = "...", cache(...), unique(...), index(...), tenant = "...")]`.
#[derive(Default)]
pub(crate) struct SpecAttr {
    pub(crate) name: Slot<String>,
    /// Spanned at the `cache` key.
    pub(crate) cache: Slot<CacheAttr>,
    /// Every well-formed `unique(..)` and `index(..)`, in order.
    pub(crate) indexes: Vec<IndexAttr>,
    /// `tenant = "column" | "schema"`, as written (checked in `validate`).
    pub(crate) tenant: Slot<String>,
}

/// `unique(a, b)` or `index(a desc, b)`.
pub(crate) struct IndexAttr {
    pub(crate) unique: bool,
    /// Spanned at the key and its list, for errors about the whole list.
    pub(crate) whole: Spanned<()>,
    /// Each column: its name (without `r#`, spanned at it and its direction) and whether it is
    /// descending.
    pub(crate) columns: Vec<(Spanned<String>, bool)>,
}

/// `cache(name = ..., ttl = ..., ...)`.
#[derive(Default)]
pub(crate) struct CacheAttr {
    pub(crate) name: Slot<String>,
    pub(crate) ttl: Slot<Dur>,
    pub(crate) early_refresh_beta: Slot<f64>,
    pub(crate) early_refresh_background: Slot<bool>,
    pub(crate) sliding_ttl: Slot<Dur>,
    /// Spanned at the `age_ttl` key.
    pub(crate) age_ttl: Slot<AgeAttr>,
    /// Spanned at the `l1` key.
    pub(crate) l1: Slot<L1Attr>,
}

/// `age_ttl(alpha = ..., min_ttl = ..., max_ttl = ...)`.
#[derive(Default)]
pub(crate) struct AgeAttr {
    pub(crate) alpha: Slot<f64>,
    pub(crate) min_ttl: Slot<Dur>,
    pub(crate) max_ttl: Slot<Dur>,
    /// An unknown key was reported (likely a misspelt one): missing keys are not reported too.
    pub(crate) had_unknown_key: bool,
}

/// `l1(ttl = ..., capacity = ..., store = ...)`.
#[derive(Default)]
pub(crate) struct L1Attr {
    pub(crate) ttl: Slot<Dur>,
    pub(crate) capacity: Slot<i128>,
    pub(crate) store: Slot<StoreAttr>,
    /// An unknown key was reported (likely a misspelt one): missing keys are not reported too.
    pub(crate) had_unknown_key: bool,
}

/// `store = "lru" | "tiny_lfu" | path::to::factory`.
pub(crate) enum StoreAttr {
    Lru,
    TinyLfu,
    Custom(Path),
}

/// The keys valid at each level, in the order the messages list them.
const SPEC_KEYS: &[&str] = &["name", "cache", "unique", "index", "tenant"];
const CACHE_KEYS: &[&str] = &[
    "name",
    "ttl",
    "early_refresh_beta",
    "early_refresh_background",
    "sliding_ttl",
    "age_ttl",
    "l1",
];
const AGE_KEYS: &[&str] = &["alpha", "min_ttl", "max_ttl"];
const L1_KEYS: &[&str] = &["ttl", "capacity", "store"];

/// What `store` accepts, quoted in messages.
pub(crate) const STORE_FORM: &str =
    "\"lru\", \"tiny_lfu\", or a path to a factory `fn(&L1Config) -> Box<dyn L1Store>`";

/// Parse every `#[document_spec]` attribute of the struct (only the first may exist).
pub(crate) fn parse_spec(attrs: &[Attribute], errors: &mut Errors) -> SpecAttr {
    let mut spec = SpecAttr::default();
    let mut seen = false;
    for attr in attrs
        .iter()
        .filter(|attr| attr.path().is_ident("document_spec"))
    {
        if seen {
            errors.push(syn::Error::new_spanned(
                attr.path(),
                "duplicate `#[document_spec]` attribute; put every key in the first one",
            ));
            continue;
        }
        seen = true;
        if let Err(err) = attr.parse_nested_meta(|meta| spec_key(meta, &mut spec, errors)) {
            errors.push(err);
        }
    }
    spec
}

fn spec_key(
    meta: ParseNestedMeta<'_>,
    spec: &mut SpecAttr,
    errors: &mut Errors,
) -> syn::Result<()> {
    match key_of(&meta).as_deref() {
        Some("name") => {
            let example = "name = \"products\"";
            let value = value(&meta, "name", example, errors)?
                .and_then(|expr| string(&expr, "name", example, errors));
            set(&mut spec.name, &meta, "name", value, errors);
        }
        Some("cache") => {
            let example = "cache(name = \"products\", ttl = \"5m\")";
            let value = list(&meta, "cache", example, errors, cache_key)?;
            set(&mut spec.cache, &meta, "cache", value, errors);
        }
        Some("tenant") => {
            let example = "tenant = \"column\"";
            let value = value(&meta, "tenant", example, errors)?
                .and_then(|expr| string(&expr, "tenant", example, errors));
            set(&mut spec.tenant, &meta, "tenant", value, errors);
        }
        Some(key @ ("unique" | "index")) => {
            if let Some(index) = index_list(&meta, key == "unique", errors)? {
                spec.indexes.push(index);
            }
        }
        _ => unknown(&meta, "document_spec", SPEC_KEYS, errors)?,
    }
    Ok(())
}

/// `unique(a, b)` / `index(a desc, b asc)`: field names, each with an optional direction. A
/// malformed column is reported and drops the list (`None`).
fn index_list(
    meta: &ParseNestedMeta<'_>,
    unique: bool,
    errors: &mut Errors,
) -> syn::Result<Option<IndexAttr>> {
    let key = if unique { "unique" } else { "index" };
    let example = if unique {
        "unique(sku)` or `unique(shop, sku)"
    } else {
        "index(price desc, name)"
    };
    if !meta.input.peek(syn::token::Paren) {
        let mut tokens = meta.path.to_token_stream();
        if meta.input.peek(Token![=]) {
            let _eq: Token![=] = meta.input.parse()?;
            let value: Expr = meta.input.parse()?;
            value.to_tokens(&mut tokens);
        }
        errors.push(syn::Error::new_spanned(
            tokens,
            format!("`{key}` takes a list of fields: `{example}`"),
        ));
        return Ok(None);
    }
    let group: TokenTree = meta.input.parse()?;
    let TokenTree::Group(inner) = &group else {
        return Ok(None);
    };
    let mut whole = meta.path.to_token_stream();
    whole.extend([group.clone()]);
    let parsed = syn::parse::Parser::parse2(
        |input: syn::parse::ParseStream<'_>| {
            let mut columns = Vec::new();
            while !input.is_empty() {
                let ident = Ident::parse_any(input)?;
                let mut tokens = ident.to_token_stream();
                let mut desc = false;
                if input.peek(Ident) {
                    let dir = Ident::parse_any(input)?;
                    desc = match dir.to_string().as_str() {
                        "desc" => true,
                        "asc" => false,
                        other => {
                            return Err(syn::Error::new_spanned(
                                &dir,
                                format!(
                                    "unknown direction `{other}` in `{key}(..)`; expected `asc` \
                                     or `desc` after the field name"
                                ),
                            ));
                        }
                    };
                    dir.to_tokens(&mut tokens);
                }
                columns.push((Spanned::new(ident.unraw().to_string(), tokens), desc));
                if input.is_empty() {
                    break;
                }
                let _comma: Token![,] = input.parse()?;
            }
            Ok(columns)
        },
        inner.stream(),
    );
    match parsed {
        Ok(columns) => Ok(Some(IndexAttr {
            unique,
            whole: Spanned::new((), whole),
            columns,
        })),
        Err(err) => {
            errors.push(err);
            Ok(None)
        }
    }
}

fn cache_key(
    meta: ParseNestedMeta<'_>,
    cache: &mut CacheAttr,
    errors: &mut Errors,
) -> syn::Result<()> {
    match key_of(&meta).as_deref() {
        Some("name") => {
            let example = "name = \"products\"";
            let value = value(&meta, "cache(name)", example, errors)?
                .and_then(|expr| string(&expr, "cache(name)", example, errors));
            set(&mut cache.name, &meta, "cache(name)", value, errors);
        }
        Some("ttl") => {
            let value = duration_value(&meta, "cache(ttl)", "ttl = \"5m\"", errors)?;
            set(&mut cache.ttl, &meta, "cache(ttl)", value, errors);
        }
        Some("early_refresh_beta") => {
            let example = "early_refresh_beta = 1.0";
            let value = value(&meta, "early_refresh_beta", example, errors)?
                .and_then(|expr| number(&expr, "early_refresh_beta", example, errors));
            set(
                &mut cache.early_refresh_beta,
                &meta,
                "early_refresh_beta",
                value,
                errors,
            );
        }
        Some("early_refresh_background") => {
            let example = "early_refresh_background = true";
            let value = value(&meta, "early_refresh_background", example, errors)?
                .and_then(|expr| boolean(&expr, "early_refresh_background", errors));
            set(
                &mut cache.early_refresh_background,
                &meta,
                "early_refresh_background",
                value,
                errors,
            );
        }
        Some("sliding_ttl") => {
            let value = duration_value(&meta, "sliding_ttl", "sliding_ttl = \"60s\"", errors)?;
            set(&mut cache.sliding_ttl, &meta, "sliding_ttl", value, errors);
        }
        Some("age_ttl") => {
            let example = "age_ttl(alpha = 0.1, min_ttl = \"30s\", max_ttl = \"1h\")";
            let value = list(&meta, "age_ttl", example, errors, age_key)?;
            set(&mut cache.age_ttl, &meta, "age_ttl", value, errors);
        }
        Some("l1") => {
            let example = "l1(ttl = \"2s\", capacity = 1024, store = \"lru\")";
            let value = list(&meta, "l1", example, errors, l1_key)?;
            set(&mut cache.l1, &meta, "l1", value, errors);
        }
        _ => unknown(&meta, "cache", CACHE_KEYS, errors)?,
    }
    Ok(())
}

fn age_key(meta: ParseNestedMeta<'_>, age: &mut AgeAttr, errors: &mut Errors) -> syn::Result<()> {
    match key_of(&meta).as_deref() {
        Some("alpha") => {
            let example = "alpha = 0.1";
            let value = value(&meta, "age_ttl(alpha)", example, errors)?
                .and_then(|expr| number(&expr, "age_ttl(alpha)", example, errors));
            set(&mut age.alpha, &meta, "age_ttl(alpha)", value, errors);
        }
        Some("min_ttl") => {
            let value = duration_value(&meta, "age_ttl(min_ttl)", "min_ttl = \"30s\"", errors)?;
            set(&mut age.min_ttl, &meta, "age_ttl(min_ttl)", value, errors);
        }
        Some("max_ttl") => {
            let value = duration_value(&meta, "age_ttl(max_ttl)", "max_ttl = \"1h\"", errors)?;
            set(&mut age.max_ttl, &meta, "age_ttl(max_ttl)", value, errors);
        }
        _ => {
            unknown(&meta, "age_ttl", AGE_KEYS, errors)?;
            age.had_unknown_key = true;
        }
    }
    Ok(())
}

fn l1_key(meta: ParseNestedMeta<'_>, l1: &mut L1Attr, errors: &mut Errors) -> syn::Result<()> {
    match key_of(&meta).as_deref() {
        Some("ttl") => {
            let value = duration_value(&meta, "l1(ttl)", "ttl = \"2s\"", errors)?;
            set(&mut l1.ttl, &meta, "l1(ttl)", value, errors);
        }
        Some("capacity") => {
            let example = "capacity = 1024";
            let value = value(&meta, "l1(capacity)", example, errors)?
                .and_then(|expr| integer(&expr, "l1(capacity)", example, errors));
            set(&mut l1.capacity, &meta, "l1(capacity)", value, errors);
        }
        Some("store") => {
            let value = value(&meta, "l1(store)", "store = \"lru\"", errors)?
                .and_then(|expr| store(expr, errors));
            set(&mut l1.store, &meta, "l1(store)", value, errors);
        }
        _ => {
            unknown(&meta, "l1", L1_KEYS, errors)?;
            l1.had_unknown_key = true;
        }
    }
    Ok(())
}

/// The key as written, if it is a single identifier.
fn key_of(meta: &ParseNestedMeta<'_>) -> Option<String> {
    meta.path.get_ident().map(Ident::to_string)
}

/// Fill `slot` once; a second occurrence of the key is reported at that key.
fn set<T>(
    slot: &mut Slot<T>,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    value: Option<Spanned<T>>,
    errors: &mut Errors,
) {
    if !slot.is_absent() {
        errors.push(syn::Error::new_spanned(
            &meta.path,
            format!("duplicate `{key}` key; each key may appear once"),
        ));
        return;
    }
    *slot = value.map_or(Slot::Invalid, Slot::Set);
}

/// The value of `key = value`. Another form is reported (and skipped): `None`.
fn value(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Expr>> {
    let bare = meta.input.is_empty() || meta.input.peek(Token![,]);
    if !bare && !meta.input.peek(syn::token::Paren) {
        // `key = value`; anything else (`key "value"`) is a syntax error: "expected `=`"
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut tokens = meta.path.to_token_stream();
    if meta.input.peek(syn::token::Paren) {
        let group: TokenTree = meta.input.parse()?;
        tokens.extend([group]);
    }
    errors.push(syn::Error::new_spanned(
        tokens,
        format!("`{key}` takes a value: `{example}`"),
    ));
    Ok(None)
}

/// The keys of `key(...)`, parsed by `parse_key`. `key` and `key()` mean every default.
fn list<T: Default>(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
    errors: &mut Errors,
    parse_key: fn(ParseNestedMeta<'_>, &mut T, &mut Errors) -> syn::Result<()>,
) -> syn::Result<Option<Spanned<T>>> {
    if meta.input.peek(Token![=]) {
        let _eq: Token![=] = meta.input.parse()?;
        let value: Expr = meta.input.parse()?;
        let mut tokens = meta.path.to_token_stream();
        value.to_tokens(&mut tokens);
        errors.push(syn::Error::new_spanned(
            tokens,
            format!("`{key}` takes a list of keys, not a value: `{example}`"),
        ));
        return Ok(None);
    }
    let mut out = T::default();
    if meta.input.peek(syn::token::Paren) {
        let fork = meta.input.fork();
        let content;
        syn::parenthesized!(content in fork);
        if content.is_empty() {
            let _empty: TokenTree = meta.input.parse()?;
        } else {
            meta.parse_nested_meta(|nested| parse_key(nested, &mut out, errors))?;
        }
    }
    Ok(Some(Spanned::new(out, &meta.path)))
}

/// Report an unknown key (listing the valid ones) and skip its value.
fn unknown(
    meta: &ParseNestedMeta<'_>,
    level: &str,
    expected: &[&str],
    errors: &mut Errors,
) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _value: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _group: TokenTree = meta.input.parse()?;
    }
    let key = meta
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.unraw().to_string())
        .collect::<Vec<_>>()
        .join("::");
    let listed = expected
        .iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = format!("unknown `{level}` key `{key}`; expected one of: {listed}");
    if let Some(hint) = hint(&key, level, expected) {
        message.push_str("; ");
        message.push_str(&hint);
    }
    errors.push(syn::Error::new_spanned(&meta.path, message));
    Ok(())
}

/// A "did you mean" or "belongs inside" hint for an unknown key.
fn hint(key: &str, level: &str, expected: &[&str]) -> Option<String> {
    let close = expected
        .iter()
        .filter(|candidate| edit_distance(key, candidate) <= 2)
        .min_by_key(|candidate| edit_distance(key, candidate))
        .or_else(|| {
            // `min` for `min_ttl`, `refresh_beta` for `early_refresh_beta`
            expected.iter().find(|candidate| {
                key.len() >= 3 && (candidate.starts_with(key) || candidate.ends_with(key))
            })
        });
    if let Some(close) = close {
        return Some(format!("did you mean `{close}`?"));
    }
    let home = [
        ("cache", CACHE_KEYS),
        ("age_ttl", AGE_KEYS),
        ("l1", L1_KEYS),
    ]
    .into_iter()
    .find(|(home, keys)| *home != level && keys.contains(&key))
    .map(|(home, _)| home)?;
    Some(format!("`{key}` belongs inside `{home}(...)`"))
}

/// Levenshtein distance, for short keys.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Strip the invisible group macro_rules puts around an `$expr`.
fn peel(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => peel(&group.expr),
        _ => expr,
    }
}

fn lit(expr: &Expr) -> Option<&Lit> {
    match peel(expr) {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

fn lit_str(expr: &Expr) -> Option<&LitStr> {
    match lit(expr) {
        Some(Lit::Str(lit)) => Some(lit),
        _ => None,
    }
}

fn string(expr: &Expr, key: &str, example: &str, errors: &mut Errors) -> Option<Spanned<String>> {
    match lit_str(expr) {
        Some(lit) => Some(Spanned::new(lit.value(), lit)),
        None => {
            errors.push(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects a string literal: `{example}`"),
            ));
            None
        }
    }
}

/// `key = "<int><ms|s|m|h|d>"`.
fn duration_value(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<Spanned<Dur>>> {
    let Some(expr) = value(meta, key, example, errors)? else {
        return Ok(None);
    };
    if let Some(lit) = lit_str(&expr) {
        let text = lit.value();
        return Ok(match duration::parse_millis(&text) {
            Ok(millis) => Some(Spanned::new(Dur { millis, text }, lit)),
            Err(message) => {
                errors.push(syn::Error::new_spanned(lit, message));
                None
            }
        });
    }
    let message = match lit(&expr) {
        // `ttl = 5m` lexes as the integer 5 with suffix `m`
        Some(Lit::Int(int)) => format!(
            "`{key}` expects a duration string, write `\"{int}\"`; durations are {}",
            duration::DURATION_FORM
        ),
        _ => format!(
            "`{key}` expects a duration string: `{example}`; durations are {}",
            duration::DURATION_FORM
        ),
    };
    errors.push(syn::Error::new_spanned(expr, message));
    Ok(None)
}

/// A number literal, integer or float, possibly negated (the sign is checked later).
fn number(expr: &Expr, key: &str, example: &str, errors: &mut Errors) -> Option<Spanned<f64>> {
    fn parse(expr: &Expr) -> Option<f64> {
        match peel(expr) {
            Expr::Lit(ExprLit {
                lit: Lit::Float(lit),
                ..
            }) => lit.base10_digits().parse().ok(),
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => lit.base10_digits().parse().ok(),
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_),
                expr,
                ..
            }) => parse(expr).map(|v| -v),
            _ => None,
        }
    }
    match parse(expr) {
        Some(value) => Some(Spanned::new(value, expr)),
        None => {
            errors.push(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects a number: `{example}`"),
            ));
            None
        }
    }
}

/// An integer literal, possibly negated (the range is checked later).
fn integer(expr: &Expr, key: &str, example: &str, errors: &mut Errors) -> Option<Spanned<i128>> {
    fn parse(expr: &Expr) -> Option<syn::Result<i128>> {
        match peel(expr) {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => Some(lit.base10_parse()),
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_),
                expr,
                ..
            }) => parse(expr).map(|value| value.map(|v: i128| -v)),
            _ => None,
        }
    }
    let message = match parse(expr) {
        Some(Ok(value)) => return Some(Spanned::new(value, expr)),
        Some(Err(_)) => format!("`{key}` is too large"),
        None => format!("`{key}` expects an integer literal: `{example}`"),
    };
    errors.push(syn::Error::new_spanned(expr, message));
    None
}

fn boolean(expr: &Expr, key: &str, errors: &mut Errors) -> Option<Spanned<bool>> {
    match lit(expr) {
        Some(Lit::Bool(lit)) => Some(Spanned::new(lit.value, lit)),
        _ => {
            errors.push(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects `true` or `false`"),
            ));
            None
        }
    }
}

fn store(expr: Expr, errors: &mut Errors) -> Option<Spanned<StoreAttr>> {
    if let Some(lit) = lit_str(&expr) {
        return match lit.value().as_str() {
            "lru" => Some(Spanned::new(StoreAttr::Lru, lit)),
            "tiny_lfu" => Some(Spanned::new(StoreAttr::TinyLfu, lit)),
            other => {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!("unknown `l1(store)` \"{other}\"; expected {STORE_FORM}"),
                ));
                None
            }
        };
    }
    let mut expr = expr;
    while let Expr::Group(group) = expr {
        expr = *group.expr;
    }
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            let tokens = path.path.to_token_stream();
            Some(Spanned::new(StoreAttr::Custom(path.path), tokens))
        }
        _ => {
            errors.push(syn::Error::new_spanned(
                expr,
                format!("`l1(store)` expects {STORE_FORM}"),
            ));
            None
        }
    }
}

/// The struct the derive is on: its name, visibility and fields.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) fields: Vec<Field<'a>>,
    /// The struct's `#[forze(..)]` options.
    pub(crate) opts: StructOpts,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    /// The name without `r#`: the serialized and stored name.
    pub(crate) name: String,
    pub(crate) vis: &'a Visibility,
    pub(crate) ty: &'a Type,
    /// The `#[doc]` attributes, carried over to the DTO fields.
    pub(crate) docs: Vec<&'a Attribute>,
    /// The `#[cfg]` attributes, carried over to the DTO fields and the schema entry.
    pub(crate) cfgs: Vec<&'a Attribute>,
    pub(crate) kind: Kind,
    pub(crate) nullable: bool,
    /// The field's `#[forze(..)]` and `#[serde(..)]` options.
    pub(crate) opts: FieldOpts,
}

impl Field<'_> {
    /// The key of the field in the JSON of the DTOs: its `rename`, else its name.
    pub(crate) fn json_name(&self) -> String {
        self.opts
            .rename
            .as_ref()
            .map_or_else(|| self.name.clone(), LitStr::value)
    }
}

/// The struct's shape, or `None` (reported) if the derive cannot apply to it.
pub(crate) fn parse_input<'a>(input: &'a DeriveInput, errors: &mut Errors) -> Option<Input<'a>> {
    let what = "`#[derive(Document)]` needs a struct with named fields";
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(&named.named),
            Fields::Unnamed(unnamed) => {
                errors.push(syn::Error::new_spanned(
                    unnamed,
                    format!("{what}, like `struct {} {{ name: String }}`; tuple structs are not supported", input.ident),
                ));
                None
            }
            Fields::Unit => {
                errors.push(syn::Error::new_spanned(
                    &input.ident,
                    format!("{what}, like `struct {} {{ name: String }}`; unit structs are not supported", input.ident),
                ));
                None
            }
        },
        Data::Enum(data) => {
            errors.push(syn::Error::new(
                data.enum_token.span,
                format!("{what}; enums are not supported"),
            ));
            None
        }
        Data::Union(data) => {
            errors.push(syn::Error::new(
                data.union_token.span,
                format!("{what}; unions are not supported"),
            ));
            None
        }
    };
    let generics = &input.generics;
    let generic = if !generics.params.is_empty() {
        Some(generics.to_token_stream())
    } else {
        generics
            .where_clause
            .as_ref()
            .map(ToTokens::to_token_stream)
    };
    let is_generic = generic.is_some();
    if let Some(tokens) = generic {
        errors.push(syn::Error::new_spanned(
            tokens,
            "`#[derive(Document)]` does not support generic parameters or lifetimes: a document \
             is a concrete type with a static schema",
        ));
    }
    let fields = fields?;
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        for attr in &field.attrs {
            if attr.path().is_ident("document_spec") {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[document_spec]` goes on the struct, not on a field",
                ));
            }
        }
        let Some(ident) = &field.ident else {
            continue;
        };
        let (kind, nullable) = types::kind_of(&field.ty);
        let name = ident.unraw().to_string();
        let opts = field_attr::parse_field(&field.attrs, &name, nullable, errors);
        out.push(Field {
            name,
            opts,
            ident,
            vis: &field.vis,
            ty: &field.ty,
            docs: field
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("doc"))
                .collect(),
            cfgs: field
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            kind,
            nullable,
        });
    }
    field_attr::check_json_names(&mut out, errors);
    let opts = field_attr::parse_struct(&input.attrs, errors);
    (!is_generic).then_some(Input {
        ident: &input.ident,
        vis: &input.vis,
        fields: out,
        opts,
    })
}

#[cfg(test)]
mod tests {
    use syn::{DeriveInput, parse_quote};

    use crate::messages;

    fn one(input: DeriveInput) -> String {
        let messages = messages(&input);
        assert_eq!(messages.len(), 1, "{messages:#?}");
        messages.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn unknown_keys_list_the_valid_keys_of_their_level() {
        let top = one(parse_quote! {
            #[document_spec(nmae = "products")]
            struct Product { name: String }
        });
        assert_eq!(
            top,
            "unknown `document_spec` key `nmae`; expected one of: `name`, `cache`, `unique`, `index`, \
             `tenant`; \
             did you mean `name`?"
        );
        let cache = one(parse_quote! {
            #[document_spec(cache(capacity = 3))]
            struct Product { name: String }
        });
        assert_eq!(
            cache,
            "unknown `cache` key `capacity`; expected one of: `name`, `ttl`, `early_refresh_beta`, \
             `early_refresh_background`, `sliding_ttl`, `age_ttl`, `l1`; `capacity` belongs inside `l1(...)`"
        );
        let age = one(parse_quote! {
            #[document_spec(cache(ttl = "2h", age_ttl(alpha = 0.1, min_ttl = "1s", max_ttl = "1h", beta(1))))]
            struct Product { name: String }
        });
        assert_eq!(
            age,
            "unknown `age_ttl` key `beta`; expected one of: `alpha`, `min_ttl`, `max_ttl`"
        );
        let prefix = one(parse_quote! {
            #[document_spec(cache(ttl = "2h", age_ttl(alpha = 0.1, min = "1s", max_ttl = "1h")))]
            struct Product { name: String }
        });
        assert!(prefix.ends_with("; did you mean `min_ttl`?"), "{prefix}");
        let suffix = one(parse_quote! {
            #[document_spec(cache(refresh_beta = 1.0))]
            struct Product { name: String }
        });
        assert!(
            suffix.ends_with("; did you mean `early_refresh_beta`?"),
            "{suffix}"
        );
        let l1 = one(parse_quote! {
            #[document_spec(cache(l1(ttl = "1s", size = 10)))]
            struct Product { name: String }
        });
        assert_eq!(
            l1,
            "unknown `l1` key `size`; expected one of: `ttl`, `capacity`, `store`"
        );
        let path = one(parse_quote! {
            #[document_spec(a::b = 1)]
            struct Product { name: String }
        });
        assert!(
            path.starts_with("unknown `document_spec` key `a::b`"),
            "{path}"
        );
    }

    #[test]
    fn an_unknown_key_does_not_hide_the_next_errors() {
        let messages = messages(&parse_quote! {
            #[document_spec(colour(x = 1), name = "Bad", cache(foo, ttl = "0s"))]
            struct Product { name: String }
        });
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("unknown `document_spec` key `colour`"));
        assert!(messages[1].starts_with("unknown `cache` key `foo`"));
        assert_eq!(
            messages[2],
            "invalid duration `0s`: must be greater than zero"
        );
        assert!(messages[3].starts_with("invalid `name` `Bad`"));
    }

    #[test]
    fn duplicate_keys_and_attributes_are_reported() {
        assert_eq!(
            one(parse_quote! {
                #[document_spec(name = "a", name = "b")]
                struct Product { name: String }
            }),
            "duplicate `name` key; each key may appear once"
        );
        assert_eq!(
            one(parse_quote! {
                #[document_spec(cache(l1(ttl = "1s", ttl = "2s")))]
                struct Product { name: String }
            }),
            "duplicate `l1(ttl)` key; each key may appear once"
        );
        assert_eq!(
            one(parse_quote! {
                #[document_spec(cache(), cache())]
                struct Product { name: String }
            }),
            "duplicate `cache` key; each key may appear once"
        );
        assert_eq!(
            one(parse_quote! {
                #[document_spec(name = "a")]
                #[document_spec(name = "b")]
                struct Product { name: String }
            }),
            "duplicate `#[document_spec]` attribute; put every key in the first one"
        );
    }

    #[test]
    fn wrong_literal_types_show_the_accepted_form() {
        let cases: Vec<(DeriveInput, &str)> = vec![
            (
                parse_quote!(
                    #[document_spec(name = products)]
                    struct P {
                        a: i32,
                    }
                ),
                "`name` expects a string literal: `name = \"products\"`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(name = 1))]
                    struct P {
                        a: i32,
                    }
                ),
                "`cache(name)` expects a string literal: `name = \"products\"`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(ttl = 5m))]
                    struct P {
                        a: i32,
                    }
                ),
                "`cache(ttl)` expects a duration string, write `\"5m\"`; durations are \
                 \"<int><ms|s|m|h|d>\", for example \"300ms\", \"2s\", \"5m\", \"1h\", \"7d\"",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(sliding_ttl = true))]
                    struct P {
                        a: i32,
                    }
                ),
                "`sliding_ttl` expects a duration string: `sliding_ttl = \"60s\"`; durations are \
                 \"<int><ms|s|m|h|d>\", for example \"300ms\", \"2s\", \"5m\", \"1h\", \"7d\"",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(early_refresh_beta = "1"))]
                    struct P {
                        a: i32,
                    }
                ),
                "`early_refresh_beta` expects a number: `early_refresh_beta = 1.0`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(
                        early_refresh_beta = 1.0,
                        early_refresh_background = "yes"
                    ))]
                    struct P {
                        a: i32,
                    }
                ),
                "`early_refresh_background` expects `true` or `false`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(l1(ttl = "1s", capacity = "10")))]
                    struct P {
                        a: i32,
                    }
                ),
                "`l1(capacity)` expects an integer literal: `capacity = 1024`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(l1(ttl = "1s", capacity = 1.5)))]
                    struct P {
                        a: i32,
                    }
                ),
                "`l1(capacity)` expects an integer literal: `capacity = 1024`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(l1(ttl = "1s", capacity = 99999999999999999999999999999999999999999)))]
                    struct P {
                        a: i32,
                    }
                ),
                "`l1(capacity)` is too large",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(age_ttl(
                        alpha = "0.1",
                        min_ttl = "1s",
                        max_ttl = "2s"
                    )))]
                    struct P {
                        a: i32,
                    }
                ),
                "`age_ttl(alpha)` expects a number: `alpha = 0.1`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(l1(ttl = "1s", store = 3)))]
                    struct P {
                        a: i32,
                    }
                ),
                "`l1(store)` expects \"lru\", \"tiny_lfu\", or a path to a factory \
                 `fn(&L1Config) -> Box<dyn L1Store>`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(l1(ttl = "1s", store = "lfu")))]
                    struct P {
                        a: i32,
                    }
                ),
                "unknown `l1(store)` \"lfu\"; expected \"lru\", \"tiny_lfu\", or a path to a \
                 factory `fn(&L1Config) -> Box<dyn L1Store>`",
            ),
            (
                parse_quote!(
                    #[document_spec(name)]
                    struct P {
                        a: i32,
                    }
                ),
                "`name` takes a value: `name = \"products\"`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache(ttl("5m")))]
                    struct P {
                        a: i32,
                    }
                ),
                "`cache(ttl)` takes a value: `ttl = \"5m\"`",
            ),
            (
                parse_quote!(
                    #[document_spec(cache = "products")]
                    struct P {
                        a: i32,
                    }
                ),
                "`cache` takes a list of keys, not a value: `cache(name = \"products\", ttl = \"5m\")`",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(one(input), expected);
        }
    }

    #[test]
    fn malformed_durations_show_the_form() {
        for text in ["5", "5 m", "1.5s", "5min", "-1s", ""] {
            let input: DeriveInput = syn::parse_str(&format!(
                "#[document_spec(cache(ttl = \"{text}\"))] struct P {{ a: i32 }}"
            ))
            .unwrap();
            assert_eq!(
                one(input),
                format!(
                    "invalid duration `{text}`: expected \"<int><ms|s|m|h|d>\", for example \
                     \"300ms\", \"2s\", \"5m\", \"1h\", \"7d\""
                )
            );
        }
    }

    #[test]
    fn a_syntax_error_stops_its_attribute_but_keeps_earlier_errors() {
        let messages = messages(&parse_quote! {
            #[document_spec(nmae = "x", cache(ttl "5m"))]
            struct Product { name: String }
        });
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("unknown `document_spec` key `nmae`"));
        assert_eq!(messages[1], "expected `=`");
    }

    #[test]
    fn only_structs_with_named_fields_and_no_generics() {
        assert_eq!(
            one(parse_quote!(
                enum Product {
                    A,
                }
            )),
            "`#[derive(Document)]` needs a struct with named fields; enums are not supported"
        );
        assert_eq!(
            one(parse_quote!(union Product { a: u32 })),
            "`#[derive(Document)]` needs a struct with named fields; unions are not supported"
        );
        assert_eq!(
            one(parse_quote!(
                struct Product(String);
            )),
            "`#[derive(Document)]` needs a struct with named fields, like \
             `struct Product { name: String }`; tuple structs are not supported"
        );
        assert_eq!(
            one(parse_quote!(
                struct Product;
            )),
            "`#[derive(Document)]` needs a struct with named fields, like \
             `struct Product { name: String }`; unit structs are not supported"
        );
        let generic = "`#[derive(Document)]` does not support generic parameters or lifetimes: a \
                       document is a concrete type with a static schema";
        assert_eq!(
            one(parse_quote!(
                struct Product<T> {
                    a: T,
                }
            )),
            generic
        );
        assert_eq!(
            one(parse_quote!(
                struct Product<'a> {
                    a: &'a str,
                }
            )),
            generic
        );
        assert_eq!(
            one(parse_quote!(
                struct Product
                where
                    u8: Copy,
                {
                    a: u8,
                }
            )),
            generic
        );
        assert_eq!(
            one(parse_quote!(
                struct Product {
                    #[document_spec(name = "x")]
                    a: u8,
                }
            )),
            "`#[document_spec]` goes on the struct, not on a field"
        );
    }

    #[test]
    fn empty_lists_and_bare_keys_mean_every_default() {
        for input in [
            parse_quote!(
                #[document_spec()]
                struct Product {
                    a: u8,
                }
            ),
            parse_quote!(
                #[document_spec(cache)]
                struct Product {
                    a: u8,
                }
            ),
            parse_quote!(
                #[document_spec(cache())]
                struct Product {
                    a: u8,
                }
            ),
        ] {
            assert_eq!(messages(&input), Vec::<String>::new());
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        use super::edit_distance;
        assert_eq!(edit_distance("ttl", "ttl"), 0);
        assert_eq!(edit_distance("tll", "ttl"), 1);
        assert_eq!(edit_distance("nmae", "name"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("capacity", "ttl"), 7);
    }
}
