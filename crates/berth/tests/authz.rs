//! Authorization and token authentication of the real `berth` binary, end to end over HTTP.
//!
//! **The matrix** (`authorization_matrix_*`). One server per `auth.anonymous_pull` setting
//! (off, and on through `BERTH_AUTH__ANONYMOUS_PULL=true`), set up with `berth admin` while
//! it runs:
//!
//! - repositories `acme/public`, `acme/private` (organization `acme`), `olivia/public`,
//!   `olivia/private` (user namespace of `olivia`), made private by `repo create` and turned
//!   public with `repo set-visibility`; plus `acme/secret` (private, no grants), the source of
//!   cross-repository mounts, and the never-created `acme/missing`, `olivia/missing`;
//! - callers: anonymous, an unrelated user, users with a direct read, write or admin grant,
//!   members of an `acme` team granted read or write (on the `acme` repositories), the owner of
//!   `acme` (its `owners` team), a robot `acme+builder` granted write, a robot `acme+idle`
//!   with nothing, the superuser, and `olivia` (owner of her namespace);
//! - every `/v2` endpoint: base, catalog, tags list, manifest GET/HEAD/PUT/DELETE, blob
//!   GET/HEAD/DELETE, upload POST (plain, monolithic `?digest=`, `?mount=` without and with
//!   `from`), upload PATCH/GET/PUT/DELETE and referrers.
//!
//! Each caller asks `/v2/auth` (Basic credentials, or none) for
//! `repository:<repo>:pull,push,delete repository:acme/secret:pull registry:catalog:*`; the
//! token's `access` claim must be exactly that request cut down by the rules (read → pull;
//! write → pull, push, delete; admin → all, checked by also asking for `*`; public → every
//! signed-in caller may pull, anonymous callers only with `anonymous_pull`; namespace owners,
//! organization owners and superusers are admins; a repository that does not exist grants push
//! only to those who may create it). Then every endpoint is called with that token and the
//! answer compared with the table [`ROLES`]: an allowed call gets the endpoint's success
//! status (and its content), a refused one `401` with a `Bearer ... error="insufficient_scope"`
//! challenge naming the scope it needed. A caller with no access to a *private* repository must
//! get exactly the answer (status, headers, body, with the name swapped) it gets for a
//! repository that does not exist, and nothing naming a tag or digest. The catalog lists
//! exactly what each caller may pull, whole and page by page. A mount from a repository the
//! caller may not pull falls back to an upload and links nothing. A token is refused on every
//! repository it does not name, and an upload session cannot be reached through another
//! repository. Finally a repository turned private and back changes what a signed-in stranger
//! gets.
//!
//! Size: 12 callers x 4 repositories x 17 endpoints, plus base and catalog (twice) per caller,
//! access-claim checks, 170 private-versus-missing comparisons and 72 foreign-token calls per
//! server; about 1,500 checks per server, a few seconds each.
//!
//! **The rest**: the token service (challenges, docker-login style and OAuth2 requests,
//! refresh tokens, robot token regeneration), malformed `Authorization` headers, forged JWTs
//! (another key under the real `kid`, `alg: none`, HS256 keyed with the public key, tampered
//! payloads, unknown `kid`, and tokens signed with the real key read from `berth.db` that are
//! expired or for another audience), paths that respell a private name, scope injection,
//! login rate limiting, secrets kept out of the debug log and `berth config`, and the audit
//! log. Each test has its own server; tests run in parallel.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use berth_testkit::{ADMIN_PASSWORD, ADMIN_USER};
use common::{EMPTY_JSON, Image, OCI_EMPTY, OCI_MANIFEST, Registry, Resp};
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::Method;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

// =============================================================================================
// Plumbing
// =============================================================================================

/// User name and secret (password, robot token or app token).
type Creds = (String, String);

/// A server of our own with extra settings; `None` (after a loud note) when the tests target
/// an external registry.
fn own_server(env: &[(&str, &str)]) -> Option<Registry> {
    Registry::own(env)
}

/// Sends a request exactly as built: unlike `Registry::send`, no superuser token is added.
fn exec(reg: &Registry, rb: RequestBuilder) -> Resp {
    let req = rb.build().expect("request");
    let what = format!(
        "{} {}{}",
        req.method(),
        req.url().path(),
        req.url()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let resp = reg
        .client
        .execute(req)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
    Resp {
        what,
        status,
        headers,
        body,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `berth` with none of the developer's `BERTH_*` settings.
fn berth_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BERTH_") {
            c.env_remove(k);
        }
    }
    c
}

/// An admin command: its arguments and what to write to its standard input.
struct AdminCmd {
    args: Vec<String>,
    stdin: Option<String>,
}

fn cmd(args: &[&str]) -> AdminCmd {
    AdminCmd {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: None,
    }
}

fn create_user_cmd(name: &str, password: &str) -> AdminCmd {
    AdminCmd {
        args: vec!["create-user".into(), name.into(), "--password-stdin".into()],
        stdin: Some(format!("{password}\n")),
    }
}

/// Runs `berth admin --data-dir <the server's data dir> ...` commands, at most a few at a time
/// (the server keeps running: SQLite takes care of the concurrency), and returns their standard
/// outputs in order. Panics when one fails.
fn admin_batch(reg: &Registry, cmds: Vec<AdminCmd>) -> Vec<String> {
    let dir = reg
        .server
        .as_ref()
        .expect("own server")
        .data_dir()
        .to_owned();
    let mut outs = Vec::new();
    for chunk in cmds.chunks(6) {
        let children: Vec<_> = chunk
            .iter()
            .map(|c| {
                let mut child = berth_cmd()
                    .arg("admin")
                    .arg("--data-dir")
                    .arg(&dir)
                    .args(&c.args)
                    .stdin(if c.stdin.is_some() {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("berth admin");
                if let Some(input) = &c.stdin {
                    let mut stdin = child.stdin.take().expect("stdin");
                    stdin.write_all(input.as_bytes()).expect("write stdin");
                }
                (c.args.join(" "), child)
            })
            .collect();
        for (what, child) in children {
            let out = child.wait_with_output().expect("berth admin");
            assert!(
                out.status.success(),
                "berth admin {what} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            outs.push(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    outs
}

fn admin(reg: &Registry, args: &[&str]) -> String {
    admin_batch(reg, vec![cmd(args)]).remove(0)
}

fn create_user(reg: &Registry, name: &str, password: &str) {
    admin_batch(reg, vec![create_user_cmd(name, password)]);
}

/// The `token: ...` line of `robot create`, `robot regenerate` and `app-token create`.
fn printed_token(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token line in:\n{stdout}"))
        .trim()
        .to_owned()
}

/// The audit log as `berth admin logs --json` prints it, newest first.
fn audit_log(reg: &Registry, filter: &[&str]) -> Vec<Value> {
    let mut args = vec!["logs", "--json", "--limit", "1000"];
    args.extend_from_slice(filter);
    admin(reg, &args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?}: {e}")))
        .collect()
}

// ---- tokens ---------------------------------------------------------------------------------

/// `GET /v2/auth?service=berth&scope=...` with Basic credentials (or none).
fn token_request(reg: &Registry, creds: Option<&Creds>, scopes: &[String]) -> Resp {
    let mut q: Vec<(&str, &str)> = vec![("service", "berth")];
    q.extend(scopes.iter().map(|s| ("scope", s.as_str())));
    let mut rb = reg.client.get(reg.url("/v2/auth")).query(&q);
    if let Some((u, p)) = creds {
        rb = rb.basic_auth(u, Some(p));
    }
    exec(reg, rb)
}

/// A token and its decoded claims; panics unless the token service answers 200.
fn fetch_token(reg: &Registry, creds: Option<&Creds>, scopes: &[String]) -> (String, Value) {
    let r = token_request(reg, creds, scopes);
    assert_eq!(r.status, 200, "token request failed:\n{r}");
    let token = r.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token:\n{r}"))
        .to_owned();
    let c = claims(&token);
    (token, c)
}

/// The payload of a JWT (not verified: the server does that).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("payload base64url");
    serde_json::from_slice(&bytes).expect("payload JSON")
}

/// One entry of an `access` claim, actions sorted: (type, name, actions).
type Grant = (String, String, Vec<String>);

fn grant(kind: &str, name: &str, actions: &[&str]) -> Grant {
    let mut a: Vec<String> = actions.iter().map(|s| s.to_string()).collect();
    a.sort();
    (kind.into(), name.into(), a)
}

fn access_of(claims: &Value) -> BTreeSet<Grant> {
    claims["access"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let actions: Vec<&str> = e["actions"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    grant(
                        e["type"].as_str().unwrap_or("?"),
                        e["name"].as_str().unwrap_or("?"),
                        &actions,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// =============================================================================================
// 1. The authorization matrix
// =============================================================================================

const MATRIX_REPOS: [&str; 4] = [
    "acme/public",
    "acme/private",
    "olivia/public",
    "olivia/private",
];
const SECRET_REPO: &str = "acme/secret";
/// The columns of [`ROLES`].
const ALL_REPOS: [&str; 5] = [
    "acme/public",
    "acme/private",
    "olivia/public",
    "olivia/private",
    SECRET_REPO,
];

/// Each caller's role on each repository of [`ALL_REPOS`], in that order: `-` none, `r` read,
/// `w` write, `a` admin. Derived by hand from the rules: public repositories give every
/// signed-in caller (robots too) read; grants are direct (`reader`, `writer`, `repoadmin`,
/// `acme+builder` on the four matrix repositories) or through a team (`teamreader`,
/// `teamwriter` on the two `acme` ones); `owen` owns `acme` and `olivia` her namespace; the
/// superuser `admin` is admin everywhere. The anonymous row is for `anonymous_pull: false`;
/// with it on, anonymous callers read the public repositories ([`role`]).
const ROLES: [(&str, [char; 5]); 12] = [
    ("anonymous", ['-', '-', '-', '-', '-']),
    ("stranger", ['r', '-', 'r', '-', '-']),
    ("reader", ['r', 'r', 'r', 'r', '-']),
    ("writer", ['w', 'w', 'w', 'w', '-']),
    ("repoadmin", ['a', 'a', 'a', 'a', '-']),
    ("teamreader", ['r', 'r', 'r', '-', '-']),
    ("teamwriter", ['w', 'w', 'r', '-', '-']),
    ("owen", ['a', 'a', 'r', '-', 'a']),
    ("acme+builder", ['w', 'w', 'w', 'w', '-']),
    ("acme+idle", ['r', '-', 'r', '-', '-']),
    ("admin", ['a', 'a', 'a', 'a', 'a']),
    ("olivia", ['r', '-', 'a', 'a', '-']),
];

/// Who may create repositories (and so is granted push on a missing one) in each namespace.
const CREATORS: [(&str, &[&str]); 2] = [
    ("acme", &["owen", "admin"]),
    ("olivia", &["olivia", "admin"]),
];

const USERS: [&str; 8] = [
    "stranger",
    "reader",
    "writer",
    "repoadmin",
    "teamreader",
    "teamwriter",
    "owen",
    "olivia",
];

fn role(caller: &str, repo: &str, anonymous_pull: bool) -> char {
    let col = ALL_REPOS
        .iter()
        .position(|r| *r == repo)
        .expect("known repository");
    if caller == "anonymous" && anonymous_pull && repo.ends_with("/public") {
        return 'r';
    }
    ROLES
        .iter()
        .find(|(c, _)| *c == caller)
        .expect("known caller")
        .1[col]
}

fn actions_for(role: char) -> &'static [&'static str] {
    match role {
        '-' => &[],
        'r' => &["pull"],
        _ => &["pull", "push", "delete"],
    }
}

fn password(user: &str) -> String {
    format!("{user}-Pa55word-for-tests")
}

fn slug(caller: &str) -> String {
    caller.replace('+', "-")
}

fn missing_repo(repo: &str) -> String {
    format!("{}/missing", repo.split('/').next().unwrap())
}

/// What an endpoint needs from the token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cap {
    Pull,
    Push,
    Delete,
}

fn may(role: char, cap: Cap) -> bool {
    match cap {
        Cap::Pull => role != '-',
        Cap::Push | Cap::Delete => role == 'w' || role == 'a',
    }
}

/// The per-repository endpoints, in the order each caller calls them (the upload PATCH comes
/// before the status GET and the finishing PUT of the same session; the mount without `from`
/// before the one with it, so the first cannot profit from the second).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ep {
    Tags,
    ManifestGet,
    ManifestHead,
    ManifestPut,
    ManifestDelete,
    BlobGet,
    BlobHead,
    BlobDelete,
    UploadStart,
    UploadMonolithic,
    MountWithoutFrom,
    Mount,
    UploadPatch,
    UploadStatus,
    UploadFinish,
    UploadCancel,
    Referrers,
}

const REPO_ENDPOINTS: [Ep; 17] = [
    Ep::Tags,
    Ep::ManifestGet,
    Ep::ManifestHead,
    Ep::ManifestPut,
    Ep::ManifestDelete,
    Ep::BlobGet,
    Ep::BlobHead,
    Ep::BlobDelete,
    Ep::UploadStart,
    Ep::UploadMonolithic,
    Ep::MountWithoutFrom,
    Ep::Mount,
    Ep::UploadPatch,
    Ep::UploadStatus,
    Ep::UploadFinish,
    Ep::UploadCancel,
    Ep::Referrers,
];

impl Ep {
    fn cap(self) -> Cap {
        match self {
            Ep::Tags
            | Ep::ManifestGet
            | Ep::ManifestHead
            | Ep::BlobGet
            | Ep::BlobHead
            | Ep::Referrers => Cap::Pull,
            Ep::ManifestDelete | Ep::BlobDelete => Cap::Delete,
            _ => Cap::Push,
        }
    }

    /// The actions the `401` challenge names (what a client should ask for).
    fn challenge_actions(self) -> &'static str {
        match self.cap() {
            Cap::Pull => "pull",
            Cap::Delete => "delete",
            Cap::Push => "pull,push",
        }
    }

    /// The status of an allowed call; `secret_readable`: the caller may pull the mount source.
    fn ok_status(self, secret_readable: bool) -> u16 {
        match self {
            Ep::Tags
            | Ep::ManifestGet
            | Ep::ManifestHead
            | Ep::BlobGet
            | Ep::BlobHead
            | Ep::Referrers => 200,
            Ep::ManifestPut | Ep::UploadMonolithic | Ep::UploadFinish => 201,
            Ep::Mount if secret_readable => 201,
            Ep::ManifestDelete | Ep::BlobDelete => 202,
            Ep::UploadStart | Ep::MountWithoutFrom | Ep::Mount | Ep::UploadPatch => 202,
            Ep::UploadStatus | Ep::UploadCancel => 204,
        }
    }
}

/// What a matrix repository holds.
struct Seed {
    image: Image,
    referrer: String,
}

struct Fixture {
    creds: BTreeMap<&'static str, Option<Creds>>,
    seeds: BTreeMap<&'static str, Seed>,
    /// Per caller, a blob linked in every matrix repository for it to delete.
    own_blob: BTreeMap<&'static str, String>,
    /// Per caller, a blob stored only in `acme/secret`, for it to try to mount.
    secret_blob: BTreeMap<&'static str, String>,
    /// Per (caller, repository), two upload sessions opened by the superuser: one to
    /// PATCH/GET/PUT, one to DELETE.
    uploads: BTreeMap<(&'static str, &'static str), [String; 2]>,
}

fn callers() -> impl Iterator<Item = &'static str> {
    ROLES.iter().map(|(c, _)| *c)
}

/// Upload session ids by (caller, repository).
type Sessions = Mutex<BTreeMap<(&'static str, &'static str), [String; 2]>>;

/// A matrix repository's content: an image tagged `latest` with a referrer, a `del-<caller>`
/// tag and the caller's own blob for each caller to delete, and two upload sessions each.
fn seed_repo(
    reg: &Registry,
    repo: &'static str,
    own_blob: &BTreeMap<&'static str, Vec<u8>>,
    uploads: &Sessions,
) -> Seed {
    let image = Image::random(&[300]);
    image.push(reg, repo, "latest");
    let extra = json!({
        "artifactType": "application/vnd.berth.test",
        "subject": image.descriptor(),
    });
    let referrer = Image::build(
        OCI_MANIFEST,
        (OCI_EMPTY, EMPTY_JSON.to_vec()),
        vec![("application/vnd.berth.test", common::random_bytes(20))],
        extra,
    );
    referrer.push_blobs(reg, repo);
    common::put_manifest(
        reg,
        repo,
        &referrer.digest,
        OCI_MANIFEST,
        &referrer.manifest,
    )
    .expect(201);
    for c in callers() {
        let tag = format!("del-{}", slug(c));
        common::put_manifest(reg, repo, &tag, OCI_MANIFEST, &image.manifest).expect(201);
        common::push_blob(reg, repo, &own_blob[c]);
        let ids = [0, 1].map(|_| {
            let loc = common::try_start_upload(reg, repo)
                .unwrap_or_else(|e| panic!("upload start: {e:?}"))
                .location();
            loc.rsplit('/').next().unwrap().to_owned()
        });
        uploads.lock().unwrap().insert((c, repo), ids);
    }
    Seed {
        image,
        referrer: referrer.digest,
    }
}

/// Accounts, grants and content, through `berth admin` and the superuser's pushes.
fn setup_matrix(reg: &Registry) -> Fixture {
    admin_batch(
        reg,
        USERS
            .iter()
            .map(|u| create_user_cmd(u, &password(u)))
            .collect(),
    );
    admin(reg, &["create-org", "acme", "--owner", "owen"]);
    let mut phase = vec![
        cmd(&["robot", "create", "acme", "builder"]),
        cmd(&["robot", "create", "acme", "idle"]),
        cmd(&["team", "put", "acme", "readers", "--role", "member"]),
        cmd(&["team", "put", "acme", "writers", "--role", "member"]),
    ];
    phase.extend(ALL_REPOS.iter().map(|r| cmd(&["repo", "create", r])));
    let outs = admin_batch(reg, phase);
    let builder_token = printed_token(&outs[0]);
    let idle_token = printed_token(&outs[1]);

    let mut grants = vec![
        cmd(&["team", "add-member", "acme", "readers", "teamreader"]),
        cmd(&["team", "add-member", "acme", "writers", "teamwriter"]),
    ];
    for repo in MATRIX_REPOS {
        for (who, r) in [
            ("reader", "read"),
            ("writer", "write"),
            ("repoadmin", "admin"),
            ("acme+builder", "write"),
        ] {
            grants.push(cmd(&["permission", repo, "--user", who, r]));
        }
        if repo.starts_with("acme/") {
            grants.push(cmd(&["permission", repo, "--team", "readers", "read"]));
            grants.push(cmd(&["permission", repo, "--team", "writers", "write"]));
        }
    }
    admin_batch(reg, grants);

    let mut creds: BTreeMap<&'static str, Option<Creds>> = BTreeMap::new();
    creds.insert("anonymous", None);
    creds.insert("admin", Some((ADMIN_USER.into(), ADMIN_PASSWORD.into())));
    creds.insert("acme+builder", Some(("acme+builder".into(), builder_token)));
    creds.insert("acme+idle", Some(("acme+idle".into(), idle_token)));
    for u in USERS {
        creds.insert(u, Some((u.into(), password(u))));
    }

    // Content, pushed by the superuser (the harness adds its token), one thread per repository.
    let own_blob: BTreeMap<&'static str, Vec<u8>> =
        callers().map(|c| (c, common::random_bytes(48))).collect();
    // The catalog lists repositories holding a manifest.
    Image::random(&[50]).push(reg, SECRET_REPO, "latest");
    let secret_blob: BTreeMap<&'static str, String> = callers()
        .map(|c| {
            (
                c,
                common::push_blob(reg, SECRET_REPO, &common::random_bytes(40)),
            )
        })
        .collect();
    let uploads = Mutex::new(BTreeMap::new());
    let seeds: BTreeMap<&'static str, Seed> = std::thread::scope(|s| {
        let handles: Vec<_> = MATRIX_REPOS
            .iter()
            .map(|&repo| {
                let (own_blob, uploads) = (&own_blob, &uploads);
                s.spawn(move || (repo, seed_repo(reg, repo, own_blob, uploads)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    admin_batch(
        reg,
        vec![
            cmd(&["repo", "set-visibility", "acme/public", "public"]),
            cmd(&["repo", "set-visibility", "olivia/public", "public"]),
        ],
    );

    Fixture {
        creds,
        seeds,
        own_blob: own_blob
            .into_iter()
            .map(|(c, b)| (c, common::sha256(&b)))
            .collect(),
        secret_blob,
        uploads: uploads.into_inner().unwrap(),
    }
}

/// A request of the matrix, built so the same call can be aimed at another repository name.
struct Call {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

/// Per (caller, repository) data of the calls.
struct CallData<'a> {
    fx: &'a Fixture,
    caller: &'static str,
    /// The fixture repository whose digests and sessions the call uses.
    repo: &'static str,
    patch: &'a [u8],
    monolithic: &'a [u8],
}

impl CallData<'_> {
    /// `ep` on repository `name` (the fixture's repository, or a missing one to compare with).
    fn call(&self, ep: Ep, name: &str) -> Call {
        let seed = &self.fx.seeds[self.repo];
        let [up, up2] = &self.fx.uploads[&(self.caller, self.repo)];
        let config = common::sha256(&seed.image.blobs[0]);
        let secret = &self.fx.secret_blob[self.caller];
        let s = slug(self.caller);
        let c = |method: Method, path: String| Call {
            method,
            path,
            headers: Vec::new(),
            body: None,
        };
        let with_body = |method: Method, path: String, body: &[u8], ct: &str| Call {
            method,
            path,
            headers: vec![("content-type", ct.to_owned())],
            body: Some(body.to_vec()),
        };
        let empty = |method: Method, path: String| Call {
            method,
            path,
            headers: Vec::new(),
            body: Some(Vec::new()),
        };
        match ep {
            Ep::Tags => c(Method::GET, format!("/v2/{name}/tags/list")),
            Ep::ManifestGet | Ep::ManifestHead => {
                let m = if ep == Ep::ManifestGet {
                    Method::GET
                } else {
                    Method::HEAD
                };
                let mut call = c(m, format!("/v2/{name}/manifests/latest"));
                call.headers.push(("accept", OCI_MANIFEST.to_owned()));
                call
            }
            Ep::ManifestPut => with_body(
                Method::PUT,
                format!("/v2/{name}/manifests/put-{s}"),
                &seed.image.manifest,
                OCI_MANIFEST,
            ),
            Ep::ManifestDelete => c(Method::DELETE, format!("/v2/{name}/manifests/del-{s}")),
            Ep::BlobGet => c(Method::GET, format!("/v2/{name}/blobs/{config}")),
            Ep::BlobHead => c(Method::HEAD, format!("/v2/{name}/blobs/{config}")),
            Ep::BlobDelete => c(
                Method::DELETE,
                format!("/v2/{name}/blobs/{}", self.fx.own_blob[self.caller]),
            ),
            Ep::UploadStart => empty(Method::POST, format!("/v2/{name}/blobs/uploads/")),
            Ep::UploadMonolithic => with_body(
                Method::POST,
                format!(
                    "/v2/{name}/blobs/uploads/?digest={}",
                    common::sha256(self.monolithic)
                ),
                self.monolithic,
                "application/octet-stream",
            ),
            Ep::MountWithoutFrom => empty(
                Method::POST,
                format!("/v2/{name}/blobs/uploads/?mount={secret}"),
            ),
            Ep::Mount => empty(
                Method::POST,
                format!("/v2/{name}/blobs/uploads/?mount={secret}&from={SECRET_REPO}"),
            ),
            Ep::UploadPatch => {
                let mut call = with_body(
                    Method::PATCH,
                    format!("/v2/{name}/blobs/uploads/{up}"),
                    self.patch,
                    "application/octet-stream",
                );
                call.headers
                    .push(("content-range", format!("0-{}", self.patch.len() - 1)));
                call
            }
            Ep::UploadStatus => c(Method::GET, format!("/v2/{name}/blobs/uploads/{up}")),
            Ep::UploadFinish => empty(
                Method::PUT,
                format!(
                    "/v2/{name}/blobs/uploads/{up}?digest={}",
                    common::sha256(self.patch)
                ),
            ),
            Ep::UploadCancel => c(Method::DELETE, format!("/v2/{name}/blobs/uploads/{up2}")),
            Ep::Referrers => c(
                Method::GET,
                format!("/v2/{name}/referrers/{}", seed.image.digest),
            ),
        }
    }
}

fn send_call(reg: &Registry, call: &Call, token: &str) -> Resp {
    let mut rb = reg
        .client
        .request(call.method.clone(), reg.url(&call.path))
        .header("authorization", bearer(token));
    for (k, v) in &call.headers {
        rb = rb.header(*k, v);
    }
    if let Some(b) = &call.body {
        rb = rb.body(b.clone());
    }
    exec(reg, rb)
}

/// Checks a refusal: 401, the Bearer challenge for `scope` with `insufficient_scope`, the
/// spec's error body (not for HEAD), and nothing about the repository's content.
fn check_refused(reg: &Registry, r: &Resp, scope: &str) -> Result<(), String> {
    let want = format!(
        "Bearer realm=\"http://{}/v2/auth\",service=\"berth\",scope=\"{scope}\",error=\"insufficient_scope\"",
        reg.addr()
    );
    if r.status != 401 {
        return Err(format!("expected 401 (refused):\n{r}"));
    }
    if r.header("www-authenticate") != Some(want.as_str()) {
        return Err(format!("expected the challenge {want}:\n{r}"));
    }
    for h in [
        "docker-content-digest",
        "location",
        "docker-upload-uuid",
        "range",
        "etag",
        "link",
    ] {
        if r.headers.contains_key(h) {
            return Err(format!("refusal carries {h}:\n{r}"));
        }
    }
    let body = String::from_utf8_lossy(&r.body);
    if body.contains("sha256:") || body.contains("latest") || body.contains("del-") {
        return Err(format!("refusal names content:\n{r}"));
    }
    if r.what.starts_with("HEAD ") {
        return if r.body.is_empty() {
            Ok(())
        } else {
            Err(format!("HEAD with a body:\n{r}"))
        };
    }
    let v: Value =
        serde_json::from_slice(&r.body).map_err(|e| format!("body not JSON ({e}):\n{r}"))?;
    if v["errors"][0]["code"] != "UNAUTHORIZED" {
        return Err(format!("expected an UNAUTHORIZED error body:\n{r}"));
    }
    if !r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(format!("error body is not application/json:\n{r}"));
    }
    Ok(())
}

/// A response with `name` replaced and `Date` dropped, for comparing the answers
/// about two repositories.
fn normalized(r: &Resp, name: &str) -> String {
    let mut headers: Vec<String> = r
        .headers
        .iter()
        // The length follows the body, compared as text with the name swapped.
        .filter(|(k, _)| k.as_str() != "date" && k.as_str() != "content-length")
        .map(|(k, v)| {
            format!(
                "{k}: {}",
                String::from_utf8_lossy(v.as_bytes()).replace(name, "<repo>")
            )
        })
        .collect();
    headers.sort();
    format!(
        "{}\n{}\n{}",
        r.status,
        headers.join("\n"),
        String::from_utf8_lossy(&r.body).replace(name, "<repo>")
    )
}

/// Checks an allowed call's status and content.
fn check_allowed(
    reg: &Registry,
    d: &CallData<'_>,
    ep: Ep,
    secret_readable: bool,
    r: &Resp,
) -> Result<(), String> {
    let want = ep.ok_status(secret_readable);
    if r.status != want {
        return Err(format!("expected {want} (allowed):\n{r}"));
    }
    let seed = &d.fx.seeds[d.repo];
    let ok = match ep {
        Ep::Tags => r.json()["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "latest")),
        Ep::ManifestGet => r.body == seed.image.manifest,
        Ep::ManifestHead => r.header("docker-content-digest") == Some(seed.image.digest.as_str()),
        Ep::BlobGet => r.body == seed.image.blobs[0],
        Ep::Referrers => String::from_utf8_lossy(&r.body).contains(&seed.referrer),
        Ep::Mount | Ep::MountWithoutFrom => {
            // Linked only when mounted; a fallback upload links nothing.
            let head = reg.head(&format!(
                "/v2/{}/blobs/{}",
                d.repo, d.fx.secret_blob[d.caller]
            ));
            head.status == if r.status == 201 { 200 } else { 404 }
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("wrong content or side effect:\n{r}"))
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    compared: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, what: &str, result: Result<(), String>) {
        self.cases += 1;
        if let Err(e) = result {
            self.failures.push(format!("{what}: {e}"));
        }
    }

    fn absorb(&mut self, other: Tally) {
        self.cases += other.cases;
        self.compared += other.compared;
        self.failures.extend(other.failures);
    }
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got:?}, expected {want:?}"))
    }
}

/// The matrix scopes a caller asks for with `repo`.
fn matrix_scopes(repo: &str) -> Vec<String> {
    vec![
        format!("repository:{repo}:pull,push,delete"),
        format!("repository:{SECRET_REPO}:pull"),
        "registry:catalog:*".into(),
    ]
}

fn catalog_allowed(caller: &str, anonymous_pull: bool) -> bool {
    caller != "anonymous" || anonymous_pull
}

/// The catalog one name at a time, following `Link` headers; every page must hold one name.
fn paged_catalog(reg: &Registry, token: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut next = Some("/v2/_catalog?n=1".to_string());
    while let Some(path) = next.take() {
        let r = exec(
            reg,
            reg.client
                .get(reg.url(&path))
                .header("authorization", bearer(token)),
        );
        if r.status != 200 {
            return Err(format!("expected 200:\n{r}"));
        }
        let page: Vec<String> = r.json()["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if page.len() != 1 {
            return Err(format!("a page of n=1 holds {page:?}:\n{r}"));
        }
        names.extend(page);
        next = r.header("link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_owned()
        });
        if names.len() > ALL_REPOS.len() {
            return Err(format!("more pages than repositories: {names:?}"));
        }
    }
    Ok(names)
}

/// Upload sessions belong to their repository: a caller who may push to one cannot touch a
/// session of another (here the superuser's, in `acme/secret`) through it.
fn foreign_upload_sessions(reg: &Registry, fx: &Fixture) -> Tally {
    let mut t = Tally::default();
    let loc = common::try_start_upload(reg, SECRET_REPO)
        .unwrap_or_else(|e| panic!("upload start: {e:?}"))
        .location();
    let id = loc.rsplit('/').next().unwrap().to_owned();
    let (token, _) = fetch_token(
        reg,
        fx.creds["writer"].as_ref(),
        &["repository:olivia/public:pull,push,delete".into()],
    );
    let data = common::random_bytes(10);
    let base = format!("/v2/olivia/public/blobs/uploads/{id}");
    let calls = [
        (Method::GET, base.clone(), None),
        (Method::PATCH, base.clone(), Some(data.clone())),
        (
            Method::PUT,
            format!("{base}?digest={}", common::sha256(&data)),
            Some(data.clone()),
        ),
        (Method::DELETE, base.clone(), None),
    ];
    for (method, path, body) in calls {
        let mut rb = reg
            .client
            .request(method.clone(), reg.url(&path))
            .header("authorization", bearer(&token));
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/octet-stream")
                .body(b);
        }
        let r = exec(reg, rb);
        let ok = r.status == 404
            && serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|v| v["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN");
        t.check(
            &format!("writer: {method} {path} (a session of {SECRET_REPO})"),
            if ok {
                Ok(())
            } else {
                Err(format!("expected 404 BLOB_UPLOAD_UNKNOWN:\n{r}"))
            },
        );
    }
    let r = reg.get(&loc);
    t.check(
        "the acme/secret session survives",
        expect_eq(r.status, 204).map_err(|e| format!("{e}\n{r}")),
    );
    t
}

/// One caller's row of the matrix.
fn run_caller(reg: &Registry, fx: &Fixture, anon: bool, caller: &'static str) -> Tally {
    let mut t = Tally::default();
    let creds = fx.creds[caller].as_ref();
    let secret_role = role(caller, SECRET_REPO, anon);

    // Tokens: the access claim is the request cut down to the caller's rights.
    let mut tokens = BTreeMap::new();
    for repo in MATRIX_REPOS {
        let (token, c) = fetch_token(reg, creds, &matrix_scopes(repo));
        let mut want = BTreeSet::new();
        let r = role(caller, repo, anon);
        if r != '-' {
            want.insert(grant("repository", repo, actions_for(r)));
        }
        if secret_role != '-' {
            want.insert(grant("repository", SECRET_REPO, &["pull"]));
        }
        if catalog_allowed(caller, anon) {
            want.insert(grant("registry", "catalog", &["*"]));
        }
        t.check(
            &format!("{caller}: access claim for {repo}"),
            expect_eq(access_of(&c), want),
        );
        t.check(
            &format!("{caller}: sub of the token for {repo}"),
            expect_eq(
                c["sub"].as_str().unwrap_or("?"),
                creds.map(|c| c.0.as_str()).unwrap_or(""),
            ),
        );
        // `*` is granted to admins only.
        let (_, star) = fetch_token(reg, creds, &[format!("repository:{repo}:*")]);
        let want: BTreeSet<Grant> = if r == 'a' {
            [grant("repository", repo, &["*"])].into()
        } else {
            BTreeSet::new()
        };
        t.check(
            &format!("{caller}: access claim for {repo}:*"),
            expect_eq(access_of(&star), want),
        );
        tokens.insert(repo, token);
    }
    // A missing repository: push only for those who may create it, nothing to pull.
    let mut missing_tokens = BTreeMap::new();
    for (ns, creators) in CREATORS {
        let missing = format!("{ns}/missing");
        let (token, c) = fetch_token(
            reg,
            creds,
            &[format!("repository:{missing}:pull,push,delete")],
        );
        let want: BTreeSet<Grant> = if creators.contains(&caller) {
            [grant("repository", &missing, &["pull", "push", "delete"])].into()
        } else {
            BTreeSet::new()
        };
        t.check(
            &format!("{caller}: access claim for {missing}"),
            expect_eq(access_of(&c), want),
        );
        missing_tokens.insert(ns, token);
    }

    // Base: any valid token.
    let base = exec(
        reg,
        reg.client
            .get(reg.url("/v2/"))
            .header("authorization", bearer(&tokens["acme/public"])),
    );
    t.check(
        &format!("{caller}: GET /v2/"),
        expect_eq(base.status, 200).map_err(|e| format!("{e}\n{base}")),
    );

    // Catalog: exactly the repositories the caller may pull.
    let cat = exec(
        reg,
        reg.client
            .get(reg.url("/v2/_catalog"))
            .header("authorization", bearer(&tokens["acme/public"])),
    );
    let result = if catalog_allowed(caller, anon) {
        let want: BTreeSet<String> = ALL_REPOS
            .iter()
            .filter(|r| role(caller, r, anon) != '-')
            .map(|r| r.to_string())
            .collect();
        if cat.status != 200 {
            Err(format!("expected 200:\n{cat}"))
        } else {
            let got: BTreeSet<String> = cat.json()["repositories"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            expect_eq(got, want)
        }
    } else {
        check_refused(reg, &cat, "registry:catalog:*")
    };
    t.check(&format!("{caller}: GET /v2/_catalog"), result);
    if catalog_allowed(caller, anon) {
        t.check(
            &format!("{caller}: GET /v2/_catalog page by page"),
            paged_catalog(reg, &tokens["acme/public"]).and_then(|got| {
                let want: Vec<String> = ALL_REPOS
                    .iter()
                    .filter(|r| role(caller, r, anon) != '-')
                    .map(|r| r.to_string())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                expect_eq(got, want)
            }),
        );
    }

    // Every endpoint of every repository.
    for repo in MATRIX_REPOS {
        let r = role(caller, repo, anon);
        let token = &tokens[repo];
        let patch = common::random_bytes(100);
        let monolithic = common::random_bytes(64);
        let d = CallData {
            fx,
            caller,
            repo,
            patch: &patch,
            monolithic: &monolithic,
        };
        for ep in REPO_ENDPOINTS {
            let call = d.call(ep, repo);
            let resp = send_call(reg, &call, token);
            let what = format!("{caller} ({r}) {ep:?} {} {}", call.method, call.path);
            if may(r, ep.cap()) {
                t.check(&what, check_allowed(reg, &d, ep, secret_role != '-', &resp));
                continue;
            }
            let scope = format!("repository:{repo}:{}", ep.challenge_actions());
            t.check(&what, check_refused(reg, &resp, &scope));
            if r == '-' && repo.ends_with("/private") {
                // Indistinguishable from a repository that does not exist.
                let missing = missing_repo(repo);
                let ns = repo.split('/').next().unwrap();
                let other = send_call(reg, &d.call(ep, &missing), &missing_tokens[ns]);
                t.compared += 1;
                let (a, b) = (normalized(&resp, repo), normalized(&other, &missing));
                t.check(
                    &format!("{what} vs {missing}"),
                    if a == b {
                        Ok(())
                    } else {
                        Err(format!("private:\n{resp}\nmissing:\n{other}"))
                    },
                );
            }
        }
    }
    // A token is good for the names it lists only, whoever holds it.
    for repo in MATRIX_REPOS {
        let d = CallData {
            fx,
            caller,
            repo,
            patch: &[0],
            monolithic: &[0],
        };
        for other in MATRIX_REPOS.iter().filter(|o| **o != repo) {
            for ep in [Ep::Tags, Ep::ManifestPut] {
                let call = d.call(ep, other);
                let resp = send_call(reg, &call, &tokens[repo]);
                t.check(
                    &format!("{caller}: {ep:?} on {other} with the token for {repo}"),
                    check_refused(
                        reg,
                        &resp,
                        &format!("repository:{other}:{}", ep.challenge_actions()),
                    ),
                );
            }
        }
    }
    t
}

/// A repository turned private loses its signed-in strangers; turned public again, they are
/// back. Changed with `berth admin repo set-visibility` while the server runs.
fn visibility_flip(reg: &Registry, fx: &Fixture) -> Tally {
    let mut t = Tally::default();
    let creds = fx.creds["stranger"].as_ref();
    let scopes = matrix_scopes("acme/public");
    let catalog = |token: &str| -> Vec<String> {
        let r = exec(
            reg,
            reg.client
                .get(reg.url("/v2/_catalog"))
                .header("authorization", bearer(token)),
        );
        r.json()["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };

    admin(reg, &["repo", "set-visibility", "acme/public", "private"]);
    let (token, c) = fetch_token(reg, creds, &scopes);
    t.check(
        "stranger after acme/public turned private: access claim",
        expect_eq(access_of(&c), [grant("registry", "catalog", &["*"])].into()),
    );
    let r = exec(
        reg,
        reg.client
            .get(reg.url("/v2/acme/public/tags/list"))
            .header("authorization", bearer(&token)),
    );
    t.check(
        "stranger after acme/public turned private: tags",
        check_refused(reg, &r, "repository:acme/public:pull"),
    );
    let (mtoken, _) = fetch_token(reg, creds, &["repository:acme/missing:pull".into()]);
    let m = exec(
        reg,
        reg.client
            .get(reg.url("/v2/acme/missing/tags/list"))
            .header("authorization", bearer(&mtoken)),
    );
    t.compared += 1;
    t.check(
        "stranger after acme/public turned private: same answer as a missing repository",
        expect_eq(
            normalized(&r, "acme/public"),
            normalized(&m, "acme/missing"),
        ),
    );
    t.check(
        "stranger after acme/public turned private: catalog",
        expect_eq(catalog(&token), vec!["olivia/public".to_string()]),
    );

    admin(reg, &["repo", "set-visibility", "acme/public", "public"]);
    let (token, c) = fetch_token(reg, creds, &scopes);
    t.check(
        "stranger after acme/public turned public again: access claim",
        expect_eq(
            access_of(&c),
            [
                grant("repository", "acme/public", &["pull"]),
                grant("registry", "catalog", &["*"]),
            ]
            .into(),
        ),
    );
    let r = exec(
        reg,
        reg.client
            .get(reg.url("/v2/acme/public/tags/list"))
            .header("authorization", bearer(&token)),
    );
    t.check(
        "stranger after acme/public turned public again: tags",
        expect_eq(r.status, 200).map_err(|e| format!("{e}\n{r}")),
    );
    t.check(
        "stranger after acme/public turned public again: catalog",
        expect_eq(
            catalog(&token),
            vec!["acme/public".to_string(), "olivia/public".to_string()],
        ),
    );
    t
}

fn authorization_matrix(anonymous_pull: bool) {
    let env: &[(&str, &str)] = if anonymous_pull {
        &[("BERTH_AUTH__ANONYMOUS_PULL", "true")]
    } else {
        &[]
    };
    let Some(reg) = own_server(env) else { return };
    let started = Instant::now();
    let fx = setup_matrix(&reg);
    let set_up = started.elapsed();
    let mut total = Tally::default();
    let rows: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = callers()
            .map(|c| {
                let (reg, fx) = (&reg, &fx);
                s.spawn(move || run_caller(reg, fx, anonymous_pull, c))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for row in rows {
        total.absorb(row);
    }
    total.absorb(visibility_flip(&reg, &fx));
    total.absorb(foreign_upload_sessions(&reg, &fx));
    eprintln!(
        "authorization matrix (anonymous_pull={anonymous_pull}): {} callers x {} repositories x {} endpoints + base + catalog; {} checks, {} private/missing comparisons, {} failures (set-up {:.1?}, total {:.1?})",
        ROLES.len(),
        MATRIX_REPOS.len(),
        REPO_ENDPOINTS.len(),
        total.cases,
        total.compared,
        total.failures.len(),
        set_up,
        started.elapsed(),
    );
    assert!(
        total.failures.is_empty(),
        "{} of {} matrix checks failed (first 30):\n\n{}",
        total.failures.len(),
        total.cases,
        total
            .failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn authorization_matrix_without_anonymous_pull() {
    authorization_matrix(false);
}

#[test]
fn authorization_matrix_with_anonymous_pull() {
    authorization_matrix(true);
}

/// The catalog's `Link` header must not reveal that repositories the caller cannot see sort
/// after the last one it can: with `n=1`, a stranger who sees only `aaa/pub` is sent to a
/// next page when a private `zzz/hidden` exists (and that page is empty), and to none when it
/// does not.
#[test]

fn catalog_pages_reveal_no_hidden_repository() {
    let Some(reg) = own_server(&[]) else { return };
    create_user(&reg, "stranger", "stranger-password-1");
    Image::random(&[10]).push(&reg, "aaa/pub", "v1");
    Image::random(&[10]).push(&reg, "zzz/hidden", "v1");
    admin(&reg, &["repo", "set-visibility", "aaa/pub", "public"]);
    let (token, _) = fetch_token(
        &reg,
        Some(&("stranger".into(), "stranger-password-1".into())),
        &["registry:catalog:*".into()],
    );
    let r = exec(
        &reg,
        reg.client
            .get(reg.url("/v2/_catalog?n=1"))
            .header("authorization", bearer(&token)),
    )
    .expect(200);
    assert_eq!(r.json()["repositories"], json!(["aaa/pub"]), "{r}");
    assert!(
        r.header("link").is_none(),
        "a next page is announced although nothing more is visible:\n{r}"
    );
}

// =============================================================================================
// 2. The token service
// =============================================================================================

fn post_form(reg: &Registry, form: &[(&str, &str)]) -> Resp {
    exec(reg, reg.client.post(reg.url("/v2/auth")).form(form))
}

#[test]
fn token_service() {
    let Some(reg) = own_server(&[]) else { return };
    create_user(&reg, "alice", "alice-password-1");

    // No token: the challenge points at the token service, with no scope for the base.
    let r = exec(&reg, reg.client.get(reg.url("/v2/")));
    let realm = format!(
        "Bearer realm=\"http://{}/v2/auth\",service=\"berth\"",
        reg.addr()
    );
    let r = r.expect_error(&[401], &["UNAUTHORIZED"]);
    assert_eq!(r.header("www-authenticate"), Some(realm.as_str()), "{r}");
    // A repository endpoint's challenge names the scope to ask for.
    let r = exec(&reg, reg.client.get(reg.url("/v2/alice/app/tags/list")));
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("{}{}", realm, ",scope=\"repository:alice/app:pull\"").as_str()),
        "{r}"
    );

    // docker login: Basic credentials and no scope.
    let r = exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth?service=berth"))
            .basic_auth("alice", Some("alice-password-1")),
    )
    .expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
    let v = r.json();
    let token = v["token"].as_str().expect("token").to_owned();
    assert_eq!(v["access_token"].as_str(), Some(token.as_str()), "{r}");
    assert_eq!(v["expires_in"], 300, "{r}");
    assert!(v["issued_at"].is_string(), "{r}");
    assert!(v.get("refresh_token").is_none(), "{r}");
    let c = claims(&token);
    assert_eq!(
        (&c["iss"], &c["sub"], &c["aud"], &c["access"]),
        (
            &json!("berth"),
            &json!("alice"),
            &json!("berth"),
            &json!([])
        ),
        "{c}"
    );
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA", "{header}");
    assert!(header["kid"].is_string(), "{header}");
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/"))
            .header("authorization", bearer(&token)),
    )
    .expect(200);
    // A wrong password, and Basic on the registry itself, are refused.
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth"))
            .basic_auth("alice", Some("wrong-password")),
    )
    .expect_error(&[401], &["UNAUTHORIZED"]);
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/"))
            .basic_auth("alice", Some("alice-password-1")),
    )
    .expect_error(&[401], &["UNAUTHORIZED"]);
    // Another service's name is refused.
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth?service=elsewhere"))
            .basic_auth("alice", Some("alice-password-1")),
    )
    .expect_error(&[400], &["UNSUPPORTED"]);
    // offline_token on GET (docker's refresh flow) also gives a refresh token.
    let r = exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth?service=berth&offline_token=true&client_id=docker"))
            .basic_auth("alice", Some("alice-password-1")),
    )
    .expect(200);
    assert!(r.json()["refresh_token"].is_string(), "{r}");

    // OAuth2: password grant with a refresh token, then the refresh grant.
    let r = post_form(
        &reg,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("service", "berth"),
            ("scope", "repository:alice/app:pull,push"),
            ("client_id", "x"),
            ("access_type", "offline"),
        ],
    )
    .expect(200);
    let v = r.json();
    let access = v["access_token"].as_str().expect("access_token");
    assert_eq!(v["scope"], "repository:alice/app:pull,push", "{r}");
    assert_eq!(
        access_of(&claims(access)),
        [grant("repository", "alice/app", &["pull", "push"])].into()
    );
    let refresh = v["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    // The token request created nothing: the push creates the repository.
    assert!(
        !admin(&reg, &["repo", "list"]).contains("alice/app"),
        "a token request created a repository"
    );
    let r = post_form(
        &reg,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("service", "berth"),
            ("scope", "repository:alice/app:pull,push"),
            ("client_id", "x"),
        ],
    )
    .expect(200);
    let v = r.json();
    let c = claims(v["access_token"].as_str().expect("access_token"));
    assert_eq!(c["sub"], "alice", "{c}");
    assert_eq!(
        access_of(&c),
        [grant("repository", "alice/app", &["pull", "push"])].into()
    );
    assert!(v.get("refresh_token").is_none(), "{r}");
    // Without access_type=offline there is no refresh token.
    let r = post_form(
        &reg,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("service", "berth"),
            ("client_id", "x"),
        ],
    )
    .expect(200);
    assert!(r.json().get("refresh_token").is_none(), "{r}");
    // Malformed OAuth2 requests are 400s, bad secrets 401s.
    for (form, status) in [
        (
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password-1"),
            ],
            400,
        ),
        (vec![("grant_type", "magic"), ("client_id", "x")], 400),
        (vec![("client_id", "x")], 400),
        (
            vec![("grant_type", "refresh_token"), ("client_id", "x")],
            400,
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "berth_rft_nope"),
                ("client_id", "x"),
            ],
            401,
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "x"),
                ("scope", "repository:../x:pull"),
            ],
            400,
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope-nope"),
                ("client_id", "x"),
            ],
            401,
        ),
    ] {
        let r = post_form(&reg, &form);
        assert_eq!(r.status, status, "{form:?}:\n{r}");
        r.expect_error(&[status], &["UNSUPPORTED", "UNAUTHORIZED"]);
    }
    exec(
        &reg,
        reg.client
            .post(reg.url("/v2/auth"))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .expect_error(&[400], &["UNSUPPORTED"]);

    // A robot's refresh token dies with its token.
    let robot = printed_token(&admin(&reg, &["robot", "create", "alice", "ci"]));
    let robot_login = |secret: &str| {
        post_form(
            &reg,
            &[
                ("grant_type", "password"),
                ("username", "alice+ci"),
                ("password", secret),
                ("service", "berth"),
                ("client_id", "ci"),
                ("access_type", "offline"),
            ],
        )
    };
    let r = robot_login(&robot).expect(200);
    let robot_refresh = r.json()["refresh_token"]
        .as_str()
        .expect("robot refresh token")
        .to_owned();
    let refresh_with = |rt: &str| {
        post_form(
            &reg,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("service", "berth"),
                ("client_id", "ci"),
            ],
        )
    };
    let r = refresh_with(&robot_refresh).expect(200);
    assert_eq!(
        claims(r.json()["access_token"].as_str().unwrap())["sub"],
        "alice+ci"
    );
    let new_robot = printed_token(&admin(&reg, &["robot", "regenerate", "alice", "ci"]));
    assert_ne!(new_robot, robot);
    refresh_with(&robot_refresh).expect_error(&[401], &["UNAUTHORIZED"]);
    robot_login(&robot).expect_error(&[401], &["UNAUTHORIZED"]);
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth"))
            .basic_auth("alice+ci", Some(&robot)),
    )
    .expect_error(&[401], &["UNAUTHORIZED"]);
    robot_login(&new_robot).expect(200);
    // The user's refresh token is untouched by the robot's regeneration.
    refresh_with(&refresh).expect(200);
}

// =============================================================================================
// 3. Bad input: malformed headers, forged tokens, injected scopes
// =============================================================================================

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// `header.payload` of a JWT.
fn signing_input(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    )
}

fn ed25519_jwt(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig.to_bytes()))
}

fn kid_of(key: &SigningKey) -> String {
    b64url(&Sha256::digest(key.verifying_key().as_bytes())[..15])
}

/// The server's current signing key, read from `signing_keys` in `berth.db`.
fn real_signing_key(reg: &Registry) -> (String, SigningKey) {
    let db = reg.server.as_ref().unwrap().data_dir().join("berth.db");
    let conn = rusqlite::Connection::open(&db).expect("open berth.db");
    let (kid, seed): (String, String) = conn
        .query_row(
            "SELECT kid, seed FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a signing key");
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(seed)
        .expect("seed base64url")
        .try_into()
        .expect("32-byte seed");
    let key = SigningKey::from_bytes(&seed);
    assert_eq!(kid_of(&key), kid, "kid is derived from the public key");
    (kid, key)
}

#[test]
fn malformed_authorization_headers() {
    let Some(reg) = own_server(&[("BERTH_AUTH__LOGIN_MAX_FAILURES", "0")]) else {
        return;
    };
    create_user(&reg, "alice", "alice-password-1");
    Image::random(&[10]).push(&reg, "alice/app", "v1");

    let long_basic = format!("Basic {}", "QUFB".repeat(2600));
    let long_bearer = format!("Bearer {}", "a".repeat(10 * 1024));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage scheme", b"Garbage abcdef".to_vec()),
        ("scheme alone", b"Basic".to_vec()),
        ("empty credentials", b"Basic   ".to_vec()),
        ("bad base64", b"Basic !!!not*base64!!!".to_vec()),
        (
            "base64 with trailing bits",
            b"Basic YWxpY2U6cGFzc3dvcmQx=".to_vec(),
        ),
        (
            "missing colon",
            format!("Basic {}", STANDARD.encode("alice-password-1")).into_bytes(),
        ),
        (
            "empty user name",
            format!("Basic {}", STANDARD.encode(":alice-password-1")).into_bytes(),
        ),
        (
            "control character in user name",
            format!("Basic {}", STANDARD.encode("al\u{1}ice:alice-password-1")).into_bytes(),
        ),
        ("10 KB Basic", long_basic.into_bytes()),
        ("10 KB Bearer", long_bearer.into_bytes()),
        ("non-UTF8 header", b"Basic \xff\xfe\xfd\xfc".to_vec()),
        (
            "non-UTF8 credentials",
            format!("Basic {}", STANDARD.encode(b"al\xffice:pw\xfe")).into_bytes(),
        ),
        ("non-UTF8 bearer", b"Bearer \xff\xfe.\xfd".to_vec()),
        ("bearer with spaces", b"Bearer a b c".to_vec()),
        ("bearer garbage", b"Bearer abc".to_vec()),
        ("two schemes", b"Basic Bearer x".to_vec()),
    ];
    let targets: [(Method, &str); 5] = [
        (Method::GET, "/v2/auth"),
        (
            Method::GET,
            "/v2/auth?service=berth&scope=repository:alice/app:pull",
        ),
        (Method::GET, "/v2/"),
        (Method::GET, "/v2/alice/app/tags/list"),
        (Method::POST, "/v2/alice/app/blobs/uploads/"),
    ];
    let mut failures = Vec::new();
    for (name, value) in &cases {
        for (method, path) in &targets {
            let hv = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
            let r = exec(
                &reg,
                reg.client
                    .request(method.clone(), reg.url(path))
                    .header("authorization", hv),
            );
            let ok = r.status == 401
                && r.header("content-type")
                    .is_some_and(|c| c.starts_with("application/json"))
                && serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|v| v["errors"][0]["code"] == "UNAUTHORIZED");
            if !ok {
                failures.push(format!(
                    "{name} on {method} {path}: expected 401 UNAUTHORIZED:\n{r}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // A form body that is not UTF-8 or not a form.
    for body in [
        &b"\xff\xfe=\xfd"[..],
        b"grant_type=password&&&==&%zz",
        &[0u8; 100],
    ] {
        let r = exec(
            &reg,
            reg.client
                .post(reg.url("/v2/auth"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_vec()),
        );
        assert_eq!(r.status, 400, "{r}");
    }
    // 64 KiB and more of form is refused before it is parsed.
    let r = exec(
        &reg,
        reg.client
            .post(reg.url("/v2/auth"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id={}", "x".repeat(70 * 1024))),
    );
    assert!(r.status == 413 || r.status == 400, "{r}");
    assert!(!reg.server.as_ref().unwrap().log().contains("panicked"));
}

#[test]
fn forged_tokens_are_refused() {
    let Some(reg) = own_server(&[("BERTH_AUTH__LOGIN_MAX_FAILURES", "0")]) else {
        return;
    };
    create_user(&reg, "alice", "alice-password-1");
    create_user(&reg, "mallory", "mallory-password-1");
    Image::random(&[10]).push(&reg, "alice/app", "v1");
    let (kid, real) = real_signing_key(&reg);
    let t = now();
    let claims_with = |f: &dyn Fn(&mut Value)| {
        let mut c = json!({
            "iss": "berth", "sub": "alice", "aud": "berth",
            "exp": t + 300, "nbf": t, "iat": t, "jti": "forged",
            "access": [{ "type": "repository", "name": "alice/app", "actions": ["pull", "push"] }],
        });
        f(&mut c);
        c
    };
    let good_claims = claims_with(&|_| {});
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid });
    let tags = "/v2/alice/app/tags/list";
    let get = |path: &str, token: &str| {
        exec(
            &reg,
            reg.client
                .get(reg.url(path))
                .header("authorization", bearer(token)),
        )
    };

    // Controls: the real key with valid claims is accepted, so the refusals below are about
    // what each forgery changes, not about how these tokens are made.
    let control = ed25519_jwt(&real, &header, &good_claims);
    get(tags, &control).expect(200);
    get("/v2/", &control).expect(200);

    let other = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public = real.verifying_key().to_bytes();
    let hs256 = |key: &[u8]| {
        let h = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
        let input = signing_input(&h, &good_claims);
        let sig = hmac_sha256(key, input.as_bytes());
        format!("{input}.{}", b64url(&sig))
    };
    // A real token of mallory (no rights on alice/app), its payload rewritten to grant pull.
    let (mallory_token, _) = fetch_token(
        &reg,
        Some(&("mallory".into(), "mallory-password-1".into())),
        &["repository:alice/app:pull".into()],
    );
    let tampered = {
        let parts: Vec<&str> = mallory_token.split('.').collect();
        let mut c = claims(&mallory_token);
        c["access"] = json!([{ "type": "repository", "name": "alice/app", "actions": ["pull"] }]);
        format!(
            "{}.{}.{}",
            parts[0],
            b64url(c.to_string().as_bytes()),
            parts[2]
        )
    };
    let resigned_header = {
        // The real signature over a different header (kid of another key).
        let parts: Vec<&str> = control.split('.').collect();
        let h = json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid_of(&other) });
        format!(
            "{}.{}.{}",
            b64url(h.to_string().as_bytes()),
            parts[1],
            parts[2]
        )
    };
    let none_input = signing_input(
        &json!({ "alg": "none", "typ": "JWT", "kid": kid }),
        &good_claims,
    );
    let forged: Vec<(&str, String)> = vec![
        (
            "another key under the real kid",
            ed25519_jwt(&other, &header, &good_claims),
        ),
        ("alg none, empty signature", format!("{none_input}.")),
        ("alg none, two parts", none_input.clone()),
        (
            "alg None spelled differently",
            format!(
                "{}.",
                signing_input(&json!({ "alg": "NONE", "kid": kid }), &good_claims)
            ),
        ),
        ("HS256 keyed with the public key", hs256(&public)),
        (
            "HS256 keyed with the base64url public key",
            hs256(b64url(&public).as_bytes()),
        ),
        ("tampered payload", tampered),
        ("real signature under another header", resigned_header),
        (
            "unknown kid",
            ed25519_jwt(
                &other,
                &json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid_of(&other) }),
                &good_claims,
            ),
        ),
        (
            "kid that is a path",
            ed25519_jwt(
                &other,
                &json!({ "alg": "EdDSA", "typ": "JWT", "kid": "../../berth.db" }),
                &good_claims,
            ),
        ),
        (
            "no kid",
            ed25519_jwt(
                &real,
                &json!({ "alg": "EdDSA", "typ": "JWT" }),
                &good_claims,
            ),
        ),
        (
            "critical header",
            ed25519_jwt(
                &real,
                &json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid, "crit": ["exp"] }),
                &good_claims,
            ),
        ),
        (
            "expired, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| {
                    c["exp"] = json!(t - 3600);
                    c["iat"] = json!(t - 3900);
                    c["nbf"] = json!(t - 3900);
                }),
            ),
        ),
        (
            "not yet valid, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| c["nbf"] = json!(t + 3600)),
            ),
        ),
        (
            "issued in the future, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| c["iat"] = json!(t + 3600)),
            ),
        ),
        (
            "wrong audience, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| c["aud"] = json!("other-registry")),
            ),
        ),
        (
            "audience as a list, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| c["aud"] = json!(["berth"])),
            ),
        ),
        (
            "wrong issuer, signed with the real key",
            ed25519_jwt(&real, &header, &claims_with(&|c| c["iss"] = json!("evil"))),
        ),
        (
            "no exp, signed with the real key",
            ed25519_jwt(
                &real,
                &header,
                &claims_with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        ("three empty parts", "..".into()),
        ("not base64url", "a~.b+.c/".into()),
        ("one part", "abc".into()),
        ("four parts", format!("{control}.x")),
        (
            "truncated signature",
            control[..control.len() - 2].to_owned(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token) in &forged {
        for path in [tags, "/v2/"] {
            let r = get(path, token);
            let challenge = r.header("www-authenticate").unwrap_or("");
            let ok = r.status == 401
                && challenge.starts_with("Bearer realm=")
                && challenge.ends_with("error=\"invalid_token\"")
                && serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|v| v["errors"][0]["code"] == "UNAUTHORIZED");
            if !ok {
                failures.push(format!(
                    "{name} on {path}: expected 401 invalid_token:\n{r}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The control still works after all that (no cache poisoning by the forgeries).
    get(tags, &control).expect(200);
}

/// Paths that name a private repository in another spelling (dot segments, encoded slashes,
/// case, empty components) reach none of its content with the token of a caller who may not
/// read it; they are sent raw, so no client normalises them first.
#[test]
fn path_tricks_do_not_get_past_the_gate() {
    let Some(reg) = own_server(&[]) else { return };
    create_user(&reg, "mallory", "mallory-password-1");
    let img = Image::random(&[10]);
    img.push(&reg, "alice/app", "v1");
    Image::random(&[10]).push(&reg, "mallory/app", "v1");
    let (token, _) = fetch_token(
        &reg,
        Some(&("mallory".into(), "mallory-password-1".into())),
        &["repository:mallory/app:pull,push,delete".into()],
    );
    let config = common::sha256(&img.blobs[0]);
    let paths = [
        "/v2/alice%2Fapp/tags/list".to_string(),
        "/v2/alice%2fapp/manifests/v1".into(),
        "/v2/alice/./app/tags/list".into(),
        "/v2/alice/../alice/app/tags/list".into(),
        "/v2/mallory/app/../../alice/app/tags/list".into(),
        "/v2/mallory/../alice/app/manifests/v1".into(),
        "/v2//alice/app/tags/list".into(),
        "/v2/alice//app/tags/list".into(),
        "/v2/alice/app//tags/list".into(),
        "/v2/Alice/app/tags/list".into(),
        "/v2/alice/app/tags/list/".into(),
        "/v2/alice/app/manifests/../manifests/v1".into(),
        "/v2/alice/app/blobs/uploads/../../manifests/v1".into(),
        "/v2/alice/app%00/tags/list".into(),
        "/v2/mallory/app/../../alice/app/manifests/v1".into(),
        format!("/v2/mallory/app/../../alice/app/blobs/{config}"),
        format!("/v2/alice%2Fapp/blobs/{config}"),
        "/v2/alice/app/manifests/v1%2F..%2F..%2Fmallory%2Fapp".into(),
        "/v2/./alice/app/tags/list".into(),
        "/v2/../v2/alice/app/tags/list".into(),
    ];
    let mut failures = Vec::new();
    for path in &paths {
        for method in ["GET", "HEAD"] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
                reg.addr()
            );
            let Some(r) = common::raw_http(reg.addr(), request.as_bytes(), false) else {
                failures.push(format!("{method} {path}: no answer"));
                continue;
            };
            let body = String::from_utf8_lossy(&r.body);
            let leaked = body.contains(&img.digest)
                || body.contains(&config)
                || body.contains("\"tags\"")
                || r.headers.contains_key("docker-content-digest");
            // (405: HEAD on a tags list, which only answers GET.)
            if ![400, 401, 404, 405].contains(&r.status) || leaked {
                failures.push(format!(
                    "{method} {path}: expected 400, 401, 404 or 405 and no content:\n{r}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The same token reads mallory's own repository: the refusals above are about the paths.
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/mallory/app/tags/list"))
            .header("authorization", bearer(&token)),
    )
    .expect(200);
}

#[test]
fn injected_scopes_grant_nothing_else() {
    let Some(reg) = own_server(&[("BERTH_AUTH__LOGIN_MAX_FAILURES", "0")]) else {
        return;
    };
    create_user(&reg, "alice", "alice-password-1");
    create_user(&reg, "bob", "bob-password-1");
    Image::random(&[10]).push(&reg, "alice/app", "v1");
    Image::random(&[10]).push(&reg, "alice/secret", "v1");
    admin(&reg, &["permission", "alice/app", "--user", "bob", "read"]);
    let bob = "bob-password-1";

    let long_name = format!("alice/{}", "a".repeat(600));
    let name_300 = format!("alice/{}", "b".repeat(300));
    let hundred = "&scope=repository:alice/app:pull".repeat(100);
    // Raw query strings (after `service=berth`), so the encoding is exactly what is sent.
    let cases: Vec<(&str, String)> = vec![
        (
            "space-separated second scope with ..",
            "&scope=repository:alice/app:pull,push%20repository:../etc:pull".into(),
        ),
        (
            "newline in the actions",
            "&scope=repository:alice/app:pull%0AFoo".into(),
        ),
        (
            "carriage return and header",
            "&scope=repository:alice/app:pull%0D%0AX-Injected:%201".into(),
        ),
        (
            "NUL in the name",
            "&scope=repository:alice/app%00x:pull".into(),
        ),
        (
            "quote in the name",
            "&scope=repository:alice/app%22,scope=%22x:pull".into(),
        ),
        ("uppercase name", "&scope=repository:Alice/App:pull".into()),
        (
            "encoded dots, decoded once",
            "&scope=repository:alice/%2e%2e/secret:pull".into(),
        ),
        (
            "encoded dots, literal",
            "&scope=repository:alice/%252e%252e:pull".into(),
        ),
        (
            "leading slash",
            "&scope=repository:/alice/secret:pull".into(),
        ),
        (
            "double slash",
            "&scope=repository:alice//secret:pull".into(),
        ),
        (
            "trailing slash",
            "&scope=repository:alice/secret/:pull".into(),
        ),
        (
            "host in the name",
            "&scope=repository:localhost:5000/alice/secret:pull".into(),
        ),
        (
            "colon smuggling",
            "&scope=repository:alice/app:pull:alice/secret:pull".into(),
        ),
        (
            "scope inside the actions",
            "&scope=repository:alice/app:pull,repository:alice/secret:pull".into(),
        ),
        (
            "600-character name",
            format!("&scope=repository:{long_name}:pull"),
        ),
        (
            "300-character name",
            format!("&scope=repository:{name_300}:pull"),
        ),
        ("100 scopes", hundred),
        (
            "unknown resource type",
            "&scope=registry:alice/secret:pull".into(),
        ),
        (
            "resource class",
            "&scope=repository(plugin):alice/secret:pull".into(),
        ),
        (
            "star on a readable repository",
            "&scope=repository:alice/app:*".into(),
        ),
        (
            "two scopes, one not readable",
            "&scope=repository:alice/app:pull&scope=repository:alice/secret:pull,push".into(),
        ),
        (
            "same repository twice",
            "&scope=repository:alice/app:pull&scope=repository:alice/app:push,delete".into(),
        ),
        (
            "unknown actions",
            "&scope=repository:alice/secret:pull2,admin,all,read".into(),
        ),
        ("empty actions", "&scope=repository:alice/secret:".into()),
        (
            "255-character name that does not exist",
            format!("&scope=repository:alice/{}:pull", "c".repeat(249)),
        ),
    ];
    let mut failures = Vec::new();
    for (name, query) in &cases {
        let r = exec(
            &reg,
            reg.client
                .get(reg.url(&format!("/v2/auth?service=berth{query}")))
                .basic_auth("bob", Some(bob)),
        );
        match r.status {
            400 => {
                let ok = serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|v| v["errors"][0]["code"].is_string());
                if !ok {
                    failures.push(format!("{name}: 400 without the error body:\n{r}"));
                }
            }
            200 => {
                // Whatever was asked, bob gets at most pull on alice/app.
                let access = access_of(&claims(r.json()["token"].as_str().unwrap_or("")));
                let allowed = grant("repository", "alice/app", &["pull"]);
                if access.iter().any(|g| g != &allowed) {
                    failures.push(format!("{name}: granted {access:?}:\n{r}"));
                }
            }
            _ => failures.push(format!("{name}: expected 400 or 200:\n{r}")),
        }
    }
    // The same through the OAuth2 form.
    for scope in [
        "repository:alice/app:pull repository:../etc:pull",
        "repository:alice/app:pull\nFoo",
        "repository:alice/secret:pull repository:alice/app:pull",
    ] {
        let r = post_form(
            &reg,
            &[
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", bob),
                ("client_id", "x"),
                ("scope", scope),
            ],
        );
        match r.status {
            400 => {}
            200 => {
                let access = access_of(&claims(r.json()["access_token"].as_str().unwrap_or("")));
                if access
                    .iter()
                    .any(|g| g != &grant("repository", "alice/app", &["pull"]))
                {
                    failures.push(format!("form {scope:?}: granted {access:?}"));
                }
            }
            _ => failures.push(format!("form {scope:?}: expected 400 or 200:\n{r}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(!reg.server.as_ref().unwrap().log().contains("panicked"));
}

// =============================================================================================
// 4. Login rate limiting
// =============================================================================================

#[test]
fn failed_logins_are_throttled_and_recorded() {
    let Some(reg) = own_server(&[
        ("BERTH_AUTH__LOGIN_MAX_FAILURES", "3"),
        ("BERTH_AUTH__LOGIN_WINDOW", "5m"),
    ]) else {
        return;
    };
    create_user(&reg, "victim", "victim-password-1");
    let login = |pw: &str| {
        exec(
            &reg,
            reg.client
                .get(reg.url("/v2/auth?service=berth"))
                .basic_auth("victim", Some(pw)),
        )
    };
    for i in 0..3 {
        login(&format!("wrong-password-{i}")).expect_error(&[401], &["UNAUTHORIZED"]);
    }
    // Now even the right password waits.
    let r = login("victim-password-1").expect_error(&[429], &["TOOMANYREQUESTS"]);
    let wait: u64 = r
        .hdr("retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not seconds:\n{r}"));
    assert!((1..=300).contains(&wait), "Retry-After {wait}:\n{r}");
    post_form(
        &reg,
        &[
            ("grant_type", "password"),
            ("username", "victim"),
            ("password", "victim-password-1"),
            ("client_id", "x"),
        ],
    )
    .expect_error(&[429], &["TOOMANYREQUESTS"]);
    // The address is throttled too: another account from it waits as well.
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/auth"))
            .basic_auth(ADMIN_USER, Some(ADMIN_PASSWORD)),
    )
    .expect_error(&[429], &["TOOMANYREQUESTS"]);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = audit_log(&reg, &["--user", "victim"]);
        let failed: Vec<&Value> = log
            .iter()
            .filter(|e| e["kind"] == "login" && e["success"] == false)
            .collect();
        let wrong = failed
            .iter()
            .filter(|e| {
                !e["metadata"]
                    .as_str()
                    .unwrap_or("")
                    .contains("rate limited")
            })
            .count();
        let limited = failed.len() - wrong;
        if wrong >= 3 && limited >= 2 {
            for e in &failed {
                assert_eq!(e["actor"], "victim", "{e}");
                assert_eq!(e["ip"], "127.0.0.1", "{e}");
            }
            assert!(
                !log.iter()
                    .any(|e| e["kind"] == "login" && e["success"] == true),
                "a successful login was recorded: {log:?}"
            );
            let text = serde_json::to_string(&log).unwrap();
            assert!(!text.contains("victim-password-1") && !text.contains("wrong-password-"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected 3 failed and 2 rate-limited logins in the audit log: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// =============================================================================================
// 5. Secrets never in logs
// =============================================================================================

#[test]
fn secrets_stay_out_of_the_debug_log() {
    let Some(reg) = own_server(&[("BERTH_LOG", "debug")]) else {
        return;
    };
    let password = "carol-Secret-Passw0rd";
    let wrong = "carol-Wrong-Passw0rd";
    create_user(&reg, "carol", password);
    let robot = printed_token(&admin(&reg, &["robot", "create", "carol", "bot"]));
    let app = printed_token(&admin(&reg, &["app-token", "create", "carol", "laptop"]));
    let mut secrets: Vec<(String, String)> = vec![
        ("password".into(), password.into()),
        ("wrong password".into(), wrong.into()),
        ("robot token".into(), robot.clone()),
        ("app token".into(), app.clone()),
        ("admin password".into(), ADMIN_PASSWORD.into()),
    ];
    let scope = "repository:carol/app:pull,push,delete".to_string();

    // Logins of every kind, right and wrong, through both token requests.
    for (user, secret) in [
        ("carol", password),
        ("carol", wrong),
        ("carol+bot", robot.as_str()),
        ("carol", app.as_str()),
        ("carol+bot", app.as_str()),
        (ADMIN_USER, ADMIN_PASSWORD),
    ] {
        secrets.push((
            format!("Basic header of {user}"),
            basic(user, secret)[6..].to_owned(),
        ));
        let r = token_request(
            &reg,
            Some(&(user.into(), secret.into())),
            std::slice::from_ref(&scope),
        );
        if r.status == 200 {
            secrets.push((
                format!("token of {user}"),
                r.json()["token"].as_str().unwrap().into(),
            ));
        }
    }
    let r = post_form(
        &reg,
        &[
            ("grant_type", "password"),
            ("username", "carol"),
            ("password", password),
            ("client_id", "x"),
            ("access_type", "offline"),
            ("scope", &scope),
        ],
    )
    .expect(200);
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let jwt = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = post_form(
        &reg,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "x"),
            ("scope", &scope),
        ],
    )
    .expect(200);
    let jwt2 = r.json()["access_token"].as_str().unwrap().to_owned();
    post_form(
        &reg,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &format!("{refresh}x")),
            ("client_id", "x"),
        ],
    )
    .expect(401);
    // Registry requests with the tokens, good and bad.
    let img = Image::random(&[20]);
    for b in &img.blobs {
        exec(
            &reg,
            reg.client
                .post(reg.url(&format!(
                    "/v2/carol/app/blobs/uploads/?digest={}",
                    common::sha256(b)
                )))
                .header("authorization", bearer(&jwt))
                .body(b.clone()),
        )
        .expect(201);
    }
    exec(
        &reg,
        reg.client
            .put(reg.url("/v2/carol/app/manifests/v1"))
            .header("authorization", bearer(&jwt2))
            .header("content-type", OCI_MANIFEST)
            .body(img.manifest.clone()),
    )
    .expect(201);
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/carol/app/tags/list"))
            .header("authorization", bearer(&jwt)),
    )
    .expect(200);
    let broken = format!("{}AAAA", &jwt[..jwt.len() - 4]);
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/carol/app/tags/list"))
            .header("authorization", bearer(&broken)),
    )
    .expect(401);
    secrets.extend([
        ("refresh token".into(), refresh.clone()),
        ("OAuth access token".into(), jwt.clone()),
        ("refreshed access token".into(), jwt2.clone()),
        ("broken access token".into(), broken.clone()),
        (
            "JWT signature".into(),
            jwt.rsplit('.').next().unwrap().to_owned(),
        ),
    ]);

    std::thread::sleep(Duration::from_millis(300));
    let log = reg.server.as_ref().unwrap().log();
    assert!(
        log.contains("DEBUG"),
        "BERTH_LOG=debug wrote no debug lines; the check below would prove nothing:\n{log}"
    );
    assert!(
        log.contains("login failed"),
        "no failed login logged:\n{log}"
    );
    for (what, secret) in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the {what} appears in the server log"
        );
    }
    // The audit log holds no secret either.
    let audit = serde_json::to_string(&audit_log(&reg, &[])).unwrap();
    for (what, secret) in &secrets {
        assert!(
            !audit.contains(secret.as_str()),
            "the {what} is in the audit log"
        );
    }

    // `berth config` shows that a password is set, not what it is.
    let out = berth_cmd()
        .arg("config")
        .env("BERTH_AUTH__INITIAL_ADMIN__USERNAME", "root")
        .env(
            "BERTH_AUTH__INITIAL_ADMIN__PASSWORD",
            "Config-Secret-Passw0rd",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Config-Secret-Passw0rd"),
        "berth config printed the password:\n{text}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["auth"]["initial_admin"]["password"], "<redacted>", "{v}");
    assert_eq!(v["auth"]["initial_admin"]["username"], "root", "{v}");
}

// =============================================================================================
// 6. The audit log
// =============================================================================================

#[test]
fn audit_log_records_who_did_what_from_where() {
    let Some(reg) = own_server(&[]) else { return };
    create_user(&reg, "alice", "alice-password-1");
    create_user(&reg, "bob", "bob-password-1");
    let alice = ("alice".to_string(), "alice-password-1".to_string());

    token_request(
        &reg,
        Some(&("alice".into(), "not-her-password".into())),
        &[],
    )
    .expect(401);
    let (token, _) = fetch_token(
        &reg,
        Some(&alice),
        &["repository:alice/app:pull,push,delete".into()],
    );
    let auth = bearer(&token);
    let img = Image::random(&[30]);
    for b in &img.blobs {
        exec(
            &reg,
            reg.client
                .post(reg.url(&format!(
                    "/v2/alice/app/blobs/uploads/?digest={}",
                    common::sha256(b)
                )))
                .header("authorization", &auth)
                .body(b.clone()),
        )
        .expect(201);
    }
    exec(
        &reg,
        reg.client
            .put(reg.url("/v2/alice/app/manifests/v1"))
            .header("authorization", &auth)
            .header("content-type", OCI_MANIFEST)
            .body(img.manifest.clone()),
    )
    .expect(201);
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/alice/app/manifests/v1"))
            .header("authorization", &auth)
            .header("accept", OCI_MANIFEST),
    )
    .expect(200);
    exec(
        &reg,
        reg.client
            .delete(reg.url("/v2/alice/app/manifests/v1"))
            .header("authorization", &auth),
    )
    .expect(202);
    exec(
        &reg,
        reg.client
            .delete(reg.url(&format!("/v2/alice/app/manifests/{}", img.digest)))
            .header("authorization", &auth),
    )
    .expect(202);
    let layer = common::sha256(&img.blobs[1]);
    exec(
        &reg,
        reg.client
            .delete(reg.url(&format!("/v2/alice/app/blobs/{layer}")))
            .header("authorization", &auth),
    )
    .expect(202);
    let robot = printed_token(&admin(&reg, &["robot", "create", "alice", "ci"]));
    admin(
        &reg,
        &["permission", "alice/app", "--user", "alice+ci", "read"],
    );
    let (rtoken, _) = fetch_token(
        &reg,
        Some(&("alice+ci".into(), robot)),
        &["repository:alice/app:pull".into()],
    );
    exec(
        &reg,
        reg.client
            .get(reg.url("/v2/alice/app/tags/list"))
            .header("authorization", bearer(&rtoken)),
    )
    .expect(200);
    admin(&reg, &["robot", "regenerate", "alice", "ci"]);
    admin(&reg, &["permission", "alice/app", "--user", "bob", "write"]);
    admin(&reg, &["repo", "set-visibility", "alice/app", "public"]);

    // (kind, actor, repository, from the network, metadata fragment)
    let expected: [(&str, &str, Option<&str>, bool, &str); 14] = [
        ("login", "alice", None, true, "invalid username or password"),
        ("login", "alice", None, true, "\"password\""),
        (
            "token_issued",
            "alice",
            None,
            true,
            "repository:alice/app:pull,push,delete",
        ),
        ("create_repo", "alice", Some("alice/app"), true, "private"),
        ("push", "alice", Some("alice/app"), true, &img.digest),
        ("pull", "alice", Some("alice/app"), true, "v1"),
        ("delete_tag", "alice", Some("alice/app"), true, "v1"),
        (
            "delete_manifest",
            "alice",
            Some("alice/app"),
            true,
            &img.digest,
        ),
        ("delete_blob", "alice", Some("alice/app"), true, &layer),
        ("create_robot", "berth-admin", None, false, "alice+ci"),
        ("login", "alice+ci", None, true, "robot_token"),
        ("regenerate_robot", "berth-admin", None, false, "alice+ci"),
        (
            "permission_change",
            "berth-admin",
            Some("alice/app"),
            false,
            "bob",
        ),
        (
            "change_visibility",
            "berth-admin",
            Some("alice/app"),
            false,
            "public",
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = audit_log(&reg, &[]);
        let missing: Vec<_> = expected
            .iter()
            .filter(|(kind, actor, repo, net, meta)| {
                !log.iter().any(|e| {
                    e["kind"] == *kind
                        && e["actor"] == *actor
                        && repo.is_none_or(|r| e["repository"] == r)
                        && (e["ip"] == "127.0.0.1") == *net
                        && e["metadata"].as_str().unwrap_or("").contains(meta)
                })
            })
            .collect();
        if missing.is_empty() {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "audit entries missing: {missing:#?}\nlog: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The login failure is a failure; everything else a success.
    for e in &log {
        let failed_login = e["kind"] == "login"
            && e["metadata"]
                .as_str()
                .unwrap_or("")
                .contains("invalid username or password");
        assert_eq!(e["success"], !failed_login, "{e}");
    }
    assert!(
        log.iter()
            .filter(|e| e["actor"] == "alice+ci" && e["kind"] != "login")
            .all(|e| e["actor_kind"] == "robot"),
        "robot actions are marked as a robot's: {log:#?}"
    );
    // Filters: one user, one repository.
    let mine = audit_log(&reg, &["--user", "alice"]);
    assert!(
        !mine.is_empty() && mine.iter().all(|e| e["actor"] == "alice"),
        "{mine:#?}"
    );
    let repo = audit_log(&reg, &["--repository", "alice/app"]);
    assert!(
        repo.len() >= 8 && repo.iter().all(|e| e["repository"] == "alice/app"),
        "{repo:#?}"
    );
}
