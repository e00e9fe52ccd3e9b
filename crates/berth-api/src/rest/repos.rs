//! Repositories: listing, creation, description and visibility, deletion, per-user and
//! per-team permissions, and tags.
//!
//! Every endpoint here asks `Access` about the repository first, so a private repository the
//! caller may not read is `404` on all of them, exactly like one that does not exist.

use berth_access::Principal;
use berth_access::manage::{Delegate, NamedSubject, RepoInfo, Role, Subject, Visibility};
use berth_domain::{Reference, RepoName, Tag};
use berth_registry::RegistryError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::orgs::parse_role;
use super::{Ctx, Reply, RestError, next_cursor};

fn repo_json(info: &RepoInfo, role: Option<Role>) -> Value {
    let (namespace, name) = info.name.split_once('/').unwrap_or(("", &info.name));
    json!({
        "namespace": namespace,
        "name": name,
        "description": info.description,
        "is_public": info.visibility == Visibility::Public,
        "can_write": role.is_some_and(|r| r >= Role::Write),
        "can_admin": role == Some(Role::Admin),
    })
}

fn parse_visibility(v: &str) -> Result<Visibility, RestError> {
    Visibility::parse(v)
        .ok_or_else(|| RestError::bad_request("visibility must be \"public\" or \"private\""))
}

/// The repository's current view for the caller.
async fn view(c: &Ctx, name: &str) -> Result<Value, RestError> {
    let v = c.app.access.get_repo(&c.principal, name).await?;
    Ok(repo_json(&v.info, v.role))
}

pub(crate) async fn list(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let public = match c.query("public") {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(RestError::bad_request("public must be true or false")),
    };
    let repos = c
        .app
        .access
        .list_repos(
            &c.principal,
            c.query("namespace").filter(|s| !s.is_empty()),
            public,
            c.next_page(),
            limit,
        )
        .await?;
    let next = next_cursor(&repos, limit, |r| r.info.name.clone());
    let repos: Vec<Value> = repos.iter().map(|r| repo_json(&r.info, r.role)).collect();
    Ok(Reply::ok(
        json!({ "repositories": repos, "next_page": next }),
    ))
}

#[derive(Deserialize)]
struct RepositoryCreateRequest {
    namespace: String,
    repository: String,
    visibility: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn create(c: Ctx) -> Result<Reply, RestError> {
    let req: RepositoryCreateRequest = c.json()?;
    let visibility = parse_visibility(&req.visibility)?;
    if req.namespace.is_empty() || req.repository.is_empty() {
        return Err(RestError::bad_request(
            "namespace and repository must not be empty",
        ));
    }
    let name = format!("{}/{}", req.namespace, req.repository);
    c.app
        .access
        .create_repo(&c.principal, &name, visibility, &req.description, &c.origin)
        .await?;
    Ok(Reply::created(view(&c, &name).await?))
}

pub(crate) async fn get(c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(view(&c, c.param("repository")).await?))
}

#[derive(Deserialize)]
struct RepositoryUpdateRequest {
    description: String,
}

pub(crate) async fn update(c: Ctx) -> Result<Reply, RestError> {
    let req: RepositoryUpdateRequest = c.json()?;
    let name = c.param("repository");
    c.app
        .access
        .update_repo(&c.principal, name, None, Some(&req.description), &c.origin)
        .await?;
    Ok(Reply::ok(view(&c, name).await?))
}

#[derive(Deserialize)]
struct VisibilityRequest {
    visibility: String,
}

pub(crate) async fn change_visibility(c: Ctx) -> Result<Reply, RestError> {
    let req: VisibilityRequest = c.json()?;
    let visibility = parse_visibility(&req.visibility)?;
    let name = c.param("repository");
    c.app
        .access
        .update_repo(&c.principal, name, Some(visibility), None, &c.origin)
        .await?;
    Ok(Reply::ok(view(&c, name).await?))
}

pub(crate) async fn delete(c: Ctx) -> Result<Reply, RestError> {
    let uploads = c
        .app
        .access
        .delete_repo(&c.principal, c.param("repository"), &c.origin)
        .await?;
    c.app.registry.forget_repository(&uploads).await;
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------- permissions

fn user_permission_json(s: &NamedSubject, role: Role) -> Value {
    json!({
        "role": role.as_str(),
        "name": s.name,
        "is_robot": matches!(s.subject, Subject::Robot(_)),
    })
}

fn team_permission_json(s: &NamedSubject, role: Role) -> Value {
    json!({ "role": role.as_str(), "name": s.name })
}

/// The repository's grants to teams (`teams`) or to users and robots (`!teams`).
async fn grants(c: &Ctx, teams: bool) -> Result<Vec<(NamedSubject, Role)>, RestError> {
    Ok(c.app
        .access
        .repo_permissions(&c.principal, c.param("repository"))
        .await?
        .into_iter()
        .filter(|(s, _)| matches!(s.subject, Subject::Team(_)) == teams)
        .collect())
}

fn permission_map(
    grants: &[(NamedSubject, Role)],
    render: fn(&NamedSubject, Role) -> Value,
) -> Value {
    let map: Map<String, Value> = grants
        .iter()
        .map(|(s, r)| (s.name.clone(), render(s, *r)))
        .collect();
    json!({ "permissions": map })
}

pub(crate) async fn user_permissions(c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(permission_map(
        &grants(&c, false).await?,
        user_permission_json,
    )))
}

pub(crate) async fn team_permissions(c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(permission_map(
        &grants(&c, true).await?,
        team_permission_json,
    )))
}

async fn one_grant(c: &Ctx, teams: bool, name: &str) -> Result<(NamedSubject, Role), RestError> {
    grants(c, teams)
        .await?
        .into_iter()
        .find(|(s, _)| s.name == name)
        .ok_or_else(|| {
            RestError::not_found(format!(
                "{name} has no permission on {}",
                c.param("repository")
            ))
        })
}

pub(crate) async fn user_permission(c: Ctx) -> Result<Reply, RestError> {
    let (s, role) = one_grant(&c, false, c.param("username")).await?;
    Ok(Reply::ok(user_permission_json(&s, role)))
}

pub(crate) async fn team_permission(c: Ctx) -> Result<Reply, RestError> {
    let (s, role) = one_grant(&c, true, c.param("teamname")).await?;
    Ok(Reply::ok(team_permission_json(&s, role)))
}

#[derive(Deserialize)]
struct PermissionRequest {
    role: String,
}

async fn set(c: &Ctx, delegate: Delegate, role: Option<Role>) -> Result<(), RestError> {
    c.app
        .access
        .set_permission(
            &c.principal,
            c.param("repository"),
            &delegate,
            role,
            &c.origin,
        )
        .await?;
    Ok(())
}

pub(crate) async fn put_user_permission(c: Ctx) -> Result<Reply, RestError> {
    let role = parse_role(&c.json::<PermissionRequest>()?.role)?;
    let name = c.param("username");
    set(&c, Delegate::User(name.to_owned()), Some(role)).await?;
    Ok(Reply::ok(json!({
        "role": role.as_str(),
        "name": name,
        "is_robot": name.contains('+'),
    })))
}

pub(crate) async fn put_team_permission(c: Ctx) -> Result<Reply, RestError> {
    let role = parse_role(&c.json::<PermissionRequest>()?.role)?;
    let name = c.param("teamname");
    set(&c, Delegate::Team(name.to_owned()), Some(role)).await?;
    Ok(Reply::ok(json!({ "role": role.as_str(), "name": name })))
}

pub(crate) async fn delete_user_permission(c: Ctx) -> Result<Reply, RestError> {
    set(&c, Delegate::User(c.param("username").to_owned()), None).await?;
    Ok(Reply::no_content())
}

pub(crate) async fn delete_team_permission(c: Ctx) -> Result<Reply, RestError> {
    set(&c, Delegate::Team(c.param("teamname").to_owned()), None).await?;
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------- tags

/// The repository, checked for `need` by `Access`, as a registry name.
pub(crate) async fn checked_repo(
    c: &Ctx,
    p: &Principal,
    need: Role,
) -> Result<RepoName, RestError> {
    let name = c.param("repository");
    c.app.access.repo_with_role(p, name, need).await?;
    // Whatever `Access` found is a valid name; refuse the impossible alike.
    RepoName::parse(name)
        .map_err(|_| RestError::not_found(format!("repository {name} does not exist")))
}

fn positive(c: &Ctx, key: &str, default: u32) -> Result<u32, RestError> {
    match c.query(key) {
        None | Some("") => Ok(default),
        Some(s) => {
            s.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                RestError::bad_request(format!("{key} must be a whole number from 1"))
            })
        }
    }
}

pub(crate) async fn tags(c: Ctx) -> Result<Reply, RestError> {
    let repo = checked_repo(&c, &c.principal, Role::Read).await?;
    let page_max = c.app.registry.limits().page_max.max(1);
    let limit = c.limit()?.min(page_max);
    let page = positive(&c, "page", 1)?;
    let registry = &c.app.registry;
    let repo_ref = &repo;
    // A repository without tags may be unknown to the registry yet (created through this
    // API, nothing pushed): that is an empty list.
    let list = |n: u32, last: Option<String>| async move {
        match registry.tags(repo_ref, Some(n), last.as_deref()).await {
            Ok(p) => Ok((p.items, p.next.is_some())),
            Err(RegistryError::NameUnknown(_)) => Ok((Vec::new(), false)),
            Err(e) => Err(RestError::from(e)),
        }
    };
    // Skip to the page by walking the tag list in large steps.
    let mut skip = u64::from(page - 1) * u64::from(limit);
    let mut last: Option<String> = None;
    let mut exhausted = false;
    while skip > 0 {
        let n = skip.min(u64::from(page_max)) as u32;
        let (items, more) = list(n, last.clone()).await?;
        skip = skip.saturating_sub(items.len() as u64);
        last = items.last().cloned().or(last);
        if !more || items.is_empty() {
            exhausted = true;
            break;
        }
    }
    let (names, has_additional) = if exhausted {
        (Vec::new(), false)
    } else {
        list(limit, last).await?
    };
    let mut tags = Vec::with_capacity(names.len());
    for name in names {
        let Ok(tag) = Tag::parse(&name) else { continue };
        match c
            .app
            .registry
            .manifest_get(&repo, &Reference::Tag(tag), &[])
            .await
        {
            Ok(m) => tags.push(json!({ "name": name, "manifest_digest": m.digest.to_string() })),
            // Deleted since it was listed.
            Err(RegistryError::ManifestUnknown(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Reply::ok(json!({
        "tags": tags,
        "page": page,
        "has_additional": has_additional,
    })))
}

pub(crate) async fn delete_tag(c: Ctx) -> Result<Reply, RestError> {
    let repo = checked_repo(&c, &c.principal, Role::Write).await?;
    let raw = c.param("tag");
    let tag = Tag::parse(raw).map_err(|e| RestError::bad_request(e.to_string()))?;
    c.app
        .registry
        .manifest_delete(&repo, &Reference::Tag(tag))
        .await
        .map_err(|e| match e {
            RegistryError::ManifestUnknown(_) | RegistryError::NameUnknown(_) => {
                RestError::not_found(format!("tag {raw} does not exist in {repo}"))
            }
            e => e.into(),
        })?;
    c.app.access.record(
        "delete_tag",
        true,
        &c.principal,
        None,
        Some(repo.as_str()),
        &c.origin,
        json!({ "tag": raw }),
    );
    Ok(Reply::no_content())
}
