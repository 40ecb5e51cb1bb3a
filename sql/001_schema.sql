-- Latchkey schema, version 1. Applied once by `latchkey migrate`, inside
-- one transaction, and recorded in latchkey_migrations.
-- Secrets are sealed text ("lk1.<kid>.<base64url>", AES-256-GCM with the
-- table, column, primary key and key id as associated data). Links, states,
-- cookies and API keys are stored only as SHA-256 hex.

CREATE TABLE profiles (
    id                     bigserial PRIMARY KEY,
    name                   text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    display_name           text NOT NULL,
    template               text NOT NULL,
    auth_type              text NOT NULL DEFAULT 'oauth2'
                           CHECK (auth_type IN ('oauth2', 'api_key', 'api_key_per_user')),
    client_id              text,
    client_secret          text,            -- sealed
    authorization_url      text,
    token_url              text,
    refresh_url            text,            -- NULL: the token URL
    scopes                 jsonb NOT NULL DEFAULT '[]',
    always_scopes          jsonb NOT NULL DEFAULT '[]',
    scope_separator        text NOT NULL DEFAULT ' ',
    extra_params           jsonb NOT NULL DEFAULT '{}',
    callback_url           text,
    token_style            text NOT NULL DEFAULT 'form' CHECK (token_style IN ('json', 'form', 'basic')),
    pkce                   boolean NOT NULL DEFAULT true,
    api_base_url           text,
    resource_discovery     text NOT NULL DEFAULT 'none' CHECK (resource_discovery IN ('none', 'atlassian')),
    resources_url          text,
    allowed_redirects      jsonb NOT NULL DEFAULT '[]',
    allow_direct_authorize boolean NOT NULL DEFAULT false,
    proxy_only             boolean NOT NULL DEFAULT false,
    issuer                 text,
    misconfigured_at       timestamptz,     -- set when the provider says so
    misconfigured_reason   text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- White-label clients: more (client id, secret, callback) sets of a profile.
CREATE TABLE profile_clients (
    id            bigserial PRIMARY KEY,
    profile_id    bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    client_id     text NOT NULL,
    client_secret text NOT NULL,            -- sealed
    callback_url  text,                     -- NULL: the profile's
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile_id, client_id)
);

CREATE TABLE api_keys (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    key_hash        text NOT NULL UNIQUE,   -- sha256 hex of the whole key
    key_prefix      text NOT NULL,          -- first characters, for lists
    profiles        jsonb NOT NULL,         -- ["confluence"] or ["*"]
    instance_prefix text,                   -- NULL: any instance id
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_used_at    timestamptz
);

-- Authorization links handed to bots (SPEC §4 step 1).
CREATE TABLE links (
    id           bigserial PRIMARY KEY,
    link_hash    text NOT NULL UNIQUE,
    profile_id   bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    instance_id  text NOT NULL,
    client_id    text,                      -- white-label client, NULL: the profile's
    scopes       jsonb,                     -- NULL: the profile's default
    redirect_url text,
    site         text,
    created_by   text,                      -- API key name or "cli"
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_expires_at ON links (expires_at);

-- Pending browser flows (SPEC §4 step 2), consumed once by the callback.
CREATE TABLE flows (
    id            bigserial PRIMARY KEY,
    state_hash    text NOT NULL UNIQUE,
    cookie_name   text NOT NULL,
    cookie_hash   text NOT NULL,
    profile_id    bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    link_id       bigint REFERENCES links (id) ON DELETE SET NULL,
    instance_id   text NOT NULL,
    client_id     text,
    redirect_uri  text NOT NULL,            -- the exact callback URL sent
    scopes        jsonb NOT NULL,
    redirect_url  text,
    site          text,
    pkce_verifier text,                     -- sealed
    no_replace    boolean NOT NULL DEFAULT false,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE connections (
    id                bigserial PRIMARY KEY,
    profile_id        bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    instance_id       text NOT NULL,
    client_id         text,                 -- the client the grant was issued to
    access_token      text,                 -- sealed
    refresh_token     text,                 -- sealed
    token_type        text NOT NULL DEFAULT 'Bearer',
    scope             text,
    expires_at        timestamptz,
    metadata          jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'refresh_failing', 'reauthorization_required')),
    generation        bigint NOT NULL DEFAULT 1,
    refresh_count     bigint NOT NULL DEFAULT 0,
    failure_count     bigint NOT NULL DEFAULT 0,
    grant_issued_at   timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_used_at      timestamptz,
    last_refreshed_at timestamptz,
    last_error        text,
    last_error_at     timestamptz,
    UNIQUE (profile_id, instance_id)
);

-- What happened, without secrets.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,              -- API key name, "browser", "cli"
    action      text NOT NULL,              -- link.create, connection.create, ...
    profile     text,
    instance_id text,
    outcome     text NOT NULL,              -- ok or an error code
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
