//! `#[derive(Document)]` for forze. Use it through `forze_core::Document`.

use proc_macro::TokenStream;

/// Derive `forze_core::Document` (placeholder until the derive lands).
#[proc_macro_derive(Document, attributes(document_spec))]
pub fn derive_document(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
