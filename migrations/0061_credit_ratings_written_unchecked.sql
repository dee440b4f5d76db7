-- The monthly rating writes one history row per customer (1,000,000 rows at
-- a provincial company), and its two foreign keys checked them one at a
-- time: a look-up and a row lock on tenants and on customers per row, 15.6 s
-- of the 27.6 s the history insert took at 1,000,000 customers
-- (BENCHMARKS.md, "Credit rating and calibration"). The rows are derived:
-- the rating writes them only for customers it has just read in the same
-- transaction, and customers are never deleted (a closed account keeps its
-- row; anonymisation rewrites it in place), so the keys guard against
-- nothing that can happen. As with the search keys (migration 0051), the
-- writer's guarantee stands in for them.
ALTER TABLE credit_ratings DROP CONSTRAINT credit_ratings_tenant_id_fkey;
ALTER TABLE credit_ratings DROP CONSTRAINT credit_ratings_tenant_id_customer_id_fkey;
