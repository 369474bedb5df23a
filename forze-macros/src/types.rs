//! What a field's Rust type means for storage: its [`Kind`] and nullability.

use syn::{GenericArgument, PathArguments, Type};

/// The storage kind of a field, mirroring `forze_core::FieldKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    SmallInt,
    Int,
    BigInt,
    Real,
    Double,
    Bool,
    Uuid,
    Timestamp,
    Json,
}

impl Kind {
    /// The `forze_core::FieldKind` variant name.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kind::Text => "Text",
            Kind::SmallInt => "SmallInt",
            Kind::Int => "Int",
            Kind::BigInt => "BigInt",
            Kind::Real => "Real",
            Kind::Double => "Double",
            Kind::Bool => "Bool",
            Kind::Uuid => "Uuid",
            Kind::Timestamp => "Timestamp",
            Kind::Json => "Json",
        }
    }
}

/// Strip the invisible groups macro_rules leaves around `$ty` and redundant parentheses.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => peel(&group.elem),
        Type::Paren(paren) => peel(&paren.elem),
        _ => ty,
    }
}

/// The single type argument of a path type whose last segment is `name`: `T` of `Option<T>`.
fn single_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = peel(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter();
    match (types.next(), types.next()) {
        (Some(GenericArgument::Type(inner)), None) => Some(inner),
        _ => None,
    }
}

/// `T` if `ty` is `Option<T>` (any path ending in `Option` with one type argument).
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    single_arg(ty, "Option")
}

/// The last segment's name of a plain path type without generic arguments.
fn plain_name(ty: &Type) -> Option<String> {
    let Type::Path(path) = peel(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    matches!(last.arguments, PathArguments::None).then(|| last.ident.to_string())
}

/// The storage kind of `ty` and whether it is nullable (`Option<T>` takes `T`'s kind).
pub(crate) fn kind_of(ty: &Type) -> (Kind, bool) {
    if let Some(inner) = option_inner(ty) {
        return (kind_of(inner).0, true);
    }
    if let Some(zone) = single_arg(ty, "DateTime") {
        let kind = if plain_name(zone).as_deref() == Some("Utc") {
            Kind::Timestamp
        } else {
            Kind::Json
        };
        return (kind, false);
    }
    let kind = match plain_name(ty).as_deref() {
        Some("String") => Kind::Text,
        Some("i8" | "i16" | "u8") => Kind::SmallInt,
        Some("i32" | "u16") => Kind::Int,
        Some("i64" | "u32") => Kind::BigInt,
        Some("f32") => Kind::Real,
        Some("f64") => Kind::Double,
        Some("bool") => Kind::Bool,
        Some("Uuid") => Kind::Uuid,
        _ => Kind::Json,
    };
    (kind, false)
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    #[test]
    fn maps_every_kind() {
        let cases: Vec<(Type, Kind, bool)> = vec![
            (parse_quote!(String), Kind::Text, false),
            (parse_quote!(std::string::String), Kind::Text, false),
            (parse_quote!(i8), Kind::SmallInt, false),
            (parse_quote!(i16), Kind::SmallInt, false),
            (parse_quote!(u8), Kind::SmallInt, false),
            (parse_quote!(i32), Kind::Int, false),
            (parse_quote!(u16), Kind::Int, false),
            (parse_quote!(i64), Kind::BigInt, false),
            (parse_quote!(u32), Kind::BigInt, false),
            (parse_quote!(u64), Kind::Json, false),
            (parse_quote!(f32), Kind::Real, false),
            (parse_quote!(f64), Kind::Double, false),
            (parse_quote!(bool), Kind::Bool, false),
            (parse_quote!(Uuid), Kind::Uuid, false),
            (parse_quote!(uuid::Uuid), Kind::Uuid, false),
            (parse_quote!(DateTime<Utc>), Kind::Timestamp, false),
            (
                parse_quote!(chrono::DateTime<chrono::Utc>),
                Kind::Timestamp,
                false,
            ),
            (parse_quote!(DateTime<FixedOffset>), Kind::Json, false),
            (parse_quote!(Vec<String>), Kind::Json, false),
            (parse_quote!(Option<String>), Kind::Text, true),
            (parse_quote!(std::option::Option<i32>), Kind::Int, true),
            (parse_quote!(Option<Vec<u8>>), Kind::Json, true),
            (parse_quote!(Option<Option<bool>>), Kind::Bool, true),
            (parse_quote!((i64)), Kind::BigInt, false),
        ];
        for (ty, kind, nullable) in cases {
            assert_eq!(kind_of(&ty), (kind, nullable), "{}", quote::quote!(#ty));
        }
    }

    #[test]
    fn finds_the_option_argument() {
        let ty: Type = parse_quote!(Option<String>);
        let inner: Type = parse_quote!(String);
        assert_eq!(option_inner(&ty), Some(&inner));
        assert_eq!(option_inner(&parse_quote!(String)), None);
        assert_eq!(option_inner(&parse_quote!(Vec<Option<String>>)), None);
    }
}
