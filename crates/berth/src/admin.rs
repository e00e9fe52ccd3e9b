//! `berth admin`: accounts, organizations, teams, robots, tokens, repositories, permissions
//! and the audit log, against the local store, for bootstrap and recovery (a locked-out
//! superuser, a lost robot token) without a running server or any credentials.
//!
//! Every operation is the same [`berth_access::Access`] call the REST API makes, acting as
//! [`Principal::System`] (or as the named user, for that user's own app tokens), so the CLI
//! cannot do anything the rules do not describe, and every change lands in the audit log
//! with the actor `berth-admin`.

use std::io::Read;
use std::sync::Arc;

use anyhow::{Context, bail};
use berth_access::manage::{Delegate, LogScope};
use berth_access::{Access, Origin, Principal};
use berth_meta::identity::{Role, TeamRole, Visibility};
use clap::Subcommand;

use crate::StoreArgs;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user (the password is read from stdin or a file, or generated and printed).
    CreateUser {
        name: String,
        #[arg(long)]
        superuser: bool,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Import a user with an existing argon2 or bcrypt hash (upgraded to argon2id at the
    /// user's next login).
    ImportUser {
        name: String,
        #[arg(long)]
        password_hash: String,
        #[arg(long)]
        superuser: bool,
    },
    /// Set a user's password.
    SetPassword {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Change a user's superuser or enabled flag.
    UpdateUser {
        name: String,
        #[arg(long)]
        superuser: Option<bool>,
        #[arg(long)]
        enabled: Option<bool>,
    },
    DeleteUser {
        name: String,
    },
    ListUsers,
    /// Create an organization owned by a user (who joins its `owners` team).
    CreateOrg {
        name: String,
        #[arg(long)]
        owner: String,
    },
    DeleteOrg {
        name: String,
    },
    ListOrgs,
    /// Teams of an organization.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Robot accounts (`namespace+name`).
    #[command(subcommand)]
    Robot(RobotCommand),
    /// A user's application tokens.
    #[command(subcommand)]
    AppToken(AppTokenCommand),
    /// Repositories.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Grant or remove a role on a repository.
    Permission {
        repository: String,
        #[command(flatten)]
        delegate: DelegateArgs,
        /// read, write, admin, or none to remove.
        role: String,
    },
    /// An organization's default permissions for repositories created later.
    #[command(subcommand)]
    DefaultPermission(DefaultPermissionCommand),
    /// Read the audit log (newest first).
    Logs {
        #[arg(long, conflicts_with_all = ["namespace", "user"])]
        repository: Option<String>,
        #[arg(long, conflicts_with = "user")]
        namespace: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a new token-signing key now (the old one keeps verifying until its tokens expire).
    RotateKeys,
}

#[derive(clap::Args)]
pub struct PasswordSource {
    /// Read the password from standard input (one line).
    #[arg(long, conflicts_with = "password_file")]
    password_stdin: bool,
    /// Read the password from the first line of a file.
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct DelegateArgs {
    /// A user, or a robot as `namespace+name`.
    #[arg(long)]
    user: Option<String>,
    /// A team of the repository's organization.
    #[arg(long)]
    team: Option<String>,
}

impl DelegateArgs {
    fn delegate(&self) -> Delegate {
        match (&self.user, &self.team) {
            (Some(u), _) => Delegate::User(u.clone()),
            (_, Some(t)) => Delegate::Team(t.clone()),
            _ => unreachable!("clap requires one of --user and --team"),
        }
    }
}

#[derive(Subcommand)]
pub enum TeamCommand {
    /// Create or update a team: role member, creator or admin.
    Put {
        org: String,
        team: String,
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    Delete {
        org: String,
        team: String,
    },
    /// Add a user or robot (`org+name`).
    AddMember {
        org: String,
        team: String,
        member: String,
    },
    RemoveMember {
        org: String,
        team: String,
        member: String,
    },
    /// Teams of an organization with their members.
    List {
        org: String,
    },
}

#[derive(Subcommand)]
pub enum RobotCommand {
    /// Create a robot and print its token (shown once).
    Create {
        namespace: String,
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Replace a robot's token and print the new one; the old one stops working at once.
    Regenerate {
        namespace: String,
        name: String,
    },
    Delete {
        namespace: String,
        name: String,
    },
    List {
        namespace: String,
    },
}

#[derive(Subcommand)]
pub enum AppTokenCommand {
    /// Create an app token for a user and print it (shown once).
    Create {
        user: String,
        title: String,
        /// Lifetime such as `30d`; none means until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    List {
        user: String,
    },
    Revoke {
        user: String,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum RepoCommand {
    Create {
        name: String,
        #[arg(long)]
        public: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// public or private
    SetVisibility { name: String, visibility: String },
    /// Delete a repository's tags, manifests and blob links (bytes are kept for garbage
    /// collection).
    Delete { name: String },
    List {
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Who holds which role on a repository.
    Permissions { name: String },
}

#[derive(Subcommand)]
pub enum DefaultPermissionCommand {
    Add {
        org: String,
        #[command(flatten)]
        delegate: DelegateArgs,
        role: String,
    },
    List {
        org: String,
    },
    Delete {
        org: String,
        id: String,
    },
}

fn role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| format!("role {s:?}: use read, write or admin"))
}

fn read_password(src: &PasswordSource) -> anyhow::Result<Option<String>> {
    let text = if src.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the password from stdin")?;
        s
    } else if let Some(f) = &src.password_file {
        std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the password file {}", f.display()))?
    } else {
        return Ok(None);
    };
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("the password is empty");
    }
    Ok(Some(line))
}

/// A random password (256 bits, base64url): for `create-user` without one, and for the
/// first superuser `serve` makes on an empty database.
pub(crate) fn generated_password() -> String {
    berth_auth::Secret::generate(berth_auth::SecretKind::AppToken)
        .expose()
        .trim_start_matches(berth_auth::SecretKind::AppToken.prefix())
        .to_owned()
}

fn ts(unix: i64) -> String {
    berth_api::time::rfc3339(unix)
}

async fn open(store: &StoreArgs) -> anyhow::Result<(Arc<Access>, Arc<berth_meta::SqliteStore>)> {
    let config = crate::load_config(store, None)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let db = config.sqlite_path();
    let meta = Arc::new(
        berth_meta::SqliteStore::open(&db)
            .await
            .with_context(|| format!("cannot open the database {}", db.display()))?,
    );
    let access = Access::open(meta.clone(), crate::serve::access_config(&config)?).await?;
    Ok((access, meta))
}

/// Acting as a user (for that user's own app tokens).
async fn as_user(access: &Access, name: &str) -> anyhow::Result<Principal> {
    let user = access
        .store()
        .user_by_name(name)
        .await?
        .with_context(|| format!("user {name} does not exist"))?;
    Ok(Principal::User {
        id: user.id,
        name: user.name,
        superuser: user.superuser,
    })
}

pub async fn run(store: StoreArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    let (access, _meta) = open(&store).await?;
    let result = execute(&access, cmd).await;
    // The audit writer runs in the background: let it store this command's entries.
    access.audit_sink().flush().await;
    result
}

async fn execute(access: &Access, cmd: AdminCommand) -> anyhow::Result<()> {
    let sys = Principal::System;
    let o = Origin::default();
    match cmd {
        AdminCommand::CreateUser {
            name,
            superuser,
            email,
            password,
        } => {
            let (pw, generated) = match read_password(&password)? {
                Some(p) => (p, false),
                None => (generated_password(), true),
            };
            let u = access
                .create_user(&sys, &name, Some(&pw), email.as_deref(), superuser, &o)
                .await?;
            println!(
                "created user {}{}",
                u.name,
                if u.superuser { " (superuser)" } else { "" }
            );
            if generated {
                println!("password: {pw}");
                eprintln!(
                    "(shown once: store it now, or set another with `berth admin set-password`)"
                );
            }
        }
        AdminCommand::ImportUser {
            name,
            password_hash,
            superuser,
        } => {
            access
                .import_user(&sys, &name, &password_hash, superuser, &o)
                .await?;
            println!("imported user {name}");
        }
        AdminCommand::SetPassword { name, password } => {
            let pw = read_password(&password)?
                .context("give the new password with --password-stdin or --password-file")?;
            access.set_password(&sys, &name, &pw, &o).await?;
            println!("password of {name} changed");
        }
        AdminCommand::UpdateUser {
            name,
            superuser,
            enabled,
        } => {
            let u = access
                .update_user(&sys, &name, superuser, enabled, None, &o)
                .await?;
            println!(
                "user {}: superuser={} enabled={}",
                u.name, u.superuser, u.enabled
            );
        }
        AdminCommand::DeleteUser { name } => {
            access.delete_user(&sys, &name, &o).await?;
            println!("deleted user {name}");
        }
        AdminCommand::ListUsers => {
            let mut after: Option<String> = None;
            println!("{:<32} {:<9} {:<7} CREATED", "USER", "SUPERUSER", "ENABLED");
            loop {
                let page = access.list_users(&sys, after.as_deref(), 1000).await?;
                for u in &page {
                    println!(
                        "{:<32} {:<9} {:<7} {}",
                        u.name,
                        u.superuser,
                        u.enabled,
                        ts(u.created_at)
                    );
                }
                if page.len() < 1000 {
                    break;
                }
                after = page.last().map(|u| u.name.clone());
            }
        }
        AdminCommand::CreateOrg { name, owner } => {
            access.create_org(&sys, &name, Some(&owner), &o).await?;
            println!("created organization {name} (owner {owner}, in team owners)");
        }
        AdminCommand::DeleteOrg { name } => {
            access.delete_org(&sys, &name, &o).await?;
            println!("deleted organization {name}");
        }
        AdminCommand::ListOrgs => {
            for (org, _) in access.list_orgs(&sys).await? {
                println!("{}", org.name);
            }
        }
        AdminCommand::Team(t) => team(access, t).await?,
        AdminCommand::Robot(r) => robot(access, r).await?,
        AdminCommand::AppToken(a) => app_token(access, a).await?,
        AdminCommand::Repo(r) => repo(access, r).await?,
        AdminCommand::Permission {
            repository,
            delegate,
            role: r,
        } => {
            let role = if r == "none" { None } else { Some(role(&r)?) };
            access
                .set_permission(&sys, &repository, &delegate.delegate(), role, &o)
                .await?;
            match role {
                Some(role) => println!("{repository}: granted {}", role.as_str()),
                None => println!("{repository}: permission removed"),
            }
        }
        AdminCommand::DefaultPermission(d) => match d {
            DefaultPermissionCommand::Add {
                org,
                delegate,
                role: r,
            } => {
                let p = access
                    .add_default_permission(&sys, &org, &delegate.delegate(), role(&r)?, &o)
                    .await?;
                println!(
                    "default permission {}: {} gets {}",
                    p.id,
                    p.subject.name,
                    p.role.as_str()
                );
            }
            DefaultPermissionCommand::List { org } => {
                println!("{:<36} {:<6} {:<32} ROLE", "ID", "KIND", "DELEGATE");
                for p in access.default_permissions(&sys, &org).await? {
                    println!(
                        "{:<36} {:<6} {:<32} {}",
                        p.id,
                        p.subject.subject.kind(),
                        p.subject.name,
                        p.role.as_str()
                    );
                }
            }
            DefaultPermissionCommand::Delete { org, id } => {
                access
                    .delete_default_permission(&sys, &org, &id, &o)
                    .await?;
                println!("deleted default permission {id}");
            }
        },
        AdminCommand::Logs {
            repository,
            namespace,
            user,
            limit,
            json,
        } => {
            let scope = match (repository, namespace, user) {
                (Some(r), _, _) => LogScope::Repository(r),
                (_, Some(n), _) => LogScope::Namespace(n),
                (_, _, Some(u)) => LogScope::User(u),
                _ => LogScope::All,
            };
            let entries = access.logs(&sys, &scope, None, limit).await?;
            for e in entries {
                if json {
                    println!("{}", serde_json::to_string(&e)?);
                } else {
                    println!(
                        "{} {:<20} {:<4} {:<24} {:<32} {} {}",
                        ts(e.at),
                        e.kind,
                        if e.success { "ok" } else { "FAIL" },
                        e.actor.as_deref().unwrap_or("(anonymous)"),
                        e.repository.or(e.namespace).unwrap_or_default(),
                        e.ip.unwrap_or_default(),
                        e.metadata
                    );
                }
            }
        }
        AdminCommand::RotateKeys => {
            access.rotate_keys_now().await?;
            println!("new signing key made; it signs after a one-minute handover");
        }
    }
    Ok(())
}

async fn team(access: &Access, cmd: TeamCommand) -> anyhow::Result<()> {
    let sys = Principal::System;
    let o = Origin::default();
    match cmd {
        TeamCommand::Put {
            org,
            team,
            role,
            description,
        } => {
            let r = TeamRole::parse(&role)
                .with_context(|| format!("team role {role:?}: use member, creator or admin"))?;
            access
                .put_team(&sys, &org, &team, r, &description, &o)
                .await?;
            println!("team {org}/{team}: role {}", r.as_str());
        }
        TeamCommand::Delete { org, team } => {
            access.delete_team(&sys, &org, &team, &o).await?;
            println!("deleted team {org}/{team}");
        }
        TeamCommand::AddMember { org, team, member } => {
            access
                .add_team_member(&sys, &org, &team, &member, &o)
                .await?;
            println!("{member} is in {org}/{team}");
        }
        TeamCommand::RemoveMember { org, team, member } => {
            access
                .remove_team_member(&sys, &org, &team, &member, &o)
                .await?;
            println!("{member} left {org}/{team}");
        }
        TeamCommand::List { org } => {
            let view = access.get_org(&sys, &org).await?;
            for t in view.teams {
                let (_, members) = access.team_members(&sys, &org, &t.name).await?;
                let names: Vec<_> = members.into_iter().map(|m| m.name).collect();
                println!("{:<24} {:<8} {}", t.name, t.role.as_str(), names.join(", "));
            }
        }
    }
    Ok(())
}

fn print_robot_token(name: &str, token: &str) {
    println!("robot: {name}");
    println!("token: {token}");
    println!("log in with: podman login -u '{name}' --password-stdin REGISTRY   (token on stdin)");
    eprintln!("(the token is shown once; berth keeps only its hash)");
}

async fn robot(access: &Access, cmd: RobotCommand) -> anyhow::Result<()> {
    let sys = Principal::System;
    let o = Origin::default();
    match cmd {
        RobotCommand::Create {
            namespace,
            name,
            description,
        } => {
            let r = access
                .create_robot(&sys, &namespace, &name, &description, &o)
                .await?;
            print_robot_token(&r.robot.full_name(), r.token.expose());
        }
        RobotCommand::Regenerate { namespace, name } => {
            let r = access.regenerate_robot(&sys, &namespace, &name, &o).await?;
            print_robot_token(&r.robot.full_name(), r.token.expose());
        }
        RobotCommand::Delete { namespace, name } => {
            access.delete_robot(&sys, &namespace, &name, &o).await?;
            println!("deleted robot {namespace}+{name}");
        }
        RobotCommand::List { namespace } => {
            for r in access.list_robots(&sys, &namespace).await? {
                println!(
                    "{:<40} {} {}",
                    r.full_name(),
                    ts(r.created_at),
                    r.description
                );
            }
        }
    }
    Ok(())
}

async fn app_token(access: &Access, cmd: AppTokenCommand) -> anyhow::Result<()> {
    let o = Origin::default();
    match cmd {
        AppTokenCommand::Create {
            user,
            title,
            expires_in,
        } => {
            let p = as_user(access, &user).await?;
            let expires_at = match expires_in {
                Some(d) => {
                    let d = humantime::parse_duration(&d)
                        .with_context(|| format!("--expires-in {d:?}"))?;
                    Some(berth_access::now() as i64 + d.as_secs() as i64)
                }
                None => None,
            };
            let (t, secret) = access.create_app_token(&p, &title, expires_at, &o).await?;
            println!("app token {} ({}) for {user}", t.id, t.title);
            println!("token: {}", secret.expose());
            eprintln!("(use it as the password of {user}; shown once)");
        }
        AppTokenCommand::List { user } => {
            let p = as_user(access, &user).await?;
            println!(
                "{:<36} {:<24} {:<20} {:<20} STATE",
                "ID", "TITLE", "CREATED", "EXPIRES"
            );
            for t in access.list_app_tokens(&p).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t
                    .expires_at
                    .is_some_and(|e| e <= berth_access::now() as i64)
                {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<36} {:<24} {:<20} {:<20} {state}",
                    t.id,
                    t.title,
                    ts(t.created_at),
                    t.expires_at.map(ts).unwrap_or_else(|| "never".into())
                );
            }
        }
        AppTokenCommand::Revoke { user, id } => {
            let p = as_user(access, &user).await?;
            access.revoke_app_token(&p, &id, &o).await?;
            println!("revoked app token {id}");
        }
    }
    Ok(())
}

async fn repo(access: &Access, cmd: RepoCommand) -> anyhow::Result<()> {
    let sys = Principal::System;
    let o = Origin::default();
    match cmd {
        RepoCommand::Create {
            name,
            public,
            description,
        } => {
            let v = if public {
                Visibility::Public
            } else {
                Visibility::Private
            };
            access.create_repo(&sys, &name, v, &description, &o).await?;
            println!("created repository {name} ({})", v.as_str());
        }
        RepoCommand::SetVisibility { name, visibility } => {
            let v = Visibility::parse(&visibility)
                .with_context(|| format!("visibility {visibility:?}: use public or private"))?;
            access.update_repo(&sys, &name, Some(v), None, &o).await?;
            println!("{name} is {}", v.as_str());
        }
        RepoCommand::Delete { name } => {
            let uploads = access.delete_repo(&sys, &name, &o).await?;
            println!(
                "deleted repository {name} ({} open upload(s) dropped; blob bytes stay until garbage collection)",
                uploads.len()
            );
        }
        RepoCommand::List { namespace } => {
            let mut after: Option<String> = None;
            loop {
                let page = access
                    .list_repos(&sys, namespace.as_deref(), false, after.as_deref(), 1000)
                    .await?;
                for r in &page {
                    println!("{:<64} {}", r.info.name, r.info.visibility.as_str());
                }
                if page.len() < 1000 {
                    break;
                }
                after = page.last().map(|r| r.info.name.clone());
            }
        }
        RepoCommand::Permissions { name } => {
            for (s, r) in access.repo_permissions(&sys, &name).await? {
                println!("{:<6} {:<40} {}", s.subject.kind(), s.name, r.as_str());
            }
        }
    }
    Ok(())
}
