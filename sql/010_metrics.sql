-- Metrics (SPEC §11): GET /metrics reads counts kept here as changes
-- happen, so that a scrape costs a bounded number of rows whatever the
-- size of connections, links, flows or deliveries, the counts survive
-- restarts and add up over every process and machine.
--
-- Every count is split over 8 slots (a session writes the slot of its
-- backend pid), so that concurrent writers rarely wait on one row; a
-- scrape sums the slots. A slot of a gauge may go negative: only the sum
-- means something.

-- Keys made with `latchkey key create --metrics` may scrape GET /metrics.
ALTER TABLE api_keys ADD COLUMN metrics boolean NOT NULL DEFAULT false;

DROP TRIGGER api_keys_announce ON api_keys;
CREATE TRIGGER api_keys_announce
    AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.profiles IS DISTINCT FROM NEW.profiles
          OR OLD.instance_prefix IS DISTINCT FROM NEW.instance_prefix
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash
          OR OLD.read_only IS DISTINCT FROM NEW.read_only
          OR OLD.metrics IS DISTINCT FROM NEW.metrics)
    EXECUTE FUNCTION latchkey_announce();

-- Gauges without labels: latchkey_webhook_deliveries_pending and _dead,
-- latchkey_links_pending (links handed out, not used nor purged yet) and
-- latchkey_flows_pending (browser flows started, not finished nor purged).
CREATE TABLE metric_counts (
    metric text NOT NULL
           CHECK (metric IN ('deliveries_pending', 'deliveries_dead', 'links_pending', 'flows_pending')),
    slot   smallint NOT NULL CHECK (slot BETWEEN 0 AND 7),
    n      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (metric, slot)
);
INSERT INTO metric_counts (metric, slot, n)
SELECT m, s, 0
FROM unnest(ARRAY['deliveries_pending', 'deliveries_dead', 'links_pending', 'flows_pending']) AS m,
     generate_series(0, 7) AS s;
UPDATE metric_counts SET n = (SELECT count(*) FROM deliveries WHERE status = 'pending')
WHERE metric = 'deliveries_pending' AND slot = 0;
UPDATE metric_counts SET n = (SELECT count(*) FROM deliveries WHERE status = 'dead')
WHERE metric = 'deliveries_dead' AND slot = 0;
UPDATE metric_counts SET n = (SELECT count(*) FROM links) WHERE metric = 'links_pending' AND slot = 0;
UPDATE metric_counts SET n = (SELECT count(*) FROM flows) WHERE metric = 'flows_pending' AND slot = 0;

-- Counts of a profile: latchkey_connections{status} (a gauge, label the
-- status) and latchkey_refreshes_total{outcome} (a counter, label the
-- outcome). They go with their profile.
CREATE TABLE metric_profile_counts (
    profile_id bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    metric     text NOT NULL CHECK (metric IN ('connections', 'refreshes')),
    label      text NOT NULL,
    slot       smallint NOT NULL CHECK (slot BETWEEN 0 AND 7),
    n          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (profile_id, metric, label, slot),
    CHECK (metric <> 'refreshes' OR label IN ('success', 'transient_failure', 'invalid_grant', 'misconfigured'))
);
INSERT INTO metric_profile_counts (profile_id, metric, label, slot, n)
SELECT profile_id, 'connections', status, 0, count(*) FROM connections GROUP BY profile_id, status;

-- A profile's refresh counters exist from its start (every slot, every
-- outcome), so that a refresh only updates a row it finds by its key.
CREATE FUNCTION latchkey_metric_profile_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metric_profile_counts (profile_id, metric, label, slot, n)
    SELECT NEW.id, 'refreshes', o, s, 0
    FROM unnest(ARRAY['success', 'transient_failure', 'invalid_grant', 'misconfigured']) AS o,
         generate_series(0, 7) AS s
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER profiles_metric_rows
    AFTER INSERT ON profiles FOR EACH ROW EXECUTE FUNCTION latchkey_metric_profile_rows();
INSERT INTO metric_profile_counts (profile_id, metric, label, slot, n)
SELECT p.id, 'refreshes', o, s, 0
FROM profiles p, unnest(ARRAY['success', 'transient_failure', 'invalid_grant', 'misconfigured']) AS o,
     generate_series(0, 7) AS s;

-- latchkey_provider_request_duration_seconds: buckets[i] counts the
-- requests in bucket i alone (not cumulative) of the bounds that
-- src/metrics.c declares, the last one +Inf.
CREATE TABLE metric_durations (
    slot    smallint PRIMARY KEY CHECK (slot BETWEEN 0 AND 7),
    buckets bigint[] NOT NULL,
    total   bigint NOT NULL DEFAULT 0,
    sum     double precision NOT NULL DEFAULT 0
);
INSERT INTO metric_durations (slot, buckets)
SELECT s, array_fill(0::bigint, ARRAY[12]) FROM generate_series(0, 7) AS s;

-- This session's slot.
CREATE FUNCTION latchkey_metric_slot() RETURNS smallint LANGUAGE sql STABLE AS $$
    SELECT (pg_backend_pid() % 8)::smallint
$$;

-- Adds delta to a gauge without labels.
CREATE FUNCTION latchkey_metric_add(p_metric text, p_delta bigint) RETURNS void LANGUAGE sql AS $$
    UPDATE metric_counts SET n = n + p_delta WHERE metric = p_metric AND slot = latchkey_metric_slot()
$$;

-- Adds delta to a count of a profile; nothing when the profile is gone
-- (its connections going with it must not bring its counts back).
CREATE FUNCTION latchkey_metric_profile_add(p_profile bigint, p_metric text, p_label text, p_delta bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO metric_profile_counts (profile_id, metric, label, slot, n)
    SELECT id, p_metric, p_label, latchkey_metric_slot(), p_delta FROM profiles WHERE id = p_profile
    ON CONFLICT (profile_id, metric, label, slot) DO UPDATE SET n = metric_profile_counts.n + EXCLUDED.n
$$;

-- One refresh of a profile's connection (outcome NULL: none to count) and
-- the provider request it made (bucket 1-based, NULL: none), in the
-- refresh's transaction. (A successful refresh counts itself in the
-- statement that stores its tokens: LK_METRICS_SUCCESS_WITH, metrics.h.)
CREATE FUNCTION latchkey_metric_refresh(p_profile bigint, p_outcome text, p_bucket int, p_secs double precision)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_outcome IS NOT NULL THEN
        PERFORM latchkey_metric_profile_add(p_profile, 'refreshes', p_outcome, 1);
    END IF;
    IF p_bucket IS NOT NULL THEN
        UPDATE metric_durations SET buckets[p_bucket] = buckets[p_bucket] + 1, total = total + 1,
                                    sum = sum + p_secs
        WHERE slot = latchkey_metric_slot();
    END IF;
END;
$$;

-- latchkey_connections: a connection counts under its profile and status.
-- A refresh that changes no status (the hot path) runs no function. A
-- change of status moves one count between two rows, always in the same
-- order (profile, status), so that two opposite changes cannot deadlock.
CREATE FUNCTION latchkey_metric_connection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM latchkey_metric_profile_add(NEW.profile_id, 'connections', NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM latchkey_metric_profile_add(OLD.profile_id, 'connections', OLD.status, -1);
    ELSIF (OLD.profile_id, OLD.status) < (NEW.profile_id, NEW.status) THEN
        PERFORM latchkey_metric_profile_add(OLD.profile_id, 'connections', OLD.status, -1);
        PERFORM latchkey_metric_profile_add(NEW.profile_id, 'connections', NEW.status, 1);
    ELSE
        PERFORM latchkey_metric_profile_add(NEW.profile_id, 'connections', NEW.status, 1);
        PERFORM latchkey_metric_profile_add(OLD.profile_id, 'connections', OLD.status, -1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER connections_metric_insert
    AFTER INSERT ON connections FOR EACH ROW EXECUTE FUNCTION latchkey_metric_connection();
CREATE TRIGGER connections_metric_delete
    AFTER DELETE ON connections FOR EACH ROW EXECUTE FUNCTION latchkey_metric_connection();
CREATE TRIGGER connections_metric_update
    AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.profile_id IS DISTINCT FROM NEW.profile_id)
    EXECUTE FUNCTION latchkey_metric_connection();

-- links_pending and flows_pending: rows present, counted once per
-- statement (a purge of many rows is one update), TG_ARGV[0] the gauge.
CREATE FUNCTION latchkey_metric_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO d FROM added;
    ELSE
        SELECT -count(*) INTO d FROM removed;
    END IF;
    IF d <> 0 THEN
        PERFORM latchkey_metric_add(TG_ARGV[0], d);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER links_metric_insert AFTER INSERT ON links REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_rows('links_pending');
CREATE TRIGGER links_metric_delete AFTER DELETE ON links REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_rows('links_pending');
CREATE TRIGGER flows_metric_insert AFTER INSERT ON flows REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_rows('flows_pending');
CREATE TRIGGER flows_metric_delete AFTER DELETE ON flows REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_rows('flows_pending');

-- deliveries_pending and deliveries_dead: the rows in that status, once
-- per statement.
CREATE FUNCTION latchkey_metric_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p bigint := 0;
    d bigint := 0;
    op bigint;
    od bigint;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead')
        INTO p, d FROM added;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'dead')
        INTO op, od FROM removed;
        p := p - op;
        d := d - od;
    END IF;
    IF p <> 0 THEN
        PERFORM latchkey_metric_add('deliveries_pending', p);
    END IF;
    IF d <> 0 THEN
        PERFORM latchkey_metric_add('deliveries_dead', d);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deliveries_metric_insert AFTER INSERT ON deliveries REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_deliveries();
CREATE TRIGGER deliveries_metric_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_deliveries();
CREATE TRIGGER deliveries_metric_delete AFTER DELETE ON deliveries REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_metric_deliveries();
