//! Generated items are documented (field docs carried over) and trigger no lint, even under
//! `deny(warnings)` and `deny(missing_docs)` in a crate that never uses the DTOs.
#![deny(warnings, missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(clippy::all)]

/// A documented public document: `missing_docs` fails the build if a generated DTO, a DTO
/// field, or the spec constant lacks docs.
pub mod public {
    use forze_core::Document;

    /// A product.
    #[derive(Debug, Document)]
    #[document_spec(name = "products", cache(l1(ttl = "2s")))]
    pub struct Product {
        /// The display name.
        pub name: String,
        /// An optional note.
        pub note: Option<String>,
    }
}

// A private document whose DTOs and spec are never used: no dead-code warning.
mod private {
    use forze_core::Document;

    #[derive(Document)]
    struct Unused {
        name: String,
        count: Option<u32>,
    }
}

fn main() {
    assert_eq!(public::PRODUCT_SPEC.name, "products");
}
