-- A re-issue bills one customer again: its run names the customer, so the
-- run list does not read as if the whole company was billed.
ALTER TABLE bill_runs ADD COLUMN customer_id uuid;
ALTER TABLE bill_runs ADD FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id);
