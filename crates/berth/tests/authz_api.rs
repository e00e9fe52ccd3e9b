//! The authorization matrix of the REST API under `/api/v1`, against the real `berth` binary:
//! every operation of the route table, called by every kind of caller, with the outcome each
//! one must get written out below.
//!
//! **Callers** ([`Caller`]): anonymous, an unrelated user (`stranger`), users with a direct
//! read, write or admin grant on the target repositories (`reader`, `writer`, `repoadmin`), a
//! member of the `acme` team `readers` (team role member, granted read on the `acme`
//! repositories), the owner of `acme` (`owen`, its `owners` team), the robot `acme+builder`
//! granted write (Basic `acme+builder` + its token), the superuser, and `olivia`, owner of
//! her user namespace. Users authenticate with Basic `name:<application token>` (a fast
//! check: a password would cost an argon2 hash per request).
//!
//! **Repository operations** run on `acme/public`, `acme/private`, `olivia/public` and
//! `olivia/private`. Each caller's role on each is the table [`ROLES`]; each operation names
//! the role it needs ([`repo_ops`]). Allowed: the operation's success status. Refused: `404`
//! when the caller has no role at all (it may not see the repository; anonymous callers
//! included, since `anonymous_pull` is off here), `403` when it has a weaker one. Every
//! refusal on a *private* repository is compared with the same request on a repository that
//! does not exist: same status, same error body once the names are swapped. Listing
//! (`GET /repository`) must show each caller exactly the repositories it may read, and
//! creation has its own table ([`CREATE`]).
//!
//! **Other operations** (sessions, the caller's account, superuser administration,
//! application tokens, robots, organizations, teams, members, prototypes, logs) have one
//! literal row each in [`other_ops`]: a code per caller (`Y` allowed, `U` 401, `F` 403, `N`
//! 404). Organization objects are `acme` (outsiders: everyone but `owen`, `teamreader` and
//! the superuser; the robot is not a team member), robots are created per case, and so are
//! teams, users, tokens, prototypes and organizations that a case deletes.
//!
//! Every mutating case works on objects made for it (unique names from a counter) or makes
//! an idempotent change (the same description, the same visibility, the same grant), so the
//! cases run in any order, in parallel threads, on one server. Finally the matrix must name
//! every operation of `GET /api/v1/openapi.json`.
//!
//! Anonymous callers get 401 where an operation needs a signed-in caller, and 404 where the
//! object is invisible to them (repositories, an organization's administration), as for any
//! outsider. Bugs the matrix found are listed in [`KNOWN_BUGS`]: reported on every run, not
//! failed, until they are fixed.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER};
use common::{Image, Registry};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

// =============================================================================================
// Callers and the expected outcomes
// =============================================================================================

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Anon,
    Stranger,
    Reader,
    Writer,
    RepoAdmin,
    TeamMember,
    OrgAdmin,
    Robot,
    Super,
    NsOwner,
}

use Caller::*;

/// In the column order of the code strings of [`other_ops`].
const CALLERS: [Caller; 10] = [
    Anon, Stranger, Reader, Writer, RepoAdmin, TeamMember, OrgAdmin, Robot, Super, NsOwner,
];

impl Caller {
    /// The account name (`None`: anonymous).
    fn name(self) -> Option<&'static str> {
        Some(match self {
            Anon => return None,
            Stranger => "stranger",
            Reader => "reader",
            Writer => "writer",
            RepoAdmin => "repoadmin",
            TeamMember => "teamreader",
            OrgAdmin => "owen",
            Robot => "acme+builder",
            Super => ADMIN_USER,
            NsOwner => "olivia",
        })
    }

    fn is_user(self) -> bool {
        !matches!(self, Anon | Robot)
    }
}

/// The repositories of the repository operations, in the column order of [`ROLES`].
const TARGETS: [&str; 4] = [
    "acme/public",
    "acme/private",
    "olivia/public",
    "olivia/private",
];

/// Each caller's role on each of [`TARGETS`]: `-` none, `r` read, `w` write, `a` admin.
/// Public repositories give every signed-in caller read (anonymous callers nothing:
/// `anonymous_pull` is off); `reader`/`writer`/`repoadmin`/`acme+builder` have direct grants
/// on all four; the `readers` team is granted read on the two `acme` ones; `owen` owns `acme`,
/// `olivia` her namespace; the superuser is admin everywhere.
const ROLES: [(Caller, [char; 4]); 10] = [
    (Anon, ['-', '-', '-', '-']),
    (Stranger, ['r', '-', 'r', '-']),
    (Reader, ['r', 'r', 'r', 'r']),
    (Writer, ['w', 'w', 'w', 'w']),
    (RepoAdmin, ['a', 'a', 'a', 'a']),
    (TeamMember, ['r', 'r', 'r', '-']),
    (OrgAdmin, ['a', 'a', 'r', '-']),
    (Robot, ['w', 'w', 'w', 'w']),
    (Super, ['a', 'a', 'a', 'a']),
    (NsOwner, ['r', '-', 'a', 'a']),
];

/// `POST /api/v1/repository` in `acme` and in `olivia` (the visibility of the new repository
/// does not matter): `Y` 201, `U` 401, `F` 403. Creating needs the namespace's owner, an
/// administrator (or creator) of the organization, or the superuser.
const CREATE: [(Caller, [char; 2]); 10] = [
    (Anon, ['U', 'U']),
    (Stranger, ['F', 'F']),
    (Reader, ['F', 'F']),
    (Writer, ['F', 'F']),
    (RepoAdmin, ['F', 'F']),
    (TeamMember, ['F', 'F']),
    (OrgAdmin, ['Y', 'F']),
    (Robot, ['F', 'F']),
    (Super, ['Y', 'Y']),
    (NsOwner, ['F', 'Y']),
];

fn role_of(caller: Caller, target: &str) -> char {
    let i = TARGETS.iter().position(|t| *t == target).expect("target");
    ROLES.iter().find(|(c, _)| *c == caller).expect("caller").1[i]
}

fn rank(role: char) -> u8 {
    match role {
        '-' => 0,
        'r' => 1,
        'w' => 2,
        'a' => 3,
        _ => panic!("role {role}"),
    }
}

fn code_status(code: char, ok: u16) -> u16 {
    match code {
        'Y' => ok,
        'U' => 401,
        'F' => 403,
        'N' => 404,
        _ => panic!("code {code}"),
    }
}

// =============================================================================================
// Plumbing
// =============================================================================================

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic(String, String),
}

struct Out {
    what: String,
    status: u16,
    content_type: Option<String>,
    text: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}: {}",
            self.what,
            self.status,
            &self.text[..self.text.len().min(400)]
        )
    }
}

/// One request of a case.
#[derive(Clone, Debug)]
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    /// The repository the request names (for the private-versus-missing comparison).
    repo: Option<String>,
}

fn req(method: Method, path: String, body: Option<Value>) -> Req {
    Req {
        method,
        path,
        body,
        repo: None,
    }
}

struct World {
    reg: Registry,
    http: Client,
    auth: HashMap<Caller, Auth>,
    victim: Auth,
    /// Passwords, for the sign-in row.
    passwords: HashMap<Caller, String>,
    robot_token: String,
    image: Image,
    seq: AtomicUsize,
}

impl World {
    fn next(&self) -> usize {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn call(&self, auth: &Auth, method: Method, path: &str, body: Option<&Value>) -> Out {
        let what = format!("{method} {path} ({auth:?})");
        let mut rb = self.http.request(method, self.reg.url(path));
        if let Auth::Basic(u, p) = auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = rb.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().unwrap_or_default();
        Out {
            what,
            status,
            content_type,
            text,
        }
    }

    fn auth(&self, c: Caller) -> &Auth {
        &self.auth[&c]
    }

    /// A request that must succeed with `status`; its JSON.
    #[track_caller]
    fn must(
        &self,
        auth: &Auth,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let o = self.call(auth, method, path, body.as_ref());
        assert_eq!(o.status, status, "setup request failed: {o:?}");
        o.json()
    }

    /// As the superuser.
    #[track_caller]
    fn sup(&self, method: Method, path: &str, body: Option<Value>, status: u16) -> Value {
        self.must(&self.auth[&Super], method, path, body, status)
    }

    /// Creates a user as the superuser; returns Basic credentials with an application token.
    fn user(&self, name: &str) -> (Auth, String) {
        let password = format!("{name}-password");
        self.sup(
            Method::POST,
            "/api/v1/superuser/users/",
            Some(json!({ "username": name, "password": password, "email": format!("{name}@example.com") })),
            201,
        );
        let token = self.must(
            &Auth::Basic(name.into(), password.clone()),
            Method::POST,
            "/api/v1/user/apptoken",
            Some(json!({ "title": "matrix" })),
            201,
        );
        let code = token["token"]["token_code"].as_str().expect("token_code");
        (Auth::Basic(name.into(), code.into()), password)
    }

    /// Creates `name` with the matrix's grants (as the superuser).
    fn repo(&self, name: &str, visibility: &str) {
        let (ns, short) = name.split_once('/').unwrap();
        self.sup(
            Method::POST,
            "/api/v1/repository",
            Some(json!({ "namespace": ns, "repository": short, "visibility": visibility, "description": "matrix" })),
            201,
        );
        for (who, role) in [
            ("reader", "read"),
            ("writer", "write"),
            ("repoadmin", "admin"),
            ("acme+builder", "write"),
        ] {
            self.sup(
                Method::PUT,
                &format!("/api/v1/repository/{name}/permissions/user/{who}"),
                Some(json!({ "role": role })),
                200,
            );
        }
        if ns == "acme" {
            self.sup(
                Method::PUT,
                &format!("/api/v1/repository/{name}/permissions/team/readers"),
                Some(json!({ "role": "read" })),
                200,
            );
        }
    }

    /// A fresh robot of `acme`, made by the superuser; its short name.
    fn acme_robot(&self, id: usize) -> String {
        let short = format!("r{id}");
        self.sup(
            Method::PUT,
            &format!("/api/v1/organization/acme/robots/{short}"),
            Some(json!({})),
            201,
        );
        short
    }

    /// A fresh team of `acme` (role member), made by the superuser.
    fn acme_team(&self, id: usize) -> String {
        let team = format!("t{id}");
        self.sup(
            Method::PUT,
            &format!("/api/v1/organization/acme/team/{team}"),
            Some(json!({ "role": "member" })),
            200,
        );
        team
    }
}

fn visibility_of(target: &str) -> &'static str {
    if target.ends_with("private") {
        "private"
    } else {
        "public"
    }
}

/// Starts berth and builds the world of the matrix.
fn setup() -> Option<World> {
    let reg = Registry::own(&[])?;
    let http = Client::builder()
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(32)
        .build()
        .expect("client");
    let mut w = World {
        reg,
        http,
        auth: HashMap::new(),
        victim: Auth::None,
        passwords: HashMap::new(),
        robot_token: String::new(),
        image: Image::random(&[64]),
        seq: AtomicUsize::new(0),
    };
    // The superuser, by application token too.
    let admin_pw = Auth::Basic(ADMIN_USER.into(), ADMIN_PASSWORD.into());
    let t = w.must(
        &admin_pw,
        Method::POST,
        "/api/v1/user/apptoken",
        Some(json!({ "title": "matrix" })),
        201,
    );
    let code = t["token"]["token_code"].as_str().unwrap().to_owned();
    w.auth.insert(Super, Auth::Basic(ADMIN_USER.into(), code));
    w.passwords.insert(Super, ADMIN_PASSWORD.into());
    w.auth.insert(Anon, Auth::None);
    // Users, in parallel (each costs two argon2 hashes).
    let users: Vec<Caller> = CALLERS
        .iter()
        .copied()
        .filter(|c| c.is_user() && *c != Super)
        .collect();
    let made: Vec<(Caller, (Auth, String))> = std::thread::scope(|s| {
        let w = &w;
        let hs: Vec<_> = users
            .iter()
            .map(|c| s.spawn(move || (*c, w.user(c.name().unwrap()))))
            .collect();
        let victim = s.spawn(move || w.user("victim"));
        let mut v: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        v.push((Anon, victim.join().unwrap()));
        v
    });
    for (c, (auth, pw)) in made {
        if c == Anon {
            w.victim = auth;
        } else {
            w.auth.insert(c, auth);
            w.passwords.insert(c, pw);
        }
    }
    // The organization, its teams and its robot.
    w.must(
        w.auth(OrgAdmin),
        Method::POST,
        "/api/v1/organization/",
        Some(json!({ "name": "acme" })),
        201,
    );
    for team in ["readers", "spare"] {
        w.must(
            w.auth(OrgAdmin),
            Method::PUT,
            &format!("/api/v1/organization/acme/team/{team}"),
            Some(json!({ "role": "member" })),
            200,
        );
    }
    w.must(
        w.auth(OrgAdmin),
        Method::PUT,
        "/api/v1/organization/acme/team/readers/members/teamreader",
        None,
        200,
    );
    let bot = w.must(
        w.auth(OrgAdmin),
        Method::PUT,
        "/api/v1/organization/acme/robots/builder",
        Some(json!({})),
        201,
    );
    w.robot_token = bot["token"].as_str().unwrap().to_owned();
    w.auth.insert(
        Robot,
        Auth::Basic("acme+builder".into(), w.robot_token.clone()),
    );
    // Every user's own robot `mine`.
    for c in CALLERS.iter().filter(|c| c.is_user()) {
        w.must(
            w.auth(*c),
            Method::PUT,
            "/api/v1/user/robots/mine",
            Some(json!({})),
            201,
        );
    }
    // The target repositories, with a tag each.
    for t in TARGETS {
        w.repo(t, visibility_of(t));
        w.image.push(&w.reg, t, "v1");
    }
    Some(w)
}

// =============================================================================================
// The operations
// =============================================================================================

/// A repository operation: the role it needs and how to call it on a target.
struct RepoOp {
    method: Method,
    route: &'static str,
    need: char,
    /// The success status on an `acme` repository and on one of a user namespace (which has
    /// no teams: team grants there are invalid requests or unknown).
    ok: (u16, u16),
    build: fn(&World, &str, usize) -> Req,
}

fn p(target: &str, rest: &str) -> String {
    format!("/api/v1/repository/{target}{rest}")
}

fn repo_ops() -> Vec<RepoOp> {
    use Method as M;
    vec![
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}",
            need: 'r',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, ""), None),
        },
        RepoOp {
            method: M::PUT,
            route: "/api/v1/repository/{repository}",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| req(M::PUT, p(t, ""), Some(json!({ "description": "matrix" }))),
        },
        RepoOp {
            method: M::DELETE,
            route: "/api/v1/repository/{repository}",
            need: 'a',
            ok: (204, 204),
            build: |w, t, id| {
                let (ns, _) = t.split_once('/').unwrap();
                let name = format!("{ns}/del-{id}");
                w.repo(&name, visibility_of(t));
                let mut r = req(M::DELETE, p(&name, ""), None);
                r.repo = Some(name);
                r
            },
        },
        RepoOp {
            method: M::POST,
            route: "/api/v1/repository/{repository}/changevisibility",
            need: 'a',
            ok: (200, 200),
            // The same visibility again: allowed callers change nothing.
            build: |_, t, _| {
                req(
                    M::POST,
                    p(t, "/changevisibility"),
                    Some(json!({ "visibility": visibility_of(t) })),
                )
            },
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/permissions/user/",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, "/permissions/user/"), None),
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/permissions/user/{username}",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, "/permissions/user/reader"), None),
        },
        RepoOp {
            method: M::PUT,
            route: "/api/v1/repository/{repository}/permissions/user/{username}",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| {
                req(
                    M::PUT,
                    p(t, "/permissions/user/victim"),
                    Some(json!({ "role": "read" })),
                )
            },
        },
        RepoOp {
            method: M::DELETE,
            route: "/api/v1/repository/{repository}/permissions/user/{username}",
            need: 'a',
            ok: (204, 204),
            build: |w, t, id| {
                let robot = format!("acme+{}", w.acme_robot(id));
                w.sup(
                    M::PUT,
                    &p(t, &format!("/permissions/user/{robot}")),
                    Some(json!({ "role": "read" })),
                    200,
                );
                req(M::DELETE, p(t, &format!("/permissions/user/{robot}")), None)
            },
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/permissions/team/",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, "/permissions/team/"), None),
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/permissions/team/{teamname}",
            need: 'a',
            ok: (200, 404),
            build: |_, t, _| req(M::GET, p(t, "/permissions/team/readers"), None),
        },
        RepoOp {
            method: M::PUT,
            route: "/api/v1/repository/{repository}/permissions/team/{teamname}",
            need: 'a',
            ok: (200, 400),
            build: |_, t, _| {
                req(
                    M::PUT,
                    p(t, "/permissions/team/spare"),
                    Some(json!({ "role": "read" })),
                )
            },
        },
        RepoOp {
            method: M::DELETE,
            route: "/api/v1/repository/{repository}/permissions/team/{teamname}",
            need: 'a',
            ok: (204, 400),
            build: |w, t, id| {
                if !t.starts_with("acme/") {
                    return req(M::DELETE, p(t, "/permissions/team/spare"), None);
                }
                let team = w.acme_team(id);
                w.sup(
                    M::PUT,
                    &p(t, &format!("/permissions/team/{team}")),
                    Some(json!({ "role": "read" })),
                    200,
                );
                req(M::DELETE, p(t, &format!("/permissions/team/{team}")), None)
            },
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/tag/",
            need: 'r',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, "/tag/"), None),
        },
        RepoOp {
            method: M::DELETE,
            route: "/api/v1/repository/{repository}/tag/{tag}",
            need: 'w',
            ok: (204, 204),
            build: |w, t, id| {
                let tag = format!("d{id}");
                common::put_manifest(&w.reg, t, &tag, &w.image.media_type, &w.image.manifest)
                    .expect(201);
                req(M::DELETE, p(t, &format!("/tag/{tag}")), None)
            },
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/manifest/{manifestref}/index_report",
            need: 'r',
            ok: (200, 200),
            build: |w, t, _| {
                req(
                    M::GET,
                    p(t, &format!("/manifest/{}/index_report", w.image.digest)),
                    None,
                )
            },
        },
        // The matrix image's layer is random bytes: indexed as a failure, so no SBOM (409).
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/manifest/{manifestref}/sbom",
            need: 'r',
            ok: (409, 409),
            build: |w, t, _| {
                req(
                    M::GET,
                    p(t, &format!("/manifest/{}/sbom?format=spdx", w.image.digest)),
                    None,
                )
            },
        },
        // Quay's security endpoint answers 200 whatever the scan status (the matrix image is
        // queued, then failed): the role alone decides.
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/manifest/{manifestref}/security",
            need: 'r',
            ok: (200, 200),
            build: |w, t, _| {
                req(
                    M::GET,
                    p(
                        t,
                        &format!("/manifest/{}/security?vulnerabilities=true", w.image.digest),
                    ),
                    None,
                )
            },
        },
        RepoOp {
            method: M::GET,
            route: "/api/v1/repository/{repository}/logs",
            need: 'a',
            ok: (200, 200),
            build: |_, t, _| req(M::GET, p(t, "/logs"), None),
        },
    ]
}

/// Any other operation: one code per caller of [`CALLERS`] (`Y` the success status `ok`,
/// `U` 401, `F` 403, `N` 404) and how to call it (with a fresh case number).
struct OtherOp {
    method: Method,
    route: &'static str,
    /// What the row is about when a route has several rows.
    note: &'static str,
    codes: &'static str,
    ok: u16,
    build: fn(&World, Caller, usize) -> Req,
}

/// A UUID no token has.
const NO_TOKEN: &str = "00000000-0000-4000-8000-000000000000";

fn other_ops() -> Vec<OtherOp> {
    use Method as M;
    // Columns: anon, stranger, reader, writer, repoadmin, teamreader, owen, robot, super,
    // olivia.
    vec![
        // ---- sessions and the document
        OtherOp {
            method: M::POST,
            route: "/api/v1/signin",
            note: "with the caller's own password (robots cannot sign in)",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |w, c, _| {
                let (user, password) = match c {
                    Anon => ("nobody".to_owned(), "nobody-password".to_owned()),
                    Robot => ("acme+builder".to_owned(), w.robot_token.clone()),
                    c => (c.name().unwrap().to_owned(), w.passwords[&c].clone()),
                };
                req(
                    M::POST,
                    "/api/v1/signin".into(),
                    Some(json!({ "username": user, "password": password })),
                )
            },
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/signout",
            note: "without a session: nothing to end",
            codes: "YYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::POST, "/api/v1/signout".into(), None),
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/openapi.json",
            note: "",
            codes: "YYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/openapi.json".into(), None),
        },
        // ---- the caller's account
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/",
            note: "",
            codes: "UYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/".into(), None),
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/user/",
            note: "registration is closed",
            codes: "UFFFFFFFYF",
            ok: 201,
            build: |_, _, id| {
                req(
                    M::POST,
                    "/api/v1/user/".into(),
                    Some(json!({ "username": format!("reg-{id}"), "password": "reg-password" })),
                )
            },
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/user/",
            note: "the same email again",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, c, _| {
                let email = format!("{}@example.com", c.name().unwrap_or("x"));
                req(
                    M::PUT,
                    "/api/v1/user/".into(),
                    Some(json!({ "email": email })),
                )
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/organizations",
            note: "",
            codes: "UYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/organizations".into(), None),
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/users/{username}",
            note: "another user",
            codes: "UYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/users/victim".into(), None),
        },
        // ---- superuser administration
        OtherOp {
            method: M::GET,
            route: "/api/v1/superuser/users/",
            note: "",
            codes: "UFFFFFFFYF",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/superuser/users/".into(), None),
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/superuser/users/",
            note: "",
            codes: "UFFFFFFFYF",
            ok: 201,
            build: |_, _, id| {
                req(
                    M::POST,
                    "/api/v1/superuser/users/".into(),
                    Some(json!({ "username": format!("made-{id}"), "password": "made-password" })),
                )
            },
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/superuser/users/{username}",
            note: "another user, the same email again",
            codes: "UFFFFFFFYF",
            ok: 200,
            build: |_, _, _| {
                req(
                    M::PUT,
                    "/api/v1/superuser/users/victim".into(),
                    Some(json!({ "email": "victim@example.com" })),
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/superuser/users/{username}",
            note: "a fresh user",
            codes: "UFFFFFFFYF",
            ok: 204,
            build: |w, _, id| {
                let name = format!("doomed-{id}");
                w.sup(
                    M::POST,
                    "/api/v1/superuser/users/",
                    Some(json!({ "username": name, "password": "doomed-password" })),
                    201,
                );
                req(M::DELETE, format!("/api/v1/superuser/users/{name}"), None)
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/superuser/logs",
            note: "",
            codes: "UFFFFFFFYF",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/superuser/logs".into(), None),
        },
        // ---- application tokens (users only; each sees only its own)
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/apptoken",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/apptoken".into(), None),
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/user/apptoken",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 201,
            build: |_, _, _| {
                req(
                    M::POST,
                    "/api/v1/user/apptoken".into(),
                    Some(json!({ "title": "matrix case" })),
                )
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/apptoken/{token_uuid}",
            note: "the caller's own token",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |w, c, _| {
                let id = own_token(w, c);
                req(M::GET, format!("/api/v1/user/apptoken/{id}"), None)
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/apptoken/{token_uuid}",
            note: "another user's token (the superuser too sees only its own)",
            codes: "UNNNNNNFNN",
            ok: 200,
            build: |w, _, _| {
                let id = victim_token(w);
                req(M::GET, format!("/api/v1/user/apptoken/{id}"), None)
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/user/apptoken/{token_uuid}",
            note: "the caller's own fresh token",
            codes: "UYYYYYYFYY",
            ok: 204,
            build: |w, c, _| {
                let id = own_token(w, c);
                req(M::DELETE, format!("/api/v1/user/apptoken/{id}"), None)
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/user/apptoken/{token_uuid}",
            note: "another user's fresh token",
            codes: "UNNNNNNFNN",
            ok: 204,
            build: |w, _, _| {
                let id = victim_token(w);
                req(M::DELETE, format!("/api/v1/user/apptoken/{id}"), None)
            },
        },
        // ---- robots of the caller's own namespace (users only)
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/robots",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/robots".into(), None),
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/robots/{robot_shortname}",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/robots/mine".into(), None),
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/user/robots/{robot_shortname}",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 201,
            build: |_, _, id| {
                req(
                    M::PUT,
                    format!("/api/v1/user/robots/new{id}"),
                    Some(json!({})),
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/user/robots/{robot_shortname}",
            note: "a fresh robot",
            codes: "UYYYYYYFYY",
            ok: 204,
            build: |w, c, id| {
                let short = format!("gone{id}");
                if c.is_user() {
                    w.must(
                        w.auth(c),
                        M::PUT,
                        &format!("/api/v1/user/robots/{short}"),
                        Some(json!({})),
                        201,
                    );
                }
                req(M::DELETE, format!("/api/v1/user/robots/{short}"), None)
            },
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/user/robots/{robot_shortname}/regenerate",
            note: "",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, _, _| req(M::POST, "/api/v1/user/robots/mine/regenerate".into(), None),
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/user/logs",
            note: "robots have no user log",
            codes: "UYYYYYYFYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/user/logs".into(), None),
        },
        // ---- organizations: acme (owen admin, teamreader member, the rest outsiders)
        OtherOp {
            method: M::POST,
            route: "/api/v1/organization/",
            note: "a fresh name",
            codes: "UYYYYYYFYY",
            ok: 201,
            build: |_, _, id| {
                req(
                    M::POST,
                    "/api/v1/organization/".into(),
                    Some(json!({ "name": format!("org-{id}") })),
                )
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}",
            note: "organizations are visible to every signed-in caller",
            codes: "UYYYYYYYYY",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/organization/acme".into(), None),
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/organization/{orgname}",
            note: "a fresh organization of owen with teamreader as member",
            // Anonymous: 404, as for every outsider (the organization's administration is
            // invisible to it), not 401.
            codes: "NNNNNFYNYN",
            ok: 204,
            build: |w, _, id| {
                let org = format!("gone-{id}");
                let owen = w.auth(OrgAdmin);
                w.must(
                    owen,
                    M::POST,
                    "/api/v1/organization/",
                    Some(json!({ "name": org })),
                    201,
                );
                w.must(
                    owen,
                    M::PUT,
                    &format!("/api/v1/organization/{org}/team/readers"),
                    Some(json!({ "role": "member" })),
                    200,
                );
                w.must(
                    owen,
                    M::PUT,
                    &format!("/api/v1/organization/{org}/team/readers/members/teamreader"),
                    None,
                    200,
                );
                req(M::DELETE, format!("/api/v1/organization/{org}"), None)
            },
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/organization/{orgname}/team/{teamname}",
            note: "the same role again",
            codes: "NNNNNFYNYN",
            ok: 200,
            build: |_, _, _| {
                req(
                    M::PUT,
                    "/api/v1/organization/acme/team/spare".into(),
                    Some(json!({ "role": "member" })),
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/organization/{orgname}/team/{teamname}",
            note: "a fresh team",
            codes: "NNNNNFYNYN",
            ok: 204,
            build: |w, _, id| {
                let team = w.acme_team(id);
                req(
                    M::DELETE,
                    format!("/api/v1/organization/acme/team/{team}"),
                    None,
                )
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}/team/{teamname}/members",
            note: "members of the organization may look",
            codes: "NNNNNYYNYN",
            ok: 200,
            build: |_, _, _| {
                req(
                    M::GET,
                    "/api/v1/organization/acme/team/readers/members".into(),
                    None,
                )
            },
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}",
            note: "into a fresh team",
            codes: "NNNNNFYNYN",
            ok: 200,
            build: |w, _, id| {
                let team = w.acme_team(id);
                req(
                    M::PUT,
                    format!("/api/v1/organization/acme/team/{team}/members/victim"),
                    None,
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}",
            note: "from a fresh team",
            codes: "NNNNNFYNYN",
            ok: 204,
            build: |w, _, id| {
                let team = w.acme_team(id);
                let path = format!("/api/v1/organization/acme/team/{team}/members/victim");
                w.sup(M::PUT, &path, None, 200);
                req(M::DELETE, path, None)
            },
        },
        // Robots of an organization: administrators only; robots may not manage robots.
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}/robots",
            note: "",
            codes: "UNNNNFYFYN",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/organization/acme/robots".into(), None),
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            note: "",
            codes: "UNNNNFYFYN",
            ok: 200,
            build: |_, _, _| {
                req(
                    M::GET,
                    "/api/v1/organization/acme/robots/builder".into(),
                    None,
                )
            },
        },
        OtherOp {
            method: M::PUT,
            route: "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            note: "a fresh name",
            codes: "UNNNNFYFYN",
            ok: 201,
            build: |_, _, id| {
                req(
                    M::PUT,
                    format!("/api/v1/organization/acme/robots/n{id}"),
                    Some(json!({})),
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            note: "a fresh robot",
            codes: "UNNNNFYFYN",
            ok: 204,
            build: |w, _, id| {
                let short = w.acme_robot(id);
                req(
                    M::DELETE,
                    format!("/api/v1/organization/acme/robots/{short}"),
                    None,
                )
            },
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/organization/{orgname}/robots/{robot_shortname}/regenerate",
            note: "a fresh robot",
            codes: "UNNNNFYFYN",
            ok: 200,
            build: |w, _, id| {
                let short = w.acme_robot(id);
                req(
                    M::POST,
                    format!("/api/v1/organization/acme/robots/{short}/regenerate"),
                    None,
                )
            },
        },
        // Default permissions: administrators only.
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}/prototypes",
            note: "",
            codes: "NNNNNFYNYN",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/organization/acme/prototypes".into(), None),
        },
        OtherOp {
            method: M::POST,
            route: "/api/v1/organization/{orgname}/prototypes",
            note: "for a fresh robot",
            codes: "NNNNNFYNYN",
            ok: 201,
            build: |w, _, id| {
                let short = w.acme_robot(id);
                req(
                    M::POST,
                    "/api/v1/organization/acme/prototypes".into(),
                    Some(
                        json!({ "delegate": { "kind": "user", "name": format!("acme+{short}") }, "role": "read" }),
                    ),
                )
            },
        },
        OtherOp {
            method: M::DELETE,
            route: "/api/v1/organization/{orgname}/prototypes/{prototypeid}",
            note: "a fresh prototype",
            codes: "NNNNNFYNYN",
            ok: 204,
            build: |w, _, id| {
                let short = w.acme_robot(id);
                let proto = w.sup(
                    M::POST,
                    "/api/v1/organization/acme/prototypes",
                    Some(json!({ "delegate": { "kind": "user", "name": format!("acme+{short}") }, "role": "read" })),
                    201,
                );
                let pid = proto["id"].as_str().expect("prototype id");
                req(
                    M::DELETE,
                    format!("/api/v1/organization/acme/prototypes/{pid}"),
                    None,
                )
            },
        },
        OtherOp {
            method: M::GET,
            route: "/api/v1/organization/{orgname}/logs",
            note: "",
            codes: "NNNNNFYNYN",
            ok: 200,
            build: |_, _, _| req(M::GET, "/api/v1/organization/acme/logs".into(), None),
        },
    ]
}

/// A fresh application token of the caller (users), or a UUID nobody has.
fn own_token(w: &World, c: Caller) -> String {
    if !c.is_user() {
        return NO_TOKEN.into();
    }
    let t = w.must(
        w.auth(c),
        Method::POST,
        "/api/v1/user/apptoken",
        Some(json!({ "title": "own" })),
        201,
    );
    t["token"]["uuid"].as_str().unwrap().to_owned()
}

/// A fresh application token of `victim`.
fn victim_token(w: &World) -> String {
    let t = w.must(
        &w.victim,
        Method::POST,
        "/api/v1/user/apptoken",
        Some(json!({ "title": "victim's" })),
        201,
    );
    t["token"]["uuid"].as_str().unwrap().to_owned()
}

// =============================================================================================
// The cases
// =============================================================================================

type Build = Box<dyn Fn(&World, usize) -> Req + Send + Sync>;
type Verify = Box<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

struct Case {
    method: Method,
    route: &'static str,
    caller: Caller,
    /// The target repository or the row's note.
    target: String,
    expect: u16,
    build: Build,
    /// Compare a refusal with the same request on a repository that does not exist.
    compare_missing: bool,
    /// A check of an allowed answer's body.
    verify: Option<Verify>,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} {} [{}] as {:?}",
            self.method, self.route, self.target, self.caller
        )
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for op in repo_ops() {
        for t in TARGETS {
            for c in CALLERS {
                let role = role_of(c, t);
                let ok = if t.starts_with("acme/") {
                    op.ok.0
                } else {
                    op.ok.1
                };
                let expect = if rank(role) >= rank(op.need) {
                    ok
                } else if role == '-' {
                    404
                } else {
                    403
                };
                let build = op.build;
                out.push(Case {
                    method: op.method.clone(),
                    route: op.route,
                    caller: c,
                    target: t.into(),
                    expect,
                    build: Box::new(move |w, id| {
                        let mut r = build(w, t, id);
                        r.repo.get_or_insert_with(|| t.to_owned());
                        r
                    }),
                    // Refused for want of any role: the repository must look missing.
                    compare_missing: visibility_of(t) == "private" && role == '-',
                    verify: None,
                });
            }
        }
    }
    // Listing: everyone may list, and sees exactly what it may read.
    for t in TARGETS {
        for c in CALLERS {
            let visible = role_of(c, t) != '-';
            let ns = t.split_once('/').unwrap().0;
            out.push(Case {
                method: Method::GET,
                route: "/api/v1/repository",
                caller: c,
                target: t.into(),
                expect: 200,
                build: Box::new(move |_, _| {
                    req(
                        Method::GET,
                        format!("/api/v1/repository?namespace={ns}&limit=1000"),
                        None,
                    )
                }),
                compare_missing: false,
                verify: Some(Box::new(move |v| {
                    let listed = v["repositories"].as_array().is_some_and(|a| {
                        a.iter().any(|r| {
                            format!(
                                "{}/{}",
                                r["namespace"].as_str().unwrap_or(""),
                                r["name"].as_str().unwrap_or("")
                            ) == t
                        })
                    });
                    if listed == visible {
                        Ok(())
                    } else {
                        Err(format!("{t} listed: {listed}, may read: {visible}"))
                    }
                })),
            });
        }
    }
    // Creation.
    for (col, ns) in ["acme", "olivia"].into_iter().enumerate() {
        for vis in ["public", "private"] {
            for c in CALLERS {
                let code = CREATE.iter().find(|(k, _)| *k == c).unwrap().1[col];
                out.push(Case {
                    method: Method::POST,
                    route: "/api/v1/repository",
                    caller: c,
                    target: format!("new {vis} repository in {ns}"),
                    expect: code_status(code, 201),
                    build: Box::new(move |_, id| {
                        req(
                            Method::POST,
                            "/api/v1/repository".into(),
                            Some(json!({ "namespace": ns, "repository": format!("new-{id}"), "visibility": vis })),
                        )
                    }),
                    compare_missing: false,
                    verify: None,
                });
            }
        }
    }
    // Creation over an existing repository: 409 for callers who see it; the others must get
    // exactly what creating a missing repository of that namespace gets them.
    for t in TARGETS {
        for c in CALLERS {
            let role = role_of(c, t);
            let expect = match (role, c) {
                ('-', Anon) => 401,
                ('-', _) => 403,
                _ => 409,
            };
            out.push(Case {
                method: Method::POST,
                route: "/api/v1/repository",
                caller: c,
                target: format!("existing {t}"),
                expect,
                build: Box::new(move |_, _| {
                    let (ns, short) = t.split_once('/').unwrap();
                    let mut r = req(
                        Method::POST,
                        "/api/v1/repository".into(),
                        Some(json!({ "namespace": ns, "repository": short, "visibility": "private" })),
                    );
                    r.repo = Some(t.to_owned());
                    r
                }),
                compare_missing: visibility_of(t) == "private" && role == '-',
                verify: None,
            });
        }
    }
    for op in other_ops() {
        assert_eq!(op.codes.len(), CALLERS.len(), "{}", op.route);
        for (c, code) in CALLERS.into_iter().zip(op.codes.chars()) {
            let build = op.build;
            out.push(Case {
                method: op.method.clone(),
                route: op.route,
                caller: c,
                target: op.note.into(),
                expect: code_status(code, op.ok),
                build: Box::new(move |w, id| build(w, c, id)),
                compare_missing: false,
                verify: None,
            });
        }
    }
    out
}

/// The error message, with `name` replaced (for comparisons).
fn error_shape(o: &Out, name: &str) -> Result<String, String> {
    if !o
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(format!("error without JSON content type: {o:?}"));
    }
    let v = o.json();
    if v["status"] != json!(o.status) {
        return Err(format!("error body with the wrong status: {o:?}"));
    }
    for k in ["error_message", "error_type", "title", "detail"] {
        if !v[k].is_string() {
            return Err(format!("error body lacks {k}: {o:?}"));
        }
    }
    Ok(o.text.replace(name, "<NAME>"))
}

/// Runs one case; `Err` describes a failure.
fn run(w: &World, case: &Case) -> Result<(), String> {
    let id = w.next();
    let r = (case.build)(w, id);
    let auth = w.auth(case.caller);
    let o = w.call(auth, r.method.clone(), &r.path, r.body.as_ref());
    if o.status != case.expect {
        return Err(format!(
            "{}: expected {}, got {o:?}",
            case.label(),
            case.expect
        ));
    }
    if o.status >= 400 {
        let shape = error_shape(&o, r.repo.as_deref().unwrap_or("\u{0}"))
            .map_err(|e| format!("{}: {e}", case.label()))?;
        if case.compare_missing {
            let name = r.repo.as_deref().expect("repository");
            let ns = name.split_once('/').unwrap().0;
            let missing = format!("{ns}/missing-{id}");
            let path = r.path.replacen(name, &missing, 1);
            let body = r.body.as_ref().map(|b| {
                let mut b: Value =
                    serde_json::from_str(&b.to_string().replace(name, &missing)).unwrap();
                // A creation request names the repository in two fields.
                if b.get("repository").is_some() {
                    b["repository"] = json!(missing.split_once('/').unwrap().1);
                }
                b
            });
            let m = w.call(auth, r.method.clone(), &path, body.as_ref());
            let m_shape =
                error_shape(&m, &missing).map_err(|e| format!("{}: {e}", case.label()))?;
            if m.status != o.status || m_shape != shape {
                return Err(format!(
                    "{}: a private repository answers differently from a missing one:\n  private: {o:?}\n  missing: {m:?}",
                    case.label()
                ));
            }
        }
    } else if let Some(verify) = &case.verify {
        verify(&o.json()).map_err(|e| format!("{}: {e}", case.label()))?;
    }
    Ok(())
}

// =============================================================================================
// The test
// =============================================================================================

/// Cases that fail because of a bug in berth, not in the table: (method, route, caller, a
/// substring of the case's target or note). They are reported on every run without failing
/// it; one that passes fails the run, so the entry is removed once the bug is fixed.
const KNOWN_BUGS: &[(&str, &str, Caller, &str)] = &[];

fn known_bug(case: &Case) -> bool {
    KNOWN_BUGS.iter().any(|(m, route, c, target)| {
        case.method.as_str() == *m
            && case.route == *route
            && case.caller == *c
            && case.target.contains(target)
    })
}

#[test]
fn rest_authorization_matrix() {
    let Some(w) = setup() else { return };
    let cases = cases();

    // Every documented operation has rows.
    let doc = w
        .call(&Auth::None, Method::GET, "/api/v1/openapi.json", None)
        .json();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.route.to_owned()))
        .collect();
    let uncovered: Vec<_> = documented.difference(&covered).collect();
    assert!(
        uncovered.is_empty(),
        "documented operations without matrix rows: {uncovered:?}"
    );
    let undocumented: Vec<_> = covered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "matrix rows for undocumented operations: {undocumented:?}"
    );
    // Every caller appears in every operation's rows.
    for (m, route) in &covered {
        let callers: BTreeSet<String> = cases
            .iter()
            .filter(|c| c.method.as_str() == m && c.route == route)
            .map(|c| format!("{:?}", c.caller))
            .collect();
        assert_eq!(callers.len(), CALLERS.len(), "{m} {route}: {callers:?}");
    }

    // Run, a few threads at a time.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let bugs = Mutex::new(Vec::new());
    let compared = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    if case.compare_missing {
                        compared.fetch_add(1, Ordering::Relaxed);
                    }
                    match (run(&w, case), known_bug(case)) {
                        (Ok(()), false) => {}
                        (Err(e), false) => failures.lock().unwrap().push(e),
                        (Err(e), true) => bugs.lock().unwrap().push(e),
                        (Ok(()), true) => failures.lock().unwrap().push(format!(
                            "{}: passes now; remove it from KNOWN_BUGS",
                            case.label()
                        )),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let bugs = bugs.into_inner().unwrap();
    eprintln!(
        "REST authorization matrix: {} cases over {} operations, {} private-versus-missing comparisons, {} failures, {} known bugs",
        cases.len(),
        documented.len(),
        compared.load(Ordering::Relaxed),
        failures.len(),
        bugs.len()
    );
    for b in &bugs {
        eprintln!("KNOWN BUG (see KNOWN_BUGS): {b}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
