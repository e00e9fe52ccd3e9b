//! Audit logs of a repository, an organization, the caller, or everything (superusers),
//! newest first. `next_page` is the id of the last entry shown; the next page holds older
//! entries.

use axum::http::StatusCode;
use berth_access::Principal;
use berth_access::manage::{AuditRecord, LogScope};
use serde_json::{Value, json};

use super::{Ctx, Reply, RestError, date, next_cursor};

fn entry_json(r: &AuditRecord) -> Value {
    let metadata = serde_json::from_str::<Value>(&r.metadata)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let performer = match &r.actor {
        Some(name) => json!({ "name": name, "kind": r.actor_kind }),
        None => Value::Null,
    };
    json!({
        "kind": r.kind,
        "datetime": date(r.at),
        "performer": performer,
        "namespace": r.namespace,
        "repository": r.repository,
        "ip": r.ip,
        "success": r.success,
        "metadata": metadata,
    })
}

async fn logs(c: Ctx, scope: LogScope) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let before = match c.next_page() {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            RestError::bad_request("next_page must be a cursor from a previous page")
        })?),
    };
    let records = c
        .app
        .access
        .logs(&c.principal, &scope, before, limit)
        .await?;
    let next = next_cursor(&records, limit, |r| r.id.to_string());
    let entries: Vec<Value> = records.iter().map(entry_json).collect();
    Ok(Reply::ok(json!({ "logs": entries, "next_page": next })))
}

pub(crate) async fn repo(c: Ctx) -> Result<Reply, RestError> {
    let scope = LogScope::Repository(c.param("repository").to_owned());
    logs(c, scope).await
}

pub(crate) async fn org(c: Ctx) -> Result<Reply, RestError> {
    let scope = LogScope::Namespace(c.param("orgname").to_owned());
    logs(c, scope).await
}

/// The caller's own actions (an anonymous caller has no "own").
pub(crate) async fn user(c: Ctx) -> Result<Reply, RestError> {
    if matches!(c.principal, Principal::Anonymous) {
        return Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "this needs a signed-in user",
        ));
    }
    let scope = LogScope::User(c.principal.name().to_owned());
    logs(c, scope).await
}

pub(crate) async fn all(c: Ctx) -> Result<Reply, RestError> {
    logs(c, LogScope::All).await
}
