//! Account, organization, team, robot, token, repository and permission changes, each
//! checked against the acting principal and recorded in the audit log. The REST API and the
//! `berth admin` CLI both call these; neither decides permissions itself.
//!
//! Refusals follow one rule: a caller who may not see a thing gets `NotFound` for it (the
//! same as if it did not exist); one who may see it but not change it gets `Forbidden`.

use berth_auth::{Secret, SecretKind};
/// The identity vocabulary these operations take and return, re-exported so their callers (the
/// REST API) need not depend on the metadata store to name a role or a team.
pub use berth_meta::identity::{
    AppToken, AuditQuery, AuditRecord, DefaultPermission, NamedSubject, Namespace, NamespaceKind,
    NewUser, RepoInfo, Robot, Role, Subject, Team, TeamRole, User, Visibility,
};

use crate::{Access, AccessError, Origin, Principal, Result, namespace_of, now, policy};

/// Longest name of a user, organization, team or robot.
pub const MAX_NAME_LEN: usize = 64;
pub const MIN_PASSWORD_LEN: usize = 8;
/// Listing pages are capped at this.
pub const MAX_PAGE: u32 = 1000;
/// Every organization's administrators; created with it, never emptied or demoted.
pub const OWNERS_TEAM: &str = "owners";

/// A grantee named the way the API names them: a user (or robot, `ns+name`) or a team of the
/// repository's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegate {
    User(String),
    Team(String),
}

/// Whose audit entries to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogScope {
    Repository(String),
    Namespace(String),
    User(String),
    All,
}

/// A repository as listed, with the caller's role on it.
#[derive(Debug, Clone)]
pub struct RepoView {
    pub info: RepoInfo,
    pub role: Option<Role>,
}

/// An organization with what the caller may see of it.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub org: Namespace,
    /// The caller's strongest team role, if any (superusers: admin).
    pub role: Option<TeamRole>,
    /// The teams, when the caller is a member.
    pub teams: Vec<Team>,
}

/// A robot with its fresh token (shown once, at creation and regeneration).
#[derive(Debug, Clone)]
pub struct RobotWithToken {
    pub robot: Robot,
    pub token: Secret,
}

fn invalid(msg: impl Into<String>) -> AccessError {
    AccessError::Invalid(msg.into())
}

/// Names of users, organizations, teams and robots: lowercase letters, digits and single
/// `.`, `_`, `-` separators, 2 to 64 characters, so they are valid repository components.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let ok = (2..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.contains("--")
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid {kind} name {:?}: use 2 to {MAX_NAME_LEN} lowercase letters, digits and single . _ - between them",
            name.chars().take(80).collect::<String>()
        )))
    }
}

fn validate_password(p: &str) -> Result<()> {
    if p.len() < MIN_PASSWORD_LEN {
        return Err(invalid(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if p.len() > berth_auth::password::MAX_PASSWORD_BYTES {
        return Err(invalid("password is too long"));
    }
    Ok(())
}

fn not_found(what: impl std::fmt::Display) -> AccessError {
    AccessError::NotFound(format!("{what} does not exist"))
}

fn need_user(actor: &Principal) -> Result<()> {
    match actor {
        Principal::User { .. } | Principal::System => Ok(()),
        Principal::Anonymous => Err(AccessError::Unauthorized(
            "this needs a signed-in user".into(),
        )),
        Principal::Robot { .. } => Err(AccessError::Forbidden(
            "robot accounts cannot do this".into(),
        )),
    }
}

fn need_signed_in(actor: &Principal) -> Result<()> {
    if matches!(actor, Principal::Anonymous) {
        Err(AccessError::Unauthorized(
            "this needs a signed-in user".into(),
        ))
    } else {
        Ok(())
    }
}

impl Access {
    async fn hash_password(&self, password: &str) -> Result<String> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AccessError::Meta(berth_meta::MetaError::Worker(e.to_string())))?;
        let hasher = self.hasher.clone();
        let p = password.to_owned();
        tokio::task::spawn_blocking(move || hasher.hash(&p, &mut rand::rng()))
            .await
            .map_err(|e| AccessError::Meta(berth_meta::MetaError::Worker(e.to_string())))?
            .map_err(AccessError::from)
    }

    async fn user_named(&self, name: &str) -> Result<User> {
        self.store
            .user_by_name(name)
            .await?
            .ok_or_else(|| not_found(format_args!("user {name}")))
    }

    /// The caller's strongest team role in `org` (superusers count as admins); `NotFound` when
    /// the organization does not exist.
    async fn org_role(
        &self,
        actor: &Principal,
        org: &str,
    ) -> Result<(Namespace, Option<TeamRole>)> {
        let ns = self
            .store
            .namespace(org)
            .await?
            .filter(|n| n.kind == NamespaceKind::Org)
            .ok_or_else(|| not_found(format_args!("organization {org}")))?;
        if actor.is_superuser() {
            return Ok((ns, Some(TeamRole::Admin)));
        }
        let role = match actor.subject() {
            Some(s) => self
                .store
                .orgs_of(s)
                .await?
                .into_iter()
                .filter(|(n, _)| n.id == ns.id)
                .map(|(_, r)| r)
                .max(),
            None => None,
        };
        Ok((ns, role))
    }

    async fn org_admin(&self, actor: &Principal, org: &str) -> Result<Namespace> {
        match self.org_role(actor, org).await? {
            (ns, Some(TeamRole::Admin)) => Ok(ns),
            (_, Some(_)) => Err(AccessError::Forbidden(format!(
                "only administrators of {org} can do this"
            ))),
            (_, None) => Err(not_found(format_args!("organization {org}"))),
        }
    }

    /// A namespace whose robots the caller manages: its own user namespace, or an
    /// organization it administers.
    async fn robot_namespace(&self, actor: &Principal, namespace: &str) -> Result<Namespace> {
        need_user(actor)?;
        let ns = self
            .store
            .namespace(namespace)
            .await?
            .ok_or_else(|| not_found(format_args!("namespace {namespace}")))?;
        match ns.kind {
            NamespaceKind::Org => self.org_admin(actor, namespace).await,
            NamespaceKind::User => match actor {
                Principal::User { id, .. } if *id == ns.id => Ok(ns),
                a if a.is_superuser() => Ok(ns),
                _ => Err(not_found(format_args!("namespace {namespace}"))),
            },
        }
    }

    /// The repository and the caller's role, refusing below `need` (not visible: `NotFound`).
    pub async fn repo_with_role(
        &self,
        actor: &Principal,
        name: &str,
        need: Role,
    ) -> Result<(RepoInfo, Role)> {
        let facts = self.facts(actor, name).await?;
        let role = policy::repo_role(actor, &facts, self.config.anonymous_pull);
        match (facts.repo, role) {
            (Some(info), Some(role)) if role >= need => Ok((info, role)),
            (Some(_), Some(_)) => Err(AccessError::Forbidden(format!(
                "this needs {} permission on {name}",
                need.as_str()
            ))),
            _ => Err(not_found(format_args!("repository {name}"))),
        }
    }

    // ------------------------------------------------------------------ users

    /// Creates a user: superusers (and the CLI) always, anyone else only when registration
    /// is open, and never a superuser.
    pub async fn create_user(
        &self,
        actor: &Principal,
        name: &str,
        password: Option<&str>,
        email: Option<&str>,
        superuser: bool,
        origin: &Origin,
    ) -> Result<User> {
        if !actor.is_superuser() {
            if !self.config.open_registration {
                return Err(match actor {
                    Principal::Anonymous => {
                        AccessError::Unauthorized("only superusers can create users".into())
                    }
                    _ => AccessError::Forbidden("only superusers can create users".into()),
                });
            }
            if superuser {
                return Err(AccessError::Forbidden(
                    "only superusers can create superusers".into(),
                ));
            }
        }
        validate_name("user", name)?;
        if let Some(p) = password {
            validate_password(p)?;
        }
        if email.is_some_and(|e| e.len() > 254 || !e.contains('@')) {
            return Err(invalid("invalid email address"));
        }
        let password_hash = match password {
            Some(p) => Some(self.hash_password(p).await?),
            None => None,
        };
        let user = self
            .store
            .create_user(NewUser {
                name: name.to_owned(),
                email: email.map(str::to_owned),
                password_hash,
                superuser,
            })
            .await?;
        self.record(
            "create_user",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "user": name, "superuser": superuser }),
        );
        Ok(user)
    }

    /// Imports a user with an existing password hash (argon2 or bcrypt PHC string), as a
    /// migration from another registry would. CLI and superusers only.
    pub async fn import_user(
        &self,
        actor: &Principal,
        name: &str,
        password_hash: &str,
        superuser: bool,
        origin: &Origin,
    ) -> Result<User> {
        if !actor.is_superuser() {
            return Err(AccessError::Forbidden(
                "only superusers can import users".into(),
            ));
        }
        validate_name("user", name)?;
        // Refuse what could never verify, rather than store a locked account by accident.
        // Parsing (with the stored-cost bounds) suffices; no hash needs computing.
        if self.hasher.needs_rehash(password_hash).is_err() {
            return Err(invalid(
                "password hash is not an argon2 or bcrypt PHC string",
            ));
        }
        let user = self
            .store
            .create_user(NewUser {
                name: name.to_owned(),
                email: None,
                password_hash: Some(password_hash.to_owned()),
                superuser,
            })
            .await?;
        self.record(
            "create_user",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "user": name, "imported_hash": true }),
        );
        Ok(user)
    }

    pub async fn get_user(&self, actor: &Principal, name: &str) -> Result<User> {
        need_signed_in(actor)?;
        self.user_named(name).await
    }

    pub async fn list_users(
        &self,
        actor: &Principal,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<User>> {
        if !actor.is_superuser() {
            return Err(AccessError::Forbidden(
                "only superusers can list users".into(),
            ));
        }
        Ok(self
            .store
            .list_users(after, limit.clamp(1, MAX_PAGE))
            .await?)
    }

    /// Changes a password: the user itself or a superuser. Ends nothing else (tokens stay).
    pub async fn set_password(
        &self,
        actor: &Principal,
        name: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<()> {
        let user = self.user_named(name).await?;
        let is_self = matches!(actor, Principal::User { id, .. } if *id == user.id);
        if !is_self && !actor.is_superuser() {
            return Err(AccessError::Forbidden(
                "only the user or a superuser can change a password".into(),
            ));
        }
        validate_password(password)?;
        let hash = self.hash_password(password).await?;
        self.store.set_password_hash(user.id, Some(&hash)).await?;
        // Clients that logged in with the old password keep no offline access.
        self.store
            .revoke_refresh_tokens_of(Subject::User(user.id), now() as i64)
            .await?;
        self.record(
            "change_password",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "user": name }),
        );
        Ok(())
    }

    /// Superuser flag, enabled flag and email: superusers only (email: also the user).
    pub async fn update_user(
        &self,
        actor: &Principal,
        name: &str,
        superuser: Option<bool>,
        enabled: Option<bool>,
        email: Option<Option<&str>>,
        origin: &Origin,
    ) -> Result<User> {
        let user = self.user_named(name).await?;
        let is_self = matches!(actor, Principal::User { id, .. } if *id == user.id);
        let flags = superuser.is_some() || enabled.is_some();
        if (flags && !actor.is_superuser()) || (!is_self && !actor.is_superuser()) {
            return Err(AccessError::Forbidden(
                "only superusers can change this".into(),
            ));
        }
        if let Some(Some(e)) = email
            && (e.len() > 254 || !e.contains('@'))
        {
            return Err(invalid("invalid email address"));
        }
        self.store
            .set_user_flags(user.id, superuser, enabled, email)
            .await?;
        if enabled == Some(false) {
            self.store
                .revoke_refresh_tokens_of(Subject::User(user.id), now() as i64)
                .await?;
        }
        self.record(
            "update_user",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "user": name, "superuser": superuser, "enabled": enabled }),
        );
        self.user_named(name).await
    }

    pub async fn delete_user(&self, actor: &Principal, name: &str, origin: &Origin) -> Result<()> {
        let user = self.user_named(name).await?;
        let is_self = matches!(actor, Principal::User { id, .. } if *id == user.id);
        if !is_self && !actor.is_superuser() {
            return Err(AccessError::Forbidden(
                "only the user or a superuser can delete an account".into(),
            ));
        }
        self.store.delete_user(user.id).await?;
        self.record(
            "delete_user",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "user": name }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ organizations

    /// Creates an organization owned by the caller (or, from the CLI, by `owner`).
    pub async fn create_org(
        &self,
        actor: &Principal,
        name: &str,
        owner: Option<&str>,
        origin: &Origin,
    ) -> Result<Namespace> {
        need_user(actor)?;
        validate_name("organization", name)?;
        let owner_id = match (actor, owner) {
            (_, Some(o)) if actor.is_superuser() => self.user_named(o).await?.id,
            (Principal::User { id, .. }, _) => *id,
            _ => return Err(invalid("an organization needs an owner (a user name)")),
        };
        let ns = self.store.create_org(name, owner_id).await?;
        self.record(
            "create_org",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "organization": name }),
        );
        Ok(ns)
    }

    pub async fn get_org(&self, actor: &Principal, name: &str) -> Result<OrgView> {
        need_signed_in(actor)?;
        let (org, role) = self.org_role(actor, name).await?;
        let teams = if role.is_some() {
            self.store.list_teams(org.id).await?
        } else {
            Vec::new()
        };
        Ok(OrgView { org, role, teams })
    }

    /// Organizations the caller belongs to (superusers: all).
    pub async fn list_orgs(&self, actor: &Principal) -> Result<Vec<(Namespace, TeamRole)>> {
        need_signed_in(actor)?;
        if actor.is_superuser() {
            return Ok(self
                .store
                .list_orgs(None, MAX_PAGE)
                .await?
                .into_iter()
                .map(|n| (n, TeamRole::Admin))
                .collect());
        }
        match actor.subject() {
            Some(s) => Ok(self.store.orgs_of(s).await?),
            None => Ok(Vec::new()),
        }
    }

    pub async fn delete_org(&self, actor: &Principal, name: &str, origin: &Origin) -> Result<()> {
        let org = self.org_admin(actor, name).await?;
        self.store.delete_org(org.id).await?;
        self.record(
            "delete_org",
            true,
            actor,
            Some(name),
            None,
            origin,
            serde_json::json!({ "organization": name }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ teams

    pub async fn put_team(
        &self,
        actor: &Principal,
        org: &str,
        team: &str,
        role: TeamRole,
        description: &str,
        origin: &Origin,
    ) -> Result<Team> {
        let ns = self.org_admin(actor, org).await?;
        validate_name("team", team)?;
        if team == OWNERS_TEAM && role != TeamRole::Admin {
            return Err(invalid(
                "the owners team is always admin: an organization must keep administrators",
            ));
        }
        if description.len() > 4096 {
            return Err(invalid("description is longer than 4096 bytes"));
        }
        let t = self.store.put_team(ns.id, team, role, description).await?;
        self.record(
            "put_team",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "team": team, "role": role.as_str() }),
        );
        Ok(t)
    }

    async fn team_in(&self, org: &Namespace, team: &str) -> Result<Team> {
        self.store
            .team(org.id, team)
            .await?
            .ok_or_else(|| not_found(format_args!("team {team} in {}", org.name)))
    }

    pub async fn delete_team(
        &self,
        actor: &Principal,
        org: &str,
        team: &str,
        origin: &Origin,
    ) -> Result<()> {
        let ns = self.org_admin(actor, org).await?;
        let t = self.team_in(&ns, team).await?;
        if team == OWNERS_TEAM {
            return Err(invalid("the owners team cannot be deleted"));
        }
        self.store.delete_team(t.id).await?;
        self.record(
            "delete_team",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "team": team }),
        );
        Ok(())
    }

    /// A team and its members: visible to members of the organization.
    pub async fn team_members(
        &self,
        actor: &Principal,
        org: &str,
        team: &str,
    ) -> Result<(Team, Vec<NamedSubject>)> {
        let (ns, role) = self.org_role(actor, org).await?;
        if role.is_none() {
            return Err(not_found(format_args!("organization {org}")));
        }
        let t = self.team_in(&ns, team).await?;
        let members = self.store.team_members(t.id).await?;
        Ok((t, members))
    }

    /// A user, or a robot of this organization (`org+name`), as a team member or grantee.
    async fn member_subject(&self, org: Option<&Namespace>, name: &str) -> Result<Subject> {
        if let Some((ns, short)) = name.split_once('+') {
            let robot = self
                .store
                .robot(ns, short)
                .await?
                .ok_or_else(|| not_found(format_args!("robot {name}")))?;
            if let Some(org) = org
                && robot.namespace_id != org.id
            {
                return Err(invalid(format!(
                    "robot {name} belongs to another namespace than {}",
                    org.name
                )));
            }
            return Ok(Subject::Robot(robot.id));
        }
        Ok(Subject::User(self.user_named(name).await?.id))
    }

    pub async fn add_team_member(
        &self,
        actor: &Principal,
        org: &str,
        team: &str,
        member: &str,
        origin: &Origin,
    ) -> Result<()> {
        let ns = self.org_admin(actor, org).await?;
        let t = self.team_in(&ns, team).await?;
        let subject = self.member_subject(Some(&ns), member).await?;
        self.store.add_team_member(t.id, subject).await?;
        self.record(
            "add_team_member",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "team": team, "member": member }),
        );
        Ok(())
    }

    pub async fn remove_team_member(
        &self,
        actor: &Principal,
        org: &str,
        team: &str,
        member: &str,
        origin: &Origin,
    ) -> Result<()> {
        let ns = self.org_admin(actor, org).await?;
        let t = self.team_in(&ns, team).await?;
        let subject = self.member_subject(Some(&ns), member).await?;
        if team == OWNERS_TEAM && self.store.team_members(t.id).await?.len() <= 1 {
            return Err(invalid(
                "the last member of the owners team cannot be removed",
            ));
        }
        if !self.store.remove_team_member(t.id, subject).await? {
            return Err(not_found(format_args!("{member} in team {team}")));
        }
        self.record(
            "remove_team_member",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "team": team, "member": member }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ robots

    pub async fn create_robot(
        &self,
        actor: &Principal,
        namespace: &str,
        name: &str,
        description: &str,
        origin: &Origin,
    ) -> Result<RobotWithToken> {
        let ns = self.robot_namespace(actor, namespace).await?;
        validate_name("robot", name)?;
        if description.len() > 4096 {
            return Err(invalid("description is longer than 4096 bytes"));
        }
        let token = Secret::generate(SecretKind::Robot);
        let robot = self
            .store
            .create_robot(ns.id, name, &token.hash().to_string(), description)
            .await?;
        self.record(
            "create_robot",
            true,
            actor,
            Some(namespace),
            None,
            origin,
            serde_json::json!({ "robot": robot.full_name() }),
        );
        Ok(RobotWithToken { robot, token })
    }

    async fn robot_in(&self, ns: &Namespace, name: &str) -> Result<Robot> {
        self.store
            .robot(&ns.name, name)
            .await?
            .ok_or_else(|| not_found(format_args!("robot {}+{name}", ns.name)))
    }

    pub async fn list_robots(&self, actor: &Principal, namespace: &str) -> Result<Vec<Robot>> {
        let ns = self.robot_namespace(actor, namespace).await?;
        Ok(self.store.list_robots(ns.id).await?)
    }

    pub async fn get_robot(&self, actor: &Principal, namespace: &str, name: &str) -> Result<Robot> {
        let ns = self.robot_namespace(actor, namespace).await?;
        self.robot_in(&ns, name).await
    }

    /// A new token for the robot; the old one stops working at once, and so do refresh
    /// tokens issued to it.
    pub async fn regenerate_robot(
        &self,
        actor: &Principal,
        namespace: &str,
        name: &str,
        origin: &Origin,
    ) -> Result<RobotWithToken> {
        let ns = self.robot_namespace(actor, namespace).await?;
        let mut robot = self.robot_in(&ns, name).await?;
        let token = Secret::generate(SecretKind::Robot);
        let hash = token.hash().to_string();
        self.store.set_robot_token(robot.id, &hash).await?;
        self.store
            .revoke_refresh_tokens_of(Subject::Robot(robot.id), now() as i64)
            .await?;
        robot.token_hash = hash;
        self.record(
            "regenerate_robot",
            true,
            actor,
            Some(namespace),
            None,
            origin,
            serde_json::json!({ "robot": robot.full_name() }),
        );
        Ok(RobotWithToken { robot, token })
    }

    pub async fn delete_robot(
        &self,
        actor: &Principal,
        namespace: &str,
        name: &str,
        origin: &Origin,
    ) -> Result<()> {
        let ns = self.robot_namespace(actor, namespace).await?;
        let robot = self.robot_in(&ns, name).await?;
        self.store.delete_robot(robot.id).await?;
        self.record(
            "delete_robot",
            true,
            actor,
            Some(namespace),
            None,
            origin,
            serde_json::json!({ "robot": robot.full_name() }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ app tokens

    fn acting_user(&self, actor: &Principal) -> Result<i64> {
        match actor {
            Principal::User { id, .. } => Ok(*id),
            Principal::Anonymous => Err(AccessError::Unauthorized(
                "this needs a signed-in user".into(),
            )),
            _ => Err(AccessError::Forbidden(
                "only users have application tokens".into(),
            )),
        }
    }

    pub async fn create_app_token(
        &self,
        actor: &Principal,
        title: &str,
        expires_at: Option<i64>,
        origin: &Origin,
    ) -> Result<(AppToken, Secret)> {
        let user_id = self.acting_user(actor)?;
        if title.is_empty() || title.len() > 255 {
            return Err(invalid("a token title is 1 to 255 bytes"));
        }
        let t = now() as i64;
        if expires_at.is_some_and(|e| e <= t) {
            return Err(invalid("expiration is in the past"));
        }
        let secret = Secret::generate(SecretKind::AppToken);
        let token = AppToken {
            id: uuid::Uuid::new_v4().to_string(),
            user_id,
            title: title.to_owned(),
            token_hash: secret.hash().to_string(),
            created_at: t,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_app_token(token.clone()).await?;
        self.record(
            "create_app_token",
            true,
            actor,
            Some(actor.name()),
            None,
            origin,
            serde_json::json!({ "token": token.id, "title": title }),
        );
        Ok((token, secret))
    }

    pub async fn list_app_tokens(&self, actor: &Principal) -> Result<Vec<AppToken>> {
        let user_id = self.acting_user(actor)?;
        Ok(self.store.list_app_tokens(user_id).await?)
    }

    pub async fn revoke_app_token(
        &self,
        actor: &Principal,
        id: &str,
        origin: &Origin,
    ) -> Result<()> {
        let user_id = self.acting_user(actor)?;
        if !self
            .store
            .revoke_app_token(user_id, id, now() as i64)
            .await?
        {
            return Err(not_found(format_args!("token {id}")));
        }
        // A refresh token obtained with this app token (docker login keeps one) must stop
        // too; refresh tokens do not record which credential made them, so all of the user's
        // go, and its clients log in again.
        self.store
            .revoke_refresh_tokens_of(Subject::User(user_id), now() as i64)
            .await?;
        self.record(
            "revoke_app_token",
            true,
            actor,
            Some(actor.name()),
            None,
            origin,
            serde_json::json!({ "token": id }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ repositories

    pub async fn create_repo(
        &self,
        actor: &Principal,
        name: &str,
        visibility: Visibility,
        description: &str,
        origin: &Origin,
    ) -> Result<RepoInfo> {
        need_signed_in(actor)?;
        berth_domain::RepoName::parse(name).map_err(|e| invalid(e.to_string()))?;
        if description.len() > 65536 {
            return Err(invalid("description is longer than 64 KiB"));
        }
        let facts = self.facts(actor, name).await?;
        let visible = policy::repo_role(actor, &facts, self.config.anonymous_pull).is_some();
        if facts.repo.is_some() && visible {
            return Err(AccessError::Conflict(format!(
                "repository {name} already exists"
            )));
        }
        // A caller who cannot see the repository gets the answer it would get if it did not
        // exist: refused if it may not create here. One who may create learns of a name
        // clash; there is no hiding that from a creator.
        if !policy::may_create(actor, &facts) {
            return Err(AccessError::Forbidden(format!(
                "you cannot create repositories in {}",
                namespace_of(name).unwrap_or(name)
            )));
        }
        if facts.repo.is_some() {
            return Err(AccessError::Conflict(format!(
                "repository {name} already exists"
            )));
        }
        self.create_repository(actor, name, visibility, description, origin)
            .await
    }

    pub async fn get_repo(&self, actor: &Principal, name: &str) -> Result<RepoView> {
        let (info, role) = self.repo_with_role(actor, name, Role::Read).await?;
        Ok(RepoView {
            info,
            role: Some(role),
        })
    }

    /// Repositories the caller may read, sorted by name after `after`, optionally in one
    /// namespace and optionally public ones only.
    pub async fn list_repos(
        &self,
        actor: &Principal,
        namespace: Option<&str>,
        public_only: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepoView>> {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let filter = self.repo_filter(actor).await?;
        let mut out = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let page = self
                .store
                .list_repository_infos(namespace, cursor.as_deref(), 500)
                .await?;
            let done = page.len() < 500;
            cursor = page.last().map(|r| r.name.clone());
            for info in page {
                if public_only && info.visibility != Visibility::Public {
                    continue;
                }
                if filter.allows(&info.name) {
                    out.push(RepoView { info, role: None });
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if done || out.len() == limit {
                break;
            }
        }
        for v in &mut out {
            v.role = self.role(actor, &v.info.name).await?;
        }
        Ok(out)
    }

    pub async fn update_repo(
        &self,
        actor: &Principal,
        name: &str,
        visibility: Option<Visibility>,
        description: Option<&str>,
        origin: &Origin,
    ) -> Result<RepoInfo> {
        let (info, _) = self.repo_with_role(actor, name, Role::Admin).await?;
        if description.is_some_and(|d| d.len() > 65536) {
            return Err(invalid("description is longer than 64 KiB"));
        }
        self.store
            .set_repository(info.id, visibility, description)
            .await?;
        if let Some(v) = visibility {
            self.record(
                "change_visibility",
                true,
                actor,
                None,
                Some(name),
                origin,
                serde_json::json!({ "visibility": v.as_str() }),
            );
        }
        self.store
            .repository(name)
            .await?
            .ok_or_else(|| not_found(format_args!("repository {name}")))
    }

    /// Deletes the repository's metadata; returns the ids of uploads that were open in it so
    /// the caller can discard their bytes.
    pub async fn delete_repo(
        &self,
        actor: &Principal,
        name: &str,
        origin: &Origin,
    ) -> Result<Vec<String>> {
        let (info, _) = self.repo_with_role(actor, name, Role::Admin).await?;
        let uploads = self.store.delete_repository(info.id).await?;
        self.record(
            "delete_repo",
            true,
            actor,
            None,
            Some(name),
            origin,
            serde_json::json!({}),
        );
        Ok(uploads)
    }

    // ------------------------------------------------------------------ permissions

    pub async fn repo_permissions(
        &self,
        actor: &Principal,
        repo: &str,
    ) -> Result<Vec<(NamedSubject, Role)>> {
        let (info, _) = self.repo_with_role(actor, repo, Role::Admin).await?;
        Ok(self.store.repo_permissions(info.id).await?)
    }

    async fn delegate_subject(&self, repo_or_org: &str, delegate: &Delegate) -> Result<Subject> {
        match delegate {
            Delegate::User(name) => self.member_subject(None, name).await,
            Delegate::Team(team) => {
                let org_name = namespace_of(repo_or_org).unwrap_or(repo_or_org);
                let org = self
                    .store
                    .namespace(org_name)
                    .await?
                    .filter(|n| n.kind == NamespaceKind::Org)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{org_name} is not an organization; it has no teams"
                        ))
                    })?;
                Ok(Subject::Team(self.team_in(&org, team).await?.id))
            }
        }
    }

    /// Grants (`Some`) or removes (`None`) a delegate's role on a repository.
    pub async fn set_permission(
        &self,
        actor: &Principal,
        repo: &str,
        delegate: &Delegate,
        role: Option<Role>,
        origin: &Origin,
    ) -> Result<()> {
        let (info, _) = self.repo_with_role(actor, repo, Role::Admin).await?;
        let subject = self.delegate_subject(repo, delegate).await?;
        let changed = self
            .store
            .set_repo_permission(info.id, subject, role)
            .await?;
        if role.is_none() && !changed {
            return Err(not_found(format_args!("permission for {delegate:?}")));
        }
        let (kind, name) = match delegate {
            Delegate::User(n) => ("user", n),
            Delegate::Team(n) => ("team", n),
        };
        self.record(
            "permission_change",
            true,
            actor,
            None,
            Some(repo),
            origin,
            serde_json::json!({ "kind": kind, "name": name, "role": role.map(Role::as_str) }),
        );
        Ok(())
    }

    pub async fn default_permissions(
        &self,
        actor: &Principal,
        org: &str,
    ) -> Result<Vec<DefaultPermission>> {
        let ns = self.org_admin(actor, org).await?;
        Ok(self.store.default_permissions(ns.id).await?)
    }

    pub async fn add_default_permission(
        &self,
        actor: &Principal,
        org: &str,
        delegate: &Delegate,
        role: Role,
        origin: &Origin,
    ) -> Result<DefaultPermission> {
        let ns = self.org_admin(actor, org).await?;
        let subject = self.delegate_subject(org, delegate).await?;
        let p = self
            .store
            .add_default_permission(ns.id, subject, role)
            .await?;
        self.record(
            "default_permission_change",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "id": p.id, "delegate": p.subject.name, "role": role.as_str() }),
        );
        Ok(p)
    }

    pub async fn delete_default_permission(
        &self,
        actor: &Principal,
        org: &str,
        id: &str,
        origin: &Origin,
    ) -> Result<()> {
        let ns = self.org_admin(actor, org).await?;
        if !self.store.delete_default_permission(ns.id, id).await? {
            return Err(not_found(format_args!("default permission {id}")));
        }
        self.record(
            "default_permission_change",
            true,
            actor,
            Some(org),
            None,
            origin,
            serde_json::json!({ "id": id, "deleted": true }),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ audit log

    /// Audit entries, newest first: a repository's (its admins), an organization's (its
    /// admins), a user's own, or all (superusers).
    pub async fn logs(
        &self,
        actor: &Principal,
        scope: &LogScope,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let mut q = AuditQuery {
            before_id,
            limit: limit.clamp(1, MAX_PAGE),
            ..AuditQuery::default()
        };
        match scope {
            LogScope::All => {
                if !actor.is_superuser() {
                    return Err(AccessError::Forbidden(
                        "only superusers can read every log".into(),
                    ));
                }
            }
            LogScope::Repository(name) => {
                self.repo_with_role(actor, name, Role::Admin).await?;
                q.repository = Some(name.clone());
            }
            LogScope::Namespace(name) => {
                let ns = self
                    .store
                    .namespace(name)
                    .await?
                    .ok_or_else(|| not_found(format_args!("namespace {name}")))?;
                match ns.kind {
                    NamespaceKind::Org => {
                        self.org_admin(actor, name).await?;
                    }
                    NamespaceKind::User => {
                        let own = matches!(actor, Principal::User { id, .. } if *id == ns.id);
                        if !own && !actor.is_superuser() {
                            return Err(not_found(format_args!("namespace {name}")));
                        }
                    }
                }
                q.namespace = Some(name.clone());
            }
            LogScope::User(name) => {
                let own = matches!(actor, Principal::User { name: n, .. } if n == name);
                if !own && !actor.is_superuser() {
                    return Err(AccessError::Forbidden(
                        "only the user or a superuser can read a user's log".into(),
                    ));
                }
                q.actor = Some(name.clone());
            }
        }
        self.audit.flush().await;
        Ok(self.store.audit(q).await?)
    }
}
