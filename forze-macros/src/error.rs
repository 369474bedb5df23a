//! The error accumulator: every problem of one derive is reported in one compile.

use proc_macro2::TokenStream;

/// Errors pushed while parsing and validating, joined with [`syn::Error::combine`].
#[derive(Default)]
pub(crate) struct Errors {
    errors: Option<syn::Error>,
}

impl Errors {
    /// Record one more error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Every error as `compile_error!` invocations (empty if there are none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    /// The accumulated error, if any (for unit tests).
    #[cfg(test)]
    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.errors
    }
}
