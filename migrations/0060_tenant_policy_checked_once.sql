-- The tenant policy reads the caller's tenant once a statement, not once a
-- row. `tenant_id = app_tenant_id()` inlines to `current_setting(...)::uuid`,
-- which the executor evaluates for every row a scan reads: in a bulk read of
-- 30,000,000 customer metrics that cost more than reading the rows
-- (BENCHMARKS.md, "Row-level security in bulk reads"). `(SELECT
-- app_tenant_id())` is an initplan: evaluated once, then every row's
-- tenant_id is compared with a parameter, and index scans use it as they
-- used the function. Who sees which rows does not change.
CREATE OR REPLACE FUNCTION gridcrm_tenant_rls(tbl regclass) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s USING (tenant_id = (SELECT app_tenant_id()))
         WITH CHECK (tenant_id = (SELECT app_tenant_id()))',
        tbl);
END
$$;

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT schemaname, tablename FROM pg_policies WHERE policyname = 'tenant_isolation' LOOP
        EXECUTE format(
            'ALTER POLICY tenant_isolation ON %I.%I USING (tenant_id = (SELECT app_tenant_id()))
             WITH CHECK (tenant_id = (SELECT app_tenant_id()))',
            p.schemaname, p.tablename);
    END LOOP;
END
$$;

ALTER POLICY jobs_tenant_read ON jobs USING (tenant_id = (SELECT app_tenant_id()));
ALTER POLICY jobs_tenant_enqueue ON jobs WITH CHECK (tenant_id = (SELECT app_tenant_id()));
