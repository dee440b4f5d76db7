-- Delivery receipts (src/notices/receipts.rs): a gateway reports what became
-- of a notice by its id alone, without a tenant session. After the
-- request's signature is verified, this function finds the notice's tenant,
-- and the receipt is then recorded in that tenant's transaction, under
-- row-level security like everything else.
--
-- It works whether or not its owner bypasses row-level security: it looks
-- in each tenant in turn with app.tenant_id set for that tenant (the
-- function's SET clause confines those settings to the call, so the
-- caller's tenant, if any, is back when it returns). It returns a tenant
-- id, never a row.
CREATE FUNCTION gridcrm_notice_tenant(notice uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public
    SET app.tenant_id = ''
    AS $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants WHERE NOT is_platform ORDER BY id LOOP
        PERFORM set_config('app.tenant_id', t::text, true);
        IF EXISTS (SELECT 1 FROM notices n WHERE n.tenant_id = t AND n.id = notice) THEN
            RETURN t;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION gridcrm_notice_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridcrm_notice_tenant(uuid) TO gridcrm_app;

-- The delivery monitor (/notices/monitor) counts what was sent and what
-- failed in the last day, and lists the latest failures: without these it
-- would read every notice the tenant ever had.
CREATE INDEX notices_sent ON notices (tenant_id, sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX notices_failed ON notices (tenant_id, failed_at) WHERE status = 'failed';
