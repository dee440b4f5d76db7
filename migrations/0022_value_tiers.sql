-- Value tiers: every customer's tier (vip, high, medium, low, negative), the
-- score and the factors that produced it, from a per-tenant weighting
-- (src/value). A manual VIP designation overrides the computed tier and
-- needs a reason.
CREATE TABLE value_settings (
    tenant_id            uuid PRIMARY KEY REFERENCES tenants (id),
    -- Weights of the five factors, in points out of 100 (they sum to 100).
    weight_consumption   smallint NOT NULL DEFAULT 30 CHECK (weight_consumption BETWEEN 0 AND 100),
    weight_revenue       smallint NOT NULL DEFAULT 25 CHECK (weight_revenue BETWEEN 0 AND 100),
    weight_payment       smallint NOT NULL DEFAULT 20 CHECK (weight_payment BETWEEN 0 AND 100),
    weight_importance    smallint NOT NULL DEFAULT 15 CHECK (weight_importance BETWEEN 0 AND 100),
    weight_growth        smallint NOT NULL DEFAULT 10 CHECK (weight_growth BETWEEN 0 AND 100),
    -- Score thresholds of the tiers.
    vip_min              smallint NOT NULL DEFAULT 85,
    high_min             smallint NOT NULL DEFAULT 65,
    medium_min           smallint NOT NULL DEFAULT 40,
    -- Persistent arrears that make a customer negative-value: overdue this many days.
    negative_arrears_days integer NOT NULL DEFAULT 90 CHECK (negative_arrears_days > 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           text NOT NULL DEFAULT '',
    CHECK (weight_consumption + weight_revenue + weight_payment + weight_importance + weight_growth = 100),
    CHECK (0 < medium_min AND medium_min < high_min AND high_min < vip_min AND vip_min <= 100)
);
SELECT gridcrm_tenant_rls('value_settings');

CREATE TABLE customer_values (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    customer_id     uuid NOT NULL,
    tier            text NOT NULL CHECK (tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    -- The tier the score gives (tier differs only by a manual VIP designation).
    computed_tier   text NOT NULL CHECK (computed_tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    score           numeric(5, 2) NOT NULL,
    -- Each factor's input and points, for the explanation.
    factors         jsonb NOT NULL DEFAULT '{}',
    -- The twelve months' figures the VIP list shows and sorts by.
    energy_12m      numeric(16, 2) NOT NULL DEFAULT 0,
    revenue_12m     numeric(14, 2) NOT NULL DEFAULT 0,
    arrears         numeric(14, 2) NOT NULL DEFAULT 0,
    previous_tier   text CHECK (previous_tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    tier_changed_at timestamptz,
    manual_vip      boolean NOT NULL DEFAULT false,
    manual_reason   text,
    manual_by       text,
    manual_at       timestamptz,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK (manual_vip = (manual_reason IS NOT NULL))
);
CREATE INDEX customer_values_tier ON customer_values (tenant_id, tier, energy_12m DESC, customer_id);
SELECT gridcrm_tenant_rls('customer_values');

GRANT SELECT, INSERT, UPDATE ON value_settings, customer_values TO gridcrm_app;

-- Every customer's value under the given settings, as of p_current_month:
-- the window is the twelve complete months before it (and the twelve before
-- those, for growth). The same rule in Rust is src/value/mod.rs `score`;
-- tests/it/value.rs checks that the two agree on every customer. Percentile
-- ranks: (rank − 1) / (customers − 1) over the tenant's customers, rounded to
-- four places (0 when there is a single customer). Runs as the caller, so
-- row-level security keeps it to the current tenant.
CREATE FUNCTION gridcrm_value_scores(
    p_current_month date,
    p_weight_consumption integer, p_weight_revenue integer, p_weight_payment integer,
    p_weight_importance integer, p_weight_growth integer,
    p_vip_min integer, p_high_min integer, p_medium_min integer, p_negative_arrears_days integer
) RETURNS TABLE (customer_id uuid, computed_tier text, score numeric, factors jsonb,
                 energy_12m numeric, revenue_12m numeric, arrears numeric)
LANGUAGE sql STABLE AS $$
WITH win AS (
    SELECT p_current_month AS cur,
           (p_current_month - interval '1 month')::date AS latest,
           (p_current_month - interval '6 months')::date AS half_year,
           (p_current_month - interval '12 months')::date AS year_ago,
           (p_current_month - interval '24 months')::date AS two_years_ago
), m AS (
    SELECT cm.customer_id,
           sum(cm.energy_kwh) FILTER (WHERE cm.month >= win.year_ago) AS energy_12m,
           sum(cm.energy_kwh) FILTER (WHERE cm.month < win.year_ago) AS energy_prev_12m,
           sum(cm.billed) FILTER (WHERE cm.month >= win.year_ago) AS revenue_12m,
           sum(cm.paid_on_time) FILTER (WHERE cm.month >= win.year_ago) AS paid_on_time,
           sum(cm.paid_late) FILTER (WHERE cm.month >= win.year_ago) AS paid_late,
           max(cm.arrears_days) FILTER (WHERE cm.month >= win.year_ago) AS max_arrears_days,
           sum(cm.late_fees) FILTER (WHERE cm.month >= win.year_ago) AS late_fees,
           max(cm.arrears) FILTER (WHERE cm.month = win.latest) AS arrears,
           max(cm.arrears_days) FILTER (WHERE cm.month = win.latest) AS latest_arrears_days,
           count(*) FILTER (WHERE cm.month >= win.half_year AND cm.arrears > 0) AS arrears_months
    FROM customer_metrics cm, win
    WHERE cm.month >= win.two_years_ago AND cm.month < win.cur
    GROUP BY cm.customer_id
), b AS (
    SELECT c.id, c.importance,
           coalesce(m.energy_12m, 0) AS energy_12m, m.energy_prev_12m,
           coalesce(m.revenue_12m, 0) AS revenue_12m,
           coalesce(m.paid_on_time, 0) AS paid_on_time, coalesce(m.paid_late, 0) AS paid_late,
           coalesce(m.max_arrears_days, 0) AS max_arrears_days, coalesce(m.late_fees, 0)::integer AS late_fees,
           coalesce(m.arrears, 0) AS arrears, coalesce(m.latest_arrears_days, 0) AS latest_arrears_days,
           coalesce(m.arrears_months, 0)::integer AS arrears_months
    FROM customers c LEFT JOIN m ON m.customer_id = c.id
), r AS (
    SELECT b.*,
           round(coalesce((rank() OVER (ORDER BY b.energy_12m) - 1)::numeric / nullif(count(*) OVER () - 1, 0), 0), 4) AS energy_pct,
           round(coalesce((rank() OVER (ORDER BY b.revenue_12m) - 1)::numeric / nullif(count(*) OVER () - 1, 0), 0), 4) AS revenue_pct,
           CASE WHEN b.energy_prev_12m > 0 THEN round(b.energy_12m / b.energy_prev_12m - 1, 4) END AS growth
    FROM b
), pts AS (
    SELECT r.*,
           r.energy_pct * 100 AS consumption_points,
           r.revenue_pct * 100 AS revenue_points,
           greatest(0,
               CASE WHEN r.paid_on_time + r.paid_late > 0 THEN round(100 * r.paid_on_time / (r.paid_on_time + r.paid_late), 2)
                    WHEN r.arrears > 0 THEN 0 ELSE 100 END
               - least(40, r.max_arrears_days / 3) - least(30, 5 * r.late_fees)) AS payment_points,
           CASE r.importance WHEN 'special' THEN 100 WHEN 'first' THEN 80 WHEN 'second' THEN 50 WHEN 'temporary' THEN 20 ELSE 0 END
               AS importance_points,
           CASE WHEN r.growth IS NULL THEN 50 ELSE round(greatest(0, least(100, 250 * r.growth + 50)), 2) END AS growth_points
    FROM r
), s AS (
    SELECT pts.*,
           round((p_weight_consumption * pts.consumption_points + p_weight_revenue * pts.revenue_points
                  + p_weight_payment * pts.payment_points + p_weight_importance * pts.importance_points
                  + p_weight_growth * pts.growth_points) / 100, 2) AS score
    FROM pts
)
SELECT s.id,
       CASE WHEN s.latest_arrears_days >= p_negative_arrears_days OR s.arrears_months >= 3 THEN 'negative'
            WHEN s.score >= p_vip_min THEN 'vip'
            WHEN s.score >= p_high_min THEN 'high'
            WHEN s.score >= p_medium_min THEN 'medium'
            ELSE 'low' END,
       s.score,
       jsonb_build_object(
           'energy_12m', s.energy_12m, 'energy_pct', s.energy_pct,
           'revenue_12m', s.revenue_12m, 'revenue_pct', s.revenue_pct,
           'paid_on_time', s.paid_on_time, 'paid_late', s.paid_late,
           'max_arrears_days', s.max_arrears_days, 'late_fees', s.late_fees,
           'arrears', s.arrears, 'latest_arrears_days', s.latest_arrears_days, 'arrears_months', s.arrears_months,
           'importance', s.importance, 'energy_prev_12m', s.energy_prev_12m, 'growth', s.growth,
           'points', jsonb_build_object('consumption', s.consumption_points, 'revenue', s.revenue_points,
               'payment', s.payment_points, 'importance', s.importance_points, 'growth', s.growth_points)),
       s.energy_12m, s.revenue_12m, s.arrears
FROM s
$$;
GRANT EXECUTE ON FUNCTION gridcrm_value_scores(date, integer, integer, integer, integer, integer, integer, integer, integer, integer) TO gridcrm_app;
