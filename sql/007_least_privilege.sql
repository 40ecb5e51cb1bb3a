-- Least privilege (SPEC §10). A read-only bot key may call only read-only
-- MCP tools, only GET and HEAD through the proxy, and never /token or
-- /refresh: an agent that may only read never holds a token that can write.
ALTER TABLE api_keys ADD COLUMN read_only boolean NOT NULL DEFAULT false;

-- A key made read-only (or writable) by hand must take effect in every
-- serving process at its next request, like a revocation.
DROP TRIGGER api_keys_announce ON api_keys;
CREATE TRIGGER api_keys_announce
    AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.profiles IS DISTINCT FROM NEW.profiles
          OR OLD.instance_prefix IS DISTINCT FROM NEW.instance_prefix
          OR OLD.key_hash IS DISTINCT FROM NEW.key_hash
          OR OLD.read_only IS DISTINCT FROM NEW.read_only)
    EXECUTE FUNCTION latchkey_announce();

-- The MCP tools a profile offers: a JSON array of tool names, NULL for all
-- of its template's tools.
ALTER TABLE profiles ADD COLUMN tools jsonb
    CHECK (tools IS NULL OR jsonb_typeof(tools) = 'array');
