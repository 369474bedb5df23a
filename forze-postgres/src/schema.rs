//! The opt-in schema check: does the table exist with the columns the document needs?

use std::collections::HashMap;

use forze_core::{Error, FieldKind, FieldSchema, Result, Tenancy};

use crate::client::PostgresClient;
use crate::columns::{META, TENANT_ID, sql_type};
use crate::config::PostgresDocumentConfig;
use crate::error::{from_sqlx, timed_out};

const COLUMNS_SQL: &str = "SELECT column_name::text, data_type::text, is_nullable = 'YES' \
                           FROM information_schema.columns \
                           WHERE table_schema = $1 AND table_name = $2";

/// Check that `config`'s table exists and has the metadata columns and a column of a matching
/// type for every field; a nullable field needs a nullable column.
///
/// # Errors
///
/// `Config` naming the table and the first missing or mismatched column.
pub(crate) async fn check_table(
    client: &PostgresClient,
    document: &str,
    config: &PostgresDocumentConfig,
    fields: &[FieldSchema],
    tenancy: Tenancy,
) -> Result<()> {
    if tenancy == Tenancy::Schema {
        // one table per tenant: the store checks each tenant's table on its first call
        return Ok(());
    }
    let what = format!("document `{document}`");
    let table = config.qualified_name();
    let (mut conn, limit) = client.connected()?.acquire(&what, Some(&table)).await?;
    let query = sqlx::query_as::<_, (String, String, bool)>(COLUMNS_SQL)
        .bind(config.schema.as_ref())
        .bind(config.table.as_ref())
        .fetch_all(&mut *conn);
    let rows = match limit {
        Some(limit) => tokio::time::timeout(limit, query)
            .await
            .map_err(|_| timed_out(&what, limit))?,
        None => query.await,
    }
    .map_err(|e| from_sqlx(e, &what, Some(&table)))?;
    if rows.is_empty() {
        return Err(Error::config(format!(
            "{what}: table {table} does not exist (create it, see create_table_sql)"
        )));
    }
    let columns: HashMap<String, (String, bool)> = rows
        .into_iter()
        .map(|(name, ty, nullable)| (name, (ty, nullable)))
        .collect();
    let tenant = (tenancy == Tenancy::Column).then_some((TENANT_ID, FieldKind::Uuid, false));
    let wanted = tenant
        .into_iter()
        .chain(META.iter().map(|m| (m.name, m.kind, false)))
        .chain(fields.iter().map(|f| (f.name, f.kind, f.nullable)));
    for (name, kind, nullable) in wanted {
        let expected = sql_type(kind);
        let Some((ty, col_nullable)) = columns.get(name) else {
            return Err(Error::config(format!(
                "{what}: table {table} has no column `{name}` (expected {})",
                expected.column
            )));
        };
        if !expected.reported.contains(&ty.as_str()) {
            return Err(Error::config(format!(
                "{what}: column `{name}` of {table} is {ty}, expected {}",
                expected.column
            )));
        }
        if nullable && !col_nullable {
            return Err(Error::config(format!(
                "{what}: column `{name}` of {table} is NOT NULL but the field is optional"
            )));
        }
    }
    Ok(())
}

/// Check every document table registered on `client` (and its fields, where already known).
pub(crate) async fn check_registered(client: &PostgresClient) -> Result<()> {
    for doc in client.registered_documents() {
        check_table(
            client,
            &doc.name,
            &doc.config,
            doc.fields.unwrap_or(&[]),
            doc.tenancy,
        )
        .await?;
    }
    Ok(())
}
