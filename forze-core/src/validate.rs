//! Validation of create and update input: the [`Validate`] trait and the [`ValidationErrors`]
//! collector.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, ErrorKind};

/// Checks of create or update input, run by [`DocumentCommand`](crate::DocumentCommand) before
/// anything reaches the store. Wired by `#[forze(validate)]` on a `#[derive(Document)]` struct,
/// which then needs `Validate` for both its create and its update DTO.
///
/// Record every problem in `errors` (do not stop at the first): the write fails with one
/// [`ErrorKind::Validation`] error naming every failing field, and
/// [`Error::validation_errors`] gives them back one by one (for a 422 body).
///
/// An update DTO holds only the fields the patch sets (`None` = unchanged), so its checks see
/// the patch, not the stored document.
///
/// Independently of this trait, every `f32`/`f64` field (or `Option` of one) of the input is
/// checked to be finite: JSON has no NaN or infinity, and a NaN would otherwise be stored as
/// `null`.
///
/// # Examples
///
/// ```
/// use forze_core::{Document, Validate, ValidationErrors};
///
/// #[derive(Document)]
/// #[forze(validate)]
/// pub struct Product {
///     pub name: String,
///     pub price: i32,
/// }
///
/// impl Validate for ProductCreate {
///     fn validate(&self, errors: &mut ValidationErrors) {
///         errors.check(!self.name.trim().is_empty(), "name", "must not be empty");
///         errors.check(self.price >= 0, "price", "must be zero or more");
///     }
/// }
///
/// impl Validate for ProductUpdate {
///     fn validate(&self, errors: &mut ValidationErrors) {
///         if let Some(name) = &self.name {
///             errors.check(!name.trim().is_empty(), "name", "must not be empty");
///         }
///         if let Some(price) = self.price {
///             errors.check(price >= 0, "price", "must be zero or more");
///         }
///     }
/// }
///
/// let mut errors = ValidationErrors::new();
/// ProductCreate { name: " ".into(), price: -1 }.validate(&mut errors);
/// assert_eq!(errors.to_string(), "`name` must not be empty; `price` must be zero or more");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `forze_core::Validate`",
    label = "`#[forze(validate)]` needs `impl forze_core::Validate for {Self}`",
    note = "`#[forze(validate)]` calls `Validate` on both the create and the update DTO; \
            implement it for each (an update's checks see only the fields the patch sets)"
)]
pub trait Validate {
    /// Record every problem of `self` in `errors`.
    fn validate(&self, errors: &mut ValidationErrors);
}

/// One problem: the field (its JSON key) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field as the input names it (its JSON key, or a path like `items[2].qty`).
    pub field: Cow<'static, str>,
    /// What is wrong, lowercase, without the field name: `must not be empty`.
    pub message: Cow<'static, str>,
}

/// The problems of one input, in the order they were found. Displayed as
/// `` `name` must not be empty; `price` must be zero or more ``.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that `field` is invalid: `message` says why.
    pub fn add(
        &mut self,
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Record `message` for `field` unless `ok`. Returns `ok`.
    pub fn check(
        &mut self,
        ok: bool,
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> bool {
        if !ok {
            self.add(field, message);
        }
        ok
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The problems, in the order they were recorded.
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.errors.iter()
    }

    /// The distinct fields with a problem, in order.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for error in &self.errors {
            if !fields.contains(&error.field.as_ref()) {
                fields.push(&error.field);
            }
        }
        fields
    }

    /// `Ok(())` if empty, else a [`Validation`](ErrorKind::Validation) error about `what`
    /// (`the create input of document \`products\``) whose source is `self`.
    pub(crate) fn into_result(self, what: impl fmt::Display) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Validation, format!("invalid {what}")).with_source(self))
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "`{}` {}", error.field, error.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// A float, or an `Option` of one, that must be finite to be stored (JSON has no NaN).
#[doc(hidden)]
pub trait Finite {
    /// `None` if finite (or absent), else what it is: `NaN`, `infinity`, `-infinity`.
    fn non_finite(&self) -> Option<&'static str>;
}

fn describe(nan: bool, positive: bool) -> &'static str {
    match (nan, positive) {
        (true, _) => "NaN",
        (false, true) => "infinity",
        (false, false) => "-infinity",
    }
}

impl Finite for f32 {
    fn non_finite(&self) -> Option<&'static str> {
        (!self.is_finite()).then(|| describe(self.is_nan(), self.is_sign_positive()))
    }
}

impl Finite for f64 {
    fn non_finite(&self) -> Option<&'static str> {
        (!self.is_finite()).then(|| describe(self.is_nan(), self.is_sign_positive()))
    }
}

impl<T: Finite> Finite for Option<T> {
    fn non_finite(&self) -> Option<&'static str> {
        self.as_ref().and_then(Finite::non_finite)
    }
}

/// Record a non-finite `value` of the field `key`.
#[doc(hidden)]
pub fn check_finite<T: Finite + ?Sized>(
    value: &T,
    key: &'static str,
    errors: &mut ValidationErrors,
) {
    if let Some(what) = value.non_finite() {
        errors.add(
            key,
            format!("is {what}; only finite numbers can be stored (JSON has no NaN or infinity)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem_and_displays_them_in_order() {
        let mut errors = ValidationErrors::new();
        assert!(errors.check(true, "a", "never"));
        assert!(!errors.check(false, "name", "must not be empty"));
        errors.add("price", "must be zero or more");
        errors.add("name", "is too short");
        assert_eq!(errors.len(), 3);
        assert_eq!(errors.fields(), ["name", "price"]);
        assert_eq!(
            errors.to_string(),
            "`name` must not be empty; `price` must be zero or more; `name` is too short"
        );
        let err = errors
            .clone()
            .into_result("create input of document `products`")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(err.validation_errors(), Some(&errors));
        assert!(ValidationErrors::new().into_result("x").is_ok());
    }

    #[test]
    fn non_finite_floats_are_named() {
        let mut errors = ValidationErrors::new();
        check_finite(&f64::NAN, "a", &mut errors);
        check_finite(&f32::INFINITY, "b", &mut errors);
        check_finite(&Some(f64::NEG_INFINITY), "c", &mut errors);
        check_finite(&Some(Some(f32::NAN)), "d", &mut errors);
        check_finite(&1.5f64, "ok", &mut errors);
        check_finite(&None::<f32>, "ok", &mut errors);
        check_finite(&Some(None::<f64>), "ok", &mut errors);
        assert_eq!(errors.fields(), ["a", "b", "c", "d"]);
        let messages: Vec<_> = errors.iter().map(|e| e.message.to_string()).collect();
        assert!(messages[0].starts_with("is NaN;"), "{messages:?}");
        assert!(messages[1].starts_with("is infinity;"), "{messages:?}");
        assert!(messages[2].starts_with("is -infinity;"), "{messages:?}");
        assert!(messages[3].starts_with("is NaN;"), "{messages:?}");
    }
}
