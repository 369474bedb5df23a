//! `Tenancy`: whether a document's data is kept per tenant, and how.

use std::fmt;

use uuid::Uuid;

use crate::error::{Error, Result};

/// Whether the documents of a spec belong to tenants, and how a backend keeps them apart:
/// `#[document_spec(tenant = "column")]` or `#[document_spec(tenant = "schema")]`.
///
/// A tenant-scoped spec is used from a context bound to a tenant (`ctx.with_tenant(id)`), and
/// every read, query, write and cache entry is that tenant's; a plain spec is used from a
/// context without one. Any other combination is refused with [`ErrorKind::Config`] when the
/// port is taken (`ctx.document().query(&SPEC)`), and again by the stores, never served as a
/// query across tenants.
///
/// The two modes differ only in how a backend stores the documents (the in-memory backend keeps
/// every tenant apart either way):
///
/// - [`Column`](Self::Column): one table for every tenant, with a `tenant_id uuid NOT NULL`
///   column that is not a field of the model. Postgres writes it on insert, adds
///   `"tenant_id" = $1` to every statement, puts it first in the primary key
///   (`(tenant_id, id)`: two tenants may hold the same id) and in every declared index.
/// - [`Schema`](Self::Schema): one table per tenant, in a schema of its own (Postgres:
///   `<prefix>_<tenant uuid without hyphens>`, see `forze_postgres::tenant_schema_sql`).
///
/// [`ErrorKind::Config`]: crate::ErrorKind::Config
///
/// # Examples
///
/// ```
/// use forze_core::{Document, Tenancy};
///
/// #[derive(Document)]
/// #[document_spec(name = "invoices", tenant = "column")]
/// pub struct Invoice {
///     pub number: String,
/// }
///
/// assert_eq!(INVOICE_SPEC.tenancy, Tenancy::Column);
/// let tenant = uuid::Uuid::now_v7();
/// assert!(INVOICE_SPEC.tenancy.check("invoices", Some(tenant)).is_ok());
/// let err = INVOICE_SPEC.tenancy.check("invoices", None).unwrap_err();
/// assert!(err.to_string().contains("with_tenant"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Tenancy {
    /// No tenants (the default): one set of documents, used from contexts without a tenant.
    #[default]
    None,
    /// Row-level tenancy: one table, a `tenant_id` column on every row and in every statement.
    Column,
    /// Schema-per-tenant: each tenant's table in its own schema.
    Schema,
}

impl Tenancy {
    /// Parse the value of `#[document_spec(tenant = "...")]`: `"column"` or `"schema"`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the accepted values.
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "column" => Ok(Tenancy::Column),
            "schema" => Ok(Tenancy::Schema),
            other => Err(Error::config(format!(
                "invalid `tenant` \"{other}\": expected \"column\" (a tenant_id column on one \
                 table) or \"schema\" (a schema per tenant)"
            ))),
        }
    }

    /// Whether documents belong to tenants ([`Column`](Self::Column) or
    /// [`Schema`](Self::Schema)).
    pub fn is_scoped(self) -> bool {
        !matches!(self, Tenancy::None)
    }

    /// The spelling in `#[document_spec(tenant = "...")]`; `"none"` for [`None`](Self::None).
    pub fn as_str(self) -> &'static str {
        match self {
            Tenancy::None => "none",
            Tenancy::Column => "column",
            Tenancy::Schema => "schema",
        }
    }

    /// Check a call on `document` from a context bound to `tenant`: a tenant-scoped spec needs
    /// a tenant, a plain spec refuses one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the document and what to do.
    pub fn check(self, document: &str, tenant: Option<Uuid>) -> Result<()> {
        match (self.is_scoped(), tenant) {
            (true, Some(_)) | (false, None) => Ok(()),
            (true, None) => Err(Error::config(format!(
                "document `{document}` is tenant-scoped (`tenant = \"{}\"`) but the call has no \
                 tenant: use a context bound to one (`ctx.with_tenant(tenant_id)`); a call \
                 without a tenant would read or write across tenants",
                self.as_str()
            ))),
            (false, Some(tenant)) => Err(Error::config(format!(
                "document `{document}` is not tenant-scoped but the call carries tenant \
                 {tenant}: call it from a context without a tenant, or declare \
                 `#[document_spec(tenant = \"column\")]` (or \"schema\") to keep its documents \
                 per tenant"
            ))),
        }
    }
}

impl fmt::Display for Tenancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn parse_and_check() {
        assert_eq!(Tenancy::parse("column").unwrap(), Tenancy::Column);
        assert_eq!(Tenancy::parse("schema").unwrap(), Tenancy::Schema);
        let err = Tenancy::parse("row").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("\"column\""), "{err}");
        let t = Uuid::now_v7();
        assert!(Tenancy::None.check("d", None).is_ok());
        assert!(Tenancy::Schema.check("d", Some(t)).is_ok());
        let err = Tenancy::None.check("d", Some(t)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(&t.to_string()), "{err}");
        let err = Tenancy::Column.check("d", None).unwrap_err();
        assert!(err.to_string().contains("document `d`"), "{err}");
    }
}
