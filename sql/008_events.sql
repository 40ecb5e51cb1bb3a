-- Events and webhooks (SPEC §11): an outbox. Every change an event reports
-- writes its event in the same transaction, here in the database itself
-- (triggers on connections and profiles), so that no path that changes a
-- connection (the browser flow, the CLI, the refresh, an import) can
-- forget it, a change that rolls back leaves no event and one that commits
-- loses none. `latchkey events` delivers them.

-- Receivers. Secrets are sealed (whsec_…); after a rotation the previous
-- secret still signs, beside the new one, until previous_until.
CREATE TABLE webhooks (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    secret          text NOT NULL,          -- sealed
    previous_secret text,                   -- sealed
    previous_until  timestamptz,
    events          jsonb NOT NULL DEFAULT '["*"]'
                    CHECK (jsonb_typeof(events) = 'array'),  -- patterns, '*' matches any run
    profiles        jsonb                   -- NULL: every profile
                    CHECK (profiles IS NULL OR jsonb_typeof(profiles) = 'array'),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per event. msg_id is the Standard Webhooks webhook-id, the same
-- on every attempt and for every receiver.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    msg_id      text NOT NULL UNIQUE,
    type        text NOT NULL,
    profile     text NOT NULL,
    instance_id text,
    data        jsonb NOT NULL,              -- the body's "data": never a token or secret
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX events_created_at ON events (created_at);

-- One row per event and receiver. Deliveries of one stream (a receiver
-- and a connection: webhook_id, stream) go out in id order: one is sent
-- only when no earlier one of its stream is pending.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    stream          text NOT NULL,          -- profile '/' instance_id
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_status     integer,                -- the receiver's HTTP status, NULL: none
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_stream ON deliveries (webhook_id, stream, id) WHERE status = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);

-- Records one event and a delivery for every receiver whose patterns and
-- profiles take it, and wakes the deliverers (at commit: NOTIFY is
-- transactional). Returns the event's id.
CREATE FUNCTION latchkey_event(p_type text, p_profile text, p_instance text, p_data jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    ev bigint;
BEGIN
    INSERT INTO events (msg_id, type, profile, instance_id, data)
    VALUES ('msg_' || replace(gen_random_uuid()::text, '-', ''), p_type, p_profile, p_instance, p_data)
    RETURNING id INTO ev;
    INSERT INTO deliveries (event_id, webhook_id, stream)
    SELECT ev, w.id, p_profile || '/' || coalesce(p_instance, '')
    FROM webhooks w
    WHERE (w.profiles IS NULL OR w.profiles ? p_profile)
      AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(w.events) AS pat
                  WHERE p_type LIKE replace(replace(replace(replace(pat, '\', '\\'), '%', '\%'), '_', '\_'),
                                            '*', '%'));
    IF FOUND THEN
        PERFORM pg_notify('latchkey_events', '');
    END IF;
    RETURN ev;
END;
$$;

-- A connection's events: created, deleted, re-authorized (a new grant),
-- and its status changing (refresh failing, re-authorization required,
-- recovered from failing). Repeated failures of one kind raise one event.
CREATE FUNCTION latchkey_connection_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c connections;
    pname text;
    t text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        c := OLD;
    ELSE
        c := NEW;
    END IF;
    SELECT name INTO pname FROM profiles WHERE id = c.profile_id;
    IF pname IS NULL THEN
        RETURN NULL; -- the profile itself is being deleted
    END IF;
    IF TG_OP = 'INSERT' THEN
        t := 'connection.created';
    ELSIF TG_OP = 'DELETE' THEN
        t := 'connection.deleted';
    ELSIF NEW.grant_issued_at IS DISTINCT FROM OLD.grant_issued_at THEN
        t := 'connection.reauthorized';
    ELSIF NEW.status = 'reauthorization_required' THEN
        t := 'connection.reauthorization_required';
    ELSIF NEW.status = 'refresh_failing' THEN
        t := 'connection.refresh_failing';
    ELSIF OLD.status = 'refresh_failing' AND NEW.status = 'active' THEN
        t := 'connection.recovered';
    ELSE
        RETURN NULL;
    END IF;
    PERFORM latchkey_event(t, pname, c.instance_id, jsonb_strip_nulls(jsonb_build_object(
        'profile', pname,
        'instance_id', c.instance_id,
        'status', CASE WHEN TG_OP = 'DELETE' THEN 'deleted' ELSE c.status END,
        'reason', CASE WHEN t IN ('connection.refresh_failing', 'connection.reauthorization_required')
                       THEN c.last_error END,
        'last_refreshed_at', to_char(c.last_refreshed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'grant_issued_at', to_char(c.grant_issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))));
    RETURN NULL;
END;
$$;

CREATE TRIGGER connections_event_insert
    AFTER INSERT ON connections FOR EACH ROW EXECUTE FUNCTION latchkey_connection_event();
CREATE TRIGGER connections_event_delete
    AFTER DELETE ON connections FOR EACH ROW EXECUTE FUNCTION latchkey_connection_event();
-- A refresh that changes no status (the hot path) runs no function.
CREATE TRIGGER connections_event_update
    AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.grant_issued_at IS DISTINCT FROM NEW.grant_issued_at)
    EXECUTE FUNCTION latchkey_connection_event();

-- The provider refused a profile's client: one event until it is fixed
-- (misconfigured_at cleared).
CREATE FUNCTION latchkey_profile_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM latchkey_event('profile.misconfigured', NEW.name, NULL, jsonb_strip_nulls(jsonb_build_object(
        'profile', NEW.name,
        'status', 'misconfigured',
        'reason', NEW.misconfigured_reason)));
    RETURN NULL;
END;
$$;

CREATE TRIGGER profiles_event_misconfigured
    AFTER UPDATE ON profiles FOR EACH ROW
    WHEN (OLD.misconfigured_at IS NULL AND NEW.misconfigured_at IS NOT NULL)
    EXECUTE FUNCTION latchkey_profile_event();
