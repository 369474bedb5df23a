//! Conversions between the generated DTOs and untyped rows, and the shared error messages.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Document, FieldSchema, Row};
use crate::validate::ValidationErrors;

/// The fields of a new row from create input: checked (finite floats, `Validate`), keyed by
/// column, with the create-time values of the `skip_create` fields.
pub(crate) fn create_fields<D: Document>(
    document: &str,
    create: &D::Create,
) -> Result<Map<String, Value>> {
    let mut errors = ValidationErrors::new();
    D::__validate_create(create, &mut errors);
    errors.into_result(format_args!("create input of document `{document}`"))?;
    let mut fields = to_fields(document, "create input", create)?;
    json_to_columns(D::FIELDS, &mut fields);
    D::__create_defaults(&mut fields).map_err(|err| {
        Error::new(
            ErrorKind::Serialization,
            format!("the default of a `skip_create` field of document `{document}` could not be serialized"),
        )
        .with_source(err)
    })?;
    Ok(fields)
}

/// The fields of a patch from update input: checked, keyed by column.
pub(crate) fn update_fields<D: Document>(
    document: &str,
    update: &D::Update,
) -> Result<Map<String, Value>> {
    let mut errors = ValidationErrors::new();
    D::__validate_update(update, &mut errors);
    errors.into_result(format_args!("update input of document `{document}`"))?;
    let mut fields = to_fields(document, "update input", update)?;
    json_to_columns(D::FIELDS, &mut fields);
    Ok(fields)
}

/// Re-key the JSON of a DTO by column (`#[serde(rename)]` changes only the JSON keys).
pub(crate) fn json_to_columns(schema: &[FieldSchema], fields: &mut Map<String, Value>) {
    rekey(schema, fields, |f| f.json_name, |f| f.name);
}

/// Re-key the fields of a row by JSON key, for the read model.
fn columns_to_json(schema: &[FieldSchema], fields: &mut Map<String, Value>) {
    rekey(schema, fields, |f| f.name, |f| f.json_name);
}

fn rekey(
    schema: &[FieldSchema],
    fields: &mut Map<String, Value>,
    from: fn(&FieldSchema) -> &'static str,
    to: fn(&FieldSchema) -> &'static str,
) {
    if schema.iter().all(|f| f.name == f.json_name) {
        return;
    }
    // rebuilt, not moved in place: two renames may swap keys
    *fields = std::mem::take(fields)
        .into_iter()
        .map(
            |(key, value)| match schema.iter().find(|f| from(f) == key) {
                Some(field) => (to(field).to_owned(), value),
                None => (key, value),
            },
        )
        .collect();
}

/// A DTO as the JSON object of its fields.
pub(crate) fn to_fields<T: Serialize>(
    document: &str,
    what: &str,
    dto: &T,
) -> Result<Map<String, Value>> {
    match serde_json::to_value(dto) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(Error::new(
            ErrorKind::Serialization,
            format!("the {what} of document `{document}` did not serialize to a JSON object"),
        )),
        Err(err) => Err(Error::new(
            ErrorKind::Serialization,
            format!("the {what} of document `{document}` could not be serialized"),
        )
        .with_source(err)),
    }
}

/// A stored row as the read model: [`Document::read_from_row`].
pub(crate) fn row_to_read<D: Document>(document: &str, row: Row) -> Result<D::Read> {
    D::read_from_row(document, row)
}

/// A stored row as the read model, through JSON: the default of [`Document::read_from_row`].
pub(crate) fn row_to_read_json<D: Document>(document: &str, row: Row) -> Result<D::Read> {
    let id = row.meta.id;
    let mut map = row.fields;
    columns_to_json(D::FIELDS, &mut map);
    map.insert("id".into(), Value::String(id.to_string()));
    map.insert("rev".into(), Value::from(row.meta.rev));
    map.insert("created_at".into(), timestamp(row.meta.created_at));
    map.insert("last_update_at".into(), timestamp(row.meta.last_update_at));
    serde_json::from_value(Value::Object(map)).map_err(|err| mismatch(document, id, err))
}

fn mismatch(document: &str, id: Uuid, err: serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Serialization,
        format!("document `{document}` {id}: the stored row does not match the read model"),
    )
    .with_source(err)
}

/// One field of a stored row for a derived [`Document::read_from_row`]: taken out of
/// `fields` and deserialized as `T`. A missing field is an error unless `optional` (then it
/// reads as `null`), as for a deserialized struct.
#[doc(hidden)]
pub fn read_field<T: serde::de::DeserializeOwned>(
    document: &str,
    id: Uuid,
    fields: &mut Map<String, Value>,
    name: &str,
    optional: bool,
) -> Result<T> {
    let value = match fields.remove(name) {
        Some(value) => value,
        None if optional => Value::Null,
        None => {
            return Err(mismatch(
                document,
                id,
                serde::de::Error::custom(format_args!("missing field `{name}`")),
            ));
        }
    };
    serde_json::from_value(value).map_err(|err| {
        mismatch(
            document,
            id,
            serde::de::Error::custom(format_args!("field `{name}`: {err}")),
        )
    })
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> Value {
    Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

pub(crate) fn not_found(document: &str, id: Uuid) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("document `{document}` {id} not found"),
    )
}

pub(crate) fn many_not_found(document: &str, ids: &[Uuid]) -> Error {
    if let [id] = ids {
        return not_found(document, *id);
    }
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    Error::new(
        ErrorKind::NotFound,
        format!("documents `{document}` not found: [{}]", ids.join(", ")),
    )
}

pub(crate) fn internal(document: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("document `{document}`: the store {what}"),
    )
}
