-- Schema 1: the fleet schema. Every replica of the service shares these tables; a job row carries what
-- any replica needs to serve it (its revision, its lease, its client's fingerprint, its sealed file),
-- so no later migration has to reshape a live table for many replicas.

CREATE TABLE meta (
    key text PRIMARY KEY,
    value bigint NOT NULL                    -- 'boot': starts counted over every replica
);

CREATE TABLE jobs (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY, -- submission order among jobs of the same millisecond
    state text NOT NULL
        CHECK (state IN ('queued', 'scanning', 'ready', 'failed', 'deleted', 'expired')),
    revision bigint NOT NULL DEFAULT 1,      -- bumped by every state change: event ids are revision << 32 | n
    birthday bigint NOT NULL,
    client bytea NOT NULL                    -- keyed fingerprint of the client's address bucket (never the address)
        CHECK (length(client) = 16),
    sealed_envelope bytea,                   -- the sealed submission; NULL once the scan ended
    format integer NOT NULL,                 -- 2: a version-2 envelope
    attempts integer NOT NULL DEFAULT 0,     -- scans started (a replica dying mid-scan counts)
    lease_owner text,                        -- the replica scanning it (state 'scanning' only)
    lease_until_ms bigint,                   -- its lease's end: after it any replica may take the job over
    created_ms bigint NOT NULL,
    finished_ms bigint,
    expires_ms bigint,                       -- result wiped (or tombstone dropped) after this
    error_code text,
    error_message text,
    result_size bigint,
    result_sha256 text,
    result_stale boolean,                    -- scanned from a degraded source's last snapshot
    result_tip_height bigint,                -- the cache tip the scan reached (NULL: an empty cache)
    result_file bytea                        -- the sealed result file (ciphertext), while the job is ready
);
-- Sealed files are ciphertext: compressing them wastes time, so they are kept out of line, as they are.
ALTER TABLE jobs ALTER COLUMN result_file SET STORAGE EXTERNAL;
CREATE INDEX jobs_by_state ON jobs (state, created_ms);
CREATE INDEX jobs_by_lease ON jobs (lease_until_ms) WHERE state = 'scanning';

CREATE TABLE tokens (
    job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    hash bytea NOT NULL,
    result_key bytea,                        -- the token's public result key T
    sealed_file_key bytea,                   -- the job's file key sealed to T, while the file is kept
    PRIMARY KEY (job_id, hash)
);

CREATE TABLE seen_envelopes (
    ephemeral bytea PRIMARY KEY,             -- an accepted envelope's ephemeral public key
    expires_ms bigint NOT NULL,              -- its window's end: a replay after that is refused by its timestamp
    job_id text                              -- the job it was accepted as
);
CREATE INDEX seen_envelopes_expiry ON seen_envelopes (expires_ms);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url text NOT NULL,                       -- one of the operator's webhook_urls
    event_id text NOT NULL,                  -- the same for every endpoint and attempt of one event
    body bytea NOT NULL,                     -- the event's JSON (no secret in it), signed anew at each attempt
    attempts integer NOT NULL DEFAULT 0,
    next_ms bigint NOT NULL,                 -- due from then; a sender's claim pushes it a window ahead
    created_ms bigint NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (url, next_ms);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (url, id);
