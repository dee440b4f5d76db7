-- The credit rating and its calibration read 24 months of metrics for every
-- customer and need the amounts as float8; PostgreSQL 15 converts numeric
-- to float8 through text (about 0.36 µs a value), and five conversions a
-- row were the largest part of the rating's inputs at 24,000,000 rows
-- (BENCHMARKS.md, "Credit rating and calibration"). The conversions are now
-- made once, when a metrics row is written. The numeric columns stay the
-- record (pages, segments and exports read them); these are the same values
-- as `x::float8`, so every rating is what it was.
--
-- Adding stored generated columns rewrites the table under an exclusive lock
-- (about a minute per 10,000,000 rows on the project's machine): run it in a
-- quiet hour (docs/operations.md, Upgrades).
ALTER TABLE customer_metrics
    ADD COLUMN energy_kwh_float float8 GENERATED ALWAYS AS (energy_kwh::float8) STORED,
    ADD COLUMN billed_float float8 GENERATED ALWAYS AS (billed::float8) STORED,
    ADD COLUMN paid_on_time_float float8 GENERATED ALWAYS AS (paid_on_time::float8) STORED,
    ADD COLUMN paid_late_float float8 GENERATED ALWAYS AS (paid_late::float8) STORED,
    ADD COLUMN arrears_float float8 GENERATED ALWAYS AS (arrears::float8) STORED;
