//! `Access` over a real SQLite store: authentication with each kind of credential, hash
//! upgrades, throttling, grants for token requests, repository creation on push, and the
//! refusal rules of management operations (not-visible → NotFound, visible → Forbidden).

use std::sync::Arc;

use berth_access::manage::Delegate;
use berth_access::{Access, AccessConfig, AccessError, Origin, Principal};
use berth_auth::{Action, Argon2Params, Scope};
use berth_domain::RepoName;
use berth_meta::identity::{Role, Visibility};

/// Cheap argon2 so the tests run fast; the parameters are stored in each hash.
fn config() -> AccessConfig {
    AccessConfig {
        argon2: Argon2Params {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        },
        login_max_failures: 3,
        ..AccessConfig::default()
    }
}

async fn access(dir: &tempfile::TempDir, cfg: AccessConfig) -> Arc<Access> {
    let store = berth_meta::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    Access::open(Arc::new(store), cfg).await.unwrap()
}

fn o() -> Origin {
    Origin {
        ip: Some("192.0.2.7".into()),
    }
}

fn scope(repo: &str, actions: &[Action]) -> Scope {
    Scope::repository(RepoName::parse(repo).unwrap(), actions.iter().copied())
}

fn actions_of(entries: &[berth_auth::AccessEntry], name: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.name == name)
        .flat_map(|e| e.actions.clone())
        .collect()
}

#[tokio::test]
async fn passwords_robot_tokens_and_app_tokens_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    // Several deliberate failures from one address: keep them under the throttle.
    let a = access(
        &dir,
        AccessConfig {
            login_max_failures: 100,
            ..config()
        },
    )
    .await;
    let sys = Principal::System;
    a.create_user(&sys, "alice", Some("correct horse"), None, false, &o())
        .await
        .unwrap();
    let p = a
        .authenticate("alice", "correct horse", &o())
        .await
        .unwrap();
    assert_eq!(p.name(), "alice");
    assert!(matches!(
        a.authenticate("alice", "wrong", &o()).await,
        Err(AccessError::Unauthorized(_))
    ));
    assert!(matches!(
        a.authenticate("nobody", "whatever", &o()).await,
        Err(AccessError::Unauthorized(_))
    ));

    let robot = a.create_robot(&p, "alice", "ci", "", &o()).await.unwrap();
    let rp = a
        .authenticate("alice+ci", robot.token.expose(), &o())
        .await
        .unwrap();
    assert_eq!(rp.name(), "alice+ci");
    // Regenerating retires the old token at once.
    let again = a.regenerate_robot(&p, "alice", "ci", &o()).await.unwrap();
    assert!(
        a.authenticate("alice+ci", robot.token.expose(), &o())
            .await
            .is_err()
    );
    assert!(
        a.authenticate("alice+ci", again.token.expose(), &o())
            .await
            .is_ok()
    );

    let (t, secret) = a.create_app_token(&p, "laptop", None, &o()).await.unwrap();
    assert!(a.authenticate("alice", secret.expose(), &o()).await.is_ok());
    // Another user's name with alice's token is refused.
    a.create_user(&sys, "bob", Some("bob-password"), None, false, &o())
        .await
        .unwrap();
    assert!(a.authenticate("bob", secret.expose(), &o()).await.is_err());
    a.revoke_app_token(&p, &t.id, &o()).await.unwrap();
    assert!(
        a.authenticate("alice", secret.expose(), &o())
            .await
            .is_err()
    );
    assert!(a.authenticate_app_token(secret.expose()).await.is_err());
}

#[tokio::test]
async fn an_imported_bcrypt_hash_verifies_and_is_upgraded_to_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(&dir, config()).await;
    for garbage in ["plaintext-password", "$argon2id$v=19$m=bad", "$2b$99$xyz"] {
        assert!(matches!(
            a.import_user(&Principal::System, "mallory", garbage, false, &o())
                .await,
            Err(AccessError::Invalid(_))
        ));
    }
    let bcrypt_hash = bcrypt::hash("from-quay", 4).unwrap();
    a.import_user(&Principal::System, "carol", &bcrypt_hash, false, &o())
        .await
        .unwrap();
    a.authenticate("carol", "from-quay", &o()).await.unwrap();
    let stored = a
        .store()
        .user_by_name("carol")
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "not upgraded: {stored}");
    a.authenticate("carol", "from-quay", &o()).await.unwrap();
    assert!(a.authenticate("carol", "from-quay!", &o()).await.is_err());
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(&dir, config()).await;
    a.create_user(
        &Principal::System,
        "dave",
        Some("dave-password"),
        None,
        false,
        &o(),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        assert!(a.authenticate("dave", "guess", &o()).await.is_err());
    }
    assert!(matches!(
        a.authenticate("dave", "dave-password", &o()).await,
        Err(AccessError::TooManyAttempts(_))
    ));
    let logs = a
        .logs(
            &Principal::System,
            &berth_access::manage::LogScope::All,
            None,
            100,
        )
        .await
        .unwrap();
    let failed = logs
        .iter()
        .filter(|l| l.kind == "login" && !l.success && l.actor.as_deref() == Some("dave"))
        .count();
    assert_eq!(failed, 4, "three wrong passwords and one throttled attempt");
    assert!(logs.iter().all(|l| !l.metadata.contains("dave-password")));
    assert!(
        logs.iter()
            .all(|l| l.ip.as_deref() == Some("192.0.2.7") || l.ip.is_none())
    );
}

#[tokio::test]
async fn grants_are_the_request_cut_down_and_pushing_creates_private_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(&dir, config()).await;
    let sys = Principal::System;
    a.create_user(&sys, "erin", Some("erin-password"), None, false, &o())
        .await
        .unwrap();
    a.create_user(&sys, "frank", Some("frank-password"), None, false, &o())
        .await
        .unwrap();
    let erin = a.authenticate("erin", "erin-password", &o()).await.unwrap();
    let frank = a
        .authenticate("frank", "frank-password", &o())
        .await
        .unwrap();
    let all = [Action::Pull, Action::Push, Action::Delete];

    // Own namespace: everything, even before the repository exists; a token request creates
    // nothing.
    let g = a
        .grant(&erin, &[scope("erin/app", &all)], &o())
        .await
        .unwrap();
    assert_eq!(actions_of(&g, "erin/app"), ["pull", "push", "delete"]);
    assert!(a.store().repository("erin/app").await.unwrap().is_none());
    // Someone else's namespace: nothing.
    let g = a
        .grant(&frank, &[scope("erin/app", &all)], &o())
        .await
        .unwrap();
    assert!(g.is_empty());

    a.ensure_repository("erin", "erin/app", &o()).await.unwrap();
    let info = a.store().repository("erin/app").await.unwrap().unwrap();
    assert_eq!(info.visibility, Visibility::Private);
    // frank cannot create in erin's namespace through a push either.
    assert!(matches!(
        a.ensure_repository("frank", "erin/other", &o()).await,
        Err(AccessError::Forbidden(_))
    ));

    // Read grant → pull only; public → pull for everyone signed in.
    a.set_permission(
        &erin,
        "erin/app",
        &Delegate::User("frank".into()),
        Some(Role::Read),
        &o(),
    )
    .await
    .unwrap();
    let g = a
        .grant(&frank, &[scope("erin/app", &all)], &o())
        .await
        .unwrap();
    assert_eq!(actions_of(&g, "erin/app"), ["pull"]);
    a.set_permission(
        &erin,
        "erin/app",
        &Delegate::User("frank".into()),
        None,
        &o(),
    )
    .await
    .unwrap();
    assert!(
        a.grant(&frank, &[scope("erin/app", &all)], &o())
            .await
            .unwrap()
            .is_empty()
    );
    a.update_repo(&erin, "erin/app", Some(Visibility::Public), None, &o())
        .await
        .unwrap();
    let g = a
        .grant(&frank, &[scope("erin/app", &all)], &o())
        .await
        .unwrap();
    assert_eq!(actions_of(&g, "erin/app"), ["pull"]);
    // Anonymous pulls of public repositories only when enabled.
    let g = a
        .grant(
            &Principal::Anonymous,
            &[scope("erin/app", &[Action::Pull])],
            &o(),
        )
        .await
        .unwrap();
    assert!(g.is_empty());
}

#[tokio::test]
async fn organizations_teams_and_default_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(&dir, config()).await;
    let sys = Principal::System;
    for u in ["owner", "dev", "outsider"] {
        a.create_user(&sys, u, Some("long-password"), None, false, &o())
            .await
            .unwrap();
    }
    let owner = a
        .authenticate("owner", "long-password", &o())
        .await
        .unwrap();
    let dev = a.authenticate("dev", "long-password", &o()).await.unwrap();
    let outsider = a
        .authenticate("outsider", "long-password", &o())
        .await
        .unwrap();
    a.create_org(&owner, "acme", None, &o()).await.unwrap();
    a.put_team(
        &owner,
        "acme",
        "devs",
        berth_meta::identity::TeamRole::Creator,
        "",
        &o(),
    )
    .await
    .unwrap();
    a.add_team_member(&owner, "acme", "devs", "dev", &o())
        .await
        .unwrap();
    a.add_default_permission(
        &owner,
        "acme",
        &Delegate::Team("devs".into()),
        Role::Read,
        &o(),
    )
    .await
    .unwrap();
    // The owners team cannot be emptied or demoted.
    assert!(a.delete_team(&owner, "acme", "owners", &o()).await.is_err());
    assert!(
        a.remove_team_member(&owner, "acme", "owners", "owner", &o())
            .await
            .is_err()
    );

    // A creator may push a new repository; it becomes its admin, the team gets the default.
    let all = [Action::Pull, Action::Push, Action::Delete];
    let g = a
        .grant(&dev, &[scope("acme/svc", &all)], &o())
        .await
        .unwrap();
    assert_eq!(actions_of(&g, "acme/svc"), ["pull", "push", "delete"]);
    a.ensure_repository("dev", "acme/svc", &o()).await.unwrap();
    assert_eq!(a.role(&dev, "acme/svc").await.unwrap(), Some(Role::Admin));
    let perms = a.repo_permissions(&owner, "acme/svc").await.unwrap();
    assert!(
        perms
            .iter()
            .any(|(s, r)| s.name == "devs" && *r == Role::Read)
    );

    // An outsider cannot see it exists; a member who can see it but not administer it is
    // told so.
    assert!(matches!(
        a.repo_permissions(&outsider, "acme/svc").await,
        Err(AccessError::NotFound(_))
    ));
    a.create_repo(&owner, "acme/other", Visibility::Private, "", &o())
        .await
        .unwrap();
    assert_eq!(a.role(&dev, "acme/other").await.unwrap(), Some(Role::Read));
    assert!(matches!(
        a.repo_permissions(&dev, "acme/other").await,
        Err(AccessError::Forbidden(_))
    ));
    assert!(matches!(
        a.delete_org(&dev, "acme", &o()).await,
        Err(AccessError::Forbidden(_))
    ));
    assert!(matches!(
        a.delete_org(&outsider, "acme", &o()).await,
        Err(AccessError::NotFound(_))
    ));
    // The catalog filter follows the same rules.
    let f = a.repo_filter(&outsider).await.unwrap();
    assert!(!f.allows("acme/svc"));
    let f = a.repo_filter(&dev).await.unwrap();
    assert!(f.allows("acme/svc") && f.allows("acme/other"));
}

#[tokio::test]
async fn issued_tokens_verify_without_the_database_and_keys_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let a = access(&dir, config()).await;
    let sys = Principal::System;
    let grant = a
        .issue(
            &sys,
            &[scope("any/thing", &[Action::Pull])],
            &o(),
            None,
            None,
        )
        .await
        .unwrap();
    let v = a.verify_token(&grant.token).await.unwrap();
    assert_eq!(v.claims.sub, "berth-admin");
    // A second node on the same store accepts it (keys live in the store).
    let store = berth_meta::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    let b = Access::open(Arc::new(store), config()).await.unwrap();
    assert!(b.verify_token(&grant.token).await.is_ok());
    // After a rotation the old token still verifies (until it expires).
    a.rotate_keys_now().await.unwrap();
    assert!(a.verify_token(&grant.token).await.is_ok());
    assert!(b.verify_token(&grant.token).await.is_ok());
    // A tampered token does not.
    let mut forged = grant.token.clone();
    forged.pop();
    forged.push(if grant.token.ends_with('A') { 'B' } else { 'A' });
    assert!(a.verify_token(&forged).await.is_err());
}
