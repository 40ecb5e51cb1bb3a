-- Cache announcements: every serving process keeps recent answers (API
-- keys, profiles, connections) and LISTENs on channel "latchkey"; these
-- triggers announce each change that could make such an answer wrong, so
-- a refresh, a deletion or a key revocation anywhere takes effect in every
-- process at its next request. Payload: '<kind>:<id>' (k, p, c).

CREATE FUNCTION latchkey_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tag text;
BEGIN
    IF TG_TABLE_NAME = 'connections' THEN
        tag := 'c:' || OLD.id;
    ELSIF TG_TABLE_NAME = 'api_keys' THEN
        tag := 'k:' || OLD.id;
    ELSIF TG_TABLE_NAME = 'profiles' THEN
        tag := 'p:' || OLD.id;
    ELSE -- profile_clients: the profile's answers
        tag := 'p:' || OLD.profile_id;
    END IF;
    PERFORM pg_notify('latchkey', tag);
    RETURN NULL;
END;
$$;

-- last_used_at is written at most once a minute and changes no answer.
CREATE TRIGGER connections_announce
    AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.generation IS DISTINCT FROM NEW.generation
          OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.access_token IS DISTINCT FROM NEW.access_token
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.scope IS DISTINCT FROM NEW.scope
          OR OLD.token_type IS DISTINCT FROM NEW.token_type
          OR OLD.instance_id IS DISTINCT FROM NEW.instance_id)
    EXECUTE FUNCTION latchkey_announce();
CREATE TRIGGER connections_announce_delete
    AFTER DELETE ON connections FOR EACH ROW EXECUTE FUNCTION latchkey_announce();

CREATE TRIGGER api_keys_announce
    AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.profiles IS DISTINCT FROM NEW.profiles
          OR OLD.instance_prefix IS DISTINCT FROM NEW.instance_prefix
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash)
    EXECUTE FUNCTION latchkey_announce();
CREATE TRIGGER api_keys_announce_delete
    AFTER DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION latchkey_announce();

CREATE TRIGGER profiles_announce
    AFTER UPDATE OR DELETE ON profiles FOR EACH ROW EXECUTE FUNCTION latchkey_announce();
CREATE TRIGGER profile_clients_announce
    AFTER UPDATE OR DELETE ON profile_clients FOR EACH ROW EXECUTE FUNCTION latchkey_announce();
