-- The answer cache keeps a row until it is announced (issue 15), no longer
-- for a second at most: every column a cached answer carries is announced
-- when it changes. Only last_used_at (written at most once a minute,
-- changing no answer given) and the sweep's bookkeeping stay quiet.
DROP TRIGGER connections_announce ON connections;
CREATE TRIGGER connections_announce
    AFTER UPDATE ON connections FOR EACH ROW
    WHEN (OLD.generation IS DISTINCT FROM NEW.generation
          OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.access_token IS DISTINCT FROM NEW.access_token
          OR OLD.refresh_token IS DISTINCT FROM NEW.refresh_token
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.scope IS DISTINCT FROM NEW.scope
          OR OLD.token_type IS DISTINCT FROM NEW.token_type
          OR OLD.instance_id IS DISTINCT FROM NEW.instance_id
          OR OLD.profile_id IS DISTINCT FROM NEW.profile_id
          OR OLD.client_id IS DISTINCT FROM NEW.client_id
          OR OLD.refresh_count IS DISTINCT FROM NEW.refresh_count
          OR OLD.failure_count IS DISTINCT FROM NEW.failure_count
          OR OLD.grant_issued_at IS DISTINCT FROM NEW.grant_issued_at
          OR OLD.last_refreshed_at IS DISTINCT FROM NEW.last_refreshed_at
          OR OLD.last_error IS DISTINCT FROM NEW.last_error
          OR OLD.refresh_retry_at IS DISTINCT FROM NEW.refresh_retry_at
          OR OLD.refresh_retry_error IS DISTINCT FROM NEW.refresh_retry_error)
    EXECUTE FUNCTION latchkey_announce();

DROP TRIGGER api_keys_announce ON api_keys;
CREATE TRIGGER api_keys_announce
    AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.profiles IS DISTINCT FROM NEW.profiles
          OR OLD.instance_prefix IS DISTINCT FROM NEW.instance_prefix
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash
          OR OLD.read_only IS DISTINCT FROM NEW.read_only
          OR OLD.metrics IS DISTINCT FROM NEW.metrics
          OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION latchkey_announce();
