-- When each connection was last used (issue 15), in a narrow table of its
-- own. The hot path notes uses in memory and writes them after its answers,
-- a batch at a time (src/touch.c); on connections itself each note rewrote
-- a row of a kilobyte (tokens, metadata) and weighed its triggers'
-- conditions, about two thousand times a second with 100,000 users.
-- No foreign key: its check would wait behind a refresh's row lock. A
-- deleted connection takes its use with it (the trigger below); a note
-- written for a row deleted meanwhile stays an orphan of a few bytes under
-- an id that is never used again.
CREATE TABLE connection_uses (
    connection_id bigint PRIMARY KEY,
    last_used_at  timestamptz NOT NULL
);

CREATE FUNCTION latchkey_forget_use() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM connection_uses WHERE connection_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER connections_forget_use
    AFTER DELETE ON connections FOR EACH ROW
    EXECUTE FUNCTION latchkey_forget_use();

-- connections.last_used_at is no longer written; nodes still running the
-- previous version read it, and readers take the later of the two.
COMMENT ON COLUMN connections.last_used_at IS
    'superseded by connection_uses (sql/013): no longer written';
