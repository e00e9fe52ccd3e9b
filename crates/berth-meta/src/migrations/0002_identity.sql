-- Identity and access: users and organizations (namespaces), teams, robots, repository
-- visibility and permissions, organization default permissions, application, refresh and
-- session tokens (hashes only), token-signing keys shared by every node, and the audit log.
-- Portable SQL (SQLite and PostgreSQL).

-- A namespace is the first component of a repository name: a user's or an organization's.
CREATE TABLE namespaces (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A user's id is its namespace's id.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY REFERENCES namespaces(id),
    email          TEXT,
    -- PHC string (argon2id, or an imported bcrypt hash upgraded at the next login); NULL
    -- means the account cannot log in with a password.
    password_hash  TEXT,
    superuser      INTEGER NOT NULL DEFAULT 0,
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL
);

CREATE TABLE teams (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES namespaces(id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- Robot accounts, named `namespace+name`; only the token's sha256 is kept.
CREATE TABLE robots (
    id            INTEGER PRIMARY KEY,
    namespace_id  INTEGER NOT NULL REFERENCES namespaces(id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    UNIQUE (namespace_id, name)
);

-- Members are users or robots: (member_kind, member_id) with kind 'user' or 'robot'.
CREATE TABLE team_members (
    team_id      INTEGER NOT NULL REFERENCES teams(id),
    member_kind  TEXT NOT NULL,
    member_id    INTEGER NOT NULL,
    PRIMARY KEY (team_id, member_kind, member_id)
);
CREATE INDEX team_members_by_member ON team_members (member_kind, member_id);

ALTER TABLE repositories ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private';
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- Grants on one repository: subject_kind 'user', 'robot' or 'team'; role read/write/admin.
CREATE TABLE repo_permissions (
    repo_id       INTEGER NOT NULL REFERENCES repositories(id),
    subject_kind  TEXT NOT NULL,
    subject_id    INTEGER NOT NULL,
    role          TEXT NOT NULL,
    PRIMARY KEY (repo_id, subject_kind, subject_id)
);
CREATE INDEX repo_permissions_by_subject ON repo_permissions (subject_kind, subject_id);

-- Applied to every repository created in the organization afterwards.
CREATE TABLE default_permissions (
    id            TEXT PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES namespaces(id),
    subject_kind  TEXT NOT NULL,
    subject_id    INTEGER NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, subject_kind, subject_id)
);

-- Application-specific tokens, usable instead of a user's password.
CREATE TABLE app_tokens (
    id            TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    title         TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX app_tokens_by_user ON app_tokens (user_id);

-- OAuth2 refresh tokens from `POST /v2/auth` with access_type=offline; principal_kind is
-- 'user' or 'robot'.
CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    principal_kind  TEXT NOT NULL,
    principal_id    INTEGER NOT NULL,
    client_id       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

-- Web sessions (cookie), for the API and the future web UI.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Ed25519 keys that sign registry tokens; every node loads them, so a token issued by one
-- node verifies on all. `seed` is the private key (base64url).
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    seed        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- Who did what, when, from where. Names are copied, not referenced, so the record outlives
-- the account or repository it mentions.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    success     INTEGER NOT NULL,
    actor       TEXT,
    actor_kind  TEXT NOT NULL,
    namespace   TEXT,
    repository  TEXT,
    ip          TEXT,
    metadata    TEXT NOT NULL
);
CREATE INDEX audit_by_namespace ON audit_log (namespace, id);
CREATE INDEX audit_by_repository ON audit_log (repository, id);
CREATE INDEX audit_by_actor ON audit_log (actor, id);
