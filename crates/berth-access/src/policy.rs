//! The permission rules, as pure functions of stored facts: what a principal's role on a
//! repository is, whether it may create one, and which registry actions a role allows.
//!
//! Kept apart from I/O so the whole table can be tested exhaustively (see the tests below
//! and the authorization matrix test of the `berth` binary).

use berth_auth::{Action, ActionSet};
use berth_meta::identity::{NamespaceKind, RepoFacts, Role, TeamRole, Visibility};

use crate::Principal;

/// The principal's effective role on the repository described by `facts`, `None` for no
/// access at all. `anonymous_pull` lets anonymous callers read public repositories.
pub fn repo_role(principal: &Principal, facts: &RepoFacts, anonymous_pull: bool) -> Option<Role> {
    if principal.is_superuser() {
        return Some(Role::Admin);
    }
    let public = facts
        .repo
        .as_ref()
        .is_some_and(|r| r.visibility == Visibility::Public);
    let mut best: Option<Role> = None;
    match principal {
        Principal::Anonymous => {
            if public && anonymous_pull {
                best = Some(Role::Read);
            }
            return best;
        }
        Principal::User { id, .. } => {
            if let Some(ns) = &facts.namespace
                && ns.kind == NamespaceKind::User
                && ns.id == *id
            {
                return Some(Role::Admin);
            }
        }
        Principal::Robot { .. } | Principal::System => {}
    }
    if public {
        best = Some(Role::Read);
    }
    if facts.team_roles.contains(&TeamRole::Admin) {
        best = Some(Role::Admin);
    }
    if facts.repo.is_some() {
        best = best.max(facts.granted.iter().copied().max());
    }
    best
}

/// Whether the principal may create repositories in the namespace of `facts` (the
/// repository itself need not exist).
pub fn may_create(principal: &Principal, facts: &RepoFacts) -> bool {
    if principal.is_superuser() {
        return true;
    }
    let Some(ns) = &facts.namespace else {
        return false;
    };
    match (principal, ns.kind) {
        (Principal::User { id, .. }, NamespaceKind::User) => ns.id == *id,
        (Principal::User { .. } | Principal::Robot { .. }, NamespaceKind::Org) => facts
            .team_roles
            .iter()
            .any(|r| matches!(r, TeamRole::Admin | TeamRole::Creator)),
        _ => false,
    }
}

/// The registry actions a role allows. Deleting tags and manifests is a writer's job (as in
/// Quay); admins get `*`, which also covers anything a later spec adds.
pub fn actions_for(role: Option<Role>) -> ActionSet {
    let mut set = ActionSet::default();
    if let Some(role) = role {
        set.insert(Action::Pull);
        if role >= Role::Write {
            set.insert(Action::Push);
            set.insert(Action::Delete);
        }
        if role == Role::Admin {
            set.insert(Action::All);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_meta::identity::{Namespace, RepoInfo};

    fn user(id: i64) -> Principal {
        Principal::User {
            id,
            name: format!("u{id}"),
            superuser: false,
        }
    }

    fn facts(ns_kind: NamespaceKind, ns_id: i64, vis: Option<Visibility>) -> RepoFacts {
        RepoFacts {
            repo: vis.map(|visibility| RepoInfo {
                id: 1,
                name: "ns/r".into(),
                visibility,
                description: String::new(),
                created_at: 0,
            }),
            namespace: Some(Namespace {
                id: ns_id,
                name: "ns".into(),
                kind: ns_kind,
                created_at: 0,
            }),
            granted: vec![],
            team_roles: vec![],
        }
    }

    #[test]
    fn owner_superuser_and_strangers() {
        let f = facts(NamespaceKind::User, 7, Some(Visibility::Private));
        assert_eq!(repo_role(&user(7), &f, false), Some(Role::Admin));
        assert_eq!(repo_role(&user(8), &f, false), None);
        assert_eq!(repo_role(&Principal::Anonymous, &f, true), None);
        let su = Principal::User {
            id: 9,
            name: "root".into(),
            superuser: true,
        };
        assert_eq!(repo_role(&su, &f, false), Some(Role::Admin));
        assert!(may_create(&user(7), &f));
        assert!(!may_create(&user(8), &f));
    }

    #[test]
    fn public_repositories() {
        let f = facts(NamespaceKind::User, 7, Some(Visibility::Public));
        assert_eq!(repo_role(&user(8), &f, false), Some(Role::Read));
        assert_eq!(repo_role(&Principal::Anonymous, &f, true), Some(Role::Read));
        assert_eq!(repo_role(&Principal::Anonymous, &f, false), None);
    }

    #[test]
    fn grants_and_teams() {
        let mut f = facts(NamespaceKind::Org, 3, Some(Visibility::Private));
        let robot = Principal::Robot {
            id: 1,
            name: "ns+ci".into(),
            namespace_id: 3,
        };
        assert_eq!(repo_role(&robot, &f, false), None);
        f.granted = vec![Role::Read, Role::Write];
        assert_eq!(repo_role(&robot, &f, false), Some(Role::Write));
        f.granted.clear();
        f.team_roles = vec![TeamRole::Member];
        assert_eq!(repo_role(&user(8), &f, false), None);
        assert!(!may_create(&user(8), &f));
        f.team_roles = vec![TeamRole::Creator];
        assert_eq!(repo_role(&user(8), &f, false), None);
        assert!(may_create(&user(8), &f));
        f.team_roles = vec![TeamRole::Admin];
        assert_eq!(repo_role(&user(8), &f, false), Some(Role::Admin));
    }

    #[test]
    fn grants_on_a_missing_repository_count_for_nothing() {
        let mut f = facts(NamespaceKind::Org, 3, None);
        f.granted = vec![Role::Admin];
        assert_eq!(repo_role(&user(8), &f, false), None);
    }

    #[test]
    fn actions() {
        assert!(actions_for(None).is_empty());
        let read = actions_for(Some(Role::Read));
        assert!(read.contains(Action::Pull) && !read.contains(Action::Push));
        let write = actions_for(Some(Role::Write));
        assert!(write.contains(Action::Push) && write.contains(Action::Delete));
        assert!(!write.contains(Action::All));
        assert!(actions_for(Some(Role::Admin)).contains(Action::All));
    }
}
