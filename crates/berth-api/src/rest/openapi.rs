//! `GET /api/v1/openapi.json`: an OpenAPI 3.0 document generated from the route table
//! ([`super::routes::ROUTES`]) and the schemas below, so every routed endpoint is documented
//! and nothing undocumented is routed. A unit test checks that every schema a route names
//! exists.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::routes::{ROUTES, Route};
use super::{Ctx, Reply, RestError};

pub(crate) async fn get(_c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(DOCUMENT.clone()))
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable_string() -> Value {
    json!({ "type": "string", "nullable": true })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn array_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema_ref(name) })
}

fn map_of(name: &str) -> Value {
    json!({ "type": "object", "additionalProperties": schema_ref(name) })
}

fn one_of_strings(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// A date as Quay writes them (RFC 2822, UTC).
fn date() -> Value {
    json!({ "type": "string", "description": "RFC 2822 date, e.g. Mon, 23 Nov 2026 08:00:00 -0000" })
}

fn nullable_date() -> Value {
    let mut d = date();
    d["nullable"] = Value::Bool(true);
    d
}

fn cursor() -> Value {
    json!({ "type": "string", "nullable": true, "description": "Pass as ?next_page= for the next page; null on the last page." })
}

/// Every schema the routes name.
pub(crate) fn schemas() -> Map<String, Value> {
    let team_role = one_of_strings(&["member", "creator", "admin"]);
    let repo_role = one_of_strings(&["read", "write", "admin"]);
    let visibility = one_of_strings(&["public", "private"]);
    let entries = [
        (
            "Error",
            object(
                &["status", "error_message", "error_type", "title", "detail"],
                json!({
                    "status": { "type": "integer" },
                    "error_message": string(),
                    "error_type": string(),
                    "title": string(),
                    "detail": string(),
                }),
            ),
        ),
        (
            "Success",
            object(&["success"], json!({ "success": boolean() })),
        ),
        (
            "OpenApiDocument",
            object(
                &["openapi", "info", "paths"],
                json!({ "openapi": string(), "info": { "type": "object" }, "paths": { "type": "object" } }),
            ),
        ),
        (
            "SigninRequest",
            object(
                &["username", "password"],
                json!({ "username": string(), "password": string() }),
            ),
        ),
        (
            "CurrentUser",
            object(
                &[
                    "username",
                    "email",
                    "super_user",
                    "anonymous",
                    "is_robot",
                    "organizations",
                ],
                json!({
                    "username": string(),
                    "email": nullable_string(),
                    "super_user": boolean(),
                    "anonymous": boolean(),
                    "is_robot": boolean(),
                    "organizations": array_of("OrganizationMembership"),
                }),
            ),
        ),
        (
            "OrganizationMembership",
            object(
                &["name", "role"],
                json!({ "name": string(), "role": team_role.clone() }),
            ),
        ),
        (
            "OrganizationList",
            object(
                &["organizations"],
                json!({ "organizations": array_of("OrganizationMembership"), "next_page": cursor() }),
            ),
        ),
        (
            "User",
            object(
                &["username", "email", "super_user", "enabled", "created"],
                json!({
                    "username": string(),
                    "email": nullable_string(),
                    "super_user": boolean(),
                    "enabled": boolean(),
                    "created": date(),
                }),
            ),
        ),
        (
            "PublicUser",
            object(
                &["username", "kind", "created"],
                json!({ "username": string(), "kind": one_of_strings(&["user"]), "created": date() }),
            ),
        ),
        (
            "UserList",
            object(
                &["users"],
                json!({ "users": array_of("User"), "next_page": cursor() }),
            ),
        ),
        (
            "UserCreateRequest",
            object(
                &["username", "password"],
                json!({ "username": string(), "password": string(), "email": string() }),
            ),
        ),
        (
            "UserUpdateRequest",
            object(
                &[],
                json!({ "password": string(), "email": nullable_string() }),
            ),
        ),
        (
            "SuperuserUserCreateRequest",
            object(
                &["username"],
                json!({
                    "username": string(),
                    "password": string(),
                    "email": string(),
                    "super_user": boolean(),
                }),
            ),
        ),
        (
            "SuperuserUserUpdateRequest",
            object(
                &[],
                json!({
                    "super_user": boolean(),
                    "enabled": boolean(),
                    "password": string(),
                    "email": nullable_string(),
                }),
            ),
        ),
        (
            "AppToken",
            object(
                &["uuid", "title", "created", "expiration", "last_accessed"],
                json!({
                    "uuid": string(),
                    "title": string(),
                    "created": date(),
                    "expiration": nullable_date(),
                    "last_accessed": nullable_date(),
                    "token_code": { "type": "string", "description": "Only in the answer that creates the token." },
                }),
            ),
        ),
        (
            "AppTokenEnvelope",
            object(&["token"], json!({ "token": schema_ref("AppToken") })),
        ),
        (
            "AppTokenList",
            object(
                &["tokens"],
                json!({ "tokens": array_of("AppToken"), "next_page": cursor() }),
            ),
        ),
        (
            "AppTokenCreateRequest",
            object(
                &["title"],
                json!({
                    "title": string(),
                    "expiration": { "type": "integer", "nullable": true, "description": "Unix seconds; never expires when absent." },
                }),
            ),
        ),
        (
            "Robot",
            object(
                &["name", "description", "created"],
                json!({ "name": string(), "description": string(), "created": date() }),
            ),
        ),
        (
            "RobotList",
            object(
                &["robots"],
                json!({ "robots": array_of("Robot"), "next_page": cursor() }),
            ),
        ),
        (
            "RobotCreateRequest",
            object(&[], json!({ "description": string() })),
        ),
        (
            "RobotCredentials",
            object(
                &[
                    "docker_config",
                    "kubernetes_secret",
                    "podman_login",
                    "docker_login",
                ],
                json!({
                    "docker_config": object(&["auths"], json!({ "auths": { "type": "object" } })),
                    "kubernetes_secret": object(
                        &["apiVersion", "kind", "metadata", "type", "data"],
                        json!({
                            "apiVersion": string(),
                            "kind": string(),
                            "metadata": { "type": "object" },
                            "type": string(),
                            "data": { "type": "object" },
                        }),
                    ),
                    "podman_login": string(),
                    "docker_login": string(),
                }),
            ),
        ),
        (
            "RobotWithCredentials",
            object(
                &["name", "description", "created", "token", "credentials"],
                json!({
                    "name": string(),
                    "description": string(),
                    "created": date(),
                    "token": string(),
                    "credentials": schema_ref("RobotCredentials"),
                }),
            ),
        ),
        (
            "OrganizationCreateRequest",
            object(&["name"], json!({ "name": string() })),
        ),
        (
            "Organization",
            object(
                &["name", "is_admin", "is_member", "teams"],
                json!({
                    "name": string(),
                    "is_admin": boolean(),
                    "is_member": boolean(),
                    "teams": map_of("Team"),
                }),
            ),
        ),
        (
            "Team",
            object(
                &["name", "role", "description"],
                json!({ "name": string(), "role": team_role.clone(), "description": string() }),
            ),
        ),
        (
            "TeamRequest",
            object(
                &["role"],
                json!({ "role": team_role, "description": string() }),
            ),
        ),
        (
            "Member",
            object(
                &["name", "kind", "is_robot"],
                json!({ "name": string(), "kind": one_of_strings(&["user", "robot"]), "is_robot": boolean() }),
            ),
        ),
        (
            "TeamMembers",
            object(
                &["name", "members"],
                json!({ "name": string(), "members": array_of("Member"), "next_page": cursor() }),
            ),
        ),
        (
            "Delegate",
            object(
                &["kind", "name"],
                json!({ "kind": one_of_strings(&["user", "team"]), "name": string(), "is_robot": boolean() }),
            ),
        ),
        (
            "Prototype",
            object(
                &["id", "role", "delegate"],
                json!({ "id": string(), "role": repo_role.clone(), "delegate": schema_ref("Delegate") }),
            ),
        ),
        (
            "PrototypeList",
            object(
                &["prototypes"],
                json!({ "prototypes": array_of("Prototype") }),
            ),
        ),
        (
            "PrototypeCreateRequest",
            object(
                &["delegate", "role"],
                json!({ "delegate": schema_ref("Delegate"), "role": repo_role.clone() }),
            ),
        ),
        (
            "Repository",
            object(
                &[
                    "namespace",
                    "name",
                    "description",
                    "is_public",
                    "can_write",
                    "can_admin",
                ],
                json!({
                    "namespace": string(),
                    "name": string(),
                    "description": string(),
                    "is_public": boolean(),
                    "can_write": boolean(),
                    "can_admin": boolean(),
                }),
            ),
        ),
        (
            "RepositoryList",
            object(
                &["repositories"],
                json!({ "repositories": array_of("Repository"), "next_page": cursor() }),
            ),
        ),
        (
            "RepositoryCreateRequest",
            object(
                &["namespace", "repository", "visibility"],
                json!({
                    "namespace": string(),
                    "repository": string(),
                    "visibility": visibility.clone(),
                    "description": string(),
                }),
            ),
        ),
        (
            "RepositoryUpdateRequest",
            object(&["description"], json!({ "description": string() })),
        ),
        (
            "VisibilityRequest",
            object(&["visibility"], json!({ "visibility": visibility })),
        ),
        (
            "PermissionRequest",
            object(&["role"], json!({ "role": repo_role.clone() })),
        ),
        (
            "UserPermission",
            object(
                &["role", "name", "is_robot"],
                json!({ "role": repo_role.clone(), "name": string(), "is_robot": boolean() }),
            ),
        ),
        (
            "TeamPermission",
            object(
                &["role", "name"],
                json!({ "role": repo_role, "name": string() }),
            ),
        ),
        (
            "UserPermissions",
            object(
                &["permissions"],
                json!({ "permissions": map_of("UserPermission") }),
            ),
        ),
        (
            "TeamPermissions",
            object(
                &["permissions"],
                json!({ "permissions": map_of("TeamPermission") }),
            ),
        ),
        (
            "TagEntry",
            object(
                &["name", "manifest_digest"],
                json!({ "name": string(), "manifest_digest": string() }),
            ),
        ),
        (
            "TagList",
            object(
                &["tags", "page", "has_additional"],
                json!({ "tags": array_of("TagEntry"), "page": { "type": "integer" }, "has_additional": boolean() }),
            ),
        ),
        (
            "IndexReport",
            object(
                &["manifest_hash", "state", "success"],
                json!({
                    "manifest_hash": string(),
                    "state": string(),
                    "packages": { "type": "object", "additionalProperties": { "type": "object" } },
                    "distributions": { "type": "object", "additionalProperties": { "type": "object" } },
                    "repository": { "type": "object", "additionalProperties": { "type": "object" } },
                    "environments": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "object" } } },
                    "success": boolean(),
                    "err": string(),
                }),
            ),
        ),
        (
            "SecurityInfo",
            object(
                &["status", "data"],
                json!({
                    "status": { "type": "string", "enum": ["queued", "scanned", "failed", "unsupported"] },
                    "reason": string(),
                    "data": { "type": ["object", "null"], "description": "Quay's `{\"Layer\": {\"Features\": [...]}}` once scanned." },
                    "platforms": { "type": "array", "items": { "type": "object" } },
                }),
            ),
        ),
        (
            "Sbom",
            json!({
                "type": "object",
                "description": "A CycloneDX 1.5 or SPDX 2.3 JSON document.",
            }),
        ),
        (
            "Performer",
            object(
                &["name", "kind"],
                json!({ "name": string(), "kind": string() }),
            ),
        ),
        (
            "LogEntry",
            object(
                &[
                    "kind",
                    "datetime",
                    "performer",
                    "namespace",
                    "repository",
                    "ip",
                    "success",
                    "metadata",
                ],
                json!({
                    "kind": string(),
                    "datetime": date(),
                    "performer": { "allOf": [schema_ref("Performer")], "nullable": true },
                    "namespace": nullable_string(),
                    "repository": nullable_string(),
                    "ip": nullable_string(),
                    "success": boolean(),
                    "metadata": { "type": "object" },
                }),
            ),
        ),
        (
            "LogList",
            object(
                &["logs"],
                json!({ "logs": array_of("LogEntry"), "next_page": cursor() }),
            ),
        ),
    ];
    entries
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        400 => "Bad request: invalid JSON, field or name",
        401 => "Credentials missing or wrong",
        403 => "Not allowed (or a cookie session without X-Requested-With)",
        404 => "Does not exist, or not visible to the caller",
        409 => "Conflicts with existing state",
        413 => "Request body larger than 1 MiB",
        429 => "Too many failed logins; see Retry-After",
        _ => "Server error",
    }
}

fn json_content(schema: &str) -> Value {
    json!({ "application/json": { "schema": schema_ref(schema) } })
}

fn operation(route: &Route) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let description = if name == "repository" {
                "namespace/name; the name may contain further slashes (not percent-encoded)"
            } else {
                "path parameter"
            };
            json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": description,
                "schema": string(),
            })
        })
        .collect();
    parameters.extend(route.query.iter().map(|q| {
        json!({
            "name": q.name,
            "in": "query",
            "required": false,
            "description": q.description,
            "schema": { "type": q.kind },
        })
    }));
    let mut responses = Map::new();
    for status in route.statuses() {
        let mut r = json!({ "description": reason(status) });
        let schema = if status == route.success.0 {
            route.success.1
        } else {
            Some("Error")
        };
        if let Some(s) = schema {
            r["content"] = json_content(s);
        }
        responses.insert(status.to_string(), r);
    }
    let operation_id = format!(
        "{}{}",
        route.method.as_str(),
        route
            .path
            .trim_start_matches("/api/v1")
            .split(['/', '{', '}', '.', '_'])
            .filter(|s| !s.is_empty())
            .map(|s| {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>()
    );
    let mut op = json!({
        "summary": route.summary,
        "operationId": operation_id,
        "parameters": parameters,
        "responses": responses,
    });
    if !route.authenticate {
        op["security"] = json!([{}]);
    }
    if let Some((schema, required)) = route.request {
        op["requestBody"] = json!({ "required": required, "content": json_content(schema) });
    }
    op
}

fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in ROUTES.iter() {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str()] = operation(route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "berth REST API",
            "version": "v1",
            "description": "Accounts, organizations, robots, tokens, repositories, permissions, tags and audit logs, shaped like Quay's API. Authenticate with the berth_session cookie (POST /api/v1/signin; state-changing requests then need an X-Requested-With header), an application token as Bearer, or Basic credentials (password, application token, or robot ns+name and token).",
        },
        "servers": [{ "url": "/" }],
        "security": [{}, { "basic": [] }, { "bearer": [] }, { "session": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic" },
                "bearer": { "type": "http", "scheme": "bearer", "description": "An application token" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE },
            },
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in `v` names a schema of `known`.
    fn check_refs(v: &Value, known: &Map<String, Value>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.trim_start_matches("#/components/schemas/");
                    assert!(known.contains_key(name), "unknown schema {name}");
                }
                m.values().for_each(|x| check_refs(x, known));
            }
            Value::Array(a) => a.iter().for_each(|x| check_refs(x, known)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let known = schemas();
        check_refs(&doc, &known);
        for route in ROUTES.iter() {
            let op = &doc["paths"][route.path][route.method.as_str()];
            assert!(
                op.is_object(),
                "{} {} missing",
                route.method.as_str(),
                route.path
            );
            for s in route.statuses() {
                assert!(op["responses"][s.to_string()].is_object());
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = std::collections::HashSet::new();
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(seen.insert(id.clone()), "duplicate operationId {id}");
            }
        }
    }
}
