-- The session and API key look-ups name the tenant they are given
-- (`tenant_id = p_tenant`) besides the token's hash. On one server
-- row-level security already keeps them to that tenant and the token's hash
-- finds the row; on a Citus cluster (docs/operations.md, "Scale out on
-- Citus") only a bound tenant sends a statement to the tenant's shard, and
-- without it every request's look-up went to all 32 shards (scripts/bench-citus:
-- a signed-in user's bare page at 36 requests a second). Same arguments,
-- columns and rows as migrations 0047 and 0064.
CREATE OR REPLACE FUNCTION gridcrm_session_caller(p_tenant uuid, p_token_hash bytea, p_idle_minutes integer)
    RETURNS TABLE (session_id uuid, user_id uuid, csrf_token text, display_name text, role text, locale text,
                   slug text, tenant_name text, time_zone text, is_platform boolean)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seen timestamptz;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    SELECT s.id, s.user_id, s.csrf_token, u.display_name, u.role, u.locale, t.slug, t.name, t.time_zone,
           t.is_platform, s.last_seen_at
      INTO session_id, user_id, csrf_token, display_name, role, locale, slug, tenant_name, time_zone,
           is_platform, seen
      FROM sessions s
      JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
      JOIN tenants t ON t.id = s.tenant_id
     WHERE s.tenant_id = p_tenant AND s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes) AND u.active;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF seen < now() - interval '1 minute' THEN
        UPDATE sessions s SET last_seen_at = now() WHERE s.tenant_id = p_tenant AND s.id = session_id;
    END IF;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION gridcrm_portal_session_caller(p_tenant uuid, p_token_hash bytea, p_idle_minutes integer)
    RETURNS TABLE (session_id uuid, portal_user_id uuid, login text, csrf_token text, slug text,
                   tenant_name text, time_zone text)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    seen timestamptz;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    SELECT s.id, s.portal_user_id, u.login, s.csrf_token, t.slug, t.name, t.time_zone, s.last_seen_at
      INTO session_id, portal_user_id, login, csrf_token, slug, tenant_name, time_zone, seen
      FROM portal_sessions s
      JOIN portal_users u ON u.tenant_id = s.tenant_id AND u.id = s.portal_user_id
      JOIN tenants t ON t.id = s.tenant_id
     WHERE s.tenant_id = p_tenant AND s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF seen < now() - interval '1 minute' THEN
        UPDATE portal_sessions s SET last_seen_at = now() WHERE s.tenant_id = p_tenant AND s.id = session_id;
    END IF;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION gridcrm_api_key_caller(p_tenant uuid, p_key_hash bytea)
    RETURNS TABLE (key_id uuid, key_name text, role text, slug text, tenant_name text, time_zone text)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    RETURN QUERY
    UPDATE api_keys k SET last_used_at = now()
      FROM tenants t
     WHERE t.id = k.tenant_id AND k.tenant_id = p_tenant AND k.key_hash = p_key_hash AND k.revoked_at IS NULL
    RETURNING k.id, k.name, k.role, t.slug, t.name, t.time_zone;
END
$$;
