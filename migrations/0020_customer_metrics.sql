-- Customer metrics: one row per customer and month with the facts every
-- evaluation reads (value tiers, segments, credit). Computed set-based by the
-- metrics job from bills, payments, late fees, contacts, work orders and
-- interval data; only the customer-months named in customer_metric_changes
-- are recomputed.
CREATE TABLE customer_metrics (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    customer_id    uuid NOT NULL,
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    energy_kwh     numeric(16, 2) NOT NULL DEFAULT 0,
    billed         numeric(14, 2) NOT NULL DEFAULT 0,
    -- Of the month's bills: paid by the due date, and paid after it.
    paid_on_time   numeric(14, 2) NOT NULL DEFAULT 0,
    paid_late      numeric(14, 2) NOT NULL DEFAULT 0,
    -- Overdue and unpaid at the month's end (today, for the running month),
    -- and the age in days of the oldest overdue bill then.
    arrears        numeric(14, 2) NOT NULL DEFAULT 0,
    arrears_days   integer NOT NULL DEFAULT 0,
    late_fees      integer NOT NULL DEFAULT 0,
    reversals      integer NOT NULL DEFAULT 0,
    complaints     integer NOT NULL DEFAULT 0,
    work_orders    integer NOT NULL DEFAULT 0,
    -- From interval data, where there is any: mean over peak demand, and the
    -- share of energy drawn in the peak hours.
    load_rate      numeric(6, 4),
    peak_share     numeric(6, 4),
    -- Energy against the same month a year before (0.1 = 10 % more).
    yoy_growth     numeric(12, 4),
    tenure_months  integer NOT NULL DEFAULT 0,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id, month),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_metrics_month ON customer_metrics (tenant_id, month);
SELECT gridcrm_tenant_rls('customer_metrics');

-- The customer-months whose sources changed since the last refresh.
CREATE TABLE customer_metric_changes (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    customer_id uuid NOT NULL,
    month       date NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, month)
);
SELECT gridcrm_tenant_rls('customer_metric_changes');

GRANT SELECT, INSERT, UPDATE, DELETE ON customer_metrics, customer_metric_changes TO gridcrm_app;
