-- Health (SPEC §11): what a profile declares about the life of its grants,
-- from which a connection's refresh_token_lapses_at and grant_expires_at
-- are forecast, and the sweep's memory of the connection.expiring warnings
-- it raised.

-- NULL: the provider declares no such limit (nothing is forecast).
ALTER TABLE profiles
    ADD COLUMN refresh_token_idle_days integer
        CHECK (refresh_token_idle_days BETWEEN 1 AND 36500),  -- a refresh token unused this long lapses
    ADD COLUMN grant_lifetime_days integer
        CHECK (grant_lifetime_days BETWEEN 1 AND 36500);      -- a grant ends this long after consent

-- Atlassian: refresh tokens lapse after 90 days of inactivity, grants end
-- 365 days after consent (the templates declare it for new profiles).
UPDATE profiles SET refresh_token_idle_days = 90, grant_lifetime_days = 365
WHERE template IN ('atlassian-confluence', 'atlassian-jira') AND auth_type = 'oauth2';

-- The warnings raised: reason -> the forecast warned about (RFC 3339 text).
-- A warning is raised once per reason and forecast: a refresh (a new idle
-- clock) or a new grant moves the forecast, and the sweep forgets the old one.
ALTER TABLE connections
    ADD COLUMN expiry_warnings jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(expiry_warnings) = 'object');

-- When connection c of profile p would stop working for reason
-- (refresh_token_idle, grant_lifetime); NULL when not known.
CREATE FUNCTION latchkey_expiry_forecast(c connections, p profiles, reason text)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE reason
        WHEN 'refresh_token_idle' THEN
            CASE WHEN c.refresh_token IS NOT NULL
                 THEN GREATEST(c.last_refreshed_at, c.grant_issued_at)
                      + make_interval(hours => 24 * p.refresh_token_idle_days) END
        WHEN 'grant_lifetime' THEN
            c.grant_issued_at + make_interval(hours => 24 * p.grant_lifetime_days)
    END
$$;

-- The forecast as the warnings and the events hold it.
CREATE FUNCTION latchkey_iso(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
