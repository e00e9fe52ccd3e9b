//! Organizations, their teams and team members, and default permissions (Quay calls them
//! "prototypes": grants every new repository of the organization starts with).

use berth_access::manage::Role;
use berth_access::manage::{DefaultPermission, Delegate, NamedSubject, Subject, Team, TeamRole};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Ctx, Reply, RestError, paginate};

fn team_json(t: &Team) -> Value {
    json!({ "name": t.name, "role": t.role.as_str(), "description": t.description })
}

/// A user or robot as a team member: robots are `ns+name`.
fn member_json(name: &str) -> Value {
    let robot = name.contains('+');
    json!({ "name": name, "kind": if robot { "robot" } else { "user" }, "is_robot": robot })
}

fn subject_member_json(s: &NamedSubject) -> Value {
    let robot = matches!(s.subject, Subject::Robot(_));
    json!({ "name": s.name, "kind": if robot { "robot" } else { "user" }, "is_robot": robot })
}

async fn org_json(c: &Ctx, name: &str) -> Result<Value, RestError> {
    let view = c.app.access.get_org(&c.principal, name).await?;
    let teams: Map<String, Value> = view
        .teams
        .iter()
        .map(|t| (t.name.clone(), team_json(t)))
        .collect();
    Ok(json!({
        "name": view.org.name,
        "is_admin": view.role == Some(TeamRole::Admin),
        "is_member": view.role.is_some(),
        "teams": teams,
    }))
}

#[derive(Deserialize)]
struct OrganizationCreateRequest {
    name: String,
}

pub(crate) async fn create(c: Ctx) -> Result<Reply, RestError> {
    let req: OrganizationCreateRequest = c.json()?;
    c.app
        .access
        .create_org(&c.principal, &req.name, None, &c.origin)
        .await?;
    Ok(Reply::created(org_json(&c, &req.name).await?))
}

pub(crate) async fn get(c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(org_json(&c, c.param("orgname")).await?))
}

pub(crate) async fn delete(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .delete_org(&c.principal, c.param("orgname"), &c.origin)
        .await?;
    Ok(Reply::no_content())
}

pub(crate) async fn mine(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let orgs = c.app.access.list_orgs(&c.principal).await?;
    let (page, next) = paginate(orgs, |(ns, _)| ns.name.clone(), c.next_page(), limit);
    let orgs: Vec<Value> = page
        .iter()
        .map(|(ns, role)| json!({ "name": ns.name, "role": role.as_str() }))
        .collect();
    Ok(Reply::ok(
        json!({ "organizations": orgs, "next_page": next }),
    ))
}

// ---------------------------------------------------------------- teams

#[derive(Deserialize)]
struct TeamRequest {
    role: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn put_team(c: Ctx) -> Result<Reply, RestError> {
    let req: TeamRequest = c.json()?;
    let role = TeamRole::parse(&req.role).ok_or_else(|| {
        RestError::bad_request("team role must be \"member\", \"creator\" or \"admin\"")
    })?;
    let team = c
        .app
        .access
        .put_team(
            &c.principal,
            c.param("orgname"),
            c.param("teamname"),
            role,
            &req.description,
            &c.origin,
        )
        .await?;
    Ok(Reply::ok(team_json(&team)))
}

pub(crate) async fn delete_team(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .delete_team(
            &c.principal,
            c.param("orgname"),
            c.param("teamname"),
            &c.origin,
        )
        .await?;
    Ok(Reply::no_content())
}

pub(crate) async fn members(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let (team, members) = c
        .app
        .access
        .team_members(&c.principal, c.param("orgname"), c.param("teamname"))
        .await?;
    let (page, next) = paginate(members, |m| m.name.clone(), c.next_page(), limit);
    let members: Vec<Value> = page.iter().map(subject_member_json).collect();
    Ok(Reply::ok(
        json!({ "name": team.name, "members": members, "next_page": next }),
    ))
}

pub(crate) async fn add_member(c: Ctx) -> Result<Reply, RestError> {
    let member = c.param("membername");
    c.app
        .access
        .add_team_member(
            &c.principal,
            c.param("orgname"),
            c.param("teamname"),
            member,
            &c.origin,
        )
        .await?;
    Ok(Reply::ok(member_json(member)))
}

pub(crate) async fn remove_member(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .remove_team_member(
            &c.principal,
            c.param("orgname"),
            c.param("teamname"),
            c.param("membername"),
            &c.origin,
        )
        .await?;
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------- default permissions

fn prototype_json(p: &DefaultPermission) -> Value {
    let (kind, robot) = match p.subject.subject {
        Subject::Team(_) => ("team", false),
        Subject::Robot(_) => ("user", true),
        Subject::User(_) => ("user", false),
    };
    json!({
        "id": p.id,
        "role": p.role.as_str(),
        "delegate": { "kind": kind, "name": p.subject.name, "is_robot": robot },
    })
}

pub(crate) async fn prototypes(c: Ctx) -> Result<Reply, RestError> {
    let list = c
        .app
        .access
        .default_permissions(&c.principal, c.param("orgname"))
        .await?;
    let list: Vec<Value> = list.iter().map(prototype_json).collect();
    Ok(Reply::ok(json!({ "prototypes": list })))
}

#[derive(Deserialize)]
struct DelegateRequest {
    kind: String,
    name: String,
}

#[derive(Deserialize)]
struct PrototypeCreateRequest {
    delegate: DelegateRequest,
    role: String,
}

/// A delegate as Quay names them: `user` (robots included, as `ns+name`) or `team`.
pub(crate) fn parse_delegate(kind: &str, name: String) -> Result<Delegate, RestError> {
    match kind {
        "user" => Ok(Delegate::User(name)),
        "team" => Ok(Delegate::Team(name)),
        _ => Err(RestError::bad_request(
            "delegate kind must be \"user\" or \"team\"",
        )),
    }
}

pub(crate) fn parse_role(role: &str) -> Result<Role, RestError> {
    Role::parse(role)
        .ok_or_else(|| RestError::bad_request("role must be \"read\", \"write\" or \"admin\""))
}

pub(crate) async fn add_prototype(c: Ctx) -> Result<Reply, RestError> {
    let req: PrototypeCreateRequest = c.json()?;
    let delegate = parse_delegate(&req.delegate.kind, req.delegate.name)?;
    let role = parse_role(&req.role)?;
    let p = c
        .app
        .access
        .add_default_permission(&c.principal, c.param("orgname"), &delegate, role, &c.origin)
        .await?;
    Ok(Reply::created(prototype_json(&p)))
}

pub(crate) async fn delete_prototype(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .delete_default_permission(
            &c.principal,
            c.param("orgname"),
            c.param("prototypeid"),
            &c.origin,
        )
        .await?;
    Ok(Reply::no_content())
}
