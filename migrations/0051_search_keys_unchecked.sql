-- The search-key tables are derived rows, written only by the triggers of
-- 0003 and 0045 from the row they index, in that row's own tenant. Their
-- foreign keys checked every key row one at a time (an index lookup per
-- row and per key: about 47 rows per imported customer), which made a
-- 1,000,000-line archive import spend about 16 minutes on the checks alone.
-- The triggers guarantee what the checks did; the cascades on delete are
-- kept by the statement triggers below (customers and meters are closed,
-- never deleted: a delete is a test's or a tenant removal's).
ALTER TABLE customer_name_grams DROP CONSTRAINT customer_name_grams_tenant_id_fkey;
ALTER TABLE customer_name_grams DROP CONSTRAINT customer_name_grams_tenant_id_customer_id_fkey;
ALTER TABLE customer_search_keys DROP CONSTRAINT customer_search_keys_tenant_id_fkey;
ALTER TABLE customer_search_keys DROP CONSTRAINT customer_search_keys_tenant_id_customer_id_fkey;
ALTER TABLE meter_search_keys DROP CONSTRAINT meter_search_keys_tenant_id_fkey;
ALTER TABLE meter_search_keys DROP CONSTRAINT meter_search_keys_tenant_id_meter_id_fkey;

CREATE FUNCTION gridcrm_drop_customer_keys() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_name_grams g USING old_rows o WHERE g.tenant_id = o.tenant_id AND g.customer_id = o.id;
    DELETE FROM customer_search_keys k USING old_rows o WHERE k.tenant_id = o.tenant_id AND k.customer_id = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER customers_keys_delete AFTER DELETE ON customers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_drop_customer_keys();

CREATE FUNCTION gridcrm_drop_meter_keys() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM meter_search_keys k USING old_rows o WHERE k.tenant_id = o.tenant_id AND k.meter_id = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER meters_keys_delete AFTER DELETE ON meters
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_drop_meter_keys();

-- A bulk import defers its new rows' search keys (about 47 rows a customer:
-- at 1,000,000 customers more than the rest of the import together) with
-- `SET LOCAL gridcrm.search_keys = 'deferred'`, and names the customers in
-- search_key_backlog instead; a job writes their keys in batches after the
-- import has committed. Updates always index at once (they must remove the
-- old values' keys, which only the update knows).
-- (No foreign keys: one check per row is what this table is here to avoid;
-- the import fills it from the customers it has just written.)
CREATE TABLE search_key_backlog (
    tenant_id   uuid NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
SELECT gridcrm_tenant_rls('search_key_backlog');
GRANT SELECT, INSERT, UPDATE, DELETE ON search_key_backlog TO gridcrm_app;

DROP TRIGGER customers_name_grams_insert ON customers;
CREATE TRIGGER customers_name_grams_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('gridcrm.search_keys', true) IS DISTINCT FROM 'deferred')
    EXECUTE FUNCTION gridcrm_index_customer_names();
DROP TRIGGER customer_contacts_keys_insert ON customer_contacts;
CREATE TRIGGER customer_contacts_keys_insert AFTER INSERT ON customer_contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('gridcrm.search_keys', true) IS DISTINCT FROM 'deferred')
    EXECUTE FUNCTION gridcrm_index_contact_phones();
DROP TRIGGER meters_keys_insert ON meters;
CREATE TRIGGER meters_keys_insert AFTER INSERT ON meters
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('gridcrm.search_keys', true) IS DISTINCT FROM 'deferred')
    EXECUTE FUNCTION gridcrm_index_meter_serials();
