-- Registry core: repositories, the blobs linked into them, manifests, tags, uploads.
-- Portable SQL (SQLite and PostgreSQL): later backends run the same numbered files.

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Every blob whose bytes are durably in the blob store. Rows are written only after the
-- store has fsynced and renamed the blob into place.
CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A blob is readable through a repository only when linked to it (pushed or mounted there).
CREATE TABLE repo_blobs (
    repo_id     INTEGER NOT NULL REFERENCES repositories(id),
    digest      TEXT NOT NULL REFERENCES blobs(digest),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);

-- Manifests are stored byte-for-byte; their digest is over exactly these bytes.
CREATE TABLE manifests (
    repo_id       INTEGER NOT NULL REFERENCES repositories(id),
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    annotations   TEXT,
    size          BIGINT NOT NULL,
    content       BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests (repo_id, subject);

-- What each manifest references: its blobs (config, layers) and child manifests (indexes).
CREATE TABLE manifest_refs (
    repo_id   INTEGER NOT NULL,
    manifest  TEXT NOT NULL,
    child     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    PRIMARY KEY (repo_id, manifest, kind, child)
);

CREATE TABLE tags (
    repo_id     INTEGER NOT NULL REFERENCES repositories(id),
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (repo_id, name)
);
CREATE INDEX tags_by_digest ON tags (repo_id, digest);

-- Upload sessions survive restarts: the row says which repository an upload belongs to, the
-- blob store holds the bytes received so far.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    repo_id     INTEGER NOT NULL REFERENCES repositories(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
