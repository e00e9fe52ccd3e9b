//! The scope grammar of Docker's token authentication, and the `access` claim it becomes.
//!
//! A client asks for `scope=repository:org/app:pull,push` (one or more per request, space
//! separated in one parameter or as repeated parameters); the token service answers with a
//! token whose `access` claim lists what the caller may actually do, which may be less than
//! asked (an intersection, never an error):
//!
//! ```text
//! scope          := resourcetype ":" resourcename ":" action ("," action)*
//! resourcetype   := [a-z0-9]+ ( "(" [a-z0-9]+ ")" )?     e.g. repository(plugin)
//! action         := [a-z]* | "*"
//! ```
//!
//! berth knows two resources: `repository:<name>` (name validated as a [`RepoName`]) and
//! `registry:catalog`. The spec lets a name start with `host:port/`, which is why the name is
//! what lies between the first and the last `:`; but a berth repository name never contains a
//! host, so such names are refused by the name grammar rather than trusted. Every byte of a
//! scope must be printable ASCII without spaces, so a scope cannot smuggle a second scope, a
//! newline or a quote into the name.
//!
//! Actions the registry does not know (the grammar allows any `[a-z]*`) are dropped: they can
//! never be granted, so dropping them only narrows the request.

use std::collections::BTreeSet;
use std::fmt;

use berth_domain::{NameError, RepoName};

/// Longest single scope accepted: a type, a 255-character name and a few actions fit easily.
pub const MAX_SCOPE_LEN: usize = 512;
/// Most scopes in one request (a cross-repository mount asks for two; docker-compose asks for
/// a handful).
pub const MAX_SCOPES: usize = 64;
/// Most comma-separated actions in one scope.
pub const MAX_ACTIONS: usize = 16;
/// Longest resource class (`plugin` in `repository(plugin)`).
const MAX_CLASS_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("scope is longer than {MAX_SCOPE_LEN} bytes")]
    TooLong,
    #[error("more than {MAX_SCOPES} scopes requested")]
    TooManyScopes,
    #[error("scope contains a character other than printable ASCII")]
    InvalidCharacter,
    #[error("scope is not of the form type:name:actions")]
    Malformed,
    #[error("resource type {0:?} is not valid")]
    BadResourceType(String),
    #[error("resource type {0:?} is not supported")]
    UnknownResourceType(String),
    #[error("registry resource {0:?} is not supported (only registry:catalog is)")]
    UnknownRegistryResource(String),
    #[error("repository name in scope is invalid: {0}")]
    BadName(#[from] NameError),
    #[error("action {0:?} is not valid")]
    BadAction(String),
    #[error("more than {MAX_ACTIONS} actions in one scope")]
    TooManyActions,
}

/// An action on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// `*`: every action. Held, it permits everything; requested, it is granted only to a
    /// caller who holds `*` itself (asking for everything is not answered with a subset
    /// spelled differently).
    All,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Pull, Action::Push, Action::Delete, Action::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }

    /// The action named `s`, or `None` for a grammatical name the registry does not know.
    pub fn from_name(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    const fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
            Action::All => 8,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actions a caller holds on one resource (what the permission model computes).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ActionSet(u8);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet(0);

    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    #[must_use]
    pub fn with(mut self, action: Action) -> ActionSet {
        self.insert(action);
        self
    }

    /// Whether `action` is literally in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Whether holding this set allows `action`: `*` allows everything.
    pub fn permits(self, action: Action) -> bool {
        self.contains(action) || self.contains(Action::All)
    }

    /// Whether a request for `action` is granted by this set: `*` is granted only for `*`.
    fn grants(self, action: Action) -> bool {
        match action {
            Action::All => self.contains(Action::All),
            other => self.permits(other),
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        let mut set = ActionSet::EMPTY;
        for a in iter {
            set.insert(a);
        }
        set
    }
}

impl fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Action::as_str))
            .finish()
    }
}

/// What a scope is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `repository:<name>` or `repository(<class>):<name>`.
    Repository {
        name: RepoName,
        /// The resource class (`plugin` for Docker plugins); informational only.
        class: Option<String>,
    },
    /// `registry:catalog`: listing all repositories.
    Catalog,
}

impl Resource {
    /// The `type` of the access claim.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Resource::Repository { .. } => "repository",
            Resource::Catalog => "registry",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Repository { name, .. } => name.as_str(),
            Resource::Catalog => "catalog",
        }
    }

    pub fn class(&self) -> Option<&str> {
        match self {
            Resource::Repository { class, .. } => class.as_deref(),
            Resource::Catalog => None,
        }
    }
}

/// One requested or granted scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    resource: Resource,
    actions: BTreeSet<Action>,
}

impl Scope {
    pub fn new(resource: Resource, actions: impl IntoIterator<Item = Action>) -> Scope {
        Scope {
            resource,
            actions: actions.into_iter().collect(),
        }
    }

    pub fn repository(name: RepoName, actions: impl IntoIterator<Item = Action>) -> Scope {
        Scope::new(Resource::Repository { name, class: None }, actions)
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Scope {
        Scope::new(Resource::Catalog, [Action::All])
    }

    /// Parses one scope. See the module documentation for the grammar.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ScopeError::InvalidCharacter);
        }
        let (type_part, rest) = s.split_once(':').ok_or(ScopeError::Malformed)?;
        let (name, actions_part) = rest.rsplit_once(':').ok_or(ScopeError::Malformed)?;
        let (type_value, class) = parse_resource_type(type_part)?;
        let resource = match type_value {
            "repository" => Resource::Repository {
                name: RepoName::parse(name)?,
                class: class.map(str::to_owned),
            },
            "registry" => {
                if class.is_some() {
                    return Err(ScopeError::UnknownResourceType(type_part.to_owned()));
                }
                if name != "catalog" {
                    return Err(ScopeError::UnknownRegistryResource(name.to_owned()));
                }
                Resource::Catalog
            }
            other => return Err(ScopeError::UnknownResourceType(other.to_owned())),
        };
        let mut actions = BTreeSet::new();
        for (i, action) in actions_part.split(',').enumerate() {
            if i >= MAX_ACTIONS {
                return Err(ScopeError::TooManyActions);
            }
            if action != "*" && !action.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(ScopeError::BadAction(action.to_owned()));
            }
            if let Some(a) = Action::from_name(action) {
                actions.insert(a);
            }
        }
        Ok(Scope { resource, actions })
    }

    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    pub fn resource_type(&self) -> &'static str {
        self.resource.resource_type()
    }

    pub fn name(&self) -> &str {
        self.resource.name()
    }

    pub fn actions(&self) -> &BTreeSet<Action> {
        &self.actions
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The part of this scope that a caller holding `allowed` on the resource is granted.
    /// The result may have no actions; that is an answer, not an error.
    pub fn intersect(&self, allowed: &ActionSet) -> Scope {
        Scope {
            resource: self.resource.clone(),
            actions: self
                .actions
                .iter()
                .copied()
                .filter(|a| allowed.grants(*a))
                .collect(),
        }
    }

    /// The entry of a token's `access` claim for this scope.
    pub fn to_access(&self) -> AccessEntry {
        AccessEntry {
            resource_type: self.resource_type().to_owned(),
            class: self.resource.class().map(str::to_owned),
            name: self.name().to_owned(),
            actions: self.actions.iter().map(|a| a.as_str().to_owned()).collect(),
        }
    }
}

impl fmt::Display for Scope {
    /// The canonical text form, e.g. `repository:org/app:pull,push` (as used in a
    /// `WWW-Authenticate` challenge).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.resource_type())?;
        if let Some(class) = self.resource.class() {
            write!(f, "({class})")?;
        }
        write!(f, ":{}:", self.name())?;
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.as_str())?;
        }
        Ok(())
    }
}

fn parse_resource_type(s: &str) -> Result<(&str, Option<&str>), ScopeError> {
    let bad = || ScopeError::BadResourceType(s.chars().take(40).collect());
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= MAX_CLASS_LEN
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match s.split_once('(') {
        None if token(s) => Ok((s, None)),
        None => Err(bad()),
        Some((value, rest)) => {
            let class = rest.strip_suffix(')').ok_or_else(bad)?;
            if token(value) && token(class) {
                Ok((value, Some(class)))
            } else {
                Err(bad())
            }
        }
    }
}

/// Parses the `scope` parameters of a token request: each may hold several scopes separated
/// by spaces, and the parameter may be repeated. Scopes on the same resource are merged (their
/// actions united), keeping first-seen order, so the token lists each resource once.
pub fn parse_scopes<'a>(
    params: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Scope>, ScopeError> {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut seen = 0usize;
    for param in params {
        if param.len() > MAX_SCOPES * (MAX_SCOPE_LEN + 1) {
            return Err(ScopeError::TooLong);
        }
        for part in param.split(' ').filter(|p| !p.is_empty()) {
            seen += 1;
            if seen > MAX_SCOPES {
                return Err(ScopeError::TooManyScopes);
            }
            let scope = Scope::parse(part)?;
            match scopes.iter_mut().find(|s| s.resource == scope.resource) {
                Some(existing) => existing.actions.extend(scope.actions),
                None => scopes.push(scope),
            }
        }
    }
    Ok(scopes)
}

/// One entry of a registry token's `access` claim:
/// `{"type":"repository","name":"org/app","actions":["pull","push"]}`.
///
/// Kept as strings so a token naming an action this build does not know still parses (and
/// that action is simply never permitted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub name: String,
    pub actions: Vec<String>,
}

impl AccessEntry {
    /// Whether this entry allows `action` on the resource `resource_type`/`name`.
    pub fn permits(&self, resource_type: &str, name: &str, action: Action) -> bool {
        self.resource_type == resource_type
            && self.name == name
            && self
                .actions
                .iter()
                .any(|a| a == action.as_str() || a == Action::All.as_str())
    }
}

/// Whether any entry of an `access` claim allows `action` on `resource`.
pub fn access_permits(access: &[AccessEntry], resource: &Resource, action: Action) -> bool {
    access
        .iter()
        .any(|e| e.permits(resource.resource_type(), resource.name(), action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn set(actions: &[Action]) -> BTreeSet<Action> {
        actions.iter().copied().collect()
    }

    #[test]
    fn parses_repository_scopes() {
        let s = Scope::parse("repository:org/app:pull,push").unwrap();
        assert_eq!(s.resource_type(), "repository");
        assert_eq!(s.name(), "org/app");
        assert_eq!(s.actions(), &set(&[Action::Pull, Action::Push]));
        assert_eq!(s.to_string(), "repository:org/app:pull,push");

        let s = Scope::parse("repository:library/debian:pull").unwrap();
        assert_eq!(s, Scope::repository(repo("library/debian"), [Action::Pull]));

        let s = Scope::parse("repository:a:delete,pull,push,*").unwrap();
        assert_eq!(s.actions().len(), 4);
        assert_eq!(s.to_string(), "repository:a:pull,push,delete,*");
    }

    #[test]
    fn parses_resource_class_and_catalog() {
        let s = Scope::parse("repository(plugin):vieux/sshfs:pull").unwrap();
        assert_eq!(s.resource().class(), Some("plugin"));
        assert_eq!(s.name(), "vieux/sshfs");
        assert_eq!(s.to_string(), "repository(plugin):vieux/sshfs:pull");
        let access = s.to_access();
        assert_eq!(
            serde_json::to_string(&access).unwrap(),
            r#"{"type":"repository","class":"plugin","name":"vieux/sshfs","actions":["pull"]}"#
        );

        let c = Scope::parse("registry:catalog:*").unwrap();
        assert_eq!(c, Scope::catalog());
        assert_eq!(c.resource(), &Resource::Catalog);
        assert_eq!(c.to_string(), "registry:catalog:*");
    }

    #[test]
    fn unknown_and_empty_actions_are_dropped() {
        let s = Scope::parse("repository:foo:pull,frobnicate").unwrap();
        assert_eq!(s.actions(), &set(&[Action::Pull]));
        let s = Scope::parse("repository:foo:").unwrap();
        assert!(s.is_empty());
        let s = Scope::parse("repository:foo:pull,,push").unwrap();
        assert_eq!(s.actions(), &set(&[Action::Pull, Action::Push]));
    }

    #[test]
    fn malformed_scopes() {
        use ScopeError::*;
        type Check = fn(&ScopeError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| *e == Malformed),
            ("repository", |e| *e == Malformed),
            ("repository:foo", |e| *e == Malformed),
            (":foo:pull", |e| matches!(e, BadResourceType(_))),
            ("Repository:foo:pull", |e| matches!(e, BadResourceType(_))),
            ("repository(:foo:pull", |e| matches!(e, BadResourceType(_))),
            ("repository():foo:pull", |e| matches!(e, BadResourceType(_))),
            ("repository(x)(y):foo:pull", |e| {
                matches!(e, BadResourceType(_))
            }),
            ("repository(Plugin):foo:pull", |e| {
                matches!(e, BadResourceType(_))
            }),
            ("image:foo:pull", |e| matches!(e, UnknownResourceType(_))),
            ("registry(x):catalog:*", |e| {
                matches!(e, UnknownResourceType(_))
            }),
            ("registry:users:*", |e| {
                matches!(e, UnknownRegistryResource(_))
            }),
            ("repository::pull", |e| matches!(e, BadName(_))),
            ("repository:Foo:pull", |e| matches!(e, BadName(_))),
            ("repository:foo/../bar:pull", |e| matches!(e, BadName(_))),
            ("repository:/foo:pull", |e| matches!(e, BadName(_))),
            ("repository:foo:PULL", |e| matches!(e, BadAction(_))),
            ("repository:foo:pull;push", |e| matches!(e, BadAction(_))),
            ("repository:foo:**", |e| matches!(e, BadAction(_))),
            ("repository:foo:pull*", |e| matches!(e, BadAction(_))),
        ];
        for (input, check) in cases {
            let err = Scope::parse(input).unwrap_err();
            assert!(check(&err), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn host_port_names_are_refused_not_trusted() {
        // The spec allows `host:port/name`; berth names never have a host.
        let err = Scope::parse("repository:localhost:5000/foo:pull").unwrap_err();
        assert!(matches!(err, ScopeError::BadName(_)), "{err:?}");
        let err = Scope::parse("repository:foo:bar:pull").unwrap_err();
        assert!(matches!(err, ScopeError::BadName(_)), "{err:?}");
    }

    #[test]
    fn injection_attempts_are_refused() {
        for input in [
            "repository:foo:pull,push repository:bar",
            "repository:foo:pull\nrepository:bar:push",
            "repository:foo:pull\trepository:bar:push",
            "repository:foo\0:pull",
            "repository:foo:pull\r",
            "repository:fo\u{f6}:pull",
            "repository:foo\":pull",
            "repository:foo:pull\",\"push",
        ] {
            assert!(Scope::parse(input).is_err(), "{input:?}");
        }
        // The same text as a parameter is two scopes, the second malformed: all refused.
        assert_eq!(
            parse_scopes(["repository:foo:pull,push repository:bar"]),
            Err(ScopeError::Malformed)
        );
        // A name cannot carry actions for another repository.
        let err = Scope::parse("repository:foo:pull,push:repository:bar:push").unwrap_err();
        assert!(matches!(err, ScopeError::BadName(_)), "{err:?}");
    }

    #[test]
    fn several_scopes_per_request_are_merged() {
        let scopes = parse_scopes([
            "repository:a:pull repository:b:push",
            "repository:a:push",
            "  registry:catalog:*  ",
        ])
        .unwrap();
        assert_eq!(scopes.len(), 3);
        assert_eq!(scopes[0].to_string(), "repository:a:pull,push");
        assert_eq!(scopes[1].to_string(), "repository:b:push");
        assert_eq!(scopes[2], Scope::catalog());
        // A different class is a different resource.
        let scopes = parse_scopes(["repository:a:pull", "repository(plugin):a:pull"]).unwrap();
        assert_eq!(scopes.len(), 2);
        assert!(parse_scopes(std::iter::empty()).unwrap().is_empty());
        assert!(parse_scopes([""]).unwrap().is_empty());
    }

    #[test]
    fn bounds() {
        let long = format!("repository:{}:pull", "a".repeat(MAX_SCOPE_LEN));
        assert_eq!(Scope::parse(&long), Err(ScopeError::TooLong));
        let name_too_long = format!("repository:{}:pull", "a".repeat(300));
        assert!(matches!(
            Scope::parse(&name_too_long),
            Err(ScopeError::BadName(NameError::TooLong))
        ));
        let many_actions = format!("repository:a:{}", vec!["pull"; MAX_ACTIONS + 1].join(","));
        assert_eq!(Scope::parse(&many_actions), Err(ScopeError::TooManyActions));
        let many: Vec<String> = (0..=MAX_SCOPES)
            .map(|i| format!("repository:r{i}:pull"))
            .collect();
        assert_eq!(
            parse_scopes(many.iter().map(String::as_str)),
            Err(ScopeError::TooManyScopes)
        );
        let joined = many[..MAX_SCOPES].join(" ");
        assert_eq!(parse_scopes([joined.as_str()]).unwrap().len(), MAX_SCOPES);
        let spaces = " ".repeat(MAX_SCOPES * (MAX_SCOPE_LEN + 1) + 1);
        assert_eq!(parse_scopes([spaces.as_str()]), Err(ScopeError::TooLong));
    }

    #[test]
    fn intersect_grants_only_what_is_allowed() {
        let req = Scope::parse("repository:org/app:pull,push,delete").unwrap();
        let pull_only = ActionSet::EMPTY.with(Action::Pull);
        assert_eq!(req.intersect(&pull_only).actions(), &set(&[Action::Pull]));
        assert!(req.intersect(&ActionSet::EMPTY).is_empty());
        let star = ActionSet::EMPTY.with(Action::All);
        assert_eq!(
            req.intersect(&star).actions(),
            &set(&[Action::Pull, Action::Push, Action::Delete])
        );
        // Asking for `*` is granted only to holders of `*`.
        let star_req = Scope::parse("repository:org/app:*").unwrap();
        let pp: ActionSet = [Action::Pull, Action::Push].into_iter().collect();
        assert!(star_req.intersect(&pp).is_empty());
        assert_eq!(star_req.intersect(&star).actions(), &set(&[Action::All]));
        assert_eq!(Scope::catalog().intersect(&star), Scope::catalog());
        assert!(Scope::catalog().intersect(&pp).is_empty());
    }

    #[test]
    fn intersect_never_exceeds_either_side() {
        // Exhaustive over all 16 x 16 combinations.
        for req_bits in 0u8..16 {
            for allow_bits in 0u8..16 {
                let req: Vec<Action> = Action::ALL
                    .into_iter()
                    .filter(|a| req_bits & a.bit() != 0)
                    .collect();
                let allowed = ActionSet(allow_bits);
                let scope = Scope::repository(repo("x"), req.clone());
                let granted = scope.intersect(&allowed);
                for a in granted.actions() {
                    assert!(req.contains(a));
                    assert!(allowed.permits(*a));
                }
                for a in &req {
                    if *a != Action::All && allowed.permits(*a) {
                        assert!(granted.actions().contains(a));
                    }
                }
            }
        }
    }

    #[test]
    fn access_claim_shape_and_checks() {
        let granted = Scope::parse("repository:org/app:pull,push").unwrap();
        let entry = granted.to_access();
        assert_eq!(
            serde_json::to_string(&[&entry]).unwrap(),
            r#"[{"type":"repository","name":"org/app","actions":["pull","push"]}]"#
        );
        let resource = granted.resource().clone();
        assert!(access_permits(
            std::slice::from_ref(&entry),
            &resource,
            Action::Pull
        ));
        assert!(access_permits(
            std::slice::from_ref(&entry),
            &resource,
            Action::Push
        ));
        assert!(!access_permits(
            std::slice::from_ref(&entry),
            &resource,
            Action::Delete
        ));
        let other = Resource::Repository {
            name: repo("org/other"),
            class: None,
        };
        assert!(!access_permits(
            std::slice::from_ref(&entry),
            &other,
            Action::Pull
        ));
        assert!(!access_permits(&[entry], &Resource::Catalog, Action::All));
        let cat = Scope::catalog().to_access();
        assert!(access_permits(
            std::slice::from_ref(&cat),
            &Resource::Catalog,
            Action::All
        ));
        assert!(access_permits(&[cat], &Resource::Catalog, Action::Pull));
        // Unknown actions in a token parse and grant nothing.
        let entry: AccessEntry =
            serde_json::from_str(r#"{"type":"repository","name":"a","actions":["teleport"]}"#)
                .unwrap();
        let a = Resource::Repository {
            name: repo("a"),
            class: None,
        };
        for action in Action::ALL {
            assert!(!entry.permits("repository", "a", action));
            assert!(!access_permits(std::slice::from_ref(&entry), &a, action));
        }
    }

    #[test]
    fn action_set_basics() {
        let s: ActionSet = [Action::Push, Action::Pull].into_iter().collect();
        assert!(s.contains(Action::Pull) && s.contains(Action::Push));
        assert!(!s.permits(Action::Delete));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Action::Pull, Action::Push]
        );
        assert_eq!(format!("{s:?}"), r#"{"pull", "push"}"#);
        assert!(ActionSet::EMPTY.is_empty());
        assert!(ActionSet::EMPTY.with(Action::All).permits(Action::Delete));
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Action::from_name("pul"), None);
    }

    #[test]
    fn parse_never_panics_on_odd_input() {
        // A small deterministic fuzz: mutations of a valid scope.
        let base = b"repository(plugin):org/app:pull,push";
        let alphabet = b":(),*/ ab.-_\xff\x00";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut v = base.to_vec();
            let pos = (state as usize) % v.len();
            let ch = alphabet[((state >> 32) as usize) % alphabet.len()];
            match (state >> 48) % 3 {
                0 => v[pos] = ch,
                1 => v.insert(pos, ch),
                _ => {
                    v.remove(pos);
                }
            }
            if let Ok(s) = std::str::from_utf8(&v) {
                if let Ok(scope) = Scope::parse(s) {
                    // Whatever parses re-parses from its canonical form to the same scope.
                    assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope, "{s:?}");
                }
                let _ = parse_scopes([s]);
            }
        }
    }
}
