-- The portal customer's session in one statement, as gridcrm_session_caller
-- does for staff: it sets the tenant for its own statement, touches the
-- session at most once a minute, and returns the caller. Resolving a portal
-- session took four round trips (BEGIN with the tenant, the look-up, the
-- touch, COMMIT) before every portal page.
CREATE FUNCTION gridcrm_portal_session_caller(p_tenant uuid, p_token_hash bytea, p_idle_minutes integer)
    RETURNS TABLE (session_id uuid, portal_user_id uuid, login text, csrf_token text, slug text,
                   tenant_name text, time_zone text)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    UPDATE portal_sessions s SET last_seen_at = now()
     WHERE s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at < now() - interval '1 minute'
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    RETURN QUERY
    SELECT s.id, s.portal_user_id, u.login, s.csrf_token, t.slug, t.name, t.time_zone
      FROM portal_sessions s
      JOIN portal_users u ON u.id = s.portal_user_id
      JOIN tenants t ON t.id = s.tenant_id
     WHERE s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
END
$$;
