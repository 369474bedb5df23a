//! Where one call's statements run and which tenant they are scoped to: the one place a
//! document's [`Tenancy`] is applied.
//!
//! Every statement of the store is started with [`Target::query`], on the [`Statements`] of the
//! call's target:
//!
//! - no tenancy: the config's table;
//! - `Tenancy::Column`: the config's table, every statement scoped by `"tenant_id" = $1` (the
//!   statements are rendered so; `query` binds the tenant as `$1`);
//! - `Tenancy::Schema`: the tenant's own table `"<prefix>_<tenant>"."<table>"` (statements
//!   rendered per tenant and kept, a bounded number of tenants at a time).
//!
//! A new statement gets the scope by being rendered in [`Statements`] (or through
//! [`crate::query`], which starts from [`Statements::scope`]) and started with `Target::query`.

use std::collections::HashMap;
use std::sync::Arc;

use forze_core::{FieldSchema, Tenancy};
use parking_lot::Mutex;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::codec::PgQuery;
use crate::config::PostgresDocumentConfig;
use crate::sql::Statements;

/// How many tenants' statements a schema-per-tenant store keeps rendered (then starts over).
const MAX_TENANTS_KEPT: usize = 4096;

/// How one bound document scopes its statements.
#[derive(Debug)]
pub(crate) enum Scoping {
    /// One table, no tenant (`Tenancy::None`).
    Shared(Arc<Statements>),
    /// One table, a tenant column (`Tenancy::Column`).
    Column(Arc<Statements>),
    /// A table per tenant (`Tenancy::Schema`): rendered per tenant, and whether the tenant's
    /// table was seen to exist.
    Schema {
        config: PostgresDocumentConfig,
        fields: &'static [FieldSchema],
        tenants: Mutex<HashMap<Uuid, (Arc<Statements>, bool)>>,
    },
}

impl Scoping {
    pub(crate) fn new(
        tenancy: Tenancy,
        config: &PostgresDocumentConfig,
        fields: &'static [FieldSchema],
    ) -> Self {
        match tenancy {
            Tenancy::Column => Scoping::Column(Arc::new(Statements::new(
                config.qualified_name(),
                true,
                fields,
            ))),
            Tenancy::Schema => Scoping::Schema {
                config: config.clone(),
                fields,
                tenants: Mutex::new(HashMap::new()),
            },
            // Tenancy is non-exhaustive; `None` and any later mode without a store scope
            _ => Scoping::Shared(Arc::new(Statements::new(
                config.qualified_name(),
                false,
                fields,
            ))),
        }
    }

    /// The target of a call for `tenant` (already checked against the tenancy).
    pub(crate) fn target(&self, tenant: Option<Uuid>) -> Target {
        match (self, tenant) {
            (Scoping::Column(sql), Some(tenant)) => Target {
                sql: Arc::clone(sql),
                tenant_param: Some(tenant),
                schema_tenant: None,
            },
            (
                Scoping::Schema {
                    config,
                    fields,
                    tenants,
                },
                Some(tenant),
            ) => {
                let mut tenants = tenants.lock();
                if tenants.len() >= MAX_TENANTS_KEPT && !tenants.contains_key(&tenant) {
                    tenants.clear();
                }
                let (sql, verified) = tenants.entry(tenant).or_insert_with(|| {
                    let table = config.qualified_in(&config.tenant_schema(tenant));
                    (Arc::new(Statements::new(table, false, fields)), false)
                });
                Target {
                    sql: Arc::clone(sql),
                    tenant_param: None,
                    schema_tenant: (!*verified).then_some(tenant),
                }
            }
            (Scoping::Shared(sql) | Scoping::Column(sql), _) => Target {
                sql: Arc::clone(sql),
                tenant_param: None,
                schema_tenant: None,
            },
            // a schema-per-tenant call without a tenant is refused before this (Tenancy::check)
            (Scoping::Schema { config, fields, .. }, None) => Target {
                sql: Arc::new(Statements::new(config.qualified_name(), false, fields)),
                tenant_param: None,
                schema_tenant: None,
            },
        }
    }

    /// The tenant's table exists: later calls need not check it.
    pub(crate) fn verified(&self, tenant: Uuid) {
        if let Scoping::Schema { tenants, .. } = self
            && let Some((_, verified)) = tenants.lock().get_mut(&tenant)
        {
            *verified = true;
        }
    }

    /// The table, for messages: the config's, or its per-tenant pattern.
    pub(crate) fn describe(&self) -> String {
        match self {
            Scoping::Shared(sql) | Scoping::Column(sql) => sql.table.clone(),
            Scoping::Schema { config, .. } => config.qualified_in(&config.tenant_schema_pattern()),
        }
    }
}

/// The statements of one call and the tenant they are scoped to.
#[derive(Debug)]
pub(crate) struct Target {
    /// The statements of the call's table.
    pub(crate) sql: Arc<Statements>,
    /// Bound as `$1` of every statement (row-level tenancy).
    tenant_param: Option<Uuid>,
    /// Schema-per-tenant: the tenant whose table has not been seen to exist yet.
    pub(crate) schema_tenant: Option<Uuid>,
}

impl Target {
    /// Start the statement `sql` (one of [`Self::sql`]'s, or rendered from it): with the tenant
    /// bound as `$1` when the table has a tenant column. Bind the statement's own parameters
    /// after it.
    pub(crate) fn query(&self, sql: &Arc<str>) -> PgQuery {
        let q = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
        match self.tenant_param {
            Some(tenant) => q.bind(tenant),
            None => q,
        }
    }

    /// The quoted table of the call, for messages.
    pub(crate) fn table(&self) -> &str {
        &self.sql.table
    }
}
