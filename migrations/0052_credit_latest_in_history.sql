-- The credit rating's latest row is the newest of the customer's monthly
-- history rows (credit_ratings, read by its primary key, newest month first):
-- the payment-method decision and the previous grade move into the history
-- row, and the latest-rating table, rewritten whole at every rating
-- (1,000,000 upserts a month at a million customers), goes.
--
-- The inputs and points become arrays in the order of credit::FACTORS
-- (about a third of the bytes of the JSON objects):
--   inputs:        the ten numeric factors' inputs (on_time_share …
--                  stability; NULL where missing), industry_risk apart;
--   points:        the eleven factors' points (NULL where the card in use
--                  had no such factor).

ALTER TABLE credit_ratings
    ADD COLUMN previous_grade    text CHECK (previous_grade IN ('AAA', 'AA', 'A', 'B', 'C')),
    ADD COLUMN previous_score    numeric(7, 2),
    ADD COLUMN method            text CHECK (method IN ('post_pay', 'post_pay_secured', 'cost_control')),
    -- The deposit or guarantee a secured post-pay needs; NULL on ratings
    -- made before this migration other than each customer's latest (the
    -- average bill it came from was not kept).
    ADD COLUMN security_required numeric(14, 2) CHECK (security_required >= 0),
    ADD COLUMN industry_risk     text,
    ADD COLUMN input_values      float8[],
    ADD COLUMN point_values      float8[];

-- Each tenant in turn under its own app.tenant_id (row-level security is
-- forced on both tables, whoever runs the migration).
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        PERFORM set_config('app.tenant_id', t::text, true);
        UPDATE credit_ratings r SET
            previous_grade = p.previous_grade,
            previous_score = p.previous_score,
            method = CASE r.grade WHEN 'B' THEN 'post_pay_secured' WHEN 'C' THEN 'cost_control' ELSE 'post_pay' END,
            industry_risk = r.inputs ->> 'industry_risk',
            input_values = ARRAY[(r.inputs ->> 'on_time_share')::float8, (r.inputs ->> 'arrears_months')::float8,
                                 (r.inputs ->> 'arrears_ratio')::float8, (r.inputs ->> 'max_arrears_days')::float8,
                                 (r.inputs ->> 'late_fees')::float8, (r.inputs ->> 'reversals')::float8,
                                 (r.inputs ->> 'breaches')::float8, (r.inputs ->> 'thefts')::float8,
                                 (r.inputs ->> 'tenure_months')::float8, (r.inputs ->> 'stability')::float8],
            point_values = ARRAY[(r.points ->> 'on_time_share')::float8, (r.points ->> 'arrears_months')::float8,
                                 (r.points ->> 'arrears_ratio')::float8, (r.points ->> 'max_arrears_days')::float8,
                                 (r.points ->> 'late_fees')::float8, (r.points ->> 'reversals')::float8,
                                 (r.points ->> 'breaches')::float8, (r.points ->> 'thefts')::float8,
                                 (r.points ->> 'tenure_months')::float8, (r.points ->> 'stability')::float8,
                                 (r.points ->> 'industry_risk')::float8]
        FROM (SELECT customer_id, month,
                     lag(grade) OVER w AS previous_grade, lag(score) OVER w AS previous_score
              FROM credit_ratings
              WHERE tenant_id = t
              WINDOW w AS (PARTITION BY customer_id ORDER BY month)) p
        WHERE r.tenant_id = t AND p.customer_id = r.customer_id AND p.month = r.month;
        -- The latest rating's decision as it was kept.
        UPDATE credit_ratings r SET
            previous_grade = cc.previous_grade, previous_score = cc.previous_score,
            method = cc.method, security_required = cc.security_required
        FROM customer_credit cc
        WHERE r.tenant_id = t AND cc.tenant_id = t AND cc.customer_id = r.customer_id AND cc.month = r.month;
        UPDATE credit_ratings SET security_required = 0
        WHERE tenant_id = t AND security_required IS NULL AND method <> 'post_pay_secured';
    END LOOP;
END
$$;

ALTER TABLE credit_ratings
    DROP COLUMN inputs,
    DROP COLUMN points,
    ALTER COLUMN method SET NOT NULL,
    ALTER COLUMN industry_risk SET NOT NULL,
    ALTER COLUMN input_values SET NOT NULL,
    ALTER COLUMN point_values SET NOT NULL,
    ADD CONSTRAINT credit_ratings_inputs_length CHECK (array_length(input_values, 1) = 10),
    ADD CONSTRAINT credit_ratings_points_length CHECK (array_length(point_values, 1) = 11);
ALTER TABLE credit_ratings RENAME COLUMN input_values TO inputs;
ALTER TABLE credit_ratings RENAME COLUMN point_values TO points;

-- A rating again in the same month replaces the month's rows; the monthly
-- job asks whether the tenant was rated this month.
CREATE INDEX credit_ratings_month ON credit_ratings (tenant_id, month);

DROP TABLE customer_credit;
