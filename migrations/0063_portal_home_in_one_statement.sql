-- The portal's account list as functions, so that the portal home is one
-- statement after the session's (issue 20: the home against the ceiling).
--
-- gridcrm_portal_accounts() is the list as the signed-in customer sees it,
-- read inside a transaction begun as the portal role (db::begin_portal); the
-- pages that list the accounts in a transaction of their own call it.
--
-- gridcrm_portal_home_accounts(tenant, portal user) is the same list in one
-- statement, without BEGIN and COMMIT: it switches to the portal role and
-- sets the tenant and the customer for its own transaction, then reads. The
-- query is planned after the switch (PL/pgSQL plans RETURN QUERY when it
-- runs it, and a cached plan made under another role is planned again), so
-- the portal role's policies apply exactly as in a begin_portal transaction.
-- Called inside a longer transaction, the role would stay switched until it
-- ends: the server calls it on a pooled connection outside any transaction.
CREATE FUNCTION gridcrm_portal_accounts()
    RETURNS TABLE (customer_id uuid, account_no text, name text, address text, status text,
                   credit_balance numeric, quiet_from time, quiet_to time, owed numeric,
                   last_period date, last_amount numeric)
    LANGUAGE sql STABLE AS $$
    -- Driven from the customer's links: the tenant may have a million
    -- customers, the customer a handful of links, and the policies on
    -- customers and bills are checked on those rows only.
    SELECT c.id, c.account_no::text, c.name::text, c.address::text, c.status::text, c.credit_balance::numeric,
           c.quiet_from, c.quiet_to,
           coalesce((SELECT sum(b.amount - b.paid + b.late_fee - b.late_fee_paid) FROM bills b
                      WHERE b.tenant_id = c.tenant_id AND b.customer_id = c.id AND b.status = 'issued'), 0)::numeric,
           l.period, l.amount::numeric
      FROM portal_links pl
      JOIN customers c ON c.tenant_id = pl.tenant_id AND c.id = pl.customer_id
      LEFT JOIN LATERAL (SELECT b.period, b.amount FROM bills b
                          WHERE b.tenant_id = c.tenant_id AND b.customer_id = c.id AND b.status = 'issued'
                          ORDER BY b.period DESC LIMIT 1) l ON true
     WHERE pl.portal_user_id = app_portal_user_id()
$$;

CREATE FUNCTION gridcrm_portal_home_accounts(p_tenant uuid, p_portal_user uuid)
    RETURNS TABLE (customer_id uuid, account_no text, name text, address text, status text,
                   credit_balance numeric, quiet_from time, quiet_to time, owed numeric,
                   last_period date, last_amount numeric)
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('role', 'gridcrm_portal', true);
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM set_config('app.user_id', '', true);
    PERFORM set_config('app.portal_user_id', p_portal_user::text, true);
    RETURN QUERY SELECT a.* FROM gridcrm_portal_accounts() a ORDER BY a.account_no COLLATE "C";
END
$$;

