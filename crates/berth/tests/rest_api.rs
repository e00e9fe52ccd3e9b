//! The Quay-shaped REST API under `/api/v1`, against the real `berth` binary: every endpoint's
//! success shape, who gets 401, 403 or 404 (a private repository of someone else is 404 on
//! every repository endpoint, never 403), bad input, robot credentials, application tokens,
//! cookie sessions with their CSRF rule, and the OpenAPI document checked against the server
//! (every documented operation answers a documented status with the documented required
//! properties; undocumented paths are 404).
//!
//! Each test starts its own berth (login throttling and data stay per test). The server's
//! first superuser is `berth_testkit::ADMIN_USER`.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER};
use common::{Image, Registry};
use reqwest::Method;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// How a request authenticates.
#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
    /// A session cookie, with or without the `X-Requested-With` header.
    Cookie(String, bool),
    /// A literal `Authorization` value.
    Raw(String),
}

fn basic(user: &str, secret: &str) -> Auth {
    Auth::Basic(user.into(), secret.into())
}

fn admin() -> Auth {
    basic(ADMIN_USER, ADMIN_PASSWORD)
}

struct R {
    what: String,
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl std::fmt::Debug for R {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}\n  headers: {:?}\n  body: {}",
            self.what,
            self.status,
            self.headers,
            &self.text[..self.text.len().min(1500)]
        )
    }
}

impl R {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn expect(self, status: u16) -> R {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        self
    }

    /// Asserts a Quay-shaped error with this status; returns its message.
    #[track_caller]
    fn expect_error(self, status: u16) -> String {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error without JSON content type: {self:?}"
        );
        let v = self.json();
        assert_eq!(v["status"], json!(status), "{self:?}");
        for k in ["error_message", "error_type", "title", "detail"] {
            assert!(v[k].is_string(), "error body lacks {k}: {self:?}");
        }
        v["error_message"].as_str().unwrap().to_owned()
    }
}

struct Api {
    reg: Registry,
    http: Client,
}

impl Api {
    /// A fresh berth, or `None` when the tests target an external registry.
    fn start(env: &[(&str, &str)]) -> Option<Api> {
        let reg = Registry::own(env)?;
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(Api { reg, http })
    }

    fn send(&self, method: Method, path: &str, auth: &Auth, body: Option<Vec<u8>>) -> R {
        let what = format!("{method} {path} ({auth:?})");
        let mut rb = self.http.request(method, self.reg.url(path));
        rb = match auth {
            Auth::None => rb,
            Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
            Auth::Bearer(t) => rb.bearer_auth(t),
            Auth::Cookie(c, xrw) => {
                let rb = rb.header("cookie", format!("berth_session={c}"));
                if *xrw {
                    rb.header("x-requested-with", "XMLHttpRequest")
                } else {
                    rb
                }
            }
            Auth::Raw(v) => rb.header("authorization", v.as_str()),
        };
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let resp = rb.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        R {
            what,
            status,
            headers,
            text,
        }
    }

    fn get(&self, path: &str, auth: &Auth) -> R {
        self.send(Method::GET, path, auth, None)
    }

    fn delete(&self, path: &str, auth: &Auth) -> R {
        self.send(Method::DELETE, path, auth, None)
    }

    fn post(&self, path: &str, auth: &Auth, body: Value) -> R {
        self.send(
            Method::POST,
            path,
            auth,
            Some(body.to_string().into_bytes()),
        )
    }

    fn put(&self, path: &str, auth: &Auth, body: Value) -> R {
        self.send(Method::PUT, path, auth, Some(body.to_string().into_bytes()))
    }

    /// Creates a user (as the superuser) and returns Basic credentials for it.
    fn user(&self, name: &str) -> Auth {
        let password = format!("{name}-password");
        self.post(
            "/api/v1/superuser/users/",
            &admin(),
            json!({ "username": name, "password": password, "email": format!("{name}@example.com") }),
        )
        .expect(201);
        basic(name, &password)
    }

    /// An application token of the user `auth` authenticates.
    fn app_token(&self, auth: &Auth) -> Auth {
        let v = self
            .post("/api/v1/user/apptoken", auth, json!({ "title": "test" }))
            .expect(201)
            .json();
        Auth::Bearer(v["token"]["token_code"].as_str().unwrap().to_owned())
    }

    /// Signs in; returns the session cookie's value.
    fn signin(&self, user: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/v1/signin",
                &Auth::None,
                json!({ "username": user, "password": password }),
            )
            .expect(200);
        let cookie = r.header("set-cookie").expect("set-cookie").to_owned();
        let value = cookie
            .split(';')
            .next()
            .and_then(|kv| kv.strip_prefix("berth_session="))
            .expect("berth_session cookie")
            .to_owned();
        assert!(!value.is_empty());
        value
    }

    fn create_repo(&self, auth: &Auth, ns: &str, name: &str, visibility: &str) {
        self.post(
            "/api/v1/repository",
            auth,
            json!({ "namespace": ns, "repository": name, "visibility": visibility, "description": "test" }),
        )
        .expect(201);
    }
}

/// Standard base64 decoding (for credentials the API returns).
fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {s}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn is_rfc2822(s: &str) -> bool {
    // "Mon, 23 Nov 2026 08:00:00 -0000"
    let parts: Vec<&str> = s.split(' ').collect();
    parts.len() == 6
        && parts[0].len() == 4
        && parts[0].ends_with(',')
        && parts[1].len() == 2
        && parts[3].len() == 4
        && parts[4].len() == 8
        && parts[5] == "-0000"
}

// ---------------------------------------------------------------------------------------------
// Accounts and sessions
// ---------------------------------------------------------------------------------------------

#[test]
fn current_user_and_authentication_schemes() {
    let Some(api) = Api::start(&[]) else { return };
    // Anonymous: 401 with a Basic challenge.
    let r = api.get("/api/v1/user/", &Auth::None);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth\""));
    r.expect_error(401);
    // Basic with the password.
    let me = api.get("/api/v1/user/", &admin()).expect(200).json();
    assert_eq!(me["username"], ADMIN_USER);
    assert_eq!(me["super_user"], true);
    assert_eq!(me["anonymous"], false);
    assert!(me["organizations"].as_array().unwrap().is_empty());
    // Wrong password, malformed header, unknown scheme: 401.
    api.get("/api/v1/user/", &basic(ADMIN_USER, "wrong-password"))
        .expect_error(401);
    api.get("/api/v1/user/", &Auth::Raw("Basic !!!notbase64".into()))
        .expect_error(401);
    api.get("/api/v1/user/", &Auth::Raw("Digest abc".into()))
        .expect_error(401);
    api.get("/api/v1/user/", &Auth::Bearer("not-a-token".into()))
        .expect_error(401);
    // The path without the trailing slash is the same endpoint.
    api.get("/api/v1/user", &admin()).expect(200);
    // Organizations show up in the profile.
    api.post("/api/v1/organization/", &admin(), json!({ "name": "acme" }))
        .expect(201);
    let me = api.get("/api/v1/user/", &admin()).expect(200).json();
    assert_eq!(
        me["organizations"],
        json!([{ "name": "acme", "role": "admin" }])
    );
    let orgs = api
        .get("/api/v1/user/organizations", &admin())
        .expect(200)
        .json();
    assert_eq!(orgs["organizations"][0]["name"], "acme");
}

#[test]
fn signin_cookie_and_csrf_rule() {
    let Some(api) = Api::start(&[]) else { return };
    api.user("alice");
    // Bad password: 401, and no Basic challenge on the sign-in form.
    let r = api.post(
        "/api/v1/signin",
        &Auth::None,
        json!({ "username": "alice", "password": "nope-nope" }),
    );
    assert!(r.header("www-authenticate").is_none(), "{r:?}");
    r.expect_error(401);
    // Missing fields: 400.
    api.post(
        "/api/v1/signin",
        &Auth::None,
        json!({ "username": "alice" }),
    )
    .expect_error(400);
    let r = api
        .post(
            "/api/v1/signin",
            &Auth::None,
            json!({ "username": "alice", "password": "alice-password" }),
        )
        .expect(200);
    assert_eq!(r.json(), json!({ "success": true }));
    let set = r.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "cookie lacks {attr}: {set}");
    }
    assert!(
        !set.contains("Secure"),
        "Secure without secure_cookies: {set}"
    );
    let cookie = api.signin("alice", "alice-password");

    let me = api
        .get("/api/v1/user/", &Auth::Cookie(cookie.clone(), false))
        .expect(200)
        .json();
    assert_eq!(me["username"], "alice");
    // A state change by cookie needs X-Requested-With.
    let change = json!({ "email": "alice@new.example" });
    let msg = api
        .put(
            "/api/v1/user/",
            &Auth::Cookie(cookie.clone(), false),
            change.clone(),
        )
        .expect_error(403);
    assert!(msg.contains("X-Requested-With"), "{msg}");
    let me = api
        .put("/api/v1/user/", &Auth::Cookie(cookie.clone(), true), change)
        .expect(200)
        .json();
    assert_eq!(me["email"], "alice@new.example");
    // The same change with Basic needs no header.
    api.put(
        "/api/v1/user/",
        &basic("alice", "alice-password"),
        json!({ "email": "alice@example.com" }),
    )
    .expect(200);
    // Signing out needs the header too, then ends the session.
    api.send(
        Method::POST,
        "/api/v1/signout",
        &Auth::Cookie(cookie.clone(), false),
        None,
    )
    .expect_error(403);
    let r = api
        .send(
            Method::POST,
            "/api/v1/signout",
            &Auth::Cookie(cookie.clone(), true),
            None,
        )
        .expect(200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    // A dead session: 401 without a Basic challenge (the browser must not prompt).
    let r = api.get("/api/v1/user/", &Auth::Cookie(cookie, false));
    assert!(r.header("www-authenticate").is_none(), "{r:?}");
    r.expect_error(401);
    // Robots cannot sign in.
    let robot = api
        .put(
            "/api/v1/user/robots/bot",
            &basic("alice", "alice-password"),
            json!({}),
        )
        .expect(201)
        .json();
    api.post(
        "/api/v1/signin",
        &Auth::None,
        json!({ "username": "alice+bot", "password": robot["token"] }),
    )
    .expect_error(403);
}

#[test]
fn secure_cookie_when_configured() {
    let Some(api) = Api::start(&[("BERTH_AUTH__SECURE_COOKIES", "true")]) else {
        return;
    };
    let r = api
        .post(
            "/api/v1/signin",
            &Auth::None,
            json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD }),
        )
        .expect(200);
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
}

#[test]
fn failed_logins_are_throttled() {
    let Some(api) = Api::start(&[("BERTH_AUTH__LOGIN_MAX_FAILURES", "3")]) else {
        return;
    };
    api.user("carol");
    let bad = basic("carol", "wrong-password");
    let mut last = None;
    for _ in 0..6 {
        let r = api.get("/api/v1/user/", &bad);
        if r.status == 429 {
            last = Some(r);
            break;
        }
        r.expect_error(401);
    }
    let r = last.expect("no 429 after repeated failures");
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(wait > 0);
    r.expect_error(429);
}

#[test]
fn user_administration() {
    let Some(api) = Api::start(&[]) else { return };
    let bob = api.user("bob");
    // Registration is closed: anonymous 401, users 403.
    let new = json!({ "username": "eve", "password": "eve-password" });
    api.post("/api/v1/user/", &Auth::None, new.clone())
        .expect_error(401);
    api.post("/api/v1/user/", &bob, new.clone())
        .expect_error(403);
    let created = api.post("/api/v1/user/", &admin(), new).expect(201).json();
    assert_eq!(created["username"], "eve");
    assert_eq!(created["super_user"], false);
    assert_eq!(created["enabled"], true);
    assert!(is_rfc2822(created["created"].as_str().unwrap()));
    // Duplicates 409, bad names and short passwords 400.
    api.post(
        "/api/v1/superuser/users/",
        &admin(),
        json!({ "username": "eve", "password": "eve-password" }),
    )
    .expect_error(409);
    api.post(
        "/api/v1/superuser/users/",
        &admin(),
        json!({ "username": "Bad Name", "password": "long-enough" }),
    )
    .expect_error(400);
    api.post(
        "/api/v1/superuser/users/",
        &admin(),
        json!({ "username": "shorty", "password": "short" }),
    )
    .expect_error(400);
    api.post(
        "/api/v1/superuser/users/",
        &admin(),
        json!({ "username": "typed", "password": 12345678 }),
    )
    .expect_error(400);
    // Public profile: signed-in callers only; no email.
    api.get("/api/v1/users/eve", &Auth::None).expect_error(401);
    let eve = api.get("/api/v1/users/eve", &bob).expect(200).json();
    assert_eq!(eve["username"], "eve");
    assert!(eve.get("email").is_none());
    api.get("/api/v1/users/nobody", &bob).expect_error(404);
    // Listing: superusers only, paginated.
    api.get("/api/v1/superuser/users/", &bob).expect_error(403);
    api.get("/api/v1/superuser/users/", &Auth::None)
        .expect_error(401);
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/superuser/users/?limit=2&next_page={c}"),
            None => "/api/v1/superuser/users/?limit=2".into(),
        };
        let page = api.get(&path, &admin()).expect(200).json();
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        names.extend(
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        match page["next_page"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["admin", "bob", "eve"]);
    api.get("/api/v1/superuser/users/?limit=0", &admin())
        .expect_error(400);
    api.get("/api/v1/superuser/users/?limit=x", &admin())
        .expect_error(400);
    // Flags: superusers only.
    api.put(
        "/api/v1/superuser/users/eve",
        &bob,
        json!({ "super_user": true }),
    )
    .expect_error(403);
    let eve = api
        .put(
            "/api/v1/superuser/users/eve",
            &admin(),
            json!({ "super_user": true, "email": "eve@example.com" }),
        )
        .expect(200)
        .json();
    assert_eq!(eve["super_user"], true);
    assert_eq!(eve["email"], "eve@example.com");
    // Disabling locks the account out.
    let eve_auth = basic("eve", "eve-password");
    api.get("/api/v1/user/", &eve_auth).expect(200);
    api.put(
        "/api/v1/superuser/users/eve",
        &admin(),
        json!({ "enabled": false }),
    )
    .expect(200);
    api.get("/api/v1/user/", &eve_auth).expect_error(401);
    // A password reset by the superuser, then re-enable.
    api.put(
        "/api/v1/superuser/users/eve",
        &admin(),
        json!({ "enabled": true, "password": "eve-new-password" }),
    )
    .expect(200);
    api.get("/api/v1/user/", &basic("eve", "eve-new-password"))
        .expect(200);
    // Own password change.
    api.put(
        "/api/v1/user/",
        &bob,
        json!({ "password": "bob-new-password" }),
    )
    .expect(200);
    api.get("/api/v1/user/", &basic("bob", "bob-new-password"))
        .expect(200);
    api.put(
        "/api/v1/user/",
        &Auth::None,
        json!({ "password": "whatever1" }),
    )
    .expect_error(401);
    api.put(
        "/api/v1/user/",
        &basic("bob", "bob-new-password"),
        json!({}),
    )
    .expect_error(400);
    // Deletion: superusers (or the user); then gone.
    let bob = basic("bob", "bob-new-password");
    api.delete("/api/v1/superuser/users/eve", &bob)
        .expect_error(403);
    api.delete("/api/v1/superuser/users/eve", &admin())
        .expect(204);
    api.delete("/api/v1/superuser/users/eve", &admin())
        .expect_error(404);
    api.get("/api/v1/users/eve", &bob).expect_error(404);
}

#[test]
fn open_registration_lets_anyone_sign_up() {
    let Some(api) = Api::start(&[("BERTH_AUTH__OPEN_REGISTRATION", "true")]) else {
        return;
    };
    let u = api
        .post(
            "/api/v1/user/",
            &Auth::None,
            json!({ "username": "newcomer", "password": "newcomer-password", "email": "n@example.com" }),
        )
        .expect(201)
        .json();
    assert_eq!(u["super_user"], false);
    api.get("/api/v1/user/", &basic("newcomer", "newcomer-password"))
        .expect(200);
    // Nobody makes themselves a superuser this way.
    api.post(
        "/api/v1/superuser/users/",
        &Auth::None,
        json!({ "username": "sneaky", "password": "sneaky-password", "super_user": true }),
    )
    .expect_error(401);
    api.post(
        "/api/v1/superuser/users/",
        &basic("newcomer", "newcomer-password"),
        json!({ "username": "sneaky", "password": "sneaky-password", "super_user": true }),
    )
    .expect_error(403);
}

// ---------------------------------------------------------------------------------------------
// Application tokens
// ---------------------------------------------------------------------------------------------

#[test]
fn app_tokens() {
    let Some(api) = Api::start(&[]) else { return };
    let dave = api.user("dave");
    api.get("/api/v1/user/apptoken", &Auth::None)
        .expect_error(401);
    api.post(
        "/api/v1/user/apptoken",
        &Auth::None,
        json!({ "title": "x" }),
    )
    .expect_error(401);
    let created = api
        .post("/api/v1/user/apptoken", &dave, json!({ "title": "ci" }))
        .expect(201)
        .json();
    let t = &created["token"];
    let code = t["token_code"].as_str().unwrap().to_owned();
    let uuid = t["uuid"].as_str().unwrap().to_owned();
    assert_eq!(t["title"], "ci");
    assert!(is_rfc2822(t["created"].as_str().unwrap()));
    assert_eq!(t["expiration"], Value::Null);
    assert_eq!(t["last_accessed"], Value::Null);
    // As Bearer and as Basic password.
    let bearer = Auth::Bearer(code.clone());
    let me = api.get("/api/v1/user/", &bearer).expect(200).json();
    assert_eq!(me["username"], "dave");
    api.get("/api/v1/user/", &basic("dave", &code)).expect(200);
    api.get("/api/v1/user/", &basic("admin", &code))
        .expect_error(401);
    // Listed and fetched without the secret.
    let list = api.get("/api/v1/user/apptoken", &dave).expect(200).json();
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].get("token_code").is_none());
    let one = api
        .get(&format!("/api/v1/user/apptoken/{uuid}"), &dave)
        .expect(200)
        .json();
    assert_eq!(one["token"]["uuid"], uuid.as_str());
    assert!(one["token"].get("token_code").is_none());
    // Another user sees nothing of it.
    api.get(&format!("/api/v1/user/apptoken/{uuid}"), &admin())
        .expect_error(404);
    api.delete(&format!("/api/v1/user/apptoken/{uuid}"), &admin())
        .expect_error(404);
    // Bad requests.
    api.post("/api/v1/user/apptoken", &dave, json!({ "title": "" }))
        .expect_error(400);
    api.post(
        "/api/v1/user/apptoken",
        &dave,
        json!({ "title": "old", "expiration": 1000 }),
    )
    .expect_error(400);
    let future = api
        .post(
            "/api/v1/user/apptoken",
            &dave,
            json!({ "title": "later", "expiration": 4_000_000_000u64 }),
        )
        .expect(201)
        .json();
    assert!(is_rfc2822(future["token"]["expiration"].as_str().unwrap()));
    // Revoke: the token stops working at once.
    api.delete(&format!("/api/v1/user/apptoken/{uuid}"), &bearer)
        .expect(204);
    api.get("/api/v1/user/", &bearer).expect_error(401);
    api.get(&format!("/api/v1/user/apptoken/{uuid}"), &dave)
        .expect_error(404);
    let list = api.get("/api/v1/user/apptoken", &dave).expect(200).json();
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Robots
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn check_credentials(robot: &Value, name: &str, host: &str) -> String {
    assert_eq!(robot["name"], name);
    let token = robot["token"].as_str().unwrap().to_owned();
    let creds = &robot["credentials"];
    let auth = creds["docker_config"]["auths"][host]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("no auth for {host}: {creds}"));
    assert_eq!(
        String::from_utf8(b64decode(auth)).unwrap(),
        format!("{name}:{token}")
    );
    let secret = &creds["kubernetes_secret"];
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    assert!(
        secret_name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
        "{secret_name}"
    );
    let inner: Value = serde_json::from_slice(&b64decode(
        secret["data"][".dockerconfigjson"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(inner, creds["docker_config"]);
    assert_eq!(
        creds["podman_login"],
        format!("podman login -u '{name}' -p '{token}' {host}")
    );
    assert_eq!(
        creds["docker_login"],
        format!("docker login -u '{name}' -p '{token}' {host}")
    );
    token
}

#[test]
fn user_and_org_robots() {
    let Some(api) = Api::start(&[]) else { return };
    let host = api.reg.addr().to_owned();
    let erin = api.user("erin");
    let frank = api.user("frank");
    api.get("/api/v1/user/robots", &Auth::None)
        .expect_error(401);
    // A robot in the user's own namespace.
    let r = api
        .put(
            "/api/v1/user/robots/builder",
            &erin,
            json!({ "description": "CI" }),
        )
        .expect(201)
        .json();
    assert_eq!(r["description"], "CI");
    assert!(is_rfc2822(r["created"].as_str().unwrap()));
    let token = check_credentials(&r, "erin+builder", &host);
    api.put("/api/v1/user/robots/builder", &erin, json!({}))
        .expect_error(409);
    api.put("/api/v1/user/robots/Bad_Name!", &erin, json!({}))
        .expect_error(400);
    // Creation with no body at all.
    let r2 = api
        .send(Method::PUT, "/api/v1/user/robots/second", &erin, None)
        .expect(201)
        .json();
    assert_eq!(r2["description"], "");
    // The robot authenticates with Basic.
    let robot_auth = basic("erin+builder", &token);
    let me = api.get("/api/v1/user/", &robot_auth).expect(200).json();
    assert_eq!(me["username"], "erin+builder");
    assert_eq!(me["is_robot"], true);
    // ... but may not manage robots or tokens.
    api.get("/api/v1/user/robots", &robot_auth)
        .expect_error(403);
    // Listed (no token), fetched, paginated.
    let list = api.get("/api/v1/user/robots", &erin).expect(200).json();
    let names: Vec<&str> = list["robots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["erin+builder", "erin+second"]);
    assert!(list["robots"][0].get("token").is_none());
    let page = api
        .get("/api/v1/user/robots?limit=1", &erin)
        .expect(200)
        .json();
    assert_eq!(page["robots"].as_array().unwrap().len(), 1);
    let next = page["next_page"].as_str().unwrap();
    let page2 = api
        .get(
            &format!("/api/v1/user/robots?limit=1&next_page={next}"),
            &erin,
        )
        .expect(200)
        .json();
    assert_eq!(page2["robots"][0]["name"], "erin+second");
    assert_eq!(page2["next_page"], Value::Null);
    let one = api
        .get("/api/v1/user/robots/builder", &erin)
        .expect(200)
        .json();
    assert_eq!(one["name"], "erin+builder");
    assert!(one.get("token").is_none());
    // Another user's namespace is their own: frank sees none of erin's robots.
    api.get("/api/v1/user/robots/builder", &frank)
        .expect_error(404);
    // Regenerate: the old token stops working.
    let r = api
        .send(
            Method::POST,
            "/api/v1/user/robots/builder/regenerate",
            &erin,
            None,
        )
        .expect(200)
        .json();
    let new_token = check_credentials(&r, "erin+builder", &host);
    assert_ne!(new_token, token);
    api.get("/api/v1/user/", &robot_auth).expect_error(401);
    api.get("/api/v1/user/", &basic("erin+builder", &new_token))
        .expect(200);
    // A Host header outside the allowed characters is not echoed into shell commands.
    let mut req = api
        .http
        .put(api.reg.url("/api/v1/user/robots/hosty"))
        .basic_auth("erin", Some("erin-password"))
        .header("host", "bad'host")
        .body("{}");
    req = req.header("content-type", "application/json");
    let resp = req.send().unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().unwrap();
    check_credentials(&v, "erin+hosty", "localhost");
    // Delete.
    api.delete("/api/v1/user/robots/builder", &erin).expect(204);
    api.delete("/api/v1/user/robots/builder", &erin)
        .expect_error(404);
    api.get("/api/v1/user/", &basic("erin+builder", &new_token))
        .expect_error(401);

    // Organization robots: admins of the organization only.
    api.post(
        "/api/v1/organization/",
        &erin,
        json!({ "name": "robots-org" }),
    )
    .expect(201);
    let r = api
        .put(
            "/api/v1/organization/robots-org/robots/deployer",
            &erin,
            json!({}),
        )
        .expect(201)
        .json();
    check_credentials(&r, "robots-org+deployer", &host);
    api.get("/api/v1/organization/robots-org/robots", &frank)
        .expect_error(404);
    api.put(
        "/api/v1/organization/robots-org/team/viewers",
        &erin,
        json!({ "role": "member" }),
    )
    .expect(200);
    api.put(
        "/api/v1/organization/robots-org/team/viewers/members/frank",
        &erin,
        json!({}),
    )
    .expect(200);
    // A member who is not an admin: 403 now that it may know the organization exists.
    api.get("/api/v1/organization/robots-org/robots", &frank)
        .expect_error(403);
    let list = api
        .get("/api/v1/organization/robots-org/robots", &erin)
        .expect(200)
        .json();
    assert_eq!(list["robots"][0]["name"], "robots-org+deployer");
    api.get("/api/v1/organization/robots-org/robots/deployer", &erin)
        .expect(200);
    api.send(
        Method::POST,
        "/api/v1/organization/robots-org/robots/deployer/regenerate",
        &erin,
        None,
    )
    .expect(200);
    api.delete("/api/v1/organization/robots-org/robots/deployer", &erin)
        .expect(204);
    api.get("/api/v1/organization/nope-org/robots", &erin)
        .expect_error(404);
}

// ---------------------------------------------------------------------------------------------
// Organizations, teams, default permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn organizations_teams_and_prototypes() {
    let Some(api) = Api::start(&[]) else { return };
    let gina = api.user("gina");
    let hank = api.user("hank");
    api.post(
        "/api/v1/organization/",
        &Auth::None,
        json!({ "name": "org1" }),
    )
    .expect_error(401);
    let org = api
        .post("/api/v1/organization/", &gina, json!({ "name": "org1" }))
        .expect(201)
        .json();
    assert_eq!(org["name"], "org1");
    assert_eq!(org["is_admin"], true);
    assert_eq!(org["is_member"], true);
    assert_eq!(org["teams"]["owners"]["role"], "admin");
    api.post("/api/v1/organization/", &hank, json!({ "name": "org1" }))
        .expect_error(409);
    api.post("/api/v1/organization/", &gina, json!({ "name": "-bad-" }))
        .expect_error(400);
    api.post(
        "/api/v1/organization/",
        &gina,
        json!({ "title": "no name" }),
    )
    .expect_error(400);
    // A stranger sees that it exists, not its teams.
    let seen = api
        .get("/api/v1/organization/org1", &hank)
        .expect(200)
        .json();
    assert_eq!(seen["is_member"], false);
    assert_eq!(seen["is_admin"], false);
    assert_eq!(seen["teams"], json!({}));
    api.get("/api/v1/organization/org1", &Auth::None)
        .expect_error(401);
    api.get("/api/v1/organization/nope", &gina)
        .expect_error(404);
    // Teams.
    let team = api
        .put(
            "/api/v1/organization/org1/team/devs",
            &gina,
            json!({ "role": "creator", "description": "developers" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        team,
        json!({ "name": "devs", "role": "creator", "description": "developers" })
    );
    api.put(
        "/api/v1/organization/org1/team/devs",
        &gina,
        json!({ "role": "boss" }),
    )
    .expect_error(400);
    api.put(
        "/api/v1/organization/org1/team/devs",
        &hank,
        json!({ "role": "member" }),
    )
    .expect_error(404);
    api.put(
        "/api/v1/organization/org1/team/devs/members/hank",
        &gina,
        json!({}),
    )
    .expect(200);
    api.put("/api/v1/organization/org1/robots/ci", &gina, json!({}))
        .expect(201);
    let m = api
        .put(
            "/api/v1/organization/org1/team/devs/members/org1+ci",
            &gina,
            json!({}),
        )
        .expect(200)
        .json();
    assert_eq!(
        m,
        json!({ "name": "org1+ci", "kind": "robot", "is_robot": true })
    );
    api.put(
        "/api/v1/organization/org1/team/devs/members/nobody",
        &gina,
        json!({}),
    )
    .expect_error(404);
    // Members are visible to members.
    let members = api
        .get("/api/v1/organization/org1/team/devs/members", &hank)
        .expect(200)
        .json();
    assert_eq!(members["name"], "devs");
    assert_eq!(
        members["members"],
        json!([
            { "name": "hank", "kind": "user", "is_robot": false },
            { "name": "org1+ci", "kind": "robot", "is_robot": true },
        ])
    );
    let page = api
        .get("/api/v1/organization/org1/team/devs/members?limit=1", &hank)
        .expect(200)
        .json();
    assert_eq!(page["members"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_page"], "hank");
    // Now a member (not admin): sees the teams, may not change them.
    let seen = api
        .get("/api/v1/organization/org1", &hank)
        .expect(200)
        .json();
    assert_eq!(seen["is_member"], true);
    assert_eq!(seen["is_admin"], false);
    assert!(seen["teams"]["devs"].is_object());
    api.put(
        "/api/v1/organization/org1/team/devs",
        &hank,
        json!({ "role": "admin" }),
    )
    .expect_error(403);
    api.delete("/api/v1/organization/org1", &hank)
        .expect_error(403);
    // Default permissions.
    let p = api
        .post(
            "/api/v1/organization/org1/prototypes",
            &gina,
            json!({ "delegate": { "kind": "team", "name": "devs" }, "role": "write" }),
        )
        .expect(201)
        .json();
    assert_eq!(p["role"], "write");
    assert_eq!(p["delegate"]["kind"], "team");
    assert_eq!(p["delegate"]["name"], "devs");
    let id = p["id"].as_str().unwrap().to_owned();
    api.post(
        "/api/v1/organization/org1/prototypes",
        &gina,
        json!({ "delegate": { "kind": "group", "name": "devs" }, "role": "write" }),
    )
    .expect_error(400);
    api.post(
        "/api/v1/organization/org1/prototypes",
        &gina,
        json!({ "delegate": { "kind": "user", "name": "hank" }, "role": "owner" }),
    )
    .expect_error(400);
    api.get("/api/v1/organization/org1/prototypes", &hank)
        .expect_error(403);
    let list = api
        .get("/api/v1/organization/org1/prototypes", &gina)
        .expect(200)
        .json();
    assert_eq!(list["prototypes"].as_array().unwrap().len(), 1);
    // The default permission applies to a new repository.
    api.create_repo(&gina, "org1", "svc", "private");
    let perms = api
        .get("/api/v1/repository/org1/svc/permissions/team/", &gina)
        .expect(200)
        .json();
    assert_eq!(
        perms["permissions"]["devs"],
        json!({ "role": "write", "name": "devs" })
    );
    api.delete(&format!("/api/v1/organization/org1/prototypes/{id}"), &gina)
        .expect(204);
    api.delete(&format!("/api/v1/organization/org1/prototypes/{id}"), &gina)
        .expect_error(404);
    // Membership removal and team deletion.
    api.delete("/api/v1/organization/org1/team/devs/members/hank", &gina)
        .expect(204);
    api.delete("/api/v1/organization/org1/team/devs/members/hank", &gina)
        .expect_error(404);
    api.delete("/api/v1/organization/org1/team/devs", &gina)
        .expect(204);
    api.delete("/api/v1/organization/org1/team/devs", &gina)
        .expect_error(404);
    // An organization with repositories cannot be deleted; without, it can.
    api.delete("/api/v1/organization/org1", &gina)
        .expect_error(409);
    api.delete("/api/v1/repository/org1/svc", &gina).expect(204);
    api.delete("/api/v1/organization/org1", &gina).expect(204);
    api.get("/api/v1/organization/org1", &gina)
        .expect_error(404);
}

// ---------------------------------------------------------------------------------------------
// Repositories and permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn repositories_and_permissions() {
    let Some(api) = Api::start(&[]) else { return };
    let ivy = api.user("ivy");
    let jack = api.user("jack");
    api.post(
        "/api/v1/repository",
        &Auth::None,
        json!({ "namespace": "ivy", "repository": "app", "visibility": "private" }),
    )
    .expect_error(401);
    let repo = api
        .post(
            "/api/v1/repository",
            &ivy,
            json!({ "namespace": "ivy", "repository": "app", "visibility": "private", "description": "the app" }),
        )
        .expect(201)
        .json();
    assert_eq!(
        repo,
        json!({
            "namespace": "ivy", "name": "app", "description": "the app",
            "is_public": false, "can_write": true, "can_admin": true,
        })
    );
    // Conflicts, bad names and fields.
    api.post(
        "/api/v1/repository",
        &ivy,
        json!({ "namespace": "ivy", "repository": "app", "visibility": "private" }),
    )
    .expect_error(409);
    api.post(
        "/api/v1/repository",
        &ivy,
        json!({ "namespace": "ivy", "repository": "UPPER", "visibility": "private" }),
    )
    .expect_error(400);
    api.post(
        "/api/v1/repository",
        &ivy,
        json!({ "namespace": "ivy", "repository": "x", "visibility": "secret" }),
    )
    .expect_error(400);
    api.post(
        "/api/v1/repository",
        &ivy,
        json!({ "namespace": "ivy", "repository": "x" }),
    )
    .expect_error(400);
    // Someone else's namespace: refused.
    api.post(
        "/api/v1/repository",
        &jack,
        json!({ "namespace": "ivy", "repository": "mine", "visibility": "public" }),
    )
    .expect_error(403);
    // Multi-component names.
    api.create_repo(&ivy, "ivy", "group/deep/name", "public");
    let deep = api
        .get("/api/v1/repository/ivy/group/deep/name", &jack)
        .expect(200)
        .json();
    assert_eq!(deep["name"], "group/deep/name");
    assert_eq!(deep["is_public"], true);
    assert_eq!(deep["can_write"], false);
    // Listing: what each caller may read, paginated.
    let list = api.get("/api/v1/repository", &jack).expect(200).json();
    let names: Vec<&str> = list["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["group/deep/name"]);
    let list = api
        .get("/api/v1/repository?namespace=ivy&limit=1", &ivy)
        .expect(200)
        .json();
    assert_eq!(list["repositories"].as_array().unwrap().len(), 1);
    let cursor = list["next_page"].as_str().unwrap().to_owned();
    let list2 = api
        .get(
            &format!("/api/v1/repository?namespace=ivy&limit=1&next_page={cursor}"),
            &ivy,
        )
        .expect(200)
        .json();
    assert_eq!(list2["repositories"].as_array().unwrap().len(), 1);
    assert_ne!(
        list2["repositories"][0]["name"],
        list["repositories"][0]["name"]
    );
    let public = api
        .get("/api/v1/repository?public=true", &ivy)
        .expect(200)
        .json();
    assert_eq!(public["repositories"].as_array().unwrap().len(), 1);
    api.get("/api/v1/repository?public=maybe", &ivy)
        .expect_error(400);

    // A private repository of someone else is 404 everywhere, never 403.
    let private_paths: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/v1/repository/ivy/app", None),
        (
            Method::PUT,
            "/api/v1/repository/ivy/app",
            Some(json!({ "description": "x" })),
        ),
        (Method::DELETE, "/api/v1/repository/ivy/app", None),
        (
            Method::POST,
            "/api/v1/repository/ivy/app/changevisibility",
            Some(json!({ "visibility": "public" })),
        ),
        (
            Method::GET,
            "/api/v1/repository/ivy/app/permissions/user/",
            None,
        ),
        (
            Method::GET,
            "/api/v1/repository/ivy/app/permissions/user/jack",
            None,
        ),
        (
            Method::PUT,
            "/api/v1/repository/ivy/app/permissions/user/jack",
            Some(json!({ "role": "admin" })),
        ),
        (
            Method::DELETE,
            "/api/v1/repository/ivy/app/permissions/user/ivy",
            None,
        ),
        (
            Method::GET,
            "/api/v1/repository/ivy/app/permissions/team/",
            None,
        ),
        (
            Method::GET,
            "/api/v1/repository/ivy/app/permissions/team/t",
            None,
        ),
        (
            Method::PUT,
            "/api/v1/repository/ivy/app/permissions/team/t",
            Some(json!({ "role": "read" })),
        ),
        (
            Method::DELETE,
            "/api/v1/repository/ivy/app/permissions/team/t",
            None,
        ),
        (Method::GET, "/api/v1/repository/ivy/app/tag/", None),
        (
            Method::DELETE,
            "/api/v1/repository/ivy/app/tag/latest",
            None,
        ),
        (Method::GET, "/api/v1/repository/ivy/app/logs", None),
    ];
    for (m, path, body) in &private_paths {
        let body = body.as_ref().map(|b| b.to_string().into_bytes());
        let msg = api
            .send(m.clone(), path, &jack, body.clone())
            .expect_error(404);
        // Identical to a repository that does not exist.
        let missing = path.replace("ivy/app", "ivy/missing");
        let msg2 = api.send(m.clone(), &missing, &jack, body).expect_error(404);
        assert_eq!(
            msg.replace("ivy/app", "X"),
            msg2.replace("ivy/missing", "X"),
            "{m} {path}"
        );
    }
    // Anonymous: the same 404 on a private repository (credentials are not the problem).
    api.get("/api/v1/repository/ivy/app", &Auth::None)
        .expect_error(404);

    // Grant read: now jack sees it, and is refused (403) what needs more.
    let p = api
        .put(
            "/api/v1/repository/ivy/app/permissions/user/jack",
            &ivy,
            json!({ "role": "read" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        p,
        json!({ "role": "read", "name": "jack", "is_robot": false })
    );
    let seen = api
        .get("/api/v1/repository/ivy/app", &jack)
        .expect(200)
        .json();
    assert_eq!(seen["can_write"], false);
    assert_eq!(seen["can_admin"], false);
    api.put(
        "/api/v1/repository/ivy/app",
        &jack,
        json!({ "description": "x" }),
    )
    .expect_error(403);
    api.delete("/api/v1/repository/ivy/app", &jack)
        .expect_error(403);
    api.get("/api/v1/repository/ivy/app/permissions/user/", &jack)
        .expect_error(403);
    api.get("/api/v1/repository/ivy/app/logs", &jack)
        .expect_error(403);
    api.delete("/api/v1/repository/ivy/app/tag/latest", &jack)
        .expect_error(403);
    api.get("/api/v1/repository/ivy/app/tag/", &jack)
        .expect(200);
    // Permissions as seen by the admin.
    api.put("/api/v1/user/robots/puller", &ivy, json!({}))
        .expect(201);
    api.put(
        "/api/v1/repository/ivy/app/permissions/user/ivy+puller",
        &ivy,
        json!({ "role": "write" }),
    )
    .expect(200);
    let perms = api
        .get("/api/v1/repository/ivy/app/permissions/user/", &ivy)
        .expect(200)
        .json();
    assert_eq!(perms["permissions"]["jack"]["role"], "read");
    assert_eq!(
        perms["permissions"]["ivy+puller"],
        json!({ "role": "write", "name": "ivy+puller", "is_robot": true })
    );
    let one = api
        .get("/api/v1/repository/ivy/app/permissions/user/jack", &ivy)
        .expect(200)
        .json();
    assert_eq!(one["role"], "read");
    api.put(
        "/api/v1/repository/ivy/app/permissions/user/jack",
        &ivy,
        json!({ "role": "owner" }),
    )
    .expect_error(400);
    api.put(
        "/api/v1/repository/ivy/app/permissions/user/nobody",
        &ivy,
        json!({ "role": "read" }),
    )
    .expect_error(404);
    // Teams exist only in organizations.
    api.put(
        "/api/v1/repository/ivy/app/permissions/team/devs",
        &ivy,
        json!({ "role": "read" }),
    )
    .expect_error(400);
    let teams = api
        .get("/api/v1/repository/ivy/app/permissions/team/", &ivy)
        .expect(200)
        .json();
    assert_eq!(teams, json!({ "permissions": {} }));
    // Update, visibility.
    let r = api
        .put(
            "/api/v1/repository/ivy/app",
            &ivy,
            json!({ "description": "new words" }),
        )
        .expect(200)
        .json();
    assert_eq!(r["description"], "new words");
    api.put("/api/v1/repository/ivy/app", &ivy, json!({ "text": "x" }))
        .expect_error(400);
    let r = api
        .post(
            "/api/v1/repository/ivy/app/changevisibility",
            &ivy,
            json!({ "visibility": "public" }),
        )
        .expect(200)
        .json();
    assert_eq!(r["is_public"], true);
    api.post(
        "/api/v1/repository/ivy/app/changevisibility",
        &ivy,
        json!({ "visibility": "open" }),
    )
    .expect_error(400);
    // Revoke jack: the repository is public now, so still readable.
    api.delete("/api/v1/repository/ivy/app/permissions/user/jack", &ivy)
        .expect(204);
    api.delete("/api/v1/repository/ivy/app/permissions/user/jack", &ivy)
        .expect_error(404);
    api.get("/api/v1/repository/ivy/app/permissions/user/jack", &ivy)
        .expect_error(404);
    api.get("/api/v1/repository/ivy/app", &jack).expect(200);
    // Delete.
    api.delete("/api/v1/repository/ivy/app", &ivy).expect(204);
    api.get("/api/v1/repository/ivy/app", &ivy)
        .expect_error(404);
}

#[test]
fn tags() {
    let Some(api) = Api::start(&[]) else { return };
    let kim = api.user("kim");
    let lee = api.user("lee");
    api.create_repo(&kim, "kim", "web", "private");
    api.put(
        "/api/v1/repository/kim/web/permissions/user/lee",
        &kim,
        json!({ "role": "read" }),
    )
    .expect(200);
    // Pushed by the superuser through the registry API.
    let mut digests = HashMap::new();
    for tag in ["a1", "b2", "c3"] {
        let img = Image::random(&[16]);
        img.push(&api.reg, "kim/web", tag);
        digests.insert(tag, img.digest.clone());
    }
    let page1 = api
        .get("/api/v1/repository/kim/web/tag/?limit=2", &lee)
        .expect(200)
        .json();
    assert_eq!(page1["page"], 1);
    assert_eq!(page1["has_additional"], true);
    let tags = page1["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 2);
    for t in tags {
        let name = t["name"].as_str().unwrap();
        assert_eq!(t["manifest_digest"], digests[name].as_str());
    }
    let page2 = api
        .get("/api/v1/repository/kim/web/tag/?limit=2&page=2", &lee)
        .expect(200)
        .json();
    assert_eq!(page2["has_additional"], false);
    assert_eq!(page2["tags"].as_array().unwrap().len(), 1);
    assert_eq!(page2["tags"][0]["name"], "c3");
    let page9 = api
        .get("/api/v1/repository/kim/web/tag/?limit=2&page=9", &lee)
        .expect(200)
        .json();
    assert_eq!(page9["tags"], json!([]));
    api.get("/api/v1/repository/kim/web/tag/?page=0", &lee)
        .expect_error(400);
    // A repository with nothing pushed has no tags.
    api.create_repo(&kim, "kim", "empty", "private");
    let none = api
        .get("/api/v1/repository/kim/empty/tag/", &kim)
        .expect(200)
        .json();
    assert_eq!(none["tags"], json!([]));
    // Deleting needs write.
    api.delete("/api/v1/repository/kim/web/tag/b2", &lee)
        .expect_error(403);
    api.delete("/api/v1/repository/kim/web/tag/b2", &kim)
        .expect(204);
    api.delete("/api/v1/repository/kim/web/tag/b2", &kim)
        .expect_error(404);
    api.delete("/api/v1/repository/kim/web/tag/bad:tag", &kim)
        .expect_error(400);
    let all = api
        .get("/api/v1/repository/kim/web/tag/", &kim)
        .expect(200)
        .json();
    let names: Vec<&str> = all["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "c3"]);
    // Recorded in the repository's log.
    let logs = api
        .get("/api/v1/repository/kim/web/logs", &kim)
        .expect(200)
        .json();
    let entry = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delete_tag")
        .expect("delete_tag entry");
    assert_eq!(entry["metadata"]["tag"], "b2");
    assert_eq!(entry["performer"]["name"], "kim");
    assert_eq!(entry["repository"], "kim/web");
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

#[test]
fn audit_logs() {
    let Some(api) = Api::start(&[]) else { return };
    let mia = api.user("mia");
    let ned = api.user("ned");
    api.post("/api/v1/organization/", &mia, json!({ "name": "logorg" }))
        .expect(201);
    api.create_repo(&mia, "logorg", "r", "private");
    for i in 0..3 {
        api.put(
            "/api/v1/repository/logorg/r",
            &mia,
            json!({ "description": format!("v{i}") }),
        )
        .expect(200);
        api.post(
            "/api/v1/repository/logorg/r/changevisibility",
            &mia,
            json!({ "visibility": if i % 2 == 0 { "public" } else { "private" } }),
        )
        .expect(200);
    }
    let logs = api
        .get("/api/v1/repository/logorg/r/logs", &mia)
        .expect(200)
        .json();
    let entries = logs["logs"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["kind"] == "create_repo"));
    let vis: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "change_visibility")
        .collect();
    assert_eq!(vis.len(), 3);
    let e = vis[0];
    assert!(is_rfc2822(e["datetime"].as_str().unwrap()), "{e}");
    assert_eq!(e["performer"], json!({ "name": "mia", "kind": "user" }));
    assert_eq!(e["namespace"], "logorg");
    assert_eq!(e["success"], true);
    assert!(e["metadata"].is_object());
    assert!(e.get("ip").is_some());
    // Pagination: newest first, next_page walks back without overlap.
    let p1 = api
        .get("/api/v1/repository/logorg/r/logs?limit=2", &mia)
        .expect(200)
        .json();
    assert_eq!(p1["logs"].as_array().unwrap().len(), 2);
    let cursor = p1["next_page"].as_str().unwrap().to_owned();
    let p2 = api
        .get(
            &format!("/api/v1/repository/logorg/r/logs?limit=2&next_page={cursor}"),
            &mia,
        )
        .expect(200)
        .json();
    assert_eq!(p2["logs"].as_array().unwrap().len(), 2);
    assert_ne!(p1["logs"][1], p2["logs"][0]);
    assert_eq!(p1["logs"][0], entries[0]);
    assert_eq!(p2["logs"][0], entries[2]);
    api.get("/api/v1/repository/logorg/r/logs?next_page=abc", &mia)
        .expect_error(400);
    // Organization log: admins only.
    let org = api
        .get("/api/v1/organization/logorg/logs", &mia)
        .expect(200)
        .json();
    assert!(
        org["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "create_org")
    );
    api.get("/api/v1/organization/logorg/logs", &ned)
        .expect_error(404);
    // Own log: the caller's actions (including sign-ins).
    let own = api.get("/api/v1/user/logs", &mia).expect(200).json();
    let own = own["logs"].as_array().unwrap();
    assert!(!own.is_empty());
    assert!(own.iter().all(|e| e["performer"]["name"] == "mia"));
    api.get("/api/v1/user/logs", &Auth::None).expect_error(401);
    // Everything: superusers only.
    api.get("/api/v1/superuser/logs", &mia).expect_error(403);
    let all = api
        .get("/api/v1/superuser/logs?limit=1000", &admin())
        .expect(200)
        .json();
    let all = all["logs"].as_array().unwrap();
    assert!(all.iter().any(|e| e["kind"] == "create_user"));
    assert!(all.iter().any(|e| e["performer"]["name"] == "ned"));
}

// ---------------------------------------------------------------------------------------------
// Bad requests
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_requests() {
    let Some(api) = Api::start(&[]) else { return };
    let a = admin();
    // Not JSON, wrong types, empty bodies.
    for body in [&b"{not json"[..], b"[]", b"", b"   ", b"\"str\""] {
        let msg = api
            .send(
                Method::POST,
                "/api/v1/organization/",
                &a,
                Some(body.to_vec()),
            )
            .expect_error(400);
        assert!(msg.contains("JSON"), "{msg}");
    }
    api.post("/api/v1/organization/", &a, json!({ "name": 5 }))
        .expect_error(400);
    // Over 1 MiB: 413.
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(1 << 20));
    api.send(
        Method::POST,
        "/api/v1/organization/",
        &a,
        Some(big.into_bytes()),
    )
    .expect_error(413);
    // The same without a Content-Length (chunked), bounded while it streams.
    let chunked = format!("{{\"name\":\"{}\"}}", "y".repeat(3 << 19));
    let resp = api
        .http
        .post(api.reg.url("/api/v1/organization/"))
        .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            chunked.into_bytes(),
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // Wrong method: 405 with Allow.
    let r = api.send(Method::PATCH, "/api/v1/user/", &a, None);
    assert_eq!(r.header("allow"), Some("GET, POST, PUT"));
    r.expect_error(405);
    // Unknown endpoints: 404 in the same shape.
    for path in [
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/user/nope",
        "/api/v1/users",
        "/api/v1/superuser/nope",
        "/api/v1/organization/x/nope",
        "/api/v1//user",
    ] {
        api.get(path, &a).expect_error(404);
    }
    // Malformed query string values.
    api.get("/api/v1/repository?limit=-1", &a).expect_error(400);
    // Percent-encoded robot member names decode.
    api.post("/api/v1/organization/", &a, json!({ "name": "enc" }))
        .expect(201);
    api.put("/api/v1/organization/enc/robots/r1", &a, json!({}))
        .expect(201);
    api.put(
        "/api/v1/organization/enc/team/tt",
        &a,
        json!({ "role": "member" }),
    )
    .expect(200);
    api.put(
        "/api/v1/organization/enc/team/tt/members/enc%2Br1",
        &a,
        json!({}),
    )
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document against the server
// ---------------------------------------------------------------------------------------------

/// Follows `$ref`s.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Checks `value` against the parts of `schema` the document uses: types, required
/// properties, enums, arrays, maps, `allOf` and `nullable`.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == true {
        return Ok(());
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            conforms(doc, s, value, at)?;
        }
        return Ok(());
    }
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some(_) | None => true,
    };
    if !ok {
        return Err(format!("{at}: {value} is not a {}", schema["type"]));
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(obj) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Err(format!("{at}: required property {r} missing in {value}"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, s) in props {
                if let Some(v) = obj.get(k) {
                    conforms(doc, s, v, &format!("{at}.{k}"))?;
                }
            }
        }
        if schema["additionalProperties"].is_object() {
            for (k, v) in obj {
                conforms(
                    doc,
                    &schema["additionalProperties"],
                    v,
                    &format!("{at}.{k}"),
                )?;
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, v) in items.iter().enumerate() {
            conforms(doc, &schema["items"], v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn openapi_document_matches_the_server() {
    let Some(api) = Api::start(&[]) else { return };
    let a = admin();
    // Anonymous may read the document.
    let doc = api
        .get("/api/v1/openapi.json", &Auth::None)
        .expect(200)
        .json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let paths = doc["paths"].as_object().unwrap();

    // Objects for every path parameter.
    api.user("alice");
    api.user("doomed");
    api.post("/api/v1/organization/", &a, json!({ "name": "conforg" }))
        .expect(201);
    api.put(
        "/api/v1/organization/conforg/team/devs",
        &a,
        json!({ "role": "member" }),
    )
    .expect(200);
    api.create_repo(&a, "conforg", "app", "private");
    // A real (tiny) Alpine filesystem, so the index report and SBOM operations succeed.
    let image = Image::with_files(&[
        (
            "etc/os-release",
            b"ID=alpine\nNAME=\"Alpine Linux\"\nVERSION_ID=3.19.1\n",
        ),
        (
            "lib/apk/db/installed",
            b"C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\n\n",
        ),
    ]);
    for tag in ["v1", "v2"] {
        image.push(&api.reg, "conforg/app", tag);
    }
    let bearer = api.app_token(&a);

    let mut params: HashMap<&str, String> = HashMap::from([
        ("repository", "conforg/app".to_owned()),
        ("orgname", "conforg".to_owned()),
        ("teamname", "devs".to_owned()),
        ("membername", "alice".to_owned()),
        ("username", "alice".to_owned()),
        ("robot_shortname", "bot".to_owned()),
        ("tag", "v2".to_owned()),
        ("manifestref", image.digest.clone()),
    ]);
    let bodies: HashMap<(&str, &str), Value> = HashMap::from([
        (
            ("post", "/api/v1/signin"),
            json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD }),
        ),
        (
            ("post", "/api/v1/user/"),
            json!({ "username": "newbie", "password": "newbie-password", "email": "n@example.com" }),
        ),
        (
            ("put", "/api/v1/user/"),
            json!({ "email": "admin@example.com" }),
        ),
        (
            ("post", "/api/v1/superuser/users/"),
            json!({ "username": "newbie2", "password": "newbie2-password", "super_user": false }),
        ),
        (
            ("put", "/api/v1/superuser/users/{username}"),
            json!({ "enabled": true, "email": "doomed@example.com" }),
        ),
        (
            ("post", "/api/v1/user/apptoken"),
            json!({ "title": "conformance" }),
        ),
        (
            ("put", "/api/v1/user/robots/{robot_shortname}"),
            json!({ "description": "ci" }),
        ),
        (
            (
                "put",
                "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            ),
            json!({ "description": "ci" }),
        ),
        (
            ("post", "/api/v1/organization/"),
            json!({ "name": "conforg2" }),
        ),
        (
            ("put", "/api/v1/organization/{orgname}/team/{teamname}"),
            json!({ "role": "member", "description": "developers" }),
        ),
        (
            ("post", "/api/v1/organization/{orgname}/prototypes"),
            json!({ "delegate": { "kind": "team", "name": "devs" }, "role": "read" }),
        ),
        (
            ("post", "/api/v1/repository"),
            json!({ "namespace": ADMIN_USER, "repository": "app2", "visibility": "private" }),
        ),
        (
            ("put", "/api/v1/repository/{repository}"),
            json!({ "description": "the app" }),
        ),
        (
            ("post", "/api/v1/repository/{repository}/changevisibility"),
            json!({ "visibility": "public" }),
        ),
        (
            (
                "put",
                "/api/v1/repository/{repository}/permissions/user/{username}",
            ),
            json!({ "role": "write" }),
        ),
        (
            (
                "put",
                "/api/v1/repository/{repository}/permissions/team/{teamname}",
            ),
            json!({ "role": "read" }),
        ),
    ]);

    // Creations first (shorter paths before the things inside them), then reads, then
    // deletions (innermost first), so every operation has its object.
    let mut ops: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            ops.push((method.clone(), path.clone()));
        }
    }
    let phase = |m: &str| match m {
        "post" | "put" => 0,
        "get" => 1,
        _ => 2,
    };
    ops.sort_by(|(m1, p1), (m2, p2)| {
        phase(m1).cmp(&phase(m2)).then_with(|| {
            if phase(m1) == 2 {
                p2.len().cmp(&p1.len())
            } else {
                p1.len().cmp(&p2.len())
            }
        })
    });
    let mut checked = 0;
    for (method, path) in &ops {
        let op = &paths[path][method];
        let mut concrete = path.clone();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = if path.starts_with("/api/v1/superuser/users/") {
                    "doomed".to_owned()
                } else {
                    params
                        .get(name)
                        .unwrap_or_else(|| panic!("no test object for {{{name}}} in {path}"))
                        .clone()
                };
                concrete = concrete.replace(seg, &value);
            }
        }
        let body = bodies.get(&(method.as_str(), path.as_str()));
        if op["requestBody"]["required"] == true {
            assert!(body.is_some(), "no test body for {method} {path}");
        }
        if let (Some(b), Some(schema)) = (
            body,
            op["requestBody"]["content"]["application/json"].get("schema"),
        ) {
            conforms(&doc, schema, b, "request").unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let r = api.send(
            m,
            &concrete,
            &bearer,
            body.map(|b| b.to_string().into_bytes()),
        );
        let documented: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect();
        assert!(
            documented.contains(&r.status),
            "{method} {path}: status {} not documented ({documented:?}): {r:?}",
            r.status
        );
        // Every operation here is set up to succeed.
        assert!(
            (200..300).contains(&r.status),
            "{method} {path} did not succeed: {r:?}"
        );
        let response = &op["responses"][r.status.to_string()];
        match response["content"]["application/json"].get("schema") {
            Some(schema) => {
                assert!(
                    r.header("content-type")
                        .is_some_and(|c| c.starts_with("application/json")),
                    "{r:?}"
                );
                let v = r.json();
                conforms(&doc, schema, &v, "response")
                    .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{r:?}"));
                // Objects later operations need.
                if path == "/api/v1/user/apptoken" && method == "post" {
                    params.insert("token_uuid", v["token"]["uuid"].as_str().unwrap().into());
                }
                if path.ends_with("/prototypes") && method == "post" {
                    params.insert("prototypeid", v["id"].as_str().unwrap().into());
                }
            }
            None => assert!(
                r.text.is_empty(),
                "{method} {path}: undocumented body {r:?}"
            ),
        }
        // Errors of this operation are documented in the error shape.
        if let Some(e) = op["responses"].get("404") {
            let schema = &e["content"]["application/json"]["schema"];
            assert_eq!(resolve(&doc, schema)["required"][0], "status");
        }
        checked += 1;
    }
    assert!(checked >= 55, "only {checked} operations documented");

    // Methods a documented path does not list: 405; paths it does not list: 404.
    for (path, item) in paths {
        let concrete = path
            .replace("{repository}", "conforg/app")
            .replace(['{', '}'], "");
        for m in ["get", "post", "put", "delete"] {
            if item.get(m).is_none() {
                let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap();
                let r = api.send(method, &concrete, &bearer, None);
                assert_eq!(r.status, 405, "{m} {path}: {r:?}");
            }
        }
    }
    for path in [
        "/api/v1/undocumented",
        "/api/v1/user/robots/bot/extra/segments",
        "/api/v1/organization/conforg/team/devs/other",
        "/api/v1/superuser/users/doomed/extra",
        "/api/v1/openapi.yaml",
        "/api/v1/discovery",
    ] {
        api.get(path, &bearer).expect_error(404);
    }
}
