-- Bulk loads of history (the demo seed's years of bills and payments, an
-- import from a legacy system) write millions of rows and then rebuild the
-- metrics in full; marking each row's customer-month on the way only costs.
-- A transaction that sets gridcrm.metrics_marking to 'off' marks nothing.
-- The same functions as in 0020, with that guard first.

CREATE OR REPLACE FUNCTION gridcrm_metrics_mark_bills() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gridcrm.metrics_marking', true) = 'off' THEN
        RETURN NULL;
    END IF;
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

CREATE OR REPLACE FUNCTION gridcrm_metrics_mark_payments() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gridcrm.metrics_marking', true) = 'off' THEN
        RETURN NULL;
    END IF;
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

CREATE OR REPLACE FUNCTION gridcrm_metrics_mark_allocations() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gridcrm.metrics_marking', true) = 'off' THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_metric_changes (tenant_id, customer_id, month)
    SELECT DISTINCT b.tenant_id, b.customer_id, b.period
    FROM new_rows n JOIN bills b ON b.tenant_id = n.tenant_id AND b.id = n.bill_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
