//! [`IdentityStore`](crate::IdentityStore) for the embedded SQLite backend.
//!
//! Every change runs in one IMMEDIATE transaction on the writer connection, so a cascade
//! (a deleted account taking its robots, memberships, grants and tokens; a deleted repository
//! taking its registry rows) is all or nothing. Reads that combine several queries
//! ([`repo_facts`](crate::IdentityStore::repo_facts),
//! [`principal_grants`](crate::IdentityStore::principal_grants)) run in one read transaction,
//! so they see one snapshot.
//!
//! Conventions kept here:
//! - subjects are stored as `(kind, id)` with [`Subject::kind`] and [`Subject::id`];
//! - a repository is in namespace `ns` when its first `/`-component is `ns`: named `ns` itself
//!   or `ns/...` (the same rule [`repo_facts`](crate::IdentityStore::repo_facts) uses to find
//!   the namespace), so deleting a namespace is refused while any such repository remains;
//! - a grant, membership or token is written only for a subject that exists at that moment
//!   (checked inside the transaction). Row ids can be reused by SQLite once the highest row is
//!   deleted, so a row left pointing at a missing subject could later grant a stranger access;
//! - a UNIQUE violation becomes [`IdentityError::Exists`] naming the thing, never a panic;
//! - an audit query's `limit` is capped at [`MAX_AUDIT_LIMIT`]; 0 means that cap.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use crate::identity::{
    AppToken, AuditQuery, AuditRecord, DefaultPermission, IdentityError, IdentityStore,
    NamedSubject, Namespace, NamespaceKind, NewRepo, NewUser, PrincipalGrants, RefreshTokenRow,
    RepoFacts, RepoInfo, Robot, Role, SessionRow, SigningKeyRow, Subject, Team, TeamRole, User,
    Visibility,
};
use crate::{MetaError, SqliteStore, now};

/// The most audit entries one query returns.
const MAX_AUDIT_LIMIT: u32 = 1000;

type Tx<'a> = rusqlite::Transaction<'a>;

const USER_COLS: &str =
    "u.id, n.name, u.email, u.password_hash, u.superuser, u.enabled, u.created_at
     FROM users u JOIN namespaces n ON n.id = u.id";
const NS_COLS: &str = "id, name, kind, created_at FROM namespaces";
const TEAM_COLS: &str = "id, org_id, name, role, description, created_at FROM teams";
const ROBOT_COLS: &str =
    "r.id, r.namespace_id, n.name, r.name, r.token_hash, r.description, r.created_at
     FROM robots r JOIN namespaces n ON n.id = r.namespace_id";
const REPO_COLS: &str = "id, name, visibility, description, created_at FROM repositories";
const APP_TOKEN_COLS: &str =
    "id, user_id, title, token_hash, created_at, expires_at, last_used_at, revoked_at
     FROM app_tokens";
const REFRESH_COLS: &str =
    "token_hash, principal_kind, principal_id, client_id, created_at, expires_at, revoked_at
     FROM refresh_tokens";
const AUDIT_COLS: &str =
    "id, at, kind, success, actor, actor_kind, namespace, repository, ip, metadata FROM audit_log";

/// SQL for the display name of the subject `(kind, id)` (columns or placeholders), NULL when
/// it does not exist. A user subject names a user, never an organization.
fn subject_name_sql(kind: &str, id: &str) -> String {
    format!(
        "CASE {kind}
           WHEN 'user' THEN (SELECT n.name FROM users u JOIN namespaces n ON n.id = u.id WHERE u.id = {id})
           WHEN 'robot' THEN (SELECT n.name || '+' || r.name FROM robots r
                              JOIN namespaces n ON n.id = r.namespace_id WHERE r.id = {id})
           WHEN 'team' THEN (SELECT name FROM teams WHERE id = {id})
         END"
    )
}

/// SQL matching the repositories of namespace `?{n}`: named exactly so, or starting with
/// `ns/` (a range on the unique index: every such name sorts between `ns/` and `ns0`).
fn in_namespace_sql(n: u32) -> String {
    format!("(name = ?{n} OR (name >= ?{n} || '/' AND name < ?{n} || '0'))")
}

/// The namespace part of a repository name: its first `/`-component.
fn namespace_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

fn bad_column(idx: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

fn enum_col<T>(
    r: &Row<'_>,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    parse(&s).ok_or_else(|| bad_column(idx, what, &s))
}

fn subject_cols(r: &Row<'_>, kind_idx: usize) -> rusqlite::Result<Subject> {
    let kind: String = r.get(kind_idx)?;
    let id: i64 = r.get(kind_idx + 1)?;
    Subject::from_parts(&kind, id).ok_or_else(|| bad_column(kind_idx, "subject kind", &kind))
}

fn named(subject: Subject, name: Option<String>) -> NamedSubject {
    NamedSubject {
        subject,
        // Only reachable if a row outlived its subject; show the id rather than fail a listing.
        name: name.unwrap_or_else(|| format!("#{}", subject.id())),
    }
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get(3)?,
        superuser: r.get(4)?,
        enabled: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn ns_row(r: &Row<'_>) -> rusqlite::Result<Namespace> {
    Ok(Namespace {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: enum_col(r, 2, "namespace kind", NamespaceKind::parse)?,
        created_at: r.get(3)?,
    })
}

fn team_row(r: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: r.get(0)?,
        org_id: r.get(1)?,
        name: r.get(2)?,
        role: enum_col(r, 3, "team role", TeamRole::parse)?,
        description: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn robot_row(r: &Row<'_>) -> rusqlite::Result<Robot> {
    Ok(Robot {
        id: r.get(0)?,
        namespace_id: r.get(1)?,
        namespace: r.get(2)?,
        name: r.get(3)?,
        token_hash: r.get(4)?,
        description: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn repo_row(r: &Row<'_>) -> rusqlite::Result<RepoInfo> {
    Ok(RepoInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        visibility: enum_col(r, 2, "visibility", Visibility::parse)?,
        description: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn app_token_row(r: &Row<'_>) -> rusqlite::Result<AppToken> {
    Ok(AppToken {
        id: r.get(0)?,
        user_id: r.get(1)?,
        title: r.get(2)?,
        token_hash: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        last_used_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

fn refresh_row(r: &Row<'_>) -> rusqlite::Result<RefreshTokenRow> {
    Ok(RefreshTokenRow {
        token_hash: r.get(0)?,
        principal: subject_cols(r, 1)?,
        client_id: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        kind: r.get(2)?,
        success: r.get(3)?,
        actor: r.get(4)?,
        actor_kind: r.get(5)?,
        namespace: r.get(6)?,
        repository: r.get(7)?,
        ip: r.get(8)?,
        metadata: r.get(9)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
    )
}

/// Runs an insert, turning a UNIQUE (or primary key) violation into `Exists(what)`.
fn insert_unique(
    r: rusqlite::Result<usize>,
    what: impl FnOnce() -> String,
) -> Result<usize, IdentityError> {
    r.map_err(|e| {
        if is_unique_violation(&e) {
            IdentityError::Exists(what())
        } else {
            e.into()
        }
    })
}

fn namespace_by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<Namespace>> {
    c.prepare_cached(&format!("SELECT {NS_COLS} WHERE name = ?1"))?
        .query_row([name], ns_row)
        .optional()
}

fn namespace_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<Namespace>> {
    c.prepare_cached(&format!("SELECT {NS_COLS} WHERE id = ?1"))?
        .query_row([id], ns_row)
        .optional()
}

fn user_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    c.prepare_cached(&format!("SELECT {USER_COLS} WHERE u.id = ?1"))?
        .query_row([id], user_row)
        .optional()
}

fn org_by_id(c: &Connection, id: i64) -> Result<Namespace, IdentityError> {
    match namespace_by_id(c, id)? {
        Some(ns) if ns.kind == NamespaceKind::Org => Ok(ns),
        _ => Err(IdentityError::NotFound(format!("organization {id}"))),
    }
}

fn team_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<Team>> {
    c.prepare_cached(&format!("SELECT {TEAM_COLS} WHERE id = ?1"))?
        .query_row([id], team_row)
        .optional()
}

fn robot_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<Robot>> {
    c.prepare_cached(&format!("SELECT {ROBOT_COLS} WHERE r.id = ?1"))?
        .query_row([id], robot_row)
        .optional()
}

fn repo_by_name(c: &Connection, name: &str) -> rusqlite::Result<Option<RepoInfo>> {
    c.prepare_cached(&format!("SELECT {REPO_COLS} WHERE name = ?1"))?
        .query_row([name], repo_row)
        .optional()
}

fn repo_by_id(c: &Connection, id: i64) -> rusqlite::Result<Option<RepoInfo>> {
    c.prepare_cached(&format!("SELECT {REPO_COLS} WHERE id = ?1"))?
        .query_row([id], repo_row)
        .optional()
}

/// The subject's display name, `None` when it does not exist.
fn subject_name(c: &Connection, s: Subject) -> rusqlite::Result<Option<String>> {
    c.prepare_cached(&format!("SELECT {}", subject_name_sql("?1", "?2")))?
        .query_row(params![s.kind(), s.id()], |r| r.get(0))
}

/// The subject's name, or `NotFound` naming it.
fn existing_subject(c: &Connection, s: Subject) -> Result<NamedSubject, IdentityError> {
    match subject_name(c, s)? {
        Some(name) => Ok(NamedSubject { subject: s, name }),
        None => Err(IdentityError::NotFound(format!("{} {}", s.kind(), s.id()))),
    }
}

/// A user or robot that exists (teams cannot be members or hold tokens).
fn existing_principal(c: &Connection, s: Subject) -> Result<NamedSubject, IdentityError> {
    if let Subject::Team(id) = s {
        return Err(IdentityError::NotFound(format!(
            "user or robot (got team {id})"
        )));
    }
    existing_subject(c, s)
}

/// The first repository in namespace `ns`, if any: deleting the namespace must wait for it.
fn first_repo_in(c: &Connection, ns: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached(&format!(
        "SELECT name FROM repositories WHERE {} ORDER BY name LIMIT 1",
        in_namespace_sql(1)
    ))?
    .query_row([ns], |r| r.get(0))
    .optional()
}

/// Removes every membership, grant, default permission and refresh token of a subject.
fn forget_subject(tx: &Tx<'_>, s: Subject) -> rusqlite::Result<()> {
    let (kind, id) = (s.kind(), s.id());
    tx.prepare_cached("DELETE FROM team_members WHERE member_kind = ?1 AND member_id = ?2")?
        .execute(params![kind, id])?;
    tx.prepare_cached("DELETE FROM repo_permissions WHERE subject_kind = ?1 AND subject_id = ?2")?
        .execute(params![kind, id])?;
    tx.prepare_cached(
        "DELETE FROM default_permissions WHERE subject_kind = ?1 AND subject_id = ?2",
    )?
    .execute(params![kind, id])?;
    tx.prepare_cached(
        "DELETE FROM refresh_tokens WHERE principal_kind = ?1 AND principal_id = ?2",
    )?
    .execute(params![kind, id])?;
    Ok(())
}

fn delete_robot_rows(tx: &Tx<'_>, robot_id: i64) -> rusqlite::Result<()> {
    forget_subject(tx, Subject::Robot(robot_id))?;
    tx.prepare_cached("DELETE FROM robots WHERE id = ?1")?
        .execute([robot_id])?;
    Ok(())
}

fn delete_team_rows(tx: &Tx<'_>, team_id: i64) -> rusqlite::Result<()> {
    forget_subject(tx, Subject::Team(team_id))?;
    tx.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
        .execute([team_id])?;
    tx.prepare_cached("DELETE FROM teams WHERE id = ?1")?
        .execute([team_id])?;
    Ok(())
}

fn ids(c: &Connection, sql: &str, id: i64) -> rusqlite::Result<Vec<i64>> {
    c.prepare_cached(sql)?
        .query_map([id], |r| r.get(0))?
        .collect()
}

/// Deletes what lives in a namespace (robots, teams, default permissions) and then the
/// namespace row itself; the caller has removed the user row, if any.
fn delete_namespace_rows(tx: &Tx<'_>, ns_id: i64) -> rusqlite::Result<()> {
    for robot in ids(tx, "SELECT id FROM robots WHERE namespace_id = ?1", ns_id)? {
        delete_robot_rows(tx, robot)?;
    }
    for team in ids(tx, "SELECT id FROM teams WHERE org_id = ?1", ns_id)? {
        delete_team_rows(tx, team)?;
    }
    tx.prepare_cached("DELETE FROM default_permissions WHERE org_id = ?1")?
        .execute([ns_id])?;
    tx.prepare_cached("DELETE FROM namespaces WHERE id = ?1")?
        .execute([ns_id])?;
    Ok(())
}

fn refuse_if_repositories(c: &Connection, ns: &str) -> Result<(), IdentityError> {
    match first_repo_in(c, ns)? {
        Some(repo) => Err(IdentityError::Exists(format!("repository {repo}"))),
        None => Ok(()),
    }
}

fn insert_namespace(
    tx: &Tx<'_>,
    name: &str,
    kind: NamespaceKind,
    at: i64,
) -> Result<i64, IdentityError> {
    if namespace_by_name(tx, name)?.is_some() {
        return Err(IdentityError::Exists(name.to_owned()));
    }
    insert_unique(
        tx.prepare_cached("INSERT INTO namespaces (name, kind, created_at) VALUES (?1, ?2, ?3)")?
            .execute(params![name, kind.as_str(), at]),
        || name.to_owned(),
    )?;
    Ok(tx.last_insert_rowid())
}

/// Grants `role` to `subject` on the repository unless it already holds as much; returns
/// whether anything changed.
fn grant_at_least(
    tx: &Tx<'_>,
    repo_id: i64,
    s: Subject,
    role: Role,
) -> Result<bool, IdentityError> {
    let current: Option<Role> = tx
        .prepare_cached(
            "SELECT role FROM repo_permissions WHERE repo_id = ?1 AND subject_kind = ?2 AND subject_id = ?3",
        )?
        .query_row(params![repo_id, s.kind(), s.id()], |r| {
            enum_col(r, 0, "role", Role::parse)
        })
        .optional()?;
    if current.is_some_and(|c| c >= role) {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO repo_permissions (repo_id, subject_kind, subject_id, role) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (repo_id, subject_kind, subject_id) DO UPDATE SET role = excluded.role",
    )?
    .execute(params![repo_id, s.kind(), s.id(), role.as_str()])?;
    Ok(true)
}

/// Adds `role` to the strongest role kept for `key`.
fn keep_max<K: Ord, R: Ord + Copy>(map: &mut BTreeMap<K, R>, key: K, role: R) {
    map.entry(key)
        .and_modify(|r| *r = (*r).max(role))
        .or_insert(role);
}

/// Roles granted on a repository to the principal directly and through its teams.
const GRANTED_SQL: &str = "SELECT role FROM repo_permissions
     WHERE repo_id = ?1 AND ((subject_kind = ?2 AND subject_id = ?3)
        OR (subject_kind = 'team' AND subject_id IN
            (SELECT team_id FROM team_members WHERE member_kind = ?2 AND member_id = ?3)))";

/// Every (org, team role) of the principal, through its team memberships.
const ORG_ROLES_SQL: &str = "SELECT n.id, n.name, n.kind, n.created_at, t.role
     FROM team_members m JOIN teams t ON t.id = m.team_id JOIN namespaces n ON n.id = t.org_id
     WHERE m.member_kind = ?1 AND m.member_id = ?2 AND n.kind = 'org'";

fn org_roles(
    c: &Connection,
    p: Subject,
) -> rusqlite::Result<BTreeMap<String, (Namespace, TeamRole)>> {
    let mut st = c.prepare_cached(ORG_ROLES_SQL)?;
    let rows = st.query_map(params![p.kind(), p.id()], |r| {
        Ok((ns_row(r)?, enum_col(r, 4, "team role", TeamRole::parse)?))
    })?;
    let mut out: BTreeMap<String, (Namespace, TeamRole)> = BTreeMap::new();
    for row in rows {
        let (ns, role) = row?;
        match out.get_mut(&ns.name) {
            Some(entry) => entry.1 = entry.1.max(role),
            None => {
                out.insert(ns.name.clone(), (ns, role));
            }
        }
    }
    Ok(out)
}

fn sorted_unique<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

#[async_trait]
impl IdentityStore for SqliteStore {
    // --- namespaces, users, organizations

    async fn namespace(&self, name: &str) -> Result<Option<Namespace>, MetaError> {
        let name = name.to_owned();
        self.read(move |c| Ok(namespace_by_name(c, &name)?)).await
    }

    async fn create_user(&self, user: NewUser) -> Result<User, IdentityError> {
        self.write(move |tx| -> Result<User, IdentityError> {
            let at = now();
            let id = insert_namespace(tx, &user.name, NamespaceKind::User, at)?;
            tx.prepare_cached(
                "INSERT INTO users (id, email, password_hash, superuser, enabled, created_at)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5)",
            )?
            .execute(params![
                id,
                user.email,
                user.password_hash,
                user.superuser,
                at
            ])?;
            Ok(User {
                id,
                name: user.name,
                email: user.email,
                password_hash: user.password_hash,
                superuser: user.superuser,
                enabled: true,
                created_at: at,
            })
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>, MetaError> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {USER_COLS} WHERE n.name = ?1"))?
                    .query_row([name], user_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>, MetaError> {
        self.read(move |c| Ok(user_by_id(c, id)?)).await
    }

    async fn count_users(&self) -> Result<u64, MetaError> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM users")?
                .query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn list_users(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, MetaError> {
        let after = after.map(str::to_owned);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLS} WHERE (?1 IS NULL OR n.name > ?1) ORDER BY n.name LIMIT ?2"
            ))?;
            let rows = st.query_map(params![after, limit], user_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_password_hash(&self, user_id: i64, hash: Option<&str>) -> Result<(), MetaError> {
        let hash = hash.map(str::to_owned);
        self.write(move |tx| -> Result<(), MetaError> {
            tx.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
                .execute(params![user_id, hash])?;
            Ok(())
        })
        .await
    }

    async fn set_user_flags(
        &self,
        user_id: i64,
        superuser: Option<bool>,
        enabled: Option<bool>,
        email: Option<Option<&str>>,
    ) -> Result<(), IdentityError> {
        let set_email = email.is_some();
        let email = email.flatten().map(str::to_owned);
        self.write(move |tx| -> Result<(), IdentityError> {
            let n = tx
                .prepare_cached(
                    "UPDATE users SET superuser = COALESCE(?2, superuser),
                        enabled = COALESCE(?3, enabled),
                        email = CASE WHEN ?4 THEN ?5 ELSE email END
                     WHERE id = ?1",
                )?
                .execute(params![user_id, superuser, enabled, set_email, email])?;
            if n == 0 {
                return Err(IdentityError::NotFound(format!("user {user_id}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, user_id: i64) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            let Some(user) = user_by_id(tx, user_id)? else {
                return Err(IdentityError::NotFound(format!("user {user_id}")));
            };
            refuse_if_repositories(tx, &user.name)?;
            forget_subject(tx, Subject::User(user_id))?;
            tx.prepare_cached("DELETE FROM app_tokens WHERE user_id = ?1")?
                .execute([user_id])?;
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute([user_id])?;
            tx.prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([user_id])?;
            delete_namespace_rows(tx, user_id)?;
            Ok(())
        })
        .await
    }

    async fn create_org(&self, name: &str, owner: i64) -> Result<Namespace, IdentityError> {
        let name = name.to_owned();
        self.write(move |tx| -> Result<Namespace, IdentityError> {
            if user_by_id(tx, owner)?.is_none() {
                return Err(IdentityError::NotFound(format!("user {owner}")));
            }
            let at = now();
            let id = insert_namespace(tx, &name, NamespaceKind::Org, at)?;
            tx.prepare_cached(
                "INSERT INTO teams (org_id, name, role, description, created_at) VALUES (?1, 'owners', ?2, '', ?3)",
            )?
            .execute(params![id, TeamRole::Admin.as_str(), at])?;
            let team = tx.last_insert_rowid();
            tx.prepare_cached(
                "INSERT INTO team_members (team_id, member_kind, member_id) VALUES (?1, 'user', ?2)",
            )?
            .execute(params![team, owner])?;
            Ok(Namespace {
                id,
                name,
                kind: NamespaceKind::Org,
                created_at: at,
            })
        })
        .await
    }

    async fn delete_org(&self, org_id: i64) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            let org = org_by_id(tx, org_id)?;
            refuse_if_repositories(tx, &org.name)?;
            delete_namespace_rows(tx, org_id)?;
            Ok(())
        })
        .await
    }

    async fn list_orgs(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Namespace>, MetaError> {
        let after = after.map(str::to_owned);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {NS_COLS} WHERE kind = 'org' AND (?1 IS NULL OR name > ?1) ORDER BY name LIMIT ?2"
            ))?;
            let rows = st.query_map(params![after, limit], ns_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn orgs_of(&self, principal: Subject) -> Result<Vec<(Namespace, TeamRole)>, MetaError> {
        self.read(move |c| Ok(org_roles(c, principal)?.into_values().collect()))
            .await
    }

    // --- teams

    async fn put_team(
        &self,
        org_id: i64,
        name: &str,
        role: TeamRole,
        description: &str,
    ) -> Result<Team, IdentityError> {
        let (name, description) = (name.to_owned(), description.to_owned());
        self.write(move |tx| -> Result<Team, IdentityError> {
            org_by_id(tx, org_id)?;
            tx.prepare_cached(
                "INSERT INTO teams (org_id, name, role, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (org_id, name) DO UPDATE SET role = excluded.role, description = excluded.description",
            )?
            .execute(params![org_id, name, role.as_str(), description, now()])?;
            let team = tx
                .prepare_cached(&format!("SELECT {TEAM_COLS} WHERE org_id = ?1 AND name = ?2"))?
                .query_row(params![org_id, name], team_row)?;
            Ok(team)
        })
        .await
    }

    async fn team(&self, org_id: i64, name: &str) -> Result<Option<Team>, MetaError> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TEAM_COLS} WHERE org_id = ?1 AND name = ?2"
            ))?
            .query_row(params![org_id, name], team_row)
            .optional()?)
        })
        .await
    }

    async fn list_teams(&self, org_id: i64) -> Result<Vec<Team>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TEAM_COLS} WHERE org_id = ?1 ORDER BY name"
            ))?;
            let rows = st.query_map([org_id], team_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn delete_team(&self, team_id: i64) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            if team_by_id(tx, team_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("team {team_id}")));
            }
            delete_team_rows(tx, team_id)?;
            Ok(())
        })
        .await
    }

    async fn add_team_member(&self, team_id: i64, member: Subject) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            if team_by_id(tx, team_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("team {team_id}")));
            }
            existing_principal(tx, member)?;
            tx.prepare_cached(
                "INSERT INTO team_members (team_id, member_kind, member_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![team_id, member.kind(), member.id()])?;
            Ok(())
        })
        .await
    }

    async fn remove_team_member(&self, team_id: i64, member: Subject) -> Result<bool, MetaError> {
        self.write(move |tx| -> Result<bool, MetaError> {
            let n = tx
                .prepare_cached(
                    "DELETE FROM team_members WHERE team_id = ?1 AND member_kind = ?2 AND member_id = ?3",
                )?
                .execute(params![team_id, member.kind(), member.id()])?;
            Ok(n > 0)
        })
        .await
    }

    async fn team_members(&self, team_id: i64) -> Result<Vec<NamedSubject>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT member_kind, member_id, {} FROM team_members m WHERE team_id = ?1",
                subject_name_sql("m.member_kind", "m.member_id")
            ))?;
            let rows = st.query_map([team_id], |r| Ok(named(subject_cols(r, 0)?, r.get(2)?)))?;
            let mut out = rows.collect::<Result<Vec<_>, _>>()?;
            out.sort_by(|a, b| (&a.name, a.subject).cmp(&(&b.name, b.subject)));
            Ok(out)
        })
        .await
    }

    // --- robots

    async fn create_robot(
        &self,
        namespace_id: i64,
        name: &str,
        token_hash: &str,
        description: &str,
    ) -> Result<Robot, IdentityError> {
        let (name, token_hash, description) = (
            name.to_owned(),
            token_hash.to_owned(),
            description.to_owned(),
        );
        self.write(move |tx| -> Result<Robot, IdentityError> {
            let Some(ns) = namespace_by_id(tx, namespace_id)? else {
                return Err(IdentityError::NotFound(format!("namespace {namespace_id}")));
            };
            let at = now();
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO robots (namespace_id, name, token_hash, description, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![namespace_id, name, token_hash, description, at]),
                || format!("robot {}+{}", ns.name, name),
            )?;
            Ok(Robot {
                id: tx.last_insert_rowid(),
                namespace_id,
                namespace: ns.name,
                name,
                token_hash,
                description,
                created_at: at,
            })
        })
        .await
    }

    async fn robot(&self, namespace: &str, name: &str) -> Result<Option<Robot>, MetaError> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ROBOT_COLS} WHERE n.name = ?1 AND r.name = ?2"
            ))?
            .query_row(params![namespace, name], robot_row)
            .optional()?)
        })
        .await
    }

    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>, MetaError> {
        self.read(move |c| Ok(robot_by_id(c, id)?)).await
    }

    async fn list_robots(&self, namespace_id: i64) -> Result<Vec<Robot>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ROBOT_COLS} WHERE r.namespace_id = ?1 ORDER BY r.name"
            ))?;
            let rows = st.query_map([namespace_id], robot_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_robot_token(&self, robot_id: i64, token_hash: &str) -> Result<(), IdentityError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| -> Result<(), IdentityError> {
            let n = tx
                .prepare_cached("UPDATE robots SET token_hash = ?2 WHERE id = ?1")?
                .execute(params![robot_id, token_hash])?;
            if n == 0 {
                return Err(IdentityError::NotFound(format!("robot {robot_id}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_robot(&self, robot_id: i64) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            if robot_by_id(tx, robot_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("robot {robot_id}")));
            }
            delete_robot_rows(tx, robot_id)?;
            Ok(())
        })
        .await
    }

    // --- repositories and permissions

    async fn repository(&self, name: &str) -> Result<Option<RepoInfo>, MetaError> {
        let name = name.to_owned();
        self.read(move |c| Ok(repo_by_name(c, &name)?)).await
    }

    async fn create_repository(&self, repo: NewRepo) -> Result<(RepoInfo, bool), IdentityError> {
        self.write(move |tx| -> Result<(RepoInfo, bool), IdentityError> {
            if let Some(info) = repo_by_name(tx, &repo.name)? {
                return Ok((info, false));
            }
            if let Some((subject, _)) = repo.creator {
                existing_subject(tx, subject)?;
            }
            let at = now();
            tx.prepare_cached(
                "INSERT INTO repositories (name, created_at, visibility, description) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![repo.name, at, repo.visibility.as_str(), repo.description])?;
            let id = tx.last_insert_rowid();
            if let Some((subject, role)) = repo.creator {
                grant_at_least(tx, id, subject, role)?;
            }
            if let Some(ns) = namespace_by_name(tx, namespace_of(&repo.name))?
                && ns.kind == NamespaceKind::Org
            {
                let defaults = {
                    let mut st = tx.prepare_cached(
                        "SELECT subject_kind, subject_id, role FROM default_permissions WHERE org_id = ?1",
                    )?;
                    let rows = st.query_map([ns.id], |r| {
                        Ok((subject_cols(r, 0)?, enum_col(r, 2, "role", Role::parse)?))
                    })?;
                    rows.collect::<Result<Vec<_>, _>>()?
                };
                for (subject, role) in defaults {
                    grant_at_least(tx, id, subject, role)?;
                }
            }
            Ok((
                RepoInfo {
                    id,
                    name: repo.name,
                    visibility: repo.visibility,
                    description: repo.description,
                    created_at: at,
                },
                true,
            ))
        })
        .await
    }

    async fn set_repository(
        &self,
        repo_id: i64,
        visibility: Option<Visibility>,
        description: Option<&str>,
    ) -> Result<(), IdentityError> {
        let description = description.map(str::to_owned);
        self.write(move |tx| -> Result<(), IdentityError> {
            let n = tx
                .prepare_cached(
                    "UPDATE repositories SET visibility = COALESCE(?2, visibility),
                        description = COALESCE(?3, description)
                     WHERE id = ?1",
                )?
                .execute(params![
                    repo_id,
                    visibility.map(Visibility::as_str),
                    description
                ])?;
            if n == 0 {
                return Err(IdentityError::NotFound(format!("repository {repo_id}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_repository(&self, repo_id: i64) -> Result<Vec<String>, IdentityError> {
        self.write(move |tx| -> Result<Vec<String>, IdentityError> {
            if repo_by_id(tx, repo_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("repository {repo_id}")));
            }
            let uploads = {
                let mut st =
                    tx.prepare_cached("SELECT id FROM uploads WHERE repo_id = ?1 ORDER BY id")?;
                let rows = st.query_map([repo_id], |r| r.get(0))?;
                rows.collect::<Result<Vec<String>, _>>()?
            };
            for sql in [
                "DELETE FROM tags WHERE repo_id = ?1",
                "DELETE FROM manifest_refs WHERE repo_id = ?1",
                "DELETE FROM manifests WHERE repo_id = ?1",
                "DELETE FROM repo_blobs WHERE repo_id = ?1",
                "DELETE FROM uploads WHERE repo_id = ?1",
                "DELETE FROM repo_permissions WHERE repo_id = ?1",
                "DELETE FROM repositories WHERE id = ?1",
            ] {
                tx.prepare_cached(sql)?.execute([repo_id])?;
            }
            Ok(uploads)
        })
        .await
    }

    async fn list_repository_infos(
        &self,
        namespace: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepoInfo>, MetaError> {
        let (namespace, after) = (namespace.map(str::to_owned), after.map(str::to_owned));
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {REPO_COLS} WHERE (?1 IS NULL OR {}) AND (?2 IS NULL OR name > ?2)
                 ORDER BY name LIMIT ?3",
                in_namespace_sql(1)
            ))?;
            let rows = st.query_map(params![namespace, after, limit], repo_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn repo_facts(
        &self,
        principal: Option<Subject>,
        repo: &str,
    ) -> Result<RepoFacts, MetaError> {
        let repo = repo.to_owned();
        self.read(move |c| {
            // One read transaction: every query below sees the same snapshot.
            let tx = c.unchecked_transaction()?;
            let info = repo_by_name(&tx, &repo)?;
            let namespace = namespace_by_name(&tx, namespace_of(&repo))?;
            let mut facts = RepoFacts {
                repo: info,
                namespace,
                granted: Vec::new(),
                team_roles: Vec::new(),
            };
            let Some(p) = principal else {
                return Ok(facts);
            };
            if let Some(info) = &facts.repo {
                let mut st = tx.prepare_cached(GRANTED_SQL)?;
                let rows = st.query_map(params![info.id, p.kind(), p.id()], |r| {
                    enum_col(r, 0, "role", Role::parse)
                })?;
                facts.granted = sorted_unique(rows.collect::<Result<Vec<_>, _>>()?);
            }
            if let Some(ns) = &facts.namespace
                && ns.kind == NamespaceKind::Org
            {
                let mut st = tx.prepare_cached(
                    "SELECT t.role FROM teams t JOIN team_members m ON m.team_id = t.id
                     WHERE t.org_id = ?1 AND m.member_kind = ?2 AND m.member_id = ?3",
                )?;
                let rows = st.query_map(params![ns.id, p.kind(), p.id()], |r| {
                    enum_col(r, 0, "team role", TeamRole::parse)
                })?;
                facts.team_roles = sorted_unique(rows.collect::<Result<Vec<_>, _>>()?);
            }
            Ok(facts)
        })
        .await
    }

    async fn principal_grants(&self, principal: Subject) -> Result<PrincipalGrants, MetaError> {
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let mut repos: BTreeMap<String, Role> = BTreeMap::new();
            {
                let mut st = tx.prepare_cached(
                    "SELECT r.name, p.role FROM repo_permissions p JOIN repositories r ON r.id = p.repo_id
                     WHERE (p.subject_kind = ?1 AND p.subject_id = ?2)
                        OR (p.subject_kind = 'team' AND p.subject_id IN
                            (SELECT team_id FROM team_members WHERE member_kind = ?1 AND member_id = ?2))",
                )?;
                let rows = st.query_map(params![principal.kind(), principal.id()], |r| {
                    Ok((r.get::<_, String>(0)?, enum_col(r, 1, "role", Role::parse)?))
                })?;
                for row in rows {
                    let (name, role) = row?;
                    keep_max(&mut repos, name, role);
                }
            }
            let orgs = org_roles(&tx, principal)?
                .into_iter()
                .map(|(name, (_, role))| (name, role))
                .collect();
            Ok(PrincipalGrants {
                repos: repos.into_iter().collect(),
                orgs,
            })
        })
        .await
    }

    async fn repo_permissions(&self, repo_id: i64) -> Result<Vec<(NamedSubject, Role)>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT subject_kind, subject_id, {}, role FROM repo_permissions p WHERE repo_id = ?1",
                subject_name_sql("p.subject_kind", "p.subject_id")
            ))?;
            let rows = st.query_map([repo_id], |r| {
                Ok((
                    named(subject_cols(r, 0)?, r.get(2)?),
                    enum_col(r, 3, "role", Role::parse)?,
                ))
            })?;
            let mut out = rows.collect::<Result<Vec<_>, _>>()?;
            out.sort_by(|a, b| {
                (a.0.subject.kind(), &a.0.name, a.0.subject).cmp(&(
                    b.0.subject.kind(),
                    &b.0.name,
                    b.0.subject,
                ))
            });
            Ok(out)
        })
        .await
    }

    async fn set_repo_permission(
        &self,
        repo_id: i64,
        subject: Subject,
        role: Option<Role>,
    ) -> Result<bool, IdentityError> {
        self.write(move |tx| -> Result<bool, IdentityError> {
            if repo_by_id(tx, repo_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("repository {repo_id}")));
            }
            let Some(role) = role else {
                let n = tx
                    .prepare_cached(
                        "DELETE FROM repo_permissions WHERE repo_id = ?1 AND subject_kind = ?2 AND subject_id = ?3",
                    )?
                    .execute(params![repo_id, subject.kind(), subject.id()])?;
                return Ok(n > 0);
            };
            existing_subject(tx, subject)?;
            let n = tx
                .prepare_cached(
                    "INSERT INTO repo_permissions (repo_id, subject_kind, subject_id, role) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (repo_id, subject_kind, subject_id) DO UPDATE SET role = excluded.role
                     WHERE role <> excluded.role",
                )?
                .execute(params![repo_id, subject.kind(), subject.id(), role.as_str()])?;
            Ok(n > 0)
        })
        .await
    }

    // --- default permissions

    async fn default_permissions(&self, org_id: i64) -> Result<Vec<DefaultPermission>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id, org_id, subject_kind, subject_id, {}, role, created_at
                 FROM default_permissions d WHERE org_id = ?1 ORDER BY created_at, rowid",
                subject_name_sql("d.subject_kind", "d.subject_id")
            ))?;
            let rows = st.query_map([org_id], |r| {
                Ok(DefaultPermission {
                    id: r.get(0)?,
                    org_id: r.get(1)?,
                    subject: named(subject_cols(r, 2)?, r.get(4)?),
                    role: enum_col(r, 5, "role", Role::parse)?,
                    created_at: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn add_default_permission(
        &self,
        org_id: i64,
        subject: Subject,
        role: Role,
    ) -> Result<DefaultPermission, IdentityError> {
        self.write(move |tx| -> Result<DefaultPermission, IdentityError> {
            let org = org_by_id(tx, org_id)?;
            let subject = existing_subject(tx, subject)?;
            let id = uuid::Uuid::new_v4().to_string();
            let at = now();
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO default_permissions (id, org_id, subject_kind, subject_id, role, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    id,
                    org_id,
                    subject.subject.kind(),
                    subject.subject.id(),
                    role.as_str(),
                    at
                ]),
                || {
                    format!(
                        "default permission of {} {} in {}",
                        subject.subject.kind(),
                        subject.name,
                        org.name
                    )
                },
            )?;
            Ok(DefaultPermission {
                id,
                org_id,
                subject,
                role,
                created_at: at,
            })
        })
        .await
    }

    async fn delete_default_permission(&self, org_id: i64, id: &str) -> Result<bool, MetaError> {
        let id = id.to_owned();
        self.write(move |tx| -> Result<bool, MetaError> {
            let n = tx
                .prepare_cached("DELETE FROM default_permissions WHERE org_id = ?1 AND id = ?2")?
                .execute(params![org_id, id])?;
            Ok(n > 0)
        })
        .await
    }

    // --- application tokens

    async fn create_app_token(&self, token: AppToken) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            if user_by_id(tx, token.user_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("user {}", token.user_id)));
            }
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO app_tokens (id, user_id, title, token_hash, created_at, expires_at, last_used_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    token.id,
                    token.user_id,
                    token.title,
                    token.token_hash,
                    token.created_at,
                    token.expires_at,
                    token.last_used_at,
                    token.revoked_at
                ]),
                || format!("app token {}", token.id),
            )?;
            Ok(())
        })
        .await
    }

    async fn app_token_by_hash(&self, token_hash: &str) -> Result<Option<AppToken>, MetaError> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {APP_TOKEN_COLS} WHERE token_hash = ?1"))?
                    .query_row([token_hash], app_token_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn list_app_tokens(&self, user_id: i64) -> Result<Vec<AppToken>, MetaError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {APP_TOKEN_COLS} WHERE user_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([user_id], app_token_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn revoke_app_token(&self, user_id: i64, id: &str, at: i64) -> Result<bool, MetaError> {
        let id = id.to_owned();
        self.write(move |tx| -> Result<bool, MetaError> {
            let n = tx
                .prepare_cached(
                    "UPDATE app_tokens SET revoked_at = ?3
                     WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![user_id, id, at])?;
            Ok(n > 0)
        })
        .await
    }

    async fn touch_app_token(&self, id: &str, at: i64) -> Result<(), MetaError> {
        let id = id.to_owned();
        self.write(move |tx| -> Result<(), MetaError> {
            // Never moves backwards when touches from concurrent requests land out of order.
            tx.prepare_cached(
                "UPDATE app_tokens SET last_used_at = ?2
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )?
            .execute(params![id, at])?;
            Ok(())
        })
        .await
    }

    // --- refresh tokens and sessions

    async fn create_refresh_token(&self, row: RefreshTokenRow) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            existing_principal(tx, row.principal)?;
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO refresh_tokens (token_hash, principal_kind, principal_id, client_id, created_at, expires_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    row.token_hash,
                    row.principal.kind(),
                    row.principal.id(),
                    row.client_id,
                    row.created_at,
                    row.expires_at,
                    row.revoked_at
                ]),
                || "refresh token".to_owned(),
            )?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRow>, MetaError> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {REFRESH_COLS} WHERE token_hash = ?1"))?
                    .query_row([token_hash], refresh_row)
                    .optional()?,
            )
        })
        .await
    }

    async fn revoke_refresh_tokens_of(
        &self,
        principal: Subject,
        at: i64,
    ) -> Result<u64, MetaError> {
        self.write(move |tx| -> Result<u64, MetaError> {
            let n = tx
                .prepare_cached(
                    "UPDATE refresh_tokens SET revoked_at = ?3
                     WHERE principal_kind = ?1 AND principal_id = ?2 AND revoked_at IS NULL",
                )?
                .execute(params![principal.kind(), principal.id(), at])?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_session(&self, row: SessionRow) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            if user_by_id(tx, row.user_id)?.is_none() {
                return Err(IdentityError::NotFound(format!("user {}", row.user_id)));
            }
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![row.token_hash, row.user_id, row.created_at, row.expires_at]),
                || "session".to_owned(),
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>, MetaError> {
        let token_hash = token_hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT token_hash, user_id, created_at, expires_at FROM sessions WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |r| {
                Ok(SessionRow {
                    token_hash: r.get(0)?,
                    user_id: r.get(1)?,
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, MetaError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| -> Result<bool, MetaError> {
            let n = tx
                .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([token_hash])?;
            Ok(n > 0)
        })
        .await
    }

    // --- signing keys

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, MetaError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT kid, seed, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
            )?;
            let rows = st.query_map([], |r| {
                Ok(SigningKeyRow {
                    kid: r.get(0)?,
                    seed: r.get(1)?,
                    created_at: r.get(2)?,
                    retired_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn insert_signing_key(&self, key: SigningKeyRow) -> Result<(), IdentityError> {
        self.write(move |tx| -> Result<(), IdentityError> {
            insert_unique(
                tx.prepare_cached(
                    "INSERT INTO signing_keys (kid, seed, created_at, retired_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![key.kid, key.seed, key.created_at, key.retired_at]),
                || format!("signing key {}", key.kid),
            )?;
            Ok(())
        })
        .await
    }

    async fn retire_signing_key(&self, kid: &str, at: i64) -> Result<(), MetaError> {
        let kid = kid.to_owned();
        self.write(move |tx| -> Result<(), MetaError> {
            // A key retires once: retiring it again keeps the first time.
            tx.prepare_cached(
                "UPDATE signing_keys SET retired_at = ?2 WHERE kid = ?1 AND retired_at IS NULL",
            )?
            .execute(params![kid, at])?;
            Ok(())
        })
        .await
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), MetaError> {
        let kid = kid.to_owned();
        self.write(move |tx| -> Result<(), MetaError> {
            tx.prepare_cached("DELETE FROM signing_keys WHERE kid = ?1")?
                .execute([kid])?;
            Ok(())
        })
        .await
    }

    // --- audit log

    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), MetaError> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(move |tx| -> Result<(), MetaError> {
            let mut st = tx.prepare_cached(
                "INSERT INTO audit_log (at, kind, success, actor, actor_kind, namespace, repository, ip, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in &records {
                st.execute(params![
                    r.at,
                    r.kind,
                    r.success,
                    r.actor,
                    r.actor_kind,
                    r.namespace,
                    r.repository,
                    r.ip,
                    r.metadata
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn prune_audit(&self, before: i64, limit: u32) -> Result<u64, MetaError> {
        self.write(move |tx| -> Result<u64, MetaError> {
            // Oldest first by id (ids grow with time), so a batch never scans recent rows.
            let n = tx.execute(
                "DELETE FROM audit_log WHERE id IN
                   (SELECT id FROM audit_log WHERE at < ?1 ORDER BY id LIMIT ?2)",
                params![before, limit],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>, MetaError> {
        let limit = match query.limit {
            0 => MAX_AUDIT_LIMIT,
            n => n.min(MAX_AUDIT_LIMIT),
        };
        self.read(move |c| {
            // Only the filters in use appear in the SQL, so SQLite can pick the matching
            // (column, id) index; the parameter numbers stay fixed.
            let mut sql = format!("SELECT {AUDIT_COLS} WHERE 1 = 1");
            if query.namespace.is_some() {
                sql.push_str(" AND namespace = ?1");
            }
            if query.repository.is_some() {
                sql.push_str(" AND repository = ?2");
            }
            if query.actor.is_some() {
                sql.push_str(" AND actor = ?3");
            }
            if query.before_id.is_some() {
                sql.push_str(" AND id < ?4");
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?5");
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(
                params![
                    query.namespace,
                    query.repository,
                    query.actor,
                    query.before_id,
                    limit
                ],
                audit_row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use berth_domain::{Digest, RepoName, Tag};
    use bytes::Bytes;

    use super::*;
    use crate::{MetaStore, NewManifest};

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        (dir, s)
    }

    fn new_user(name: &str) -> NewUser {
        NewUser {
            name: name.into(),
            email: Some(format!("{name}@example.com")),
            password_hash: Some("$argon2id$fake".into()),
            superuser: false,
        }
    }

    async fn user(s: &SqliteStore, name: &str) -> User {
        s.create_user(new_user(name)).await.unwrap()
    }

    fn new_repo(name: &str, creator: Option<(Subject, Role)>) -> NewRepo {
        NewRepo {
            name: name.into(),
            visibility: Visibility::Private,
            description: String::new(),
            creator,
        }
    }

    async fn repo(s: &SqliteStore, name: &str) -> RepoInfo {
        let (info, created) = s.create_repository(new_repo(name, None)).await.unwrap();
        assert!(created);
        info
    }

    fn exists(r: Result<impl std::fmt::Debug, IdentityError>) -> String {
        match r {
            Err(IdentityError::Exists(what)) => what,
            other => panic!("expected Exists, got {other:?}"),
        }
    }

    fn not_found(r: Result<impl std::fmt::Debug, IdentityError>) -> String {
        match r {
            Err(IdentityError::NotFound(what)) => what,
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    fn app_token(id: &str, user_id: i64, hash: &str) -> AppToken {
        AppToken {
            id: id.into(),
            user_id,
            title: format!("token {id}"),
            token_hash: hash.into(),
            created_at: 100,
            expires_at: Some(1000),
            last_used_at: None,
            revoked_at: None,
        }
    }

    fn refresh(hash: &str, principal: Subject) -> RefreshTokenRow {
        RefreshTokenRow {
            token_hash: hash.into(),
            principal,
            client_id: "docker".into(),
            created_at: 10,
            expires_at: 20,
            revoked_at: None,
        }
    }

    fn session(hash: &str, user_id: i64) -> SessionRow {
        SessionRow {
            token_hash: hash.into(),
            user_id,
            created_at: 1,
            expires_at: 2,
        }
    }

    fn audit_rec(
        kind: &str,
        actor: Option<&str>,
        ns: Option<&str>,
        repo: Option<&str>,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: 42,
            kind: kind.into(),
            success: true,
            actor: actor.map(Into::into),
            actor_kind: if actor.is_some() { "user" } else { "anonymous" }.into(),
            namespace: ns.map(Into::into),
            repository: repo.map(Into::into),
            ip: Some("127.0.0.1".into()),
            metadata: "{}".into(),
        }
    }

    #[tokio::test]
    async fn users_are_created_found_listed_and_updated() {
        let (_d, s) = store().await;
        assert_eq!(s.count_users().await.unwrap(), 0);
        let bob = user(&s, "bob").await;
        let alice = user(&s, "alice").await;
        assert!(alice.enabled && !alice.superuser);
        assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
        assert_eq!(s.user_by_name("alice").await.unwrap(), Some(alice.clone()));
        assert_eq!(s.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
        assert_eq!(s.user_by_name("carol").await.unwrap(), None);
        assert_eq!(s.user_by_id(9999).await.unwrap(), None);
        let ns = s.namespace("bob").await.unwrap().unwrap();
        assert_eq!((ns.id, ns.kind), (bob.id, NamespaceKind::User));
        assert_eq!(s.namespace("nobody").await.unwrap(), None);
        assert_eq!(s.count_users().await.unwrap(), 2);

        let names = |v: Vec<User>| v.into_iter().map(|u| u.name).collect::<Vec<_>>();
        user(&s, "carol").await;
        assert_eq!(
            names(s.list_users(None, 10).await.unwrap()),
            ["alice", "bob", "carol"]
        );
        assert_eq!(
            names(s.list_users(Some("alice"), 1).await.unwrap()),
            ["bob"]
        );
        assert_eq!(
            names(s.list_users(Some("carol"), 10).await.unwrap()),
            Vec::<String>::new()
        );

        assert_eq!(exists(s.create_user(new_user("bob")).await), "bob");
        assert_eq!(
            s.count_users().await.unwrap(),
            3,
            "a refused user leaves nothing"
        );

        s.set_password_hash(bob.id, Some("$argon2id$new"))
            .await
            .unwrap();
        let got = s.user_by_id(bob.id).await.unwrap().unwrap();
        assert_eq!(got.password_hash.as_deref(), Some("$argon2id$new"));
        s.set_password_hash(bob.id, None).await.unwrap();
        assert_eq!(
            s.user_by_id(bob.id).await.unwrap().unwrap().password_hash,
            None
        );

        s.set_user_flags(bob.id, Some(true), None, None)
            .await
            .unwrap();
        let got = s.user_by_id(bob.id).await.unwrap().unwrap();
        assert!(got.superuser && got.enabled);
        assert_eq!(
            got.email.as_deref(),
            Some("bob@example.com"),
            "email untouched"
        );
        s.set_user_flags(bob.id, None, Some(false), Some(Some("b@x.org")))
            .await
            .unwrap();
        let got = s.user_by_id(bob.id).await.unwrap().unwrap();
        assert!(got.superuser && !got.enabled);
        assert_eq!(got.email.as_deref(), Some("b@x.org"));
        s.set_user_flags(bob.id, Some(false), Some(true), Some(None))
            .await
            .unwrap();
        let got = s.user_by_id(bob.id).await.unwrap().unwrap();
        assert!(!got.superuser && got.enabled);
        assert_eq!(got.email, None);
        assert_eq!(
            not_found(s.set_user_flags(9999, Some(true), None, None).await),
            "user 9999"
        );
    }

    #[tokio::test]
    async fn organizations_start_with_an_owners_team() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        assert_eq!(not_found(s.create_org("acme", 9999).await), "user 9999");
        assert!(
            s.namespace("acme").await.unwrap().is_none(),
            "refused org leaves nothing"
        );
        let acme = s.create_org("acme", alice.id).await.unwrap();
        assert_eq!(
            (acme.name.as_str(), acme.kind),
            ("acme", NamespaceKind::Org)
        );
        assert_eq!(s.namespace("acme").await.unwrap(), Some(acme.clone()));
        let owners = s.team(acme.id, "owners").await.unwrap().unwrap();
        assert_eq!((owners.org_id, owners.role), (acme.id, TeamRole::Admin));
        assert_eq!(
            s.team_members(owners.id).await.unwrap(),
            [NamedSubject {
                subject: Subject::User(alice.id),
                name: "alice".into()
            }]
        );
        assert_eq!(
            s.orgs_of(Subject::User(alice.id)).await.unwrap(),
            [(acme.clone(), TeamRole::Admin)]
        );

        assert_eq!(exists(s.create_org("acme", alice.id).await), "acme");
        assert_eq!(exists(s.create_org("alice", alice.id).await), "alice");
        assert_eq!(exists(s.create_user(new_user("acme")).await), "acme");
        assert_eq!(
            not_found(s.create_org("org-of-an-org", acme.id).await),
            format!("user {}", acme.id),
            "an organization cannot own one"
        );
        assert!(
            s.user_by_id(acme.id).await.unwrap().is_none(),
            "an org is not a user"
        );
        assert_eq!(s.count_users().await.unwrap(), 1);

        s.create_org("zeta", alice.id).await.unwrap();
        s.create_org("beta", alice.id).await.unwrap();
        let names = |v: Vec<Namespace>| v.into_iter().map(|n| n.name).collect::<Vec<_>>();
        assert_eq!(
            names(s.list_orgs(None, 10).await.unwrap()),
            ["acme", "beta", "zeta"]
        );
        assert_eq!(names(s.list_orgs(Some("acme"), 1).await.unwrap()), ["beta"]);
        assert_eq!(
            s.orgs_of(Subject::User(alice.id))
                .await
                .unwrap()
                .into_iter()
                .map(|(n, _)| n.name)
                .collect::<Vec<_>>(),
            ["acme", "beta", "zeta"]
        );
    }

    #[tokio::test]
    async fn teams_and_memberships() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();

        let devs = s
            .put_team(acme.id, "devs", TeamRole::Member, "developers")
            .await
            .unwrap();
        assert_eq!(
            (devs.name.as_str(), devs.role, devs.description.as_str()),
            ("devs", TeamRole::Member, "developers")
        );
        let updated = s
            .put_team(acme.id, "devs", TeamRole::Creator, "builders")
            .await
            .unwrap();
        assert_eq!(updated.id, devs.id, "put_team updates in place");
        assert_eq!(
            (updated.role, updated.description.as_str()),
            (TeamRole::Creator, "builders")
        );
        assert_eq!(
            s.team(acme.id, "devs").await.unwrap(),
            Some(updated.clone())
        );
        assert_eq!(s.team(acme.id, "nope").await.unwrap(), None);
        s.put_team(acme.id, "aaa", TeamRole::Member, "")
            .await
            .unwrap();
        let names: Vec<String> = s
            .list_teams(acme.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["aaa", "devs", "owners"]);
        assert_eq!(
            not_found(s.put_team(alice.id, "devs", TeamRole::Member, "").await),
            format!("organization {}", alice.id),
            "users have no teams"
        );
        assert_eq!(
            not_found(s.put_team(9999, "devs", TeamRole::Member, "").await),
            "organization 9999"
        );

        let robot = s.create_robot(acme.id, "ci", "hash", "").await.unwrap();
        s.add_team_member(devs.id, Subject::User(bob.id))
            .await
            .unwrap();
        s.add_team_member(devs.id, Subject::User(bob.id))
            .await
            .unwrap();
        s.add_team_member(devs.id, Subject::Robot(robot.id))
            .await
            .unwrap();
        assert_eq!(
            s.team_members(devs.id).await.unwrap(),
            [
                NamedSubject {
                    subject: Subject::Robot(robot.id),
                    name: "acme+ci".into()
                },
                NamedSubject {
                    subject: Subject::User(bob.id),
                    name: "bob".into()
                },
            ]
        );
        assert_eq!(
            not_found(s.add_team_member(9999, Subject::User(bob.id)).await),
            "team 9999"
        );
        assert_eq!(
            not_found(s.add_team_member(devs.id, Subject::User(9999)).await),
            "user 9999"
        );
        assert_eq!(
            not_found(s.add_team_member(devs.id, Subject::Robot(9999)).await),
            "robot 9999"
        );
        not_found(s.add_team_member(devs.id, Subject::Team(devs.id)).await);
        not_found(s.add_team_member(devs.id, Subject::User(acme.id)).await);
        assert_eq!(s.team_members(devs.id).await.unwrap().len(), 2);

        // Strongest role across teams.
        s.add_team_member(names_team(&s, acme.id, "aaa").await, Subject::User(bob.id))
            .await
            .unwrap();
        assert_eq!(
            s.orgs_of(Subject::User(bob.id)).await.unwrap(),
            [(acme.clone(), TeamRole::Creator)]
        );
        assert_eq!(
            s.orgs_of(Subject::Robot(robot.id)).await.unwrap(),
            [(acme.clone(), TeamRole::Creator)]
        );

        assert!(
            s.remove_team_member(devs.id, Subject::User(bob.id))
                .await
                .unwrap()
        );
        assert!(
            !s.remove_team_member(devs.id, Subject::User(bob.id))
                .await
                .unwrap()
        );
        assert_eq!(
            s.orgs_of(Subject::User(bob.id)).await.unwrap(),
            [(acme.clone(), TeamRole::Member)]
        );
    }

    async fn names_team(s: &SqliteStore, org: i64, name: &str) -> i64 {
        s.team(org, name).await.unwrap().unwrap().id
    }

    #[tokio::test]
    async fn deleting_a_team_takes_its_memberships_and_grants() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let devs = s
            .put_team(acme.id, "devs", TeamRole::Member, "")
            .await
            .unwrap();
        s.add_team_member(devs.id, Subject::User(bob.id))
            .await
            .unwrap();
        let r = repo(&s, "acme/app").await;
        assert!(
            s.set_repo_permission(r.id, Subject::Team(devs.id), Some(Role::Write))
                .await
                .unwrap()
        );
        s.add_default_permission(acme.id, Subject::Team(devs.id), Role::Read)
            .await
            .unwrap();
        assert_eq!(
            s.repo_facts(Some(Subject::User(bob.id)), "acme/app")
                .await
                .unwrap()
                .granted,
            [Role::Write]
        );

        s.delete_team(devs.id).await.unwrap();
        assert_eq!(s.team(acme.id, "devs").await.unwrap(), None);
        assert_eq!(s.team_members(devs.id).await.unwrap(), []);
        assert_eq!(s.repo_permissions(r.id).await.unwrap(), []);
        assert_eq!(s.default_permissions(acme.id).await.unwrap(), []);
        assert_eq!(s.orgs_of(Subject::User(bob.id)).await.unwrap(), []);
        let facts = s
            .repo_facts(Some(Subject::User(bob.id)), "acme/app")
            .await
            .unwrap();
        assert!(facts.granted.is_empty() && facts.team_roles.is_empty());
        assert_eq!(
            not_found(s.delete_team(devs.id).await),
            format!("team {}", devs.id)
        );
    }

    #[tokio::test]
    async fn robots() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let ci = s.create_robot(acme.id, "ci", "h1", "builds").await.unwrap();
        assert_eq!(ci.full_name(), "acme+ci");
        assert_eq!(
            (
                ci.namespace_id,
                ci.token_hash.as_str(),
                ci.description.as_str()
            ),
            (acme.id, "h1", "builds")
        );
        s.create_robot(alice.id, "ci", "h2", "").await.unwrap();
        s.create_robot(acme.id, "a-bot", "h3", "").await.unwrap();
        assert_eq!(
            exists(s.create_robot(acme.id, "ci", "h4", "").await),
            "robot acme+ci"
        );
        assert_eq!(
            not_found(s.create_robot(9999, "ci", "h", "").await),
            "namespace 9999"
        );

        assert_eq!(s.robot("acme", "ci").await.unwrap(), Some(ci.clone()));
        assert_eq!(
            s.robot("alice", "ci").await.unwrap().unwrap().token_hash,
            "h2"
        );
        assert_eq!(s.robot("acme", "nope").await.unwrap(), None);
        assert_eq!(s.robot_by_id(ci.id).await.unwrap(), Some(ci.clone()));
        let names: Vec<String> = s
            .list_robots(acme.id)
            .await
            .unwrap()
            .iter()
            .map(Robot::full_name)
            .collect();
        assert_eq!(names, ["acme+a-bot", "acme+ci"]);

        s.set_robot_token(ci.id, "rotated").await.unwrap();
        assert_eq!(
            s.robot_by_id(ci.id).await.unwrap().unwrap().token_hash,
            "rotated"
        );
        assert_eq!(not_found(s.set_robot_token(9999, "x").await), "robot 9999");
    }

    #[tokio::test]
    async fn deleting_a_robot_takes_its_memberships_grants_and_tokens() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let ci = s.create_robot(acme.id, "ci", "h", "").await.unwrap();
        let other = s.create_robot(acme.id, "other", "h2", "").await.unwrap();
        let owners = names_team(&s, acme.id, "owners").await;
        let r = repo(&s, "acme/app").await;
        for bot in [ci.id, other.id] {
            s.add_team_member(owners, Subject::Robot(bot))
                .await
                .unwrap();
            s.set_repo_permission(r.id, Subject::Robot(bot), Some(Role::Write))
                .await
                .unwrap();
            s.add_default_permission(acme.id, Subject::Robot(bot), Role::Read)
                .await
                .unwrap();
            s.create_refresh_token(refresh(&format!("rt{bot}"), Subject::Robot(bot)))
                .await
                .unwrap();
        }

        s.delete_robot(ci.id).await.unwrap();
        assert_eq!(s.robot_by_id(ci.id).await.unwrap(), None);
        let members: Vec<Subject> = s
            .team_members(owners)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert_eq!(members, [Subject::Robot(other.id), Subject::User(alice.id)]);
        let perms: Vec<Subject> = s
            .repo_permissions(r.id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.0.subject)
            .collect();
        assert_eq!(perms, [Subject::Robot(other.id)]);
        let defaults: Vec<Subject> = s
            .default_permissions(acme.id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.subject.subject)
            .collect();
        assert_eq!(defaults, [Subject::Robot(other.id)]);
        assert_eq!(
            s.refresh_token(&format!("rt{}", ci.id)).await.unwrap(),
            None
        );
        assert!(
            s.refresh_token(&format!("rt{}", other.id))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            not_found(s.delete_robot(ci.id).await),
            format!("robot {}", ci.id)
        );
    }

    #[tokio::test]
    async fn repositories_are_created_once_with_the_creators_grant() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let mut nr = new_repo("alice/app", Some((Subject::User(alice.id), Role::Admin)));
        nr.visibility = Visibility::Public;
        nr.description = "my app".into();
        let (info, created) = s.create_repository(nr.clone()).await.unwrap();
        assert!(created);
        assert_eq!(
            (
                info.name.as_str(),
                info.visibility,
                info.description.as_str()
            ),
            ("alice/app", Visibility::Public, "my app")
        );
        assert_eq!(s.repository("alice/app").await.unwrap(), Some(info.clone()));
        assert_eq!(
            s.repo_permissions(info.id).await.unwrap(),
            [(
                NamedSubject {
                    subject: Subject::User(alice.id),
                    name: "alice".into()
                },
                Role::Admin
            )]
        );

        let mut again = nr.clone();
        again.visibility = Visibility::Private;
        again.creator = Some((Subject::User(alice.id), Role::Read));
        let (same, created) = s.create_repository(again).await.unwrap();
        assert!(!created);
        assert_eq!(same, info, "an existing repository is returned unchanged");
        assert_eq!(s.repo_permissions(info.id).await.unwrap()[0].1, Role::Admin);

        let ghost = new_repo("alice/ghost", Some((Subject::User(9999), Role::Admin)));
        assert_eq!(not_found(s.create_repository(ghost).await), "user 9999");
        assert_eq!(
            s.repository("alice/ghost").await.unwrap(),
            None,
            "nothing half-created"
        );
        assert_eq!(s.repository("nope").await.unwrap(), None);

        s.set_repository(info.id, Some(Visibility::Private), None)
            .await
            .unwrap();
        let got = s.repository("alice/app").await.unwrap().unwrap();
        assert_eq!(
            (got.visibility, got.description.as_str()),
            (Visibility::Private, "my app")
        );
        s.set_repository(info.id, None, Some("")).await.unwrap();
        let got = s.repository("alice/app").await.unwrap().unwrap();
        assert_eq!(
            (got.visibility, got.description.as_str()),
            (Visibility::Private, "")
        );
        assert_eq!(
            not_found(s.set_repository(9999, None, Some("x")).await),
            "repository 9999"
        );
    }

    #[tokio::test]
    async fn default_permissions_apply_to_new_repositories_of_the_org() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let readers = s
            .put_team(acme.id, "readers", TeamRole::Member, "")
            .await
            .unwrap();
        let ci = s.create_robot(acme.id, "ci", "h", "").await.unwrap();

        let d1 = s
            .add_default_permission(acme.id, Subject::Team(readers.id), Role::Read)
            .await
            .unwrap();
        assert!(
            uuid::Uuid::parse_str(&d1.id).is_ok(),
            "id is a uuid: {}",
            d1.id
        );
        assert_eq!(d1.subject.name, "readers");
        let d2 = s
            .add_default_permission(acme.id, Subject::Robot(ci.id), Role::Write)
            .await
            .unwrap();
        assert_eq!(d2.subject.name, "acme+ci");
        let d3 = s
            .add_default_permission(acme.id, Subject::User(bob.id), Role::Admin)
            .await
            .unwrap();
        assert_ne!(d1.id, d2.id);
        assert_eq!(
            s.default_permissions(acme.id).await.unwrap(),
            [d1.clone(), d2.clone(), d3.clone()]
        );
        exists(
            s.add_default_permission(acme.id, Subject::Robot(ci.id), Role::Read)
                .await,
        );
        assert_eq!(
            not_found(
                s.add_default_permission(9999, Subject::User(bob.id), Role::Read)
                    .await
            ),
            "organization 9999"
        );
        not_found(
            s.add_default_permission(alice.id, Subject::User(bob.id), Role::Read)
                .await,
        );
        assert_eq!(
            not_found(
                s.add_default_permission(acme.id, Subject::Team(9999), Role::Read)
                    .await
            ),
            "team 9999"
        );

        // The creator (robot, write) also has a write default; bob's default is stronger than
        // what he is created with.
        let (info, _) = s
            .create_repository(new_repo(
                "acme/app",
                Some((Subject::Robot(ci.id), Role::Write)),
            ))
            .await
            .unwrap();
        let perms: Vec<(Subject, Role)> = s
            .repo_permissions(info.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(n, r)| (n.subject, r))
            .collect();
        assert_eq!(
            perms,
            [
                (Subject::Robot(ci.id), Role::Write),
                (Subject::Team(readers.id), Role::Read),
                (Subject::User(bob.id), Role::Admin),
            ]
        );
        let (info, _) = s
            .create_repository(new_repo(
                "acme/other",
                Some((Subject::User(bob.id), Role::Read)),
            ))
            .await
            .unwrap();
        let bob_role = s
            .repo_permissions(info.id)
            .await
            .unwrap()
            .into_iter()
            .find(|(n, _)| n.subject == Subject::User(bob.id))
            .map(|p| p.1);
        assert_eq!(
            bob_role,
            Some(Role::Admin),
            "the default does not downgrade and is not downgraded"
        );
        let (info, _) = s
            .create_repository(new_repo(
                "acme/third",
                Some((Subject::User(alice.id), Role::Admin)),
            ))
            .await
            .unwrap();
        assert_eq!(s.repo_permissions(info.id).await.unwrap().len(), 4);

        // Only in the organization itself: not elsewhere, nor in a name that merely starts alike.
        let (info, _) = s
            .create_repository(new_repo("acmex/app", None))
            .await
            .unwrap();
        assert_eq!(s.repo_permissions(info.id).await.unwrap(), []);
        let (info, _) = s
            .create_repository(new_repo("alice/app", None))
            .await
            .unwrap();
        assert_eq!(s.repo_permissions(info.id).await.unwrap(), []);

        // Deleting a default does not touch grants already made.
        assert!(
            !s.delete_default_permission(alice.id, &d1.id).await.unwrap(),
            "wrong org"
        );
        assert!(s.delete_default_permission(acme.id, &d1.id).await.unwrap());
        assert!(!s.delete_default_permission(acme.id, &d1.id).await.unwrap());
        assert_eq!(s.default_permissions(acme.id).await.unwrap(), [d2, d3]);
        let app = s.repository("acme/app").await.unwrap().unwrap();
        assert_eq!(s.repo_permissions(app.id).await.unwrap().len(), 3);
        let (info, _) = s
            .create_repository(new_repo("acme/fourth", None))
            .await
            .unwrap();
        assert_eq!(s.repo_permissions(info.id).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn repo_permissions_are_set_changed_and_removed() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let r = repo(&s, "alice/app").await;
        let u = Subject::User(bob.id);
        assert!(
            s.set_repo_permission(r.id, u, Some(Role::Read))
                .await
                .unwrap()
        );
        assert!(
            !s.set_repo_permission(r.id, u, Some(Role::Read))
                .await
                .unwrap(),
            "same role: no change"
        );
        assert!(
            s.set_repo_permission(r.id, u, Some(Role::Write))
                .await
                .unwrap()
        );
        assert!(
            s.set_repo_permission(r.id, u, Some(Role::Read))
                .await
                .unwrap(),
            "downgrade is explicit here"
        );
        assert_eq!(
            s.repo_permissions(r.id).await.unwrap(),
            [(
                NamedSubject {
                    subject: u,
                    name: "bob".into()
                },
                Role::Read
            )]
        );
        assert!(s.set_repo_permission(r.id, u, None).await.unwrap());
        assert!(!s.set_repo_permission(r.id, u, None).await.unwrap());
        assert_eq!(s.repo_permissions(r.id).await.unwrap(), []);
        assert_eq!(
            not_found(s.set_repo_permission(9999, u, Some(Role::Read)).await),
            "repository 9999"
        );
        assert_eq!(
            not_found(
                s.set_repo_permission(r.id, Subject::User(9999), Some(Role::Read))
                    .await
            ),
            "user 9999"
        );
        assert_eq!(
            not_found(
                s.set_repo_permission(r.id, Subject::Robot(9999), Some(Role::Read))
                    .await
            ),
            "robot 9999"
        );
        let acme = s.create_org("acme", alice.id).await.unwrap();
        assert_eq!(
            not_found(
                s.set_repo_permission(r.id, Subject::User(acme.id), Some(Role::Read))
                    .await
            ),
            format!("user {}", acme.id),
            "an organization is not a user"
        );
        assert_eq!(s.repo_permissions(r.id).await.unwrap(), []);
    }

    #[tokio::test]
    async fn repo_facts_combine_direct_team_and_namespace_grants() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let carol = user(&s, "carol").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let other = s.create_org("other", alice.id).await.unwrap();
        let devs = s
            .put_team(acme.id, "devs", TeamRole::Creator, "")
            .await
            .unwrap();
        let other_team = s
            .put_team(other.id, "all", TeamRole::Admin, "")
            .await
            .unwrap();
        s.add_team_member(devs.id, Subject::User(bob.id))
            .await
            .unwrap();
        s.add_team_member(other_team.id, Subject::User(bob.id))
            .await
            .unwrap();
        let ci = s.create_robot(acme.id, "ci", "h", "").await.unwrap();
        s.add_team_member(devs.id, Subject::Robot(ci.id))
            .await
            .unwrap();
        let app = repo(&s, "acme/app").await;
        s.set_repository(app.id, Some(Visibility::Public), None)
            .await
            .unwrap();
        let app = s.repository("acme/app").await.unwrap().unwrap();
        s.set_repo_permission(app.id, Subject::User(bob.id), Some(Role::Read))
            .await
            .unwrap();
        s.set_repo_permission(app.id, Subject::Team(devs.id), Some(Role::Write))
            .await
            .unwrap();
        s.set_repo_permission(app.id, Subject::Team(other_team.id), Some(Role::Admin))
            .await
            .unwrap();

        let anon = s.repo_facts(None, "acme/app").await.unwrap();
        assert_eq!(anon.repo, Some(app.clone()));
        assert_eq!(anon.namespace, Some(acme.clone()));
        assert!(anon.granted.is_empty() && anon.team_roles.is_empty());

        let facts = s
            .repo_facts(Some(Subject::User(bob.id)), "acme/app")
            .await
            .unwrap();
        assert_eq!(facts.repo, Some(app.clone()));
        assert_eq!(
            facts.granted,
            [Role::Read, Role::Write, Role::Admin],
            "direct, devs, and a team of another org"
        );
        assert_eq!(
            facts.team_roles,
            [TeamRole::Creator],
            "only teams of this namespace"
        );

        let facts = s
            .repo_facts(Some(Subject::Robot(ci.id)), "acme/app")
            .await
            .unwrap();
        assert_eq!(
            (facts.granted.as_slice(), facts.team_roles.as_slice()),
            ([Role::Write].as_slice(), [TeamRole::Creator].as_slice())
        );

        let facts = s
            .repo_facts(Some(Subject::User(carol.id)), "acme/app")
            .await
            .unwrap();
        assert!(facts.granted.is_empty() && facts.team_roles.is_empty());
        assert_eq!(facts.namespace, Some(acme.clone()));

        // A repository that does not exist yet: the namespace and team roles still decide
        // whether it may be created.
        let facts = s
            .repo_facts(Some(Subject::User(bob.id)), "acme/new/deep")
            .await
            .unwrap();
        assert_eq!((facts.repo, facts.namespace), (None, Some(acme.clone())));
        assert_eq!(
            (facts.granted, facts.team_roles),
            (vec![], vec![TeamRole::Creator])
        );

        // In a user's namespace there are no team roles.
        let facts = s
            .repo_facts(Some(Subject::User(bob.id)), "alice/x")
            .await
            .unwrap();
        assert_eq!(
            facts.namespace.map(|n| (n.id, n.kind)),
            Some((alice.id, NamespaceKind::User))
        );
        assert!(facts.team_roles.is_empty());

        let facts = s
            .repo_facts(Some(Subject::User(bob.id)), "nobody/x")
            .await
            .unwrap();
        assert_eq!(facts, RepoFacts::default());
    }

    #[tokio::test]
    async fn principal_grants_keep_the_strongest_role() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let devs = s
            .put_team(acme.id, "devs", TeamRole::Member, "")
            .await
            .unwrap();
        let rel = s
            .put_team(acme.id, "release", TeamRole::Creator, "")
            .await
            .unwrap();
        s.add_team_member(devs.id, Subject::User(bob.id))
            .await
            .unwrap();
        s.add_team_member(rel.id, Subject::User(bob.id))
            .await
            .unwrap();
        let a = repo(&s, "acme/a").await;
        let b = repo(&s, "acme/b").await;
        let c = repo(&s, "alice/c").await;
        repo(&s, "acme/d").await;
        s.set_repo_permission(a.id, Subject::User(bob.id), Some(Role::Admin))
            .await
            .unwrap();
        s.set_repo_permission(a.id, Subject::Team(devs.id), Some(Role::Read))
            .await
            .unwrap();
        s.set_repo_permission(b.id, Subject::User(bob.id), Some(Role::Read))
            .await
            .unwrap();
        s.set_repo_permission(b.id, Subject::Team(rel.id), Some(Role::Write))
            .await
            .unwrap();
        s.set_repo_permission(c.id, Subject::Team(devs.id), Some(Role::Read))
            .await
            .unwrap();

        let g = s.principal_grants(Subject::User(bob.id)).await.unwrap();
        assert_eq!(
            g.repos,
            [
                ("acme/a".to_string(), Role::Admin),
                ("acme/b".into(), Role::Write),
                ("alice/c".into(), Role::Read)
            ]
        );
        assert_eq!(g.orgs, [("acme".to_string(), TeamRole::Creator)]);
        let g = s.principal_grants(Subject::User(alice.id)).await.unwrap();
        assert_eq!(
            (g.repos, g.orgs),
            (vec![], vec![("acme".to_string(), TeamRole::Admin)])
        );
    }

    #[tokio::test]
    async fn repository_listing_filters_by_namespace_literally() {
        let (_d, s) = store().await;
        for name in [
            "a_b/x", "aXb/y", "a%/z", "a/2", "a/1", "a", "ab/c", "a0/c", "a./c", "b/a",
        ] {
            repo(&s, name).await;
        }
        let names = |v: Vec<RepoInfo>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(
            names(
                s.list_repository_infos(Some("a_b"), None, 100)
                    .await
                    .unwrap()
            ),
            ["a_b/x"]
        );
        assert_eq!(
            names(
                s.list_repository_infos(Some("a%"), None, 100)
                    .await
                    .unwrap()
            ),
            ["a%/z"]
        );
        assert_eq!(
            names(s.list_repository_infos(Some("a"), None, 100).await.unwrap()),
            ["a", "a/1", "a/2"]
        );
        assert_eq!(
            names(
                s.list_repository_infos(Some("a"), Some("a"), 1)
                    .await
                    .unwrap()
            ),
            ["a/1"]
        );
        assert_eq!(
            names(
                s.list_repository_infos(Some("zz"), None, 100)
                    .await
                    .unwrap()
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            names(s.list_repository_infos(None, None, 100).await.unwrap()),
            [
                "a", "a%/z", "a./c", "a/1", "a/2", "a0/c", "aXb/y", "a_b/x", "ab/c", "b/a"
            ]
        );
        assert_eq!(
            names(
                s.list_repository_infos(None, Some("a0/c"), 2)
                    .await
                    .unwrap()
            ),
            ["aXb/y", "a_b/x"]
        );
        assert_eq!(s.list_repository_infos(None, None, 0).await.unwrap(), []);
    }

    fn test_manifest(content: &'static [u8], blobs: Vec<Digest>) -> NewManifest {
        NewManifest {
            digest: Digest::sha256_of(content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            subject: None,
            annotations: None,
            content: Bytes::from_static(content),
            blobs,
            optional_blobs: vec![],
            children: vec![],
        }
    }

    #[tokio::test]
    async fn deleting_a_repository_removes_its_registry_rows() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let (app, keep) = (
            RepoName::parse("alice/app").unwrap(),
            RepoName::parse("alice/keep").unwrap(),
        );
        let (info, _) = s
            .create_repository(new_repo(
                "alice/app",
                Some((Subject::User(alice.id), Role::Admin)),
            ))
            .await
            .unwrap();
        let layer = Digest::sha256_of(b"layer");
        let m = test_manifest(b"manifest", vec![layer.clone()]);
        let tag = Tag::parse("v1").unwrap();
        for r in [&app, &keep] {
            s.link_blob(r, &layer, 5).await.unwrap();
            s.put_manifest(r, &m, Some(&tag)).await.unwrap();
        }
        s.create_upload("up-2", &app).await.unwrap();
        s.create_upload("up-1", &app).await.unwrap();
        s.create_upload("up-keep", &keep).await.unwrap();

        let uploads = s.delete_repository(info.id).await.unwrap();
        assert_eq!(uploads, ["up-1", "up-2"]);
        assert_eq!(s.repository("alice/app").await.unwrap(), None);
        assert_eq!(s.list_tags(&app, None, 10).await.unwrap(), None);
        assert!(
            s.manifest_by_digest(&app, &m.digest)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(s.repo_blob(&app, &layer).await.unwrap(), None);
        assert_eq!(s.upload_repo("up-1").await.unwrap(), None);
        assert_eq!(s.repo_permissions(info.id).await.unwrap(), []);
        assert_eq!(
            s.principal_grants(Subject::User(alice.id))
                .await
                .unwrap()
                .repos,
            []
        );
        assert_eq!(s.list_repositories(None, 10).await.unwrap(), ["alice/keep"]);

        // The other repository is untouched, and the blob is still readable through it.
        assert!(s.manifest_by_tag(&keep, &tag).await.unwrap().is_some());
        assert_eq!(s.repo_blob(&keep, &layer).await.unwrap(), Some(5));
        assert_eq!(
            s.upload_repo("up-keep").await.unwrap().as_deref(),
            Some("alice/keep")
        );

        // The name can be pushed to again from scratch.
        assert!(
            s.put_manifest(&app, &m, Some(&tag)).await.is_err(),
            "blob link went with it"
        );
        assert_eq!(
            not_found(s.delete_repository(info.id).await),
            format!("repository {}", info.id)
        );
    }

    #[tokio::test]
    async fn deleting_a_user_takes_everything_of_theirs() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let owners = names_team(&s, acme.id, "owners").await;
        s.add_team_member(owners, Subject::User(bob.id))
            .await
            .unwrap();
        let bob_bot = s.create_robot(bob.id, "bot", "h", "").await.unwrap();
        s.add_team_member(owners, Subject::Robot(bob_bot.id))
            .await
            .unwrap();
        let shared = repo(&s, "acme/shared").await;
        s.set_repo_permission(shared.id, Subject::User(bob.id), Some(Role::Write))
            .await
            .unwrap();
        s.set_repo_permission(shared.id, Subject::Robot(bob_bot.id), Some(Role::Read))
            .await
            .unwrap();
        s.set_repo_permission(shared.id, Subject::User(alice.id), Some(Role::Read))
            .await
            .unwrap();
        s.add_default_permission(acme.id, Subject::User(bob.id), Role::Read)
            .await
            .unwrap();
        s.create_app_token(app_token("t1", bob.id, "th1"))
            .await
            .unwrap();
        s.create_app_token(app_token("t2", alice.id, "th2"))
            .await
            .unwrap();
        s.create_session(session("s1", bob.id)).await.unwrap();
        s.create_session(session("s2", alice.id)).await.unwrap();
        s.create_refresh_token(refresh("r1", Subject::User(bob.id)))
            .await
            .unwrap();
        s.create_refresh_token(refresh("r2", Subject::Robot(bob_bot.id)))
            .await
            .unwrap();
        s.create_refresh_token(refresh("r3", Subject::User(alice.id)))
            .await
            .unwrap();
        let own = repo(&s, "bob/own").await;
        let bare = repo(&s, "bob").await;

        assert_eq!(exists(s.delete_user(bob.id).await), "repository bob");
        s.delete_repository(bare.id).await.unwrap();
        assert_eq!(exists(s.delete_user(bob.id).await), "repository bob/own");
        assert!(
            s.user_by_id(bob.id).await.unwrap().is_some(),
            "a refused delete changes nothing"
        );
        s.delete_repository(own.id).await.unwrap();
        s.delete_user(bob.id).await.unwrap();

        assert_eq!(s.user_by_id(bob.id).await.unwrap(), None);
        assert_eq!(s.namespace("bob").await.unwrap(), None);
        assert_eq!(s.robot_by_id(bob_bot.id).await.unwrap(), None);
        assert_eq!(s.count_users().await.unwrap(), 1);
        let members: Vec<String> = s
            .team_members(owners)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(members, ["alice"]);
        let perms: Vec<String> = s
            .repo_permissions(shared.id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.0.name)
            .collect();
        assert_eq!(perms, ["alice"]);
        assert_eq!(s.default_permissions(acme.id).await.unwrap(), []);
        assert_eq!(s.app_token_by_hash("th1").await.unwrap(), None);
        assert!(s.app_token_by_hash("th2").await.unwrap().is_some());
        assert_eq!(s.session("s1").await.unwrap(), None);
        assert!(s.session("s2").await.unwrap().is_some());
        assert_eq!(s.refresh_token("r1").await.unwrap(), None);
        assert_eq!(s.refresh_token("r2").await.unwrap(), None);
        assert!(s.refresh_token("r3").await.unwrap().is_some());

        // A new account (possibly reusing the id) inherits nothing.
        let new_bob = user(&s, "bob").await;
        let g = s.principal_grants(Subject::User(new_bob.id)).await.unwrap();
        assert_eq!((g.repos, g.orgs), (vec![], vec![]));
        assert_eq!(s.list_app_tokens(new_bob.id).await.unwrap(), []);

        assert_eq!(not_found(s.delete_user(9999).await), "user 9999");
        assert_eq!(
            not_found(s.delete_user(acme.id).await),
            format!("user {}", acme.id),
            "not for orgs"
        );
    }

    #[tokio::test]
    async fn deleting_an_org_takes_teams_robots_and_defaults() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let acme = s.create_org("acme", alice.id).await.unwrap();
        let keep = s.create_org("keep", alice.id).await.unwrap();
        let owners = names_team(&s, acme.id, "owners").await;
        let ci = s.create_robot(acme.id, "ci", "h", "").await.unwrap();
        let keep_owners = names_team(&s, keep.id, "owners").await;
        s.add_team_member(keep_owners, Subject::Robot(ci.id))
            .await
            .unwrap();
        s.add_default_permission(acme.id, Subject::User(alice.id), Role::Write)
            .await
            .unwrap();
        s.add_default_permission(keep.id, Subject::Team(owners), Role::Read)
            .await
            .unwrap();
        let elsewhere = repo(&s, "keep/app").await;
        s.set_repo_permission(elsewhere.id, Subject::Team(owners), Some(Role::Write))
            .await
            .unwrap();
        s.set_repo_permission(elsewhere.id, Subject::Robot(ci.id), Some(Role::Read))
            .await
            .unwrap();
        s.create_refresh_token(refresh("r", Subject::Robot(ci.id)))
            .await
            .unwrap();
        let inside = repo(&s, "acme/app").await;

        assert_eq!(exists(s.delete_org(acme.id).await), "repository acme/app");
        assert!(s.team(acme.id, "owners").await.unwrap().is_some());
        s.delete_repository(inside.id).await.unwrap();
        s.delete_org(acme.id).await.unwrap();

        assert_eq!(s.namespace("acme").await.unwrap(), None);
        assert_eq!(s.list_teams(acme.id).await.unwrap(), []);
        assert_eq!(s.team_members(owners).await.unwrap(), []);
        assert_eq!(s.robot_by_id(ci.id).await.unwrap(), None);
        assert_eq!(s.default_permissions(acme.id).await.unwrap(), []);
        assert_eq!(
            s.default_permissions(keep.id).await.unwrap(),
            [],
            "a default naming its team went too"
        );
        assert_eq!(s.repo_permissions(elsewhere.id).await.unwrap(), []);
        let members: Vec<Subject> = s
            .team_members(keep_owners)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert_eq!(members, [Subject::User(alice.id)]);
        assert_eq!(s.refresh_token("r").await.unwrap(), None);
        assert_eq!(
            s.orgs_of(Subject::User(alice.id)).await.unwrap(),
            [(keep.clone(), TeamRole::Admin)]
        );
        assert!(
            s.user_by_id(alice.id).await.unwrap().is_some(),
            "the owner stays"
        );

        assert_eq!(
            not_found(s.delete_org(acme.id).await),
            format!("organization {}", acme.id)
        );
        assert_eq!(
            not_found(s.delete_org(alice.id).await),
            format!("organization {}", alice.id),
            "not for users"
        );
        s.create_org("acme", alice.id).await.unwrap();
    }

    #[tokio::test]
    async fn app_tokens() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bob = user(&s, "bob").await;
        let t1 = app_token("t1", alice.id, "h1");
        s.create_app_token(t1.clone()).await.unwrap();
        let mut t2 = app_token("t2", alice.id, "h2");
        t2.created_at = 200;
        s.create_app_token(t2.clone()).await.unwrap();
        assert_eq!(
            exists(s.create_app_token(app_token("t1", alice.id, "other")).await),
            "app token t1"
        );
        exists(s.create_app_token(app_token("t3", alice.id, "h1")).await);
        assert_eq!(
            not_found(s.create_app_token(app_token("t4", 9999, "h4")).await),
            "user 9999"
        );

        assert_eq!(s.app_token_by_hash("h1").await.unwrap(), Some(t1.clone()));
        assert_eq!(s.app_token_by_hash("nope").await.unwrap(), None);
        assert_eq!(
            s.list_app_tokens(alice.id).await.unwrap(),
            [t1.clone(), t2.clone()]
        );
        assert_eq!(s.list_app_tokens(bob.id).await.unwrap(), []);

        s.touch_app_token("t1", 500).await.unwrap();
        assert_eq!(
            s.app_token_by_hash("h1")
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            Some(500)
        );
        s.touch_app_token("t1", 400).await.unwrap();
        assert_eq!(
            s.app_token_by_hash("h1")
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            Some(500),
            "never backwards"
        );
        s.touch_app_token("t1", 600).await.unwrap();
        assert_eq!(
            s.app_token_by_hash("h1")
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            Some(600)
        );
        s.touch_app_token("missing", 600).await.unwrap();

        assert!(
            !s.revoke_app_token(bob.id, "t1", 700).await.unwrap(),
            "not bob's"
        );
        assert_eq!(
            s.app_token_by_hash("h1").await.unwrap().unwrap().revoked_at,
            None
        );
        assert!(s.revoke_app_token(alice.id, "t1", 700).await.unwrap());
        assert!(
            !s.revoke_app_token(alice.id, "t1", 800).await.unwrap(),
            "already revoked"
        );
        assert_eq!(
            s.app_token_by_hash("h1").await.unwrap().unwrap().revoked_at,
            Some(700)
        );
        assert!(!s.revoke_app_token(alice.id, "missing", 700).await.unwrap());
        assert_eq!(
            s.app_token_by_hash("h2").await.unwrap().unwrap().revoked_at,
            None
        );
    }

    #[tokio::test]
    async fn refresh_tokens_and_sessions() {
        let (_d, s) = store().await;
        let alice = user(&s, "alice").await;
        let bot = s.create_robot(alice.id, "bot", "h", "").await.unwrap();
        let a1 = refresh("a1", Subject::User(alice.id));
        s.create_refresh_token(a1.clone()).await.unwrap();
        s.create_refresh_token(refresh("a2", Subject::User(alice.id)))
            .await
            .unwrap();
        s.create_refresh_token(refresh("b1", Subject::Robot(bot.id)))
            .await
            .unwrap();
        assert_eq!(
            exists(
                s.create_refresh_token(refresh("a1", Subject::Robot(bot.id)))
                    .await
            ),
            "refresh token"
        );
        assert_eq!(
            not_found(
                s.create_refresh_token(refresh("x", Subject::User(9999)))
                    .await
            ),
            "user 9999"
        );
        not_found(s.create_refresh_token(refresh("x", Subject::Team(1))).await);
        assert_eq!(s.refresh_token("a1").await.unwrap(), Some(a1));
        assert_eq!(s.refresh_token("x").await.unwrap(), None);

        assert_eq!(
            s.revoke_refresh_tokens_of(Subject::User(alice.id), 50)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.revoke_refresh_tokens_of(Subject::User(alice.id), 60)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            s.refresh_token("a2").await.unwrap().unwrap().revoked_at,
            Some(50)
        );
        assert_eq!(
            s.refresh_token("b1").await.unwrap().unwrap().revoked_at,
            None,
            "other principals untouched"
        );

        let s1 = session("s1", alice.id);
        s.create_session(s1.clone()).await.unwrap();
        assert_eq!(
            exists(s.create_session(session("s1", alice.id)).await),
            "session"
        );
        assert_eq!(
            not_found(s.create_session(session("s2", 9999)).await),
            "user 9999"
        );
        assert_eq!(s.session("s1").await.unwrap(), Some(s1));
        assert!(s.delete_session("s1").await.unwrap());
        assert!(!s.delete_session("s1").await.unwrap());
        assert_eq!(s.session("s1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn signing_keys() {
        let (_d, s) = store().await;
        let key = |kid: &str, at: i64| SigningKeyRow {
            kid: kid.into(),
            seed: format!("seed-{kid}"),
            created_at: at,
            retired_at: None,
        };
        assert_eq!(s.signing_keys().await.unwrap(), []);
        s.insert_signing_key(key("k2", 20)).await.unwrap();
        s.insert_signing_key(key("k1", 10)).await.unwrap();
        assert_eq!(
            exists(s.insert_signing_key(key("k1", 30)).await),
            "signing key k1"
        );
        assert_eq!(
            s.signing_keys().await.unwrap(),
            [key("k1", 10), key("k2", 20)]
        );
        s.retire_signing_key("k1", 100).await.unwrap();
        s.retire_signing_key("k1", 200).await.unwrap();
        s.retire_signing_key("missing", 200).await.unwrap();
        let keys = s.signing_keys().await.unwrap();
        assert_eq!((keys[0].retired_at, keys[1].retired_at), (Some(100), None));
        s.delete_signing_key("k1").await.unwrap();
        s.delete_signing_key("k1").await.unwrap();
        assert_eq!(s.signing_keys().await.unwrap(), [key("k2", 20)]);
    }

    #[tokio::test]
    async fn audit_log_newest_first_with_filters() {
        let (_d, s) = store().await;
        s.append_audit(vec![]).await.unwrap();
        s.append_audit(vec![
            audit_rec("push", Some("alice"), Some("acme"), Some("acme/app")),
            audit_rec("pull", None, Some("acme"), Some("acme/app")),
            audit_rec("login", Some("alice"), None, None),
        ])
        .await
        .unwrap();
        s.append_audit(vec![
            audit_rec("push", Some("bob"), Some("acme"), Some("acme/lib")),
            audit_rec("delete_tag", Some("alice"), Some("bob"), Some("bob/x")),
        ])
        .await
        .unwrap();
        let all = s
            .audit(AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["delete_tag", "push", "login", "pull", "push"]);
        assert!(
            all.windows(2).all(|w| w[0].id > w[1].id),
            "ids assigned, newest first"
        );
        let mut expected = audit_rec("pull", None, Some("acme"), Some("acme/app"));
        expected.id = all[3].id;
        assert_eq!(all[3], expected, "every field round-trips");

        let q = |namespace: Option<&str>,
                 repository: Option<&str>,
                 actor: Option<&str>,
                 before_id,
                 limit| AuditQuery {
            namespace: namespace.map(Into::into),
            repository: repository.map(Into::into),
            actor: actor.map(Into::into),
            before_id,
            limit,
        };
        let ids = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.kind).collect::<Vec<_>>();
        assert_eq!(
            ids(s
                .audit(q(Some("acme"), None, None, None, 100))
                .await
                .unwrap()),
            ["push", "pull", "push"]
        );
        assert_eq!(
            ids(s
                .audit(q(Some("acme"), None, Some("alice"), None, 100))
                .await
                .unwrap()),
            ["push"]
        );
        assert_eq!(
            ids(s
                .audit(q(None, Some("acme/app"), None, None, 100))
                .await
                .unwrap()),
            ["pull", "push"]
        );
        assert_eq!(
            ids(s
                .audit(q(None, None, Some("alice"), None, 100))
                .await
                .unwrap()),
            ["delete_tag", "login", "push"]
        );
        assert_eq!(
            ids(s
                .audit(q(None, None, Some("alice"), None, 1))
                .await
                .unwrap()),
            ["delete_tag"]
        );
        assert_eq!(
            ids(s
                .audit(q(None, None, Some("alice"), Some(all[0].id), 100))
                .await
                .unwrap()),
            ["login", "push"],
            "paging backwards"
        );
        assert_eq!(
            ids(s
                .audit(q(Some("acme"), Some("acme/lib"), Some("alice"), None, 100))
                .await
                .unwrap()),
            Vec::<String>::new()
        );

        s.append_audit(
            (0..1100)
                .map(|_| audit_rec("pull", None, None, None))
                .collect(),
        )
        .await
        .unwrap();
        assert_eq!(
            s.audit(q(None, None, None, None, 5000))
                .await
                .unwrap()
                .len(),
            MAX_AUDIT_LIMIT as usize
        );
        assert_eq!(
            s.audit(AuditQuery::default()).await.unwrap().len(),
            MAX_AUDIT_LIMIT as usize,
            "0 means the cap"
        );
        assert_eq!(
            s.audit(q(None, None, None, None, 7)).await.unwrap().len(),
            7
        );
    }

    #[tokio::test]
    async fn names_with_sql_metacharacters_are_plain_data() {
        let (_d, s) = store().await;
        let odd = user(&s, "o'neil\"; DROP TABLE users; --").await;
        assert_eq!(
            s.user_by_name("o'neil\"; DROP TABLE users; --")
                .await
                .unwrap()
                .map(|u| u.id),
            Some(odd.id)
        );
        let r = repo(&s, "o'neil\"; DROP TABLE users; --/x").await;
        assert_eq!(
            exists(s.delete_user(odd.id).await),
            format!("repository {}", r.name)
        );
        assert_eq!(s.count_users().await.unwrap(), 1);
        // Empty and unusual inputs are answered, not panicked on.
        assert_eq!(
            s.repo_facts(Some(Subject::Team(-1)), "").await.unwrap(),
            RepoFacts::default()
        );
        assert_eq!(
            s.list_repository_infos(Some(""), None, 10).await.unwrap(),
            []
        );
        assert_eq!(
            s.principal_grants(Subject::Robot(i64::MIN)).await.unwrap(),
            PrincipalGrants::default()
        );
    }

    #[tokio::test]
    async fn audit_pruning_removes_only_old_entries_in_batches() {
        let (_d, s) = store().await;
        let at = |t: i64, kind: &str| AuditRecord {
            at: t,
            ..audit_rec(kind, Some("alice"), None, None)
        };
        s.append_audit((0..25).map(|i| at(i, "old")).collect())
            .await
            .unwrap();
        s.append_audit(vec![at(100, "new"), at(200, "new")])
            .await
            .unwrap();
        assert_eq!(s.prune_audit(50, 10).await.unwrap(), 10);
        assert_eq!(s.prune_audit(50, 10).await.unwrap(), 10);
        assert_eq!(s.prune_audit(50, 10).await.unwrap(), 5);
        assert_eq!(s.prune_audit(50, 10).await.unwrap(), 0);
        let left = s.audit(AuditQuery::default()).await.unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|r| r.kind == "new"));
    }
}
