-- The VIP list shows a tier a page at a time, sorted by any of its columns,
-- either way. One index per figure, with the customer id as the tie-breaker
-- in the same direction as the figure (the list now orders both the same
-- way), serves both directions by walking forwards or backwards and stops
-- after the page. Before, only energy, descending, had an index; any other
-- order sorted the whole tier (5,000 VIPs, 50 ms at a million customers), and
-- "every tier" sorted a million rows.
DROP INDEX customer_values_tier;
CREATE INDEX customer_values_tier_energy ON customer_values (tenant_id, tier, energy_12m, customer_id);
CREATE INDEX customer_values_tier_revenue ON customer_values (tenant_id, tier, revenue_12m, customer_id);
CREATE INDEX customer_values_tier_arrears ON customer_values (tenant_id, tier, arrears, customer_id);
CREATE INDEX customer_values_tier_score ON customer_values (tenant_id, tier, score, customer_id);
-- Every tier at once, by energy (the list's default order).
CREATE INDEX customer_values_energy ON customer_values (tenant_id, energy_12m, customer_id);

-- The customer's name, account number and industry, beside the figures, so
-- that a tier sorts by them from an index too. Read from the customers,
-- sorting the 5,000 VIPs by name looked up every one of them (25 ms a page
-- at a million customers). Written with the value; kept in step with the
-- customer by the trigger below.
ALTER TABLE customer_values
    ADD COLUMN name text,
    ADD COLUMN account_no text COLLATE "C",
    ADD COLUMN industry_code text;
UPDATE customer_values v
SET name = c.name, account_no = c.account_no, industry_code = c.industry_code
FROM customers c
WHERE c.tenant_id = v.tenant_id AND c.id = v.customer_id;
ALTER TABLE customer_values
    ALTER COLUMN name SET NOT NULL,
    ALTER COLUMN account_no SET NOT NULL,
    ALTER COLUMN industry_code SET NOT NULL;
CREATE INDEX customer_values_tier_name ON customer_values (tenant_id, tier, name, customer_id);
CREATE INDEX customer_values_tier_account ON customer_values (tenant_id, tier, account_no, customer_id);
CREATE INDEX customer_values_tier_industry ON customer_values (tenant_id, tier, industry_code, customer_id);

CREATE FUNCTION gridcrm_customer_values_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE customer_values
    SET name = NEW.name, account_no = NEW.account_no, industry_code = NEW.industry_code
    WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER customers_values_follow
    AFTER UPDATE OF name, account_no, industry_code ON customers
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.account_no IS DISTINCT FROM NEW.account_no
          OR OLD.industry_code IS DISTINCT FROM NEW.industry_code)
    EXECUTE FUNCTION gridcrm_customer_values_follow();
