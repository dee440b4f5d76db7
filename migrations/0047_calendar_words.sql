-- The national calendar, words and formats, and the one-statement caller.

-- The State Council's public holidays and make-up working days (调休), as
-- published (国务院办公厅关于2025年、2026年部分节假日安排的通知). A new
-- tenant starts with a copy in its own calendar_days, which its admin edits;
-- a year published later is added by a later migration (or by the admin).
CREATE TABLE national_calendar_days (
    day  date PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('holiday', 'working')),
    name text NOT NULL CHECK (char_length(name) <= 60)
);
GRANT SELECT ON national_calendar_days TO gridcrm_app;

INSERT INTO national_calendar_days (day, kind, name)
SELECT d::date, kind, name FROM (VALUES
    ('2025-01-01', '2025-01-01', 'holiday', '元旦'),
    ('2025-01-26', '2025-01-26', 'working', '春节调休上班'),
    ('2025-01-28', '2025-02-04', 'holiday', '春节'),
    ('2025-02-08', '2025-02-08', 'working', '春节调休上班'),
    ('2025-04-04', '2025-04-06', 'holiday', '清明节'),
    ('2025-04-27', '2025-04-27', 'working', '劳动节调休上班'),
    ('2025-05-01', '2025-05-05', 'holiday', '劳动节'),
    ('2025-05-31', '2025-06-02', 'holiday', '端午节'),
    ('2025-09-28', '2025-09-28', 'working', '国庆节调休上班'),
    ('2025-10-01', '2025-10-08', 'holiday', '国庆节、中秋节'),
    ('2025-10-11', '2025-10-11', 'working', '国庆节调休上班'),
    ('2026-01-01', '2026-01-03', 'holiday', '元旦'),
    ('2026-01-04', '2026-01-04', 'working', '元旦调休上班'),
    ('2026-02-14', '2026-02-14', 'working', '春节调休上班'),
    ('2026-02-15', '2026-02-23', 'holiday', '春节'),
    ('2026-02-28', '2026-02-28', 'working', '春节调休上班'),
    ('2026-04-04', '2026-04-06', 'holiday', '清明节'),
    ('2026-05-01', '2026-05-05', 'holiday', '劳动节'),
    ('2026-05-09', '2026-05-09', 'working', '劳动节调休上班'),
    ('2026-06-19', '2026-06-21', 'holiday', '端午节'),
    ('2026-09-20', '2026-09-20', 'working', '国庆节调休上班'),
    ('2026-09-25', '2026-09-27', 'holiday', '中秋节'),
    ('2026-10-01', '2026-10-07', 'holiday', '国庆节'),
    ('2026-10-10', '2026-10-10', 'working', '国庆节调休上班')
) AS r (first, last, kind, name),
LATERAL generate_series(first::date, last::date, interval '1 day') AS d;

-- Copies the national calendar into a tenant's own (days it has set stay).
CREATE FUNCTION gridcrm_install_national_calendar(tenant uuid) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO calendar_days (tenant_id, day, kind, name)
    SELECT tenant, day, kind, name FROM national_calendar_days
    ON CONFLICT DO NOTHING;
$$;
SELECT gridcrm_install_national_calendar(id) FROM tenants;

-- The caller of a request in one statement (one round trip): sets the tenant
-- for this statement's own transaction (set_config local: it ends with the
-- statement when called outside a transaction), touches the session when its
-- last-seen minute has passed, and returns the session with its user and tenant.
CREATE FUNCTION gridcrm_session_caller(p_tenant uuid, p_token_hash bytea, p_idle_minutes integer)
    RETURNS TABLE (session_id uuid, user_id uuid, csrf_token text, display_name text, role text, locale text,
                   slug text, tenant_name text, time_zone text, is_platform boolean)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    UPDATE sessions s SET last_seen_at = now()
     WHERE s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at < now() - interval '1 minute'
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    RETURN QUERY
    SELECT s.id, s.user_id, s.csrf_token, u.display_name, u.role, u.locale, t.slug, t.name, t.time_zone, t.is_platform
      FROM sessions s
      JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
      JOIN tenants t ON t.id = s.tenant_id
     WHERE s.token_hash = p_token_hash AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes) AND u.active;
END
$$;

-- The same for an API key (its last use is recorded on every call).
CREATE FUNCTION gridcrm_api_key_caller(p_tenant uuid, p_key_hash bytea)
    RETURNS TABLE (key_id uuid, key_name text, role text, slug text, tenant_name text, time_zone text)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    RETURN QUERY
    UPDATE api_keys k SET last_used_at = now()
      FROM tenants t
     WHERE t.id = k.tenant_id AND k.key_hash = p_key_hash AND k.revoked_at IS NULL
    RETURNING k.id, k.name, k.role, t.slug, t.name, t.time_zone;
END
$$;
