-- A load that repeats stored meters and times replaces them by deleting the
-- stored rows and inserting the new ones (cheaper than an upsert, and the
-- delete's row count is the "replaced" figure of the load report). The tenant
-- policy confines the delete to the tenant's own rows.
GRANT DELETE ON interval_data TO gridcrm_app;
