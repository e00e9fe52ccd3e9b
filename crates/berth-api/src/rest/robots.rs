//! Robot accounts of the caller's own namespace (`/user/robots`) or of an organization
//! (`/organization/{orgname}/robots`). A robot's token is shown once, when it is created or
//! regenerated (only its hash is stored), together with ready-to-use credentials: a Docker
//! `config.json`, a Kubernetes pull secret and `docker`/`podman login` commands.

use axum::http::{HeaderMap, header};
use berth_access::manage::{Robot, RobotWithToken};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, Reply, RestError, date, paginate};

/// The robots' namespace: the organization in the path, else the caller's own (for an
/// anonymous caller that is `""`, which `Access` refuses as unauthenticated).
fn namespace(c: &Ctx) -> &str {
    c.param_opt("orgname").unwrap_or_else(|| c.principal.name())
}

fn robot_json(r: &Robot) -> Value {
    json!({
        "name": r.full_name(),
        "description": r.description,
        "created": date(r.created_at),
    })
}

/// The registry host clients should log in to: the request's `Host`, if it is a plausible
/// host name (it ends up in shell commands), else `localhost`.
fn registry_host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost")
}

/// Standard base64 with padding (what `config.json` and Kubernetes secrets use).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The robot with its token and the ways to use it.
fn with_credentials(r: &RobotWithToken, host: &str) -> Value {
    let name = r.robot.full_name();
    let token = r.token.expose();
    let docker_config = json!({
        "auths": { host: { "auth": base64(format!("{name}:{token}").as_bytes()) } }
    });
    // Kubernetes object names are DNS labels: no `_` or `+`.
    let secret_name =
        format!("{}-{}-pull-secret", r.robot.namespace, r.robot.name).replace(['_', '+'], "-");
    let kubernetes_secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": secret_name },
        "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": base64(docker_config.to_string().as_bytes()) },
    });
    let mut v = robot_json(&r.robot);
    v["token"] = Value::String(token.to_owned());
    v["credentials"] = json!({
        "docker_config": docker_config,
        "kubernetes_secret": kubernetes_secret,
        "podman_login": format!("podman login -u '{name}' -p '{token}' {host}"),
        "docker_login": format!("docker login -u '{name}' -p '{token}' {host}"),
    });
    v
}

pub(crate) async fn list(c: Ctx) -> Result<Reply, RestError> {
    let limit = c.limit()?;
    let robots = c
        .app
        .access
        .list_robots(&c.principal, namespace(&c))
        .await?;
    let (page, next) = paginate(robots, |r| r.name.clone(), c.next_page(), limit);
    let robots: Vec<Value> = page.iter().map(robot_json).collect();
    Ok(Reply::ok(json!({ "robots": robots, "next_page": next })))
}

pub(crate) async fn get(c: Ctx) -> Result<Reply, RestError> {
    let robot = c
        .app
        .access
        .get_robot(&c.principal, namespace(&c), c.param("robot_shortname"))
        .await?;
    Ok(Reply::ok(robot_json(&robot)))
}

#[derive(Deserialize, Default)]
struct RobotCreateRequest {
    #[serde(default)]
    description: String,
}

pub(crate) async fn create(c: Ctx) -> Result<Reply, RestError> {
    let req: RobotCreateRequest = c.json_or_default()?;
    let r = c
        .app
        .access
        .create_robot(
            &c.principal,
            namespace(&c),
            c.param("robot_shortname"),
            &req.description,
            &c.origin,
        )
        .await?;
    Ok(Reply::created(with_credentials(
        &r,
        registry_host(&c.headers),
    )))
}

pub(crate) async fn regenerate(c: Ctx) -> Result<Reply, RestError> {
    let r = c
        .app
        .access
        .regenerate_robot(
            &c.principal,
            namespace(&c),
            c.param("robot_shortname"),
            &c.origin,
        )
        .await?;
    Ok(Reply::ok(with_credentials(&r, registry_host(&c.headers))))
}

pub(crate) async fn delete(c: Ctx) -> Result<Reply, RestError> {
    c.app
        .access
        .delete_robot(
            &c.principal,
            namespace(&c),
            c.param("robot_shortname"),
            &c.origin,
        )
        .await?;
    Ok(Reply::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn host_is_checked() {
        let mut h = HeaderMap::new();
        assert_eq!(registry_host(&h), "localhost");
        h.insert(header::HOST, HeaderValue::from_static("reg.example:5000"));
        assert_eq!(registry_host(&h), "reg.example:5000");
        h.insert(header::HOST, HeaderValue::from_static("evil'; rm -rf /"));
        assert_eq!(registry_host(&h), "localhost");
    }
}
