-- The portal home in one statement, session included (issue 20: the home
-- against the ceiling). The home took two: the session look-up every portal
-- page makes (migration 0064), then the accounts (0063). Each statement
-- outside a transaction is a transaction of its own, with its executor
-- start, commit and round trips; on two cores with sixteen clients the pair
-- served about three quarters of the pages one statement serves (pgbench).
--
-- The session is looked up as before, as the server, by the hash of the
-- cookie's secret; only then does the statement switch to the portal role
-- and read the accounts as that customer, so the portal policies apply as
-- in a begin_portal transaction. No session: no rows. A session without
-- linked accounts: one row whose account columns are null. The role and the
-- settings end with the statement: the server calls it on a pooled
-- connection outside any transaction.
CREATE FUNCTION gridcrm_portal_session_with_accounts(p_tenant uuid, p_token_hash bytea, p_idle_minutes integer)
    RETURNS TABLE (session_id uuid, portal_user_id uuid, login text, csrf_token text, slug text,
                   tenant_name text, time_zone text,
                   customer_id uuid, account_no text, name text, address text, status text,
                   credit_balance numeric, quiet_from time, quiet_to time, owed numeric,
                   last_period date, last_amount numeric)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s record;
BEGIN
    SELECT * INTO s FROM gridcrm_portal_session_caller(p_tenant, p_token_hash, p_idle_minutes);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM set_config('role', 'gridcrm_portal', true);
    PERFORM set_config('app.portal_user_id', s.portal_user_id::text, true);
    RETURN QUERY
    SELECT s.session_id, s.portal_user_id, s.login, s.csrf_token, s.slug, s.tenant_name, s.time_zone, a.*
      FROM (VALUES (1)) AS one (n)
      LEFT JOIN gridcrm_portal_accounts() a ON true
     ORDER BY a.account_no COLLATE "C";
END
$$;

-- Its predecessor, which took the customer from the server's earlier
-- session look-up.
DROP FUNCTION gridcrm_portal_home_accounts(uuid, uuid);
