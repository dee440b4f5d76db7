-- Tenants, staff users, sessions, API keys and the audit log.

-- The tenant registry is platform data: it has no tenant_id and no RLS. The
-- application role reads it to resolve a login's company code.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL DEFAULT 'Asia/Shanghai',
    settings    jsonb NOT NULL DEFAULT '{}',
    -- The operator's own tenant: its users may hold platform_admin.
    is_platform boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    username       text NOT NULL CHECK (username ~ '^[a-z0-9._-]{2,40}$'),
    display_name   text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
    role           text NOT NULL CHECK (role IN ('counter_staff', 'account_manager', 'supervisor', 'tenant_admin', 'platform_admin')),
    locale         text CHECK (locale IN ('zh-CN', 'en')),
    password_hash  text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, username)
);
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
SELECT gridcrm_tenant_rls('users');

-- Server-side sessions. The cookie carries the tenant id and a random secret;
-- only the secret's SHA-256 is stored.
CREATE TABLE sessions (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    token_hash    bytea NOT NULL,
    user_id       uuid NOT NULL,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
SELECT gridcrm_tenant_rls('sessions');

CREATE TABLE api_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, shown in lists so a key can be recognised.
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL,
    role          text NOT NULL CHECK (role IN ('counter_staff', 'account_manager', 'supervisor', 'tenant_admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, key_hash)
);
SELECT gridcrm_tenant_rls('api_keys');

-- Append-only for the application role (see the grants below).
CREATE TABLE audit_log (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  uuid,
    actor_label    text NOT NULL,
    request_id     text,
    action         text NOT NULL,
    entity         text NOT NULL,
    entity_id      uuid,
    summary        text NOT NULL DEFAULT '',
    before         jsonb,
    after          jsonb,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at DESC, id DESC);
CREATE INDEX audit_log_entity ON audit_log (tenant_id, entity, entity_id, at DESC);
CREATE INDEX audit_log_actor ON audit_log (tenant_id, actor_user_id, at DESC);
SELECT gridcrm_tenant_rls('audit_log');

GRANT SELECT, INSERT, UPDATE ON tenants TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, api_keys TO gridcrm_app;
GRANT SELECT, INSERT ON audit_log TO gridcrm_app;
GRANT SELECT ON _sqlx_migrations TO gridcrm_app;
