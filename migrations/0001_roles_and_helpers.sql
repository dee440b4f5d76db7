-- Roles, extensions and the helpers every later migration uses.
--
-- gridcrm_app is the role the server does all tenant work as. It is not a
-- superuser, has no BYPASSRLS and owns no table, so row-level security always
-- applies to it. Roles are cluster-wide, hence the existence check.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridcrm_app') THEN
        CREATE ROLE gridcrm_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

-- The migrating (owner) role may switch to the application role with SET ROLE.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'gridcrm_app', 'MEMBER') THEN
        EXECUTE format('GRANT gridcrm_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO gridcrm_app;

-- The tenant of the current transaction, or NULL when none is set (then every
-- policy matches nothing).
CREATE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- Enables and forces row-level security on a tenant-owned table with the one
-- policy gridcrm uses everywhere.
CREATE FUNCTION gridcrm_tenant_rls(tbl regclass) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())',
        tbl);
END
$$;

CREATE FUNCTION gridcrm_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Search keys for names: every distinct lower-cased character pair (and, for
-- one-character names, the character). Chinese names are two to four
-- characters, too short for trigrams; pairs make any infix of two or more
-- characters an indexed lookup (see customer_name_grams).
CREATE FUNCTION gridcrm_name_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT coalesce(array_agg(DISTINCT g), '{}')
    FROM (
        SELECT substr(lower(t), i, 2) AS g
        FROM generate_series(1, greatest(char_length(t) - 1, 1)) AS i
    ) grams
    WHERE g <> '' AND g !~ '\s'
$$;
