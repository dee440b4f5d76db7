-- A notice's tenant is its customer's (the foreign key to customers names
-- tenant_id, and customers reference tenants), so the direct foreign key to
-- tenants checked nothing more. It cost a key-share lock on the tenant's row
-- for every notice; a planned outage's 204,000 notices went from 56-58 to
-- 46-56 times a plain insert of its rows (BENCHMARKS.md).
ALTER TABLE notices DROP CONSTRAINT notices_tenant_id_fkey;
