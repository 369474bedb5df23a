//! The spec is a real constant: usable in `const` and `static` items and const fns.

use std::time::Duration;

use forze_core::{Document, DocumentSpec, L1Spec};

#[derive(Document)]
#[document_spec(name = "products", cache(ttl = "10m", l1(ttl = "2s", capacity = 64)))]
pub struct Product {
    pub name: String,
}

const SPEC: DocumentSpec<Product> = PRODUCT_SPEC;
const SPEC_REF: &DocumentSpec<Product> = &PRODUCT_SPEC;
static SPEC_STATIC: DocumentSpec<Product> = PRODUCT_SPEC;
static SPEC_STATIC_REF: &DocumentSpec<Product> = &<Product as Document>::SPEC;

const fn l1_capacity(spec: &DocumentSpec<Product>) -> usize {
    match &spec.cache {
        Some(cache) => match cache.l1 {
            Some(L1Spec { capacity, .. }) => capacity,
            None => 0,
        },
        None => 0,
    }
}

// evaluated at compile time (through a `const` reference: `DocumentSpec` has drop glue, so a
// temporary `&PRODUCT_SPEC` could not be dropped in a const initializer)
const CAPACITY: usize = l1_capacity(SPEC_REF);
const _: () = assert!(CAPACITY == 64);
const FIELD_COUNT: usize = <Product as Document>::FIELDS.len();
const _: () = assert!(FIELD_COUNT == 1);

fn main() {
    assert_eq!(SPEC.name, "products");
    assert_eq!(SPEC_REF.name, "products");
    assert_eq!(SPEC_STATIC, PRODUCT_SPEC);
    assert_eq!(
        SPEC_STATIC_REF.cache.as_ref().map(|c| c.ttl),
        Some(Duration::from_secs(600))
    );
    let from_thread = std::thread::spawn(|| SPEC_STATIC.name.len())
        .join()
        .unwrap();
    assert_eq!(from_thread, 8);
    assert_eq!(CAPACITY, 64);
}
