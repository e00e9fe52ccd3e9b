//! The one table of REST endpoints: the router matches requests against it and
//! [`super::openapi`] documents it, so neither can list a route the other does not.
//!
//! Paths are written as Quay spells them (`/api/v1/user/`, `/repository/{repository}/tag/`).
//! Matching ignores one trailing slash, on both sides. A `{repository}` parameter takes one or
//! more segments; the rest of the pattern is matched from both ends. When several patterns
//! fit, the one with the most literal segments wins, then the longer one: so
//! `/repository/a/b/tag/v1` is tag `v1` of `a/b`, never a repository named `a/b/tag/v1`.

use std::sync::LazyLock;

use axum::http::Method;

use super::{Ctx, Handler, HandlerFuture, logs, openapi, orgs, repos, robots, security, users};

/// The methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum M {
    Get,
    Post,
    Put,
    Delete,
}

impl M {
    pub fn as_str(self) -> &'static str {
        match self {
            M::Get => "get",
            M::Post => "post",
            M::Put => "put",
            M::Delete => "delete",
        }
    }

    fn of(m: &Method) -> Option<M> {
        match *m {
            Method::GET => Some(M::Get),
            Method::POST => Some(M::Post),
            Method::PUT => Some(M::Put),
            Method::DELETE => Some(M::Delete),
            _ => None,
        }
    }
}

/// A documented query parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryParam {
    pub name: &'static str,
    /// An OpenAPI primitive type.
    pub kind: &'static str,
    pub description: &'static str,
}

const LIMIT: QueryParam = QueryParam {
    name: "limit",
    kind: "integer",
    description: "Page size (1 to 1000, default 50).",
};
const NEXT_PAGE: QueryParam = QueryParam {
    name: "next_page",
    kind: "string",
    description: "The `next_page` cursor of the previous page.",
};
const PAGED: &[QueryParam] = &[LIMIT, NEXT_PAGE];
const SBOM: &[QueryParam] = &[QueryParam {
    name: "format",
    kind: "string",
    description: "`cyclonedx` (default) or `spdx`.",
}];
const SECURITY: &[QueryParam] = &[QueryParam {
    name: "vulnerabilities",
    kind: "boolean",
    description: "Include each package's vulnerabilities (default false: packages only).",
}];
const REPO_LIST: &[QueryParam] = &[
    QueryParam {
        name: "namespace",
        kind: "string",
        description: "Only repositories in this namespace.",
    },
    QueryParam {
        name: "public",
        kind: "boolean",
        description: "Only public repositories.",
    },
    LIMIT,
    NEXT_PAGE,
];
const TAG_LIST: &[QueryParam] = &[
    LIMIT,
    QueryParam {
        name: "page",
        kind: "integer",
        description: "Page number, from 1.",
    },
];

/// One endpoint.
pub(crate) struct Route {
    pub method: M,
    /// The documented path, with `{param}`s.
    pub path: &'static str,
    pub summary: &'static str,
    /// Whether the caller is identified first (all but sign-in/sign-out, which handle the
    /// cookie themselves).
    pub authenticate: bool,
    pub query: &'static [QueryParam],
    /// The request body's schema, and whether the body is required.
    pub request: Option<(&'static str, bool)>,
    /// The success status and its body's schema (`None`: no body).
    pub success: (u16, Option<&'static str>),
    /// Error statuses beyond the ones every endpoint may answer.
    pub extra_errors: &'static [u16],
    pub handler: Handler,
}

/// Errors any endpoint may answer: bad input, credentials missing or wrong, refused or
/// invisible, body too large, login throttled, server fault.
pub(crate) const COMMON_ERRORS: &[u16] = &[400, 401, 403, 404, 413, 429, 500];

impl Route {
    fn new(method: M, path: &'static str, summary: &'static str, handler: Handler) -> Route {
        Route {
            method,
            path,
            summary,
            authenticate: true,
            query: &[],
            request: None,
            success: (200, None),
            extra_errors: &[],
            handler,
        }
    }

    fn ok(mut self, schema: &'static str) -> Route {
        self.success = (200, Some(schema));
        self
    }

    fn created(mut self, schema: &'static str) -> Route {
        self.success = (201, Some(schema));
        self
    }

    fn no_content(mut self) -> Route {
        self.success = (204, None);
        self
    }

    fn body(mut self, schema: &'static str) -> Route {
        self.request = Some((schema, true));
        self
    }

    fn optional_body(mut self, schema: &'static str) -> Route {
        self.request = Some((schema, false));
        self
    }

    fn query(mut self, q: &'static [QueryParam]) -> Route {
        self.query = q;
        self
    }

    fn conflict(mut self) -> Route {
        self.extra_errors = &[409];
        self
    }

    fn unauthenticated(mut self) -> Route {
        self.authenticate = false;
        self
    }

    /// The documented statuses.
    pub fn statuses(&self) -> impl Iterator<Item = u16> + '_ {
        std::iter::once(self.success.0)
            .chain(COMMON_ERRORS.iter().copied())
            .chain(self.extra_errors.iter().copied())
    }
}

/// Wraps an `async fn(Ctx) -> Result<Reply, RestError>` as a [`Handler`].
macro_rules! h {
    ($f:path) => {{
        fn wrapped(c: Ctx) -> HandlerFuture {
            Box::pin($f(c))
        }
        wrapped as Handler
    }};
}

pub(crate) static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(table);

fn table() -> Vec<Route> {
    use M::{Delete, Get, Post, Put};
    let r = Route::new;
    vec![
        // ---- sessions and the document itself
        r(
            Post,
            "/api/v1/signin",
            "Sign in; sets the berth_session cookie",
            h!(users::signin),
        )
        .unauthenticated()
        .body("SigninRequest")
        .ok("Success"),
        r(
            Post,
            "/api/v1/signout",
            "End the cookie session",
            h!(users::signout),
        )
        .unauthenticated()
        .ok("Success"),
        r(
            Get,
            "/api/v1/openapi.json",
            "This OpenAPI document",
            h!(openapi::get),
        )
        .ok("OpenApiDocument"),
        // ---- the caller's own account
        r(Get, "/api/v1/user/", "The signed-in user", h!(users::me)).ok("CurrentUser"),
        r(
            Post,
            "/api/v1/user/",
            "Create a user account",
            h!(users::create),
        )
        .body("UserCreateRequest")
        .created("User")
        .conflict(),
        r(
            Put,
            "/api/v1/user/",
            "Change the signed-in user's password or email",
            h!(users::update_me),
        )
        .body("UserUpdateRequest")
        .ok("CurrentUser"),
        r(
            Get,
            "/api/v1/user/organizations",
            "Organizations the caller belongs to",
            h!(orgs::mine),
        )
        .query(PAGED)
        .ok("OrganizationList"),
        r(
            Get,
            "/api/v1/users/{username}",
            "A user's public profile",
            h!(users::get),
        )
        .ok("PublicUser"),
        // ---- superuser administration
        r(
            Get,
            "/api/v1/superuser/users/",
            "List all users",
            h!(users::list),
        )
        .query(PAGED)
        .ok("UserList"),
        r(
            Post,
            "/api/v1/superuser/users/",
            "Create a user (optionally a superuser)",
            h!(users::admin_create),
        )
        .body("SuperuserUserCreateRequest")
        .created("User")
        .conflict(),
        r(
            Put,
            "/api/v1/superuser/users/{username}",
            "Change a user's flags, password or email",
            h!(users::admin_update),
        )
        .body("SuperuserUserUpdateRequest")
        .ok("User"),
        r(
            Delete,
            "/api/v1/superuser/users/{username}",
            "Delete a user",
            h!(users::admin_delete),
        )
        .no_content()
        .conflict(),
        r(
            Get,
            "/api/v1/superuser/logs",
            "Every audit log entry",
            h!(logs::all),
        )
        .query(PAGED)
        .ok("LogList"),
        // ---- application tokens
        r(
            Get,
            "/api/v1/user/apptoken",
            "The caller's application tokens",
            h!(users::list_tokens),
        )
        .query(PAGED)
        .ok("AppTokenList"),
        r(
            Post,
            "/api/v1/user/apptoken",
            "Create an application token (shown once)",
            h!(users::create_token),
        )
        .body("AppTokenCreateRequest")
        .created("AppTokenEnvelope"),
        r(
            Get,
            "/api/v1/user/apptoken/{token_uuid}",
            "One application token",
            h!(users::get_token),
        )
        .ok("AppTokenEnvelope"),
        r(
            Delete,
            "/api/v1/user/apptoken/{token_uuid}",
            "Revoke an application token",
            h!(users::revoke_token),
        )
        .no_content(),
        // ---- robots of the caller's own namespace
        r(
            Get,
            "/api/v1/user/robots",
            "The caller's robot accounts",
            h!(robots::list),
        )
        .query(PAGED)
        .ok("RobotList"),
        r(
            Get,
            "/api/v1/user/robots/{robot_shortname}",
            "One of the caller's robots",
            h!(robots::get),
        )
        .ok("Robot"),
        r(
            Put,
            "/api/v1/user/robots/{robot_shortname}",
            "Create a robot; answers its token once",
            h!(robots::create),
        )
        .optional_body("RobotCreateRequest")
        .created("RobotWithCredentials")
        .conflict(),
        r(
            Delete,
            "/api/v1/user/robots/{robot_shortname}",
            "Delete a robot",
            h!(robots::delete),
        )
        .no_content(),
        r(
            Post,
            "/api/v1/user/robots/{robot_shortname}/regenerate",
            "Replace a robot's token",
            h!(robots::regenerate),
        )
        .ok("RobotWithCredentials"),
        r(
            Get,
            "/api/v1/user/logs",
            "Audit log of the caller's own actions",
            h!(logs::user),
        )
        .query(PAGED)
        .ok("LogList"),
        // ---- organizations
        r(
            Post,
            "/api/v1/organization/",
            "Create an organization owned by the caller",
            h!(orgs::create),
        )
        .body("OrganizationCreateRequest")
        .created("Organization")
        .conflict(),
        r(
            Get,
            "/api/v1/organization/{orgname}",
            "An organization",
            h!(orgs::get),
        )
        .ok("Organization"),
        r(
            Delete,
            "/api/v1/organization/{orgname}",
            "Delete an organization (it must have no repositories)",
            h!(orgs::delete),
        )
        .no_content()
        .conflict(),
        r(
            Put,
            "/api/v1/organization/{orgname}/team/{teamname}",
            "Create or update a team",
            h!(orgs::put_team),
        )
        .body("TeamRequest")
        .ok("Team"),
        r(
            Delete,
            "/api/v1/organization/{orgname}/team/{teamname}",
            "Delete a team",
            h!(orgs::delete_team),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/organization/{orgname}/team/{teamname}/members",
            "A team's members",
            h!(orgs::members),
        )
        .query(PAGED)
        .ok("TeamMembers"),
        r(
            Put,
            "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}",
            "Add a user or robot to a team",
            h!(orgs::add_member),
        )
        .ok("Member"),
        r(
            Delete,
            "/api/v1/organization/{orgname}/team/{teamname}/members/{membername}",
            "Remove a member from a team",
            h!(orgs::remove_member),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/organization/{orgname}/robots",
            "The organization's robot accounts",
            h!(robots::list),
        )
        .query(PAGED)
        .ok("RobotList"),
        r(
            Get,
            "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            "One robot of the organization",
            h!(robots::get),
        )
        .ok("Robot"),
        r(
            Put,
            "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            "Create a robot; answers its token once",
            h!(robots::create),
        )
        .optional_body("RobotCreateRequest")
        .created("RobotWithCredentials")
        .conflict(),
        r(
            Delete,
            "/api/v1/organization/{orgname}/robots/{robot_shortname}",
            "Delete a robot",
            h!(robots::delete),
        )
        .no_content(),
        r(
            Post,
            "/api/v1/organization/{orgname}/robots/{robot_shortname}/regenerate",
            "Replace a robot's token",
            h!(robots::regenerate),
        )
        .ok("RobotWithCredentials"),
        r(
            Get,
            "/api/v1/organization/{orgname}/prototypes",
            "Default permissions of new repositories",
            h!(orgs::prototypes),
        )
        .ok("PrototypeList"),
        r(
            Post,
            "/api/v1/organization/{orgname}/prototypes",
            "Add a default permission",
            h!(orgs::add_prototype),
        )
        .body("PrototypeCreateRequest")
        .created("Prototype")
        .conflict(),
        r(
            Delete,
            "/api/v1/organization/{orgname}/prototypes/{prototypeid}",
            "Delete a default permission",
            h!(orgs::delete_prototype),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/organization/{orgname}/logs",
            "The organization's audit log",
            h!(logs::org),
        )
        .query(PAGED)
        .ok("LogList"),
        // ---- repositories
        r(
            Get,
            "/api/v1/repository",
            "Repositories the caller may read",
            h!(repos::list),
        )
        .query(REPO_LIST)
        .ok("RepositoryList"),
        r(
            Post,
            "/api/v1/repository",
            "Create a repository",
            h!(repos::create),
        )
        .body("RepositoryCreateRequest")
        .created("Repository")
        .conflict(),
        r(
            Get,
            "/api/v1/repository/{repository}",
            "A repository",
            h!(repos::get),
        )
        .ok("Repository"),
        r(
            Put,
            "/api/v1/repository/{repository}",
            "Change a repository's description",
            h!(repos::update),
        )
        .body("RepositoryUpdateRequest")
        .ok("Repository"),
        r(
            Delete,
            "/api/v1/repository/{repository}",
            "Delete a repository with its tags and manifests",
            h!(repos::delete),
        )
        .no_content(),
        r(
            Post,
            "/api/v1/repository/{repository}/changevisibility",
            "Make a repository public or private",
            h!(repos::change_visibility),
        )
        .body("VisibilityRequest")
        .ok("Repository"),
        r(
            Get,
            "/api/v1/repository/{repository}/permissions/user/",
            "Users' and robots' permissions on a repository",
            h!(repos::user_permissions),
        )
        .ok("UserPermissions"),
        r(
            Get,
            "/api/v1/repository/{repository}/permissions/user/{username}",
            "One user's or robot's permission",
            h!(repos::user_permission),
        )
        .ok("UserPermission"),
        r(
            Put,
            "/api/v1/repository/{repository}/permissions/user/{username}",
            "Grant a user or robot a role",
            h!(repos::put_user_permission),
        )
        .body("PermissionRequest")
        .ok("UserPermission"),
        r(
            Delete,
            "/api/v1/repository/{repository}/permissions/user/{username}",
            "Remove a user's or robot's permission",
            h!(repos::delete_user_permission),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/repository/{repository}/permissions/team/",
            "Teams' permissions on a repository",
            h!(repos::team_permissions),
        )
        .ok("TeamPermissions"),
        r(
            Get,
            "/api/v1/repository/{repository}/permissions/team/{teamname}",
            "One team's permission",
            h!(repos::team_permission),
        )
        .ok("TeamPermission"),
        r(
            Put,
            "/api/v1/repository/{repository}/permissions/team/{teamname}",
            "Grant a team a role",
            h!(repos::put_team_permission),
        )
        .body("PermissionRequest")
        .ok("TeamPermission"),
        r(
            Delete,
            "/api/v1/repository/{repository}/permissions/team/{teamname}",
            "Remove a team's permission",
            h!(repos::delete_team_permission),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/repository/{repository}/tag/",
            "A repository's tags",
            h!(repos::tags),
        )
        .query(TAG_LIST)
        .ok("TagList"),
        r(
            Delete,
            "/api/v1/repository/{repository}/tag/{tag}",
            "Delete a tag",
            h!(repos::delete_tag),
        )
        .no_content(),
        r(
            Get,
            "/api/v1/repository/{repository}/manifest/{manifestref}/index_report",
            "What the image contains: packages, distribution and the layer that introduced each, as Clair v4's index report (made now if the image was not indexed yet)",
            h!(security::index_report),
        )
        .ok("IndexReport"),
        r(
            Get,
            "/api/v1/repository/{repository}/manifest/{manifestref}/sbom",
            "The image's software bill of materials, CycloneDX 1.5 or SPDX 2.3 JSON",
            h!(security::sbom),
        )
        .query(SBOM)
        .ok("Sbom"),
        r(
            Get,
            "/api/v1/repository/{repository}/manifest/{manifestref}/security",
            "The image's scan status and, once scanned, its packages and their vulnerabilities in Quay's security-scan shape (an index: per platform)",
            h!(security::security),
        )
        .query(SECURITY)
        .ok("SecurityInfo"),
        r(
            Get,
            "/api/v1/repository/{repository}/logs",
            "A repository's audit log",
            h!(logs::repo),
        )
        .query(PAGED)
        .ok("LogList"),
    ]
}

/// The parameter that spans several path segments.
const GREEDY: &str = "{repository}";

/// What a request path and method found.
pub(crate) enum Lookup {
    Route(&'static Route, Vec<(&'static str, String)>),
    /// The path exists; these methods (an `Allow` value) do.
    MethodNotAllowed(String),
    NotFound,
}

pub(crate) fn find(path: &str, method: &Method) -> Lookup {
    let mut best: Option<((usize, usize), &'static str)> = None;
    for route in ROUTES.iter() {
        if match_path(route.path, path).is_some() {
            let key = specificity(route.path);
            if best.is_none_or(|(k, _)| key > k) {
                best = Some((key, route.path));
            }
        }
    }
    let Some((_, pattern)) = best else {
        return Lookup::NotFound;
    };
    let wanted = M::of(method);
    let mut allow = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path == pattern) {
        if Some(route.method) == wanted {
            let params = match_path(route.path, path).unwrap_or_default();
            return Lookup::Route(route, params);
        }
        allow.push(route.method.as_str().to_ascii_uppercase());
    }
    Lookup::MethodNotAllowed(allow.join(", "))
}

fn segments(p: &str) -> Vec<&str> {
    let p = p.strip_suffix('/').unwrap_or(p);
    p.split('/').collect()
}

/// (literal segments, all segments): higher is more specific.
fn specificity(pattern: &str) -> (usize, usize) {
    let segs = segments(pattern);
    let literals = segs.iter().filter(|s| !s.starts_with('{')).count();
    (literals, segs.len())
}

/// The parameters of `path` if it fits `pattern`. Parameters other than `{repository}` are
/// percent-decoded; the repository name stays raw, as on `/v2`, so an encoded `..` or `/`
/// remains a literal that name validation refuses.
fn match_path(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let pat = segments(pattern);
    let got = segments(path);
    let mut params = Vec::new();
    let (head, tail) = match pat.iter().position(|s| *s == GREEDY) {
        None if pat.len() == got.len() => (pat.len(), 0),
        Some(g) if got.len() >= pat.len() => (g, pat.len() - g - 1),
        _ => return None,
    };
    for (p, v) in pat[..head].iter().zip(&got[..head]) {
        bind(&mut params, p, v)?;
    }
    if head < pat.len() {
        let middle = &got[head..got.len() - tail];
        if middle.iter().any(|s| s.is_empty()) {
            return None;
        }
        params.push(("repository", middle.join("/")));
    }
    for (p, v) in pat[pat.len() - tail..].iter().zip(&got[got.len() - tail..]) {
        bind(&mut params, p, v)?;
    }
    Some(params)
}

/// Matches one segment: a literal must be equal, a `{param}` takes any non-empty value.
fn bind(params: &mut Vec<(&'static str, String)>, p: &'static str, value: &str) -> Option<()> {
    match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        Some(_) if value.is_empty() => None,
        Some(name) => {
            params.push((name, percent_decode(value)?));
            Some(())
        }
        None => (p == value).then_some(()),
    }
}

/// `%XX` decoding of one path segment; `None` when malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(&'static str, Vec<(&'static str, String)>)> {
        match find(path, &method) {
            Lookup::Route(r, p) => Some((r.path, p)),
            _ => None,
        }
    }

    fn p(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn routes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES.iter() {
            assert!(
                seen.insert((r.method, r.path)),
                "duplicate {:?} {}",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn trailing_slash_is_optional() {
        assert_eq!(
            found(Method::GET, "/api/v1/user").unwrap().0,
            "/api/v1/user/"
        );
        assert_eq!(
            found(Method::GET, "/api/v1/user/").unwrap().0,
            "/api/v1/user/"
        );
        assert_eq!(
            found(Method::GET, "/api/v1/user/robots/").unwrap().0,
            "/api/v1/user/robots"
        );
    }

    #[test]
    fn repository_names_span_segments() {
        let (path, params) = found(Method::GET, "/api/v1/repository/a/b/c").unwrap();
        assert_eq!(path, "/api/v1/repository/{repository}");
        assert_eq!(params, p(&[("repository", "a/b/c")]));
        let (path, params) = found(Method::DELETE, "/api/v1/repository/a/b/tag/v1").unwrap();
        assert_eq!(path, "/api/v1/repository/{repository}/tag/{tag}");
        assert_eq!(params, p(&[("repository", "a/b"), ("tag", "v1")]));
        let (path, params) = found(Method::GET, "/api/v1/repository/a/b/tag/").unwrap();
        assert_eq!(path, "/api/v1/repository/{repository}/tag/");
        assert_eq!(params, p(&[("repository", "a/b")]));
        let (path, params) =
            found(Method::PUT, "/api/v1/repository/o/r/permissions/user/o+bot").unwrap();
        assert_eq!(
            path,
            "/api/v1/repository/{repository}/permissions/user/{username}"
        );
        assert_eq!(params, p(&[("repository", "o/r"), ("username", "o+bot")]));
        // Equal literal counts: the longer pattern (the tag) wins.
        let (path, params) = found(Method::DELETE, "/api/v1/repository/r/tag/logs").unwrap();
        assert_eq!(path, "/api/v1/repository/{repository}/tag/{tag}");
        assert_eq!(params, p(&[("repository", "r"), ("tag", "logs")]));
        let (path, _) = found(Method::POST, "/api/v1/repository/a/changevisibility").unwrap();
        assert_eq!(path, "/api/v1/repository/{repository}/changevisibility");
        assert!(found(Method::GET, "/api/v1/repository/a//b").is_none());
    }

    #[test]
    fn params_are_decoded() {
        let (_, params) = found(Method::PUT, "/api/v1/user/robots/a%2Bb").unwrap();
        assert_eq!(params, p(&[("robot_shortname", "a+b")]));
        assert!(found(Method::PUT, "/api/v1/user/robots/a%zz").is_none());
        // The repository stays raw.
        let (_, params) = found(Method::GET, "/api/v1/repository/a/%2e%2e").unwrap();
        assert_eq!(params, p(&[("repository", "a/%2e%2e")]));
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert!(matches!(find("/api/v1", &Method::GET), Lookup::NotFound));
        assert!(matches!(
            find("/api/v1/nope", &Method::GET),
            Lookup::NotFound
        ));
        assert!(matches!(
            find("/api/v1/user/x/y", &Method::GET),
            Lookup::NotFound
        ));
        match find("/api/v1/user/", &Method::PATCH) {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, "GET, POST, PUT"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(
            find("/api/v1/signin", &Method::GET),
            Lookup::MethodNotAllowed(_)
        ));
    }
}
