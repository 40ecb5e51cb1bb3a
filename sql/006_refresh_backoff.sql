-- A refresh's failure is shared like its success (SPEC §5): until
-- refresh_retry_at no caller calls the provider for this connection again,
-- and refresh_retry_error says what callers are told meanwhile
-- (provider_unavailable: the stored token while it is valid, else 503 with
-- the remaining Retry-After; provider_error: 502). A successful refresh or
-- a new grant clears both.
ALTER TABLE connections
    ADD COLUMN refresh_retry_at timestamptz,
    ADD COLUMN refresh_retry_error text
        CHECK (refresh_retry_error IN ('provider_unavailable', 'provider_error'));
