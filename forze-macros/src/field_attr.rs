//! The DTO attributes: `#[forze(..)]` and `#[serde(..)]` on fields, `#[forze(..)]` on the
//! struct. They shape the generated create/update/read DTOs and never the stored columns.
//!
//! ```text
//! #[forze(validate)]                      // struct: `create`/`update` call
//!                                         // `forze_core::Validate` on their input
//! struct Product {
//!     #[serde(rename = "displayName", alias = "title")]
//!     name: String,                       // JSON key `displayName` (also accepts `title`);
//!                                         // the column stays `name`
//!     #[serde(default)]
//!     tags: Vec<String>,                  // may be omitted from a create body
//!     #[forze(read_only)]
//!     sku: String,                        // set at create, not in the update DTO
//!     #[forze(skip_create)]
//!     shipped_at: Option<DateTime<Utc>>,  // not in the create DTO (stored as its default),
//!                                         // in the update DTO
//! }
//! ```

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Path};

use crate::error::Errors;

/// The keys of `#[forze(..)]` on a field and on the struct, as the messages list them.
const FIELD_KEYS: &[&str] = &["read_only", "skip_create"];
const STRUCT_KEYS: &[&str] = &["validate"];
/// The `#[serde(..)]` keys a document field may carry.
const SERDE_KEYS: &[&str] = &["rename", "alias", "default"];

/// How a field's value is made when the JSON of a create omits it.
pub(crate) enum FieldDefault {
    /// `#[serde(default)]`: `Default::default()`.
    Trait,
    /// `#[serde(default = "path")]`: `path()`.
    Path(LitStr),
}

/// The DTO options of one field.
#[derive(Default)]
pub(crate) struct FieldOpts {
    /// `#[serde(rename = "..")]`: the JSON key in every DTO (the column keeps the field name).
    pub(crate) rename: Option<LitStr>,
    /// `#[serde(alias = "..")]`: more keys the create and update DTOs accept.
    pub(crate) aliases: Vec<LitStr>,
    /// `#[serde(default)]` / `#[serde(default = "path")]`.
    pub(crate) default: Option<FieldDefault>,
    /// `#[forze(read_only)]`, spanned at the key: in the create DTO, not in the update DTO.
    pub(crate) read_only: Option<TokenStream>,
    /// `#[forze(skip_create)]`, spanned at the key: in the update DTO, not in the create DTO.
    pub(crate) skip_create: Option<TokenStream>,
}

/// The DTO options of the struct.
#[derive(Default)]
pub(crate) struct StructOpts {
    /// `#[forze(validate)]`: the ports validate create and update input.
    pub(crate) validate: bool,
}

/// Parse the `#[forze(..)]` attributes of the struct.
pub(crate) fn parse_struct(attrs: &[Attribute], errors: &mut Errors) -> StructOpts {
    let mut opts = StructOpts::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("forze")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = key_of(&meta.path);
            match key.as_str() {
                "validate" => {
                    no_value(&meta, "validate", errors)?;
                    if opts.validate {
                        errors.push(duplicate(&meta.path, "validate"));
                    }
                    opts.validate = true;
                }
                other if FIELD_KEYS.contains(&other) => {
                    skip_value(&meta)?;
                    errors.push(syn::Error::new_spanned(
                        &meta.path,
                        format!(
                            "`#[forze({other})]` goes on a field, not on the struct; on the \
                             struct `#[forze(..)]` accepts: {}",
                            listed(STRUCT_KEYS)
                        ),
                    ));
                }
                other => {
                    skip_value(&meta)?;
                    errors.push(syn::Error::new_spanned(
                        &meta.path,
                        format!(
                            "unknown `#[forze(..)]` key `{other}` on the struct; expected one \
                             of: {}",
                            listed(STRUCT_KEYS)
                        ),
                    ));
                }
            }
            Ok(())
        });
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    opts
}

/// Parse the `#[forze(..)]` and `#[serde(..)]` attributes of the field `name` (the Rust name)
/// and check them against each other. `nullable`: the field is an `Option`. An attribute in
/// error is reported and left out, so the expansion goes on without it.
pub(crate) fn parse_field(
    attrs: &[Attribute],
    name: &str,
    nullable: bool,
    errors: &mut Errors,
) -> FieldOpts {
    let mut opts = FieldOpts::default();
    for attr in attrs {
        let parsed = if attr.path().is_ident("forze") {
            attr.parse_nested_meta(|meta| forze_key(&meta, &mut opts, errors))
        } else if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| serde_key(&meta, &mut opts, errors))
        } else {
            Ok(())
        };
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    if let (Some(read_only), Some(_)) = (&opts.read_only, &opts.skip_create) {
        errors.push(syn::Error::new_spanned(
            read_only,
            format!(
                "field `{name}` cannot be both `read_only` and `skip_create`: it would be in \
                 neither the create nor the update DTO and always hold its default; use one of \
                 them, or drop the field"
            ),
        ));
        opts.read_only = None;
        opts.skip_create = None;
    }
    if let Some(skip) = &opts.skip_create
        && !nullable
        && opts.default.is_none()
    {
        errors.push(syn::Error::new_spanned(
            skip,
            format!(
                "field `{name}` is `skip_create` but has no value at create time: make it an \
                 `Option<T>` (created as `None`), or add `#[serde(default)]` (created as \
                 `Default::default()`) or `#[serde(default = \"path::to::fn\")]`"
            ),
        ));
        opts.skip_create = None;
    }
    opts
}

fn forze_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    opts: &mut FieldOpts,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = key_of(&meta.path);
    let slot = match key.as_str() {
        "read_only" => &mut opts.read_only,
        "skip_create" => &mut opts.skip_create,
        other => {
            skip_value(meta)?;
            let mut message = format!(
                "unknown `#[forze(..)]` key `{other}` on a field; expected one of: {}",
                listed(FIELD_KEYS)
            );
            if STRUCT_KEYS.contains(&other) {
                message.push_str(&format!("; `{other}` goes on the struct"));
            } else if SERDE_KEYS.contains(&other) {
                message.push_str(&format!("; write `#[serde({other} ..)]`"));
            } else if let Some(close) = FIELD_KEYS
                .iter()
                .find(|key| crate::attr::edit_distance(other, key) <= 2)
            {
                message.push_str(&format!("; did you mean `{close}`?"));
            }
            errors.push(syn::Error::new_spanned(&meta.path, message));
            return Ok(());
        }
    };
    no_value(meta, &key, errors)?;
    if slot.is_some() {
        errors.push(duplicate(&meta.path, &key));
    }
    *slot = Some(meta.path.to_token_stream());
    Ok(())
}

fn serde_key(
    meta: &syn::meta::ParseNestedMeta<'_>,
    opts: &mut FieldOpts,
    errors: &mut Errors,
) -> syn::Result<()> {
    let key = key_of(&meta.path);
    match key.as_str() {
        "rename" => {
            if let Some(lit) = string_value(meta, "rename", "rename = \"displayName\"", errors)? {
                if opts.rename.is_some() {
                    errors.push(duplicate(&meta.path, "rename"));
                }
                opts.rename = Some(lit);
            }
        }
        "alias" => {
            if let Some(lit) = string_value(meta, "alias", "alias = \"title\"", errors)? {
                opts.aliases.push(lit);
            }
        }
        "default" => {
            let default = if meta.input.peek(syn::Token![=]) {
                string_value(meta, "default", "default = \"path::to::fn\"", errors)?
                    .map(FieldDefault::Path)
            } else {
                Some(FieldDefault::Trait)
            };
            if let Some(default) = default {
                if opts.default.is_some() {
                    errors.push(duplicate(&meta.path, "default"));
                }
                opts.default = Some(default);
            }
        }
        other => {
            skip_value(meta)?;
            errors.push(syn::Error::new_spanned(
                &meta.path,
                format!(
                    "`#[serde({other})]` is not supported on a document field: the generated \
                     DTOs take {} (the stored column is always the field)",
                    listed(SERDE_KEYS)
                ),
            ));
        }
    }
    Ok(())
}

/// The key as written (`a::b` for a path).
fn key_of(path: &Path) -> String {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn listed(keys: &[&str]) -> String {
    keys.iter()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn duplicate(path: &Path, key: &str) -> syn::Error {
    syn::Error::new_spanned(
        path,
        format!("duplicate `{key}`; each key may appear once per field"),
    )
}

/// Skip whatever follows an unknown key: `= value` or `(..)`.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _value: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _group: proc_macro2::TokenTree = meta.input.parse()?;
    }
    Ok(())
}

/// A flag key (`read_only`): a value is reported and skipped.
fn no_value(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        skip_value(meta)?;
        errors.push(syn::Error::new_spanned(
            &meta.path,
            format!("`{key}` is a flag and takes no value: `#[forze({key})]`"),
        ));
    }
    Ok(())
}

/// `key = "text"`; another form is reported (`None`).
fn string_value(
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(syn::Token![=]) {
        let mut tokens = meta.path.to_token_stream();
        if meta.input.peek(syn::token::Paren) {
            let group: proc_macro2::TokenTree = meta.input.parse()?;
            tokens.extend([group]);
        }
        errors.push(syn::Error::new_spanned(
            tokens,
            format!(
                "`#[serde({key})]` takes a string: `#[serde({example})]` (the \
                 `{key}(serialize = .., deserialize = ..)` form is not supported)"
            ),
        ));
        return Ok(None);
    }
    let value: Expr = meta.value()?.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("`#[serde({key})]` takes a string literal: `#[serde({example})]`"),
            ));
            Ok(None)
        }
    }
}

/// The JSON keys of the DTOs: no two fields may answer to one key (a rename or an alias equal
/// to another field's key), and none may be a metadata key of the read model. A field in error
/// loses its rename and aliases (reported), so the expansion goes on.
pub(crate) fn check_json_names(fields: &mut [crate::attr::Field<'_>], errors: &mut Errors) {
    const RESERVED: &[&str] = &["id", "rev", "created_at", "last_update_at"];
    let mut seen: Vec<(String, String)> = Vec::new(); // (key, the field that has it)
    for field in fields.iter_mut() {
        let mut bad = false;
        let keys = field
            .opts
            .rename
            .iter()
            .map(|lit| (lit, "rename"))
            .chain(field.opts.aliases.iter().map(|lit| (lit, "alias")));
        let mut mine: Vec<String> = vec![field.json_name()];
        for (lit, what) in keys {
            let key = lit.value();
            if key.is_empty() {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!("`#[serde({what})]` of field `{}` is empty", field.name),
                ));
                bad = true;
            } else if RESERVED.contains(&key.as_str()) {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`#[serde({what} = \"{key}\")]` of field `{}` takes a metadata key: \
                         every read model carries `id`, `rev`, `created_at` and \
                         `last_update_at`; choose another key",
                        field.name
                    ),
                ));
                bad = true;
            } else if what == "alias" {
                mine.push(key);
            }
        }
        for key in &mine {
            if let Some((_, other)) = seen.iter().find(|(seen, _)| seen == key) {
                let at = field
                    .opts
                    .rename
                    .as_ref()
                    .map(ToTokens::to_token_stream)
                    .filter(|_| *key == field.json_name())
                    .or_else(|| {
                        field
                            .opts
                            .aliases
                            .iter()
                            .find(|lit| lit.value() == *key)
                            .map(ToTokens::to_token_stream)
                    })
                    .unwrap_or_else(|| field.ident.to_token_stream());
                errors.push(syn::Error::new_spanned(
                    at,
                    format!(
                        "field `{}` answers to the JSON key `{key}`, which field `{other}` \
                         already has; every key (name, rename or alias) must belong to one field",
                        field.name
                    ),
                ));
                bad = true;
            }
        }
        if bad {
            field.opts.rename = None;
            field.opts.aliases.clear();
            seen.push((field.json_name(), field.name.clone()));
        } else {
            seen.extend(mine.into_iter().map(|key| (key, field.name.clone())));
        }
    }
}
