//! The SQLite job store's schema: its identity (`application_id`), its version, the tables a fresh store
//! gets, and the migrations that bring an older store to today's, one version at a time. What the columns
//! hold and why is said beside each; the store's calls are `sqlite`'s.

pub(super) const APPLICATION_ID: i64 = 0x5457_5331;
pub(super) const SCHEMA_VERSION: i64 = 7;
pub const FILE_NAME: &str = "jobs.sqlite";

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('queued', 'scanning', 'ready', 'failed', 'deleted', 'expired')),
    birthday INTEGER NOT NULL,
    sealed_envelope BLOB,          -- the sealed submission (`Sealed::to_bytes`); NULL once the scan ended
    attempts INTEGER NOT NULL DEFAULT 0,  -- scans started (a crash mid-scan counts; a drain gives it back)
    created_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    expires_ms INTEGER,            -- result wiped (or tombstone dropped) after this
    error_code TEXT,
    error_message TEXT,
    result_size INTEGER,
    result_sha256 TEXT,
    result_stale INTEGER,          -- 1: scanned from a degraded source's last snapshot
    result_tip_height INTEGER,     -- the cache tip the scan reached (NULL: an empty cache)
    format INTEGER NOT NULL DEFAULT 1  -- 2: a version-2 envelope (`SUBMISSION_FORMAT`)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_ms);
CREATE TABLE IF NOT EXISTS tokens (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    hash BLOB NOT NULL,
    result_key BLOB,               -- the token's public result key T (NULL: a token from schema 1)
    sealed_file_key BLOB,          -- the job's file key sealed to T, while the file is on disk
    PRIMARY KEY (job_id, hash)
);
CREATE TABLE IF NOT EXISTS seen_envelopes (
    ephemeral BLOB PRIMARY KEY,    -- an accepted envelope's ephemeral public key
    expires_ms INTEGER NOT NULL,   -- its window's end: a replay after that is refused by its timestamp
    job_id TEXT                    -- the job it was accepted as (NULL: recorded by schema 3 or 4)
);
CREATE INDEX IF NOT EXISTS seen_envelopes_expiry ON seen_envelopes (expires_ms);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,             -- one of the operator's webhook_urls
    event_id TEXT NOT NULL,        -- the same for every endpoint and attempt of one event
    body BLOB NOT NULL,            -- the event's JSON (no secret in it), signed anew at each attempt
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,      -- due from then
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_endpoint ON webhook_deliveries (url, next_ms);
";

/// `MIGRATIONS[v - 1]` takes a store from version `v` to `v + 1` (a fresh store gets `SCHEMA` at once).
pub(super) const MIGRATIONS: [&str; 6] = [
    // 2: finished files survive restarts (`sealed_files`): what a ready job reports, and per token its
    // result key and the sealed file key.
    "ALTER TABLE jobs ADD COLUMN result_stale INTEGER;
     ALTER TABLE jobs ADD COLUMN result_tip_height INTEGER;
     ALTER TABLE tokens ADD COLUMN result_key BLOB;
     ALTER TABLE tokens ADD COLUMN sealed_file_key BLOB;",
    // 3: one sealed envelope per submission (its format), and the envelopes opened lately (replays).
    "ALTER TABLE jobs ADD COLUMN format INTEGER NOT NULL DEFAULT 1;",
    // 4: the webhook queue (`webhook_deliveries`), created by `SCHEMA` as a fresh store gets it.
    "",
    // 5: each endpoint's worker reads its own due deliveries: `SCHEMA` indexes them by (url, next_ms).
    "DROP INDEX IF EXISTS webhook_deliveries_due;",
    // 6: an envelope is remembered with the job it was accepted as, so a resend answers with that job;
    // the index keeps the purge and the oldest window cheap. (A store older than 3 gets the table here.)
    "CREATE TABLE IF NOT EXISTS seen_envelopes (ephemeral BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL);
     ALTER TABLE seen_envelopes ADD COLUMN job_id TEXT;",
    // 7: nothing that ties a job to a wallet without the server key. The keyed wallet fingerprint
    // (`dedupe`, unused) and the spend key in the clear go; so do format 1's password box and the format-1
    // jobs still waiting (their spend key was only in the clear), failed with `FORMAT_RETIRED`. The
    // envelope's column is named for what it holds. DROP COLUMN rewrites every row, and `secure_delete`
    // zeroes the space the old ones held.
    "UPDATE jobs SET state = 'failed', sealed_view_key = NULL, sealed_password = NULL, spend_public_key = NULL,
            finished_ms = unixepoch() * 1000, expires_ms = unixepoch() * 1000 + 3600000,
            error_code = 'FORMAT_RETIRED',
            error_message = 'accepted by an older server in a retired format; submit again'
      WHERE format = 1 AND state IN ('queued', 'scanning');
     ALTER TABLE jobs DROP COLUMN dedupe;
     ALTER TABLE jobs DROP COLUMN spend_public_key;
     ALTER TABLE jobs DROP COLUMN sealed_password;
     ALTER TABLE jobs RENAME COLUMN sealed_view_key TO sealed_envelope;",
];
