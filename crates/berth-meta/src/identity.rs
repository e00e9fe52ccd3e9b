//! The identity half of the metadata store: namespaces (users and organizations), teams,
//! robots, repository visibility and permissions, default permissions, application, refresh and
//! session tokens, signing keys and the audit log.
//!
//! The store keeps facts and enforces only what must hold in one transaction (uniqueness, a
//! repository created together with its default permissions, a deleted account taking its
//! memberships and grants with it). Who may do what is decided by `berth-access` from these
//! facts, so the rules live in one place for every backend.
//!
//! Secrets never reach this layer: tokens arrive as their sha256 (hex), passwords as PHC
//! hash strings.

use async_trait::async_trait;

use crate::MetaError;

/// Why an identity change was refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

impl From<rusqlite::Error> for IdentityError {
    fn from(e: rusqlite::Error) -> Self {
        IdentityError::Meta(MetaError::Sqlite(e))
    }
}

/// What a namespace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamespaceKind {
    User,
    Org,
}

impl NamespaceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Org => "org",
        }
    }

    pub fn parse(s: &str) -> Option<NamespaceKind> {
        match s {
            "user" => Some(NamespaceKind::User),
            "org" => Some(NamespaceKind::Org),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: i64,
    pub name: String,
    pub kind: NamespaceKind,
    pub created_at: i64,
}

/// A user account. `id` is also its namespace's id.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub superuser: bool,
    pub enabled: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("superuser", &self.superuser)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub superuser: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("superuser", &self.superuser)
            .finish_non_exhaustive()
    }
}

/// A repository role, in increasing power. Also the team roles' vocabulary is separate
/// ([`TeamRole`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A team's role in its organization: `Admin` administers the organization and all its
/// repositories, `Creator` may create repositories in it, `Member` gets only what is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TeamRole {
    Member,
    Creator,
    Admin,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Creator => "creator",
            TeamRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "member" => Some(TeamRole::Member),
            "creator" => Some(TeamRole::Creator),
            "admin" => Some(TeamRole::Admin),
            _ => None,
        }
    }
}

/// Who can hold a permission or a team membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    User(i64),
    Robot(i64),
    Team(i64),
}

impl Subject {
    pub fn kind(self) -> &'static str {
        match self {
            Subject::User(_) => "user",
            Subject::Robot(_) => "robot",
            Subject::Team(_) => "team",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Subject::User(i) | Subject::Robot(i) | Subject::Team(i) => i,
        }
    }

    pub fn from_parts(kind: &str, id: i64) -> Option<Subject> {
        match kind {
            "user" => Some(Subject::User(id)),
            "robot" => Some(Subject::Robot(id)),
            "team" => Some(Subject::Team(id)),
            _ => None,
        }
    }
}

/// A subject with its display name: a user name, `namespace+robot`, or a team's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSubject {
    pub subject: Subject,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub role: TeamRole,
    pub description: String,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Robot {
    pub id: i64,
    pub namespace_id: i64,
    /// The namespace's name (the part before `+`).
    pub namespace: String,
    /// The short name (the part after `+`).
    pub name: String,
    pub token_hash: String,
    pub description: String,
    pub created_at: i64,
}

impl Robot {
    pub fn full_name(&self) -> String {
        format!("{}+{}", self.namespace, self.name)
    }
}

impl std::fmt::Debug for Robot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Robot")
            .field("id", &self.id)
            .field("name", &self.full_name())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub id: i64,
    pub name: String,
    pub visibility: Visibility,
    pub description: String,
    pub created_at: i64,
}

/// Everything needed to decide what a principal may do with one repository, read in one
/// snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoFacts {
    /// `None` when no repository has that name.
    pub repo: Option<RepoInfo>,
    /// The namespace named by the repository's first component, if it exists.
    pub namespace: Option<Namespace>,
    /// Roles granted on the repository to the principal directly and through its teams.
    pub granted: Vec<Role>,
    /// Roles of the principal's teams in the namespace (when it is an organization).
    pub team_roles: Vec<TeamRole>,
}

/// A principal's grants everywhere, for listings (catalog, repository search).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalGrants {
    /// Repository name and the strongest role granted on it (directly or through teams).
    pub repos: Vec<(String, Role)>,
    /// Organization name and the principal's strongest team role in it.
    pub orgs: Vec<(String, TeamRole)>,
}

/// A repository to create, with what the creation grants.
#[derive(Debug, Clone)]
pub struct NewRepo {
    pub name: String,
    pub visibility: Visibility,
    pub description: String,
    /// Granted to the creator (a user gets admin, a robot write), if any.
    pub creator: Option<(Subject, Role)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPermission {
    pub id: String,
    pub org_id: i64,
    pub subject: NamedSubject,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub id: String,
    pub user_id: i64,
    pub title: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    pub token_hash: String,
    /// `User` or `Robot`.
    pub principal: Subject,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    pub seed: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// One audit-log entry. `id` is assigned by the store (0 when writing).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// e.g. `login`, `token_issued`, `push`, `pull`, `delete_tag`, `permission_change`.
    pub kind: String,
    pub success: bool,
    /// The acting account's name (user, `ns+robot`), `None` for anonymous.
    pub actor: Option<String>,
    /// `user`, `robot`, `anonymous`, `cli` or `psk`.
    pub actor_kind: String,
    pub namespace: Option<String>,
    pub repository: Option<String>,
    pub ip: Option<String>,
    /// A JSON object with the details (never a secret).
    pub metadata: String,
}

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub namespace: Option<String>,
    pub repository: Option<String>,
    pub actor: Option<String>,
    /// Only entries with an id below this (for paging backwards).
    pub before_id: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    // --- namespaces, users, organizations
    async fn namespace(&self, name: &str) -> Result<Option<Namespace>, MetaError>;
    /// Creates the user and its namespace. `Exists` if the name is taken by any namespace.
    async fn create_user(&self, user: NewUser) -> Result<User, IdentityError>;
    async fn user_by_name(&self, name: &str) -> Result<Option<User>, MetaError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, MetaError>;
    async fn count_users(&self) -> Result<u64, MetaError>;
    /// Users sorted by name after `after`.
    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, MetaError>;
    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<(), MetaError>;
    async fn set_user_flags(
        &self,
        user_id: i64,
        superuser: Option<bool>,
        enabled: Option<bool>,
        email: Option<Option<&str>>,
    ) -> Result<(), IdentityError>;
    /// Deletes the user with its namespace, robots, memberships, grants and tokens. Refuses
    /// with `Exists` (naming a repository) while repositories remain in its namespace.
    async fn delete_user(&self, user_id: i64) -> Result<(), IdentityError>;
    /// Creates an organization with an `owners` team (role admin) holding `owner`.
    async fn create_org(&self, name: &str, owner: i64) -> Result<Namespace, IdentityError>;
    /// Deletes the organization with its teams, robots, default permissions; refuses with
    /// `Exists` while it still has repositories.
    async fn delete_org(&self, org_id: i64) -> Result<(), IdentityError>;
    /// Organizations sorted by name after `after`.
    async fn list_orgs(&self, after: Option<&str>, limit: u32)
    -> Result<Vec<Namespace>, MetaError>;
    /// The organizations the principal belongs to (through teams), with its strongest role.
    async fn orgs_of(&self, principal: Subject) -> Result<Vec<(Namespace, TeamRole)>, MetaError>;

    // --- teams
    /// Creates or updates a team's role and description.
    async fn put_team(
        &self,
        org_id: i64,
        name: &str,
        role: TeamRole,
        description: &str,
    ) -> Result<Team, IdentityError>;
    async fn team(&self, org_id: i64, name: &str) -> Result<Option<Team>, MetaError>;
    async fn list_teams(&self, org_id: i64) -> Result<Vec<Team>, MetaError>;
    /// Deletes the team with its memberships and grants.
    async fn delete_team(&self, team_id: i64) -> Result<(), IdentityError>;
    /// Adds a user or robot; idempotent.
    async fn add_team_member(&self, team_id: i64, member: Subject) -> Result<(), IdentityError>;
    async fn remove_team_member(&self, team_id: i64, member: Subject) -> Result<bool, MetaError>;
    async fn team_members(&self, team_id: i64) -> Result<Vec<NamedSubject>, MetaError>;

    // --- robots
    async fn create_robot(
        &self,
        namespace_id: i64,
        name: &str,
        token_hash: &str,
        description: &str,
    ) -> Result<Robot, IdentityError>;
    async fn robot(&self, namespace: &str, name: &str) -> Result<Option<Robot>, MetaError>;
    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>, MetaError>;
    async fn list_robots(&self, namespace_id: i64) -> Result<Vec<Robot>, MetaError>;
    async fn set_robot_token(&self, robot_id: i64, token_hash: &str) -> Result<(), IdentityError>;
    /// Deletes the robot with its memberships, grants and refresh tokens.
    async fn delete_robot(&self, robot_id: i64) -> Result<(), IdentityError>;

    // --- repositories and permissions
    async fn repository(&self, name: &str) -> Result<Option<RepoInfo>, MetaError>;
    /// Creates the repository if it does not exist, granting the creator's role and, in an
    /// organization, its default permissions, all in one transaction. An existing repository
    /// is returned unchanged (`created` false).
    async fn create_repository(&self, repo: NewRepo) -> Result<(RepoInfo, bool), IdentityError>;
    async fn set_repository(
        &self,
        repo_id: i64,
        visibility: Option<Visibility>,
        description: Option<&str>,
    ) -> Result<(), IdentityError>;
    /// Deletes the repository with its tags, manifests, blob links, uploads and grants. Blob
    /// bytes stay for garbage collection. Returns the ids of the uploads that were open.
    async fn delete_repository(&self, repo_id: i64) -> Result<Vec<String>, IdentityError>;
    /// Repositories sorted by name after `after`, optionally in one namespace.
    async fn list_repository_infos(
        &self,
        namespace: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepoInfo>, MetaError>;
    /// What `principal` (a user or robot) holds on `repo` and in its namespace.
    async fn repo_facts(
        &self,
        principal: Option<Subject>,
        repo: &str,
    ) -> Result<RepoFacts, MetaError>;
    async fn principal_grants(&self, principal: Subject) -> Result<PrincipalGrants, MetaError>;
    async fn repo_permissions(&self, repo_id: i64) -> Result<Vec<(NamedSubject, Role)>, MetaError>;
    /// Sets (`Some`) or removes (`None`) a grant; returns whether anything changed.
    async fn set_repo_permission(
        &self,
        repo_id: i64,
        subject: Subject,
        role: Option<Role>,
    ) -> Result<bool, IdentityError>;

    // --- default permissions
    async fn default_permissions(&self, org_id: i64) -> Result<Vec<DefaultPermission>, MetaError>;
    async fn add_default_permission(
        &self,
        org_id: i64,
        subject: Subject,
        role: Role,
    ) -> Result<DefaultPermission, IdentityError>;
    async fn delete_default_permission(&self, org_id: i64, id: &str) -> Result<bool, MetaError>;

    // --- application tokens
    async fn create_app_token(&self, token: AppToken) -> Result<(), IdentityError>;
    async fn app_token_by_hash(&self, token_hash: &str) -> Result<Option<AppToken>, MetaError>;
    async fn list_app_tokens(&self, user_id: i64) -> Result<Vec<AppToken>, MetaError>;
    /// Marks the token revoked at `at`; false if the user has no such token.
    async fn revoke_app_token(&self, user_id: i64, id: &str, at: i64) -> Result<bool, MetaError>;
    async fn touch_app_token(&self, id: &str, at: i64) -> Result<(), MetaError>;

    // --- refresh tokens and sessions
    async fn create_refresh_token(&self, row: RefreshTokenRow) -> Result<(), IdentityError>;
    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRow>, MetaError>;
    async fn revoke_refresh_tokens_of(&self, principal: Subject, at: i64)
    -> Result<u64, MetaError>;
    async fn create_session(&self, row: SessionRow) -> Result<(), IdentityError>;
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, MetaError>;
    async fn delete_session(&self, token_hash: &str) -> Result<bool, MetaError>;

    // --- signing keys
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, MetaError>;
    /// Inserts a key; `Exists` if the kid is taken.
    async fn insert_signing_key(&self, key: SigningKeyRow) -> Result<(), IdentityError>;
    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<(), MetaError>;
    async fn delete_signing_key(&self, kid: &str) -> Result<(), MetaError>;

    // --- audit log
    /// Appends entries in one transaction.
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), MetaError>;
    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, MetaError>;
    /// Deletes up to `limit` of the oldest entries recorded before `before`; returns how
    /// many (call again while it returns `limit`).
    async fn prune_audit(&self, before: i64, limit: u32) -> Result<u64, MetaError>;
}
