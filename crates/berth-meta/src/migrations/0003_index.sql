-- The image indexer's results. Both tables are caches of what the blobs say: losing a row
-- costs a rescan, never data. `indexer` names the detector set and scan format
-- (berth_index::Indexer::key); rows made under another key are stale and redone.

-- One row per layer and indexer: the JSON LayerScan, shared by every image holding the layer.
CREATE TABLE layer_scans (
    layer       TEXT NOT NULL,
    indexer     TEXT NOT NULL,
    scan        BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (layer, indexer)
);

-- One row per image manifest digest (whatever repositories hold it): the Clair-shaped JSON
-- index report, finished or failed.
CREATE TABLE index_reports (
    manifest    TEXT PRIMARY KEY,
    indexer     TEXT NOT NULL,
    state       TEXT NOT NULL,
    report      BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX manifests_by_digest ON manifests (digest);
