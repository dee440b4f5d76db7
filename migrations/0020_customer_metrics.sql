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

-- Recording what changed. Statement-level triggers with transition tables:
-- one set-based insert per statement, however many rows it touched (a bill
-- run, a seed). Interval data has no trigger (a partitioned table of
-- billions of rows): its load marks the months it touched itself
-- (src/metrics/db.rs, mark_interval_months). Months are the tenant's
-- calendar months.

-- Bills: the bill's period (energy, amount, on-time/late, late fees). A
-- cancellation also changes the arrears at every month end from the due date
-- on, so those months are marked where a row exists.
CREATE FUNCTION gridcrm_metrics_mark_bills() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
        SELECT DISTINCT n.tenant_id, n.customer_id, n.period
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        WHERE (o.paid, o.late_fee, o.status, o.amount, o.energy_kwh, o.due_on, o.period)
              IS DISTINCT FROM (n.paid, n.late_fee, n.status, n.amount, n.energy_kwh, n.due_on, n.period)
        ON CONFLICT DO NOTHING;
        INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
        SELECT DISTINCT m.tenant_id, m.customer_id, m.month
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        JOIN customer_metrics m ON m.tenant_id = n.tenant_id AND m.customer_id = n.customer_id
             AND m.month >= date_trunc('month', n.due_on)::date
        WHERE o.status <> n.status
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
        SELECT DISTINCT n.tenant_id, n.customer_id, n.period FROM new_rows n
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER bills_metrics_insert AFTER INSERT ON bills
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_bills();
CREATE TRIGGER bills_metrics_update AFTER UPDATE ON bills
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_bills();

-- Payments: the received month (activity), and every later month that has a
-- row, since the arrears at each month end may change; a reversal also the
-- reversal's month and the periods of the bills the payment had paid.
-- (Months without a row need none: arrears alone make no row.)
CREATE FUNCTION gridcrm_metrics_mark_payments() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
    SELECT DISTINCT n.tenant_id, n.customer_id, date_trunc('month', n.received_at AT TIME ZONE t.time_zone)::date
    FROM new_rows n JOIN tenants t ON t.id = n.tenant_id
    UNION
    SELECT n.tenant_id, n.customer_id, date_trunc('month', n.reversed_at AT TIME ZONE t.time_zone)::date
    FROM new_rows n JOIN tenants t ON t.id = n.tenant_id
    WHERE n.reversed_at IS NOT NULL
    UNION
    SELECT m.tenant_id, m.customer_id, m.month
    FROM new_rows n JOIN tenants t ON t.id = n.tenant_id
    JOIN customer_metrics m ON m.tenant_id = n.tenant_id AND m.customer_id = n.customer_id
         AND m.month >= date_trunc('month', n.received_at AT TIME ZONE t.time_zone)::date
    UNION
    SELECT b.tenant_id, b.customer_id, b.period
    FROM new_rows n JOIN payment_allocations a ON a.tenant_id = n.tenant_id AND a.payment_id = n.id
    JOIN bills b ON b.tenant_id = a.tenant_id AND b.id = a.bill_id
    WHERE n.status = 'reversed'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER payments_metrics_insert AFTER INSERT ON payments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_payments();
CREATE TRIGGER payments_metrics_update AFTER UPDATE ON payments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_payments();

-- Allocations: the paid bill's period (paid on time or late).
CREATE FUNCTION gridcrm_metrics_mark_allocations() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
    SELECT DISTINCT b.tenant_id, b.customer_id, b.period
    FROM new_rows n JOIN bills b ON b.tenant_id = n.tenant_id AND b.id = n.bill_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER payment_allocations_metrics_insert AFTER INSERT ON payment_allocations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_allocations();

-- Contacts and work orders: the month they came in (their stored local month).
CREATE FUNCTION gridcrm_metrics_mark_contacts() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
    SELECT DISTINCT n.tenant_id, n.customer_id, n.received_month FROM new_rows n
    WHERE n.customer_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER contacts_metrics_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_contacts();

CREATE FUNCTION gridcrm_metrics_mark_work_orders() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
    SELECT DISTINCT n.tenant_id, n.customer_id, n.created_month FROM new_rows n
    WHERE n.customer_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER work_orders_metrics_insert AFTER INSERT ON work_orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_metrics_mark_work_orders();

-- A month's refresh reads the month's bills, payments and reversals of the
-- whole tenant: without these it would scan every month's rows for each month.
CREATE INDEX bills_period ON bills (tenant_id, period);
CREATE INDEX payments_received ON payments (tenant_id, received_at);
CREATE INDEX payments_reversed ON payments (tenant_id, reversed_at) WHERE status = 'reversed';
