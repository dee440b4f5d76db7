-- The customer self-service portal (/portal): customers' own logins, the
-- accounts each has linked, one-time codes and sessions.
--
-- Customers are a different principal from staff. Before they are signed
-- in, the server does the work for them as gridcrm_app (checking a code,
-- creating the login, starting a session). Once they are signed in, every
-- read runs as gridcrm_portal, with app.portal_user_id set: on top of the
-- tenant policy every table has, a restrictive policy lets that role see
-- only the portal user's own row, their links, and the customers, bills and
-- payments of the accounts linked to them. A handler that forgets a check
-- still cannot show someone else's account.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridcrm_portal') THEN
        CREATE ROLE gridcrm_portal NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    -- The application role switches to it with SET LOCAL ROLE.
    IF NOT pg_has_role('gridcrm_app', 'gridcrm_portal', 'MEMBER') THEN
        GRANT gridcrm_portal TO gridcrm_app;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO gridcrm_portal;

-- The signed-in customer of the current transaction, or NULL.
CREATE FUNCTION app_portal_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.portal_user_id', true), '')::uuid $$;

CREATE TABLE portal_users (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    -- What the customer signs in with: their mobile number or email, lower-cased.
    login         text NOT NULL CHECK (login ~ '^[a-z0-9._%+@-]{5,100}$'),
    password_hash text NOT NULL,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, login)
);
SELECT gridcrm_tenant_rls('portal_users');

-- The accounts a portal user may see (home, shop, parents' flat). Several
-- users may link one account (a family).
CREATE TABLE portal_links (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    portal_user_id uuid NOT NULL,
    customer_id    uuid NOT NULL,
    linked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, portal_user_id, customer_id),
    FOREIGN KEY (tenant_id, portal_user_id) REFERENCES portal_users (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX portal_links_customer ON portal_links (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('portal_links');

-- One-time codes, sent to the phone or email the account has on file. Only
-- a hash is kept here; a code dies after its expiry, its attempts or its use.
CREATE TABLE portal_codes (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('register', 'link')),
    -- For 'link': the signed-in user who asked; the code links for them only.
    requested_by uuid,
    code_hash    bytea NOT NULL,
    -- The address that asked (for the per-address limit).
    address      text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, requested_by) REFERENCES portal_users (tenant_id, id),
    CHECK ((purpose = 'link') = (requested_by IS NOT NULL))
);
CREATE INDEX portal_codes_customer ON portal_codes (tenant_id, customer_id, created_at DESC);
CREATE INDEX portal_codes_address ON portal_codes (tenant_id, address, created_at DESC);
SELECT gridcrm_tenant_rls('portal_codes');

CREATE TABLE portal_sessions (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    token_hash     bytea NOT NULL,
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, portal_user_id) REFERENCES portal_users (tenant_id, id)
);
CREATE INDEX portal_sessions_user ON portal_sessions (tenant_id, portal_user_id);
SELECT gridcrm_tenant_rls('portal_sessions');

GRANT SELECT, INSERT, UPDATE ON portal_users TO gridcrm_app;
GRANT SELECT, INSERT, DELETE ON portal_links TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON portal_codes, portal_sessions TO gridcrm_app;

-- What a signed-in customer reads, and only through the policies below.
GRANT SELECT ON tenants, portal_users, portal_links, customers, bills, payments TO gridcrm_portal;

CREATE POLICY portal_own ON portal_users AS RESTRICTIVE TO gridcrm_portal
    USING (id = app_portal_user_id());
CREATE POLICY portal_own ON portal_links AS RESTRICTIVE TO gridcrm_portal
    USING (portal_user_id = app_portal_user_id());
CREATE POLICY portal_linked ON customers AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = customers.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = customers.id));
CREATE POLICY portal_linked ON bills AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = bills.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = bills.customer_id));
CREATE POLICY portal_linked ON payments AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = payments.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = payments.customer_id));

-- The one-time code goes out as a notice of its own kind, which no one can
-- opt out of (they asked for it).
ALTER TABLE notice_opt_outs DROP CONSTRAINT notice_opt_outs_kind_check;
ALTER TABLE notice_opt_outs ADD CONSTRAINT notice_opt_outs_kind_check
    CHECK (kind NOT IN ('planned_outage', 'disconnection_ordered', 'low_balance', 'portal_code'));
