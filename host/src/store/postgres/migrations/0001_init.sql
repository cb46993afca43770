-- hookgate's first schema. Records are kept as the JSON the admin API shows (text, not
-- jsonb: the gateway only writes and reads them whole); what queries select on has its
-- own column.

-- Unix milliseconds by the database's clock: heartbeats are compared on one clock,
-- whatever the skew between the nodes' clocks.
CREATE FUNCTION hookgate_now_ms() RETURNS bigint
    LANGUAGE sql VOLATILE
    AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- Bumped by every configuration write, in the same transaction: nodes poll it to know
-- when to reload events and components.
CREATE TABLE hookgate_config_version (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO hookgate_config_version VALUES (1, 0);

CREATE TABLE hookgate_events (
    id text PRIMARY KEY,
    config text NOT NULL
);

CREATE TABLE hookgate_components (
    name text PRIMARY KEY,
    entry text NOT NULL
);

-- Shared by every version and name with the same bytes.
CREATE TABLE hookgate_wasm (
    sha256 text PRIMARY KEY,
    wasm bytea NOT NULL
);

-- Ids start with the time of arrival (UUIDv7), so the log by id is the log by time.
CREATE TABLE hookgate_messages (
    id text PRIMARY KEY,
    event_id text NOT NULL,
    record text NOT NULL,
    body bytea NOT NULL,
    -- Some delivery of the message failed at some point: the log's `status=failed`.
    failed boolean NOT NULL DEFAULT false
);
CREATE INDEX hookgate_messages_by_event ON hookgate_messages (event_id, id);
CREATE INDEX hookgate_messages_failed ON hookgate_messages (id) WHERE failed;

-- A delivery is its own queue entry: `due_ms` is set while it is pending. Unclaimed, it is
-- the next attempt (the record's `next_attempt_at_ms`); claimed, it is when the claim's lease
-- runs out, so a delivery whose node died is simply due again then. `lease_token` names the
-- claim (0: none).
CREATE TABLE hookgate_deliveries (
    message_id text NOT NULL REFERENCES hookgate_messages (id) ON DELETE CASCADE,
    target text NOT NULL,
    event_id text NOT NULL,
    due_ms bigint,
    lease_token bigint NOT NULL DEFAULT 0,
    record text NOT NULL,
    PRIMARY KEY (message_id, target)
);
CREATE INDEX hookgate_queue ON hookgate_deliveries (event_id, target, due_ms, message_id) WHERE due_ms IS NOT NULL;

-- A key answers with its message for 24 hours; a unique key, so across every node. Keys
-- are bytes: the gateway separates their parts with NUL, which text cannot hold.
CREATE TABLE hookgate_idempotency (
    key bytea PRIMARY KEY,
    message_id text NOT NULL REFERENCES hookgate_messages (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    at_ms bigint NOT NULL
);
CREATE INDEX hookgate_idempotency_message ON hookgate_idempotency (message_id);

CREATE TABLE hookgate_nodes (
    id text PRIMARY KEY,
    started_at_ms bigint NOT NULL,
    last_seen_at_ms bigint NOT NULL,
    version text NOT NULL
);
