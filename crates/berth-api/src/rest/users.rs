//! Sessions (`/signin`, `/signout`), the caller's own account (`/user/`), other users'
//! profiles (`/users/{username}`), superuser account administration (`/superuser/users/`)
//! and application tokens (`/user/apptoken`).

use axum::http::{StatusCode, header};
use berth_access::Principal;
use berth_access::manage::{AppToken, User};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::auth::{check_csrf, set_cookie};
use super::{Ctx, Reply, RestError, date, next_cursor, opt_date, paginate};

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn user_json(c: &Ctx, u: &User) -> Value {
    let config_superuser = c.app.access.config().superusers.contains(&u.name);
    json!({
        "username": u.name,
        "email": u.email,
        "super_user": u.superuser || config_superuser,
        "enabled": u.enabled,
        "created": date(u.created_at),
    })
}

/// The caller's own name, for endpoints about "my account": anonymous callers have none.
fn own_user(p: &Principal) -> Result<&str, RestError> {
    match p {
        Principal::User { name, .. } => Ok(name),
        Principal::Anonymous => Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "this needs a signed-in user",
        )),
        _ => Err(RestError::new(
            StatusCode::FORBIDDEN,
            "only user accounts have a profile",
        )),
    }
}

// ---------------------------------------------------------------- sessions

#[derive(Deserialize)]
struct SigninRequest {
    username: String,
    password: String,
}

pub(crate) async fn signin(c: Ctx) -> Result<Reply, RestError> {
    let req: SigninRequest = c.json()?;
    let principal = c
        .app
        .access
        .authenticate(&req.username, &req.password, &c.origin)
        .await?;
    let session = c.app.access.create_session(&principal).await?;
    let cookie = set_cookie(
        Some(&session),
        c.app.access.config().session_ttl_secs,
        c.app.options.secure_cookies,
    );
    Ok(Reply::ok(json!({ "success": true })).with_header(header::SET_COOKIE, cookie))
}

pub(crate) async fn signout(c: Ctx) -> Result<Reply, RestError> {
    if let Some(cookie) = &c.session_cookie {
        // Signing someone out is a state change too.
        check_csrf(&c.headers)?;
        c.app.access.end_session(cookie).await?;
    }
    let cookie = set_cookie(None, 0, c.app.options.secure_cookies);
    Ok(Reply::ok(json!({ "success": true })).with_header(header::SET_COOKIE, cookie))
}

// ---------------------------------------------------------------- the caller's account

async fn me_json(c: &Ctx) -> Result<Value, RestError> {
    let p = &c.principal;
    let email = match p {
        Principal::User { name, .. } => c.app.access.get_user(p, name).await?.email,
        Principal::Anonymous => {
            return Err(RestError::new(
                StatusCode::UNAUTHORIZED,
                "this needs a signed-in user",
            ));
        }
        _ => None,
    };
    let orgs: Vec<Value> = c
        .app
        .access
        .list_orgs(p)
        .await?
        .into_iter()
        .map(|(ns, role)| json!({ "name": ns.name, "role": role.as_str() }))
        .collect();
    Ok(json!({
        "username": p.name(),
        "email": email,
        "super_user": p.is_superuser(),
        "anonymous": false,
        "is_robot": matches!(p, Principal::Robot { .. }),
        "organizations": orgs,
    }))
}

pub(crate) async fn me(c: Ctx) -> Result<Reply, RestError> {
    Ok(Reply::ok(me_json(&c).await?))
}

#[derive(Deserialize)]
struct UserCreateRequest {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
}

pub(crate) async fn create(c: Ctx) -> Result<Reply, RestError> {
    let req: UserCreateRequest = c.json()?;
    let user = c
        .app
        .access
        .create_user(
            &c.principal,
            &req.username,
            Some(&req.password),
            req.email.as_deref(),
            false,
            &c.origin,
        )
        .await?;
    Ok(Reply::created(user_json(&c, &user)))
}

#[derive(Deserialize)]
struct UserUpdateRequest {
    #[serde(default)]
    password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    email: Option<Option<String>>,
}

pub(crate) async fn update_me(c: Ctx) -> Result<Reply, RestError> {
    let req: UserUpdateRequest = c.json()?;
    let name = own_user(&c.principal)?.to_owned();
    if req.password.is_none() && req.email.is_none() {
        return Err(RestError::bad_request(
            "nothing to change: give \"password\" or \"email\"",
        ));
    }
    if let Some(pw) = &req.password {
        c.app
            .access
            .set_password(&c.principal, &name, pw, &c.origin)
            .await?;
    }
    if let Some(email) = &req.email {
        c.app
            .access
            .update_user(
                &c.principal,
                &name,
                None,
                None,
                Some(email.as_deref()),
                &c.origin,
            )
            .await?;
    }
    Ok(Reply::ok(me_json(&c).await?))
}

pub(crate) async fn get(c: Ctx) -> Result<Reply, RestError> {
    let user = c
        .app
        .access
        .get_user(&c.principal, c.param("username"))
        .await?;
    Ok(Reply::ok(json!({
        "username": user.name,
        "kind": "user",
        "created": date(user.created_at),
    })))
}

// ---------------------------------------------------------------- superuser administration

pub(crate) async fn list(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let users = c
        .app
        .access
        .list_users(&c.principal, c.next_page(), limit)
        .await?;
    let next = next_cursor(&users, limit, |u| u.name.clone());
    let users: Vec<Value> = users.iter().map(|u| user_json(&c, u)).collect();
    Ok(Reply::ok(json!({ "users": users, "next_page": next })))
}

#[derive(Deserialize)]
struct SuperuserCreateRequest {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    super_user: bool,
}

pub(crate) async fn admin_create(c: Ctx) -> Result<Reply, RestError> {
    let req: SuperuserCreateRequest = c.json()?;
    let user = c
        .app
        .access
        .create_user(
            &c.principal,
            &req.username,
            req.password.as_deref(),
            req.email.as_deref(),
            req.super_user,
            &c.origin,
        )
        .await?;
    Ok(Reply::created(user_json(&c, &user)))
}

#[derive(Deserialize)]
struct SuperuserUpdateRequest {
    #[serde(default)]
    super_user: Option<bool>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    email: Option<Option<String>>,
}

pub(crate) async fn admin_update(c: Ctx) -> Result<Reply, RestError> {
    let req: SuperuserUpdateRequest = c.json()?;
    let name = c.param("username");
    let access = &c.app.access;
    let flags = req.super_user.is_some() || req.enabled.is_some() || req.email.is_some();
    // With nothing but a password to change, the flags update is skipped; otherwise it runs
    // first, so a caller refused the flags changes no password either.
    let user = if flags || req.password.is_none() {
        Some(
            access
                .update_user(
                    &c.principal,
                    name,
                    req.super_user,
                    req.enabled,
                    req.email.as_ref().map(|e| e.as_deref()),
                    &c.origin,
                )
                .await?,
        )
    } else {
        None
    };
    if let Some(pw) = &req.password {
        access
            .set_password(&c.principal, name, pw, &c.origin)
            .await?;
    }
    let user = match user {
        Some(u) if req.password.is_none() => u,
        _ => access.get_user(&c.principal, name).await?,
    };
    Ok(Reply::ok(user_json(&c, &user)))
}

pub(crate) async fn admin_delete(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .delete_user(&c.principal, c.param("username"), &c.origin)
        .await?;
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------- application tokens

fn token_json(t: &AppToken, code: Option<&str>) -> Value {
    let mut v = json!({
        "uuid": t.id,
        "title": t.title,
        "created": date(t.created_at),
        "expiration": opt_date(t.expires_at),
        "last_accessed": opt_date(t.last_used_at),
    });
    if let Some(code) = code {
        v["token_code"] = Value::String(code.to_owned());
    }
    v
}

/// The caller's live (not revoked) tokens.
async fn live_tokens(c: &Ctx) -> Result<Vec<AppToken>, RestError> {
    Ok(c.app
        .access
        .list_app_tokens(&c.principal)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect())
}

pub(crate) async fn list_tokens(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let (page, next) = paginate(
        live_tokens(&c).await?,
        |t| t.id.clone(),
        c.next_page(),
        limit,
    );
    let tokens: Vec<Value> = page.iter().map(|t| token_json(t, None)).collect();
    Ok(Reply::ok(json!({ "tokens": tokens, "next_page": next })))
}

#[derive(Deserialize)]
struct AppTokenCreateRequest {
    title: String,
    /// Unix seconds; never expires when absent.
    #[serde(default)]
    expiration: Option<i64>,
}

pub(crate) async fn create_token(c: Ctx) -> Result<Reply, RestError> {
    let req: AppTokenCreateRequest = c.json()?;
    let (token, secret) = c
        .app
        .access
        .create_app_token(&c.principal, &req.title, req.expiration, &c.origin)
        .await?;
    Ok(Reply::created(
        json!({ "token": token_json(&token, Some(secret.expose())) }),
    ))
}

pub(crate) async fn get_token(c: Ctx) -> Result<Reply, RestError> {
    let id = c.param("token_uuid");
    let token = live_tokens(&c)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| RestError::not_found(format!("token {id} does not exist")))?;
    Ok(Reply::ok(json!({ "token": token_json(&token, None) })))
}

pub(crate) async fn revoke_token(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .revoke_app_token(&c.principal, c.param("token_uuid"), &c.origin)
        .await?;
    Ok(Reply::no_content())
}
