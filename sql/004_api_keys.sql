-- API-token and personal-access-token profiles (auth types api_key and
-- api_key_per_user). A credential is "email:api_token" (HTTP Basic,
-- Atlassian Cloud) or a personal access token (Bearer, Data Center).
ALTER TABLE profiles
    ADD COLUMN credential_kind text NOT NULL DEFAULT 'basic' CHECK (credential_kind IN ('basic', 'bearer')),
    ADD COLUMN credential text,                 -- sealed; api_key profiles only
    ADD COLUMN site_kind text NOT NULL DEFAULT 'cloud' CHECK (site_kind IN ('cloud', 'dc')),
    ADD COLUMN site text,                       -- api_key profiles: the one site
    ADD COLUMN site_metadata jsonb NOT NULL DEFAULT '{}', -- its cloud id etc.
    ADD COLUMN check_path text,                 -- GET here must know the credential
    ADD COLUMN tenant_info_url text,            -- cloud id lookup, {site_host}
    ADD COLUMN allow_http_sites boolean NOT NULL DEFAULT false,
    ADD COLUMN allow_private_sites boolean NOT NULL DEFAULT false;

-- Per-user forms may be tried again after a wrong token; bounded.
ALTER TABLE flows ADD COLUMN attempts integer NOT NULL DEFAULT 0;
CREATE INDEX flows_cookie_name ON flows (cookie_name);
