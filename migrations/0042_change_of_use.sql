-- Change-of-use transactions (变更用电) as work orders: a new connection on
-- the expansion's stages, and capacity increase and reduction, suspension,
-- restoration, transfer of ownership, change of name, change of tariff and
-- account closing on a short `change` workflow (accepted → reviewed →
-- completed). What each order asks for, and what its completion changed in
-- the archive (for the acceptance slip), is kept beside the order.

ALTER TABLE work_orders DROP CONSTRAINT work_orders_kind_check;
ALTER TABLE work_orders ADD CONSTRAINT work_orders_kind_check CHECK (kind IN (
    'repair', 'expansion', 'meter_check', 'periodic_visit', 'outage_negotiation', 'paid_maintenance',
    'new_connection', 'capacity_increase', 'capacity_reduction', 'suspension', 'restoration',
    'transfer_of_ownership', 'change_of_name', 'change_of_tariff', 'account_closing'));
ALTER TABLE work_orders ADD CONSTRAINT work_orders_new_connection_check
    CHECK (kind <> 'new_connection' OR (customer_type IS NOT NULL AND requested_capacity_kva IS NOT NULL));

-- The generated workflow learns the new kinds (PostgreSQL 15 cannot change a
-- generation expression in place: the column and the view over it are re-made).
DROP VIEW work_order_rows;
ALTER TABLE work_orders DROP COLUMN workflow;
ALTER TABLE work_orders ADD COLUMN workflow text NOT NULL GENERATED ALWAYS AS (CASE
    WHEN kind IN ('repair', 'expansion') THEN kind
    WHEN kind = 'new_connection' THEN 'expansion'
    WHEN kind IN ('capacity_increase', 'capacity_reduction', 'suspension', 'restoration', 'transfer_of_ownership',
                  'change_of_name', 'change_of_tariff', 'account_closing') THEN 'change'
    ELSE 'task' END) STORED;

CREATE VIEW work_order_rows WITH (security_invoker = true) AS
SELECT w.*, o.display_name AS owner_name, cu.name AS customer_name, cu.account_no AS customer_account_no,
       s.display_name AS supervised_by_name, r.code AS affected_route_code, p.code AS supply_point_code
FROM work_orders w
LEFT JOIN users o ON o.tenant_id = w.tenant_id AND o.id = w.owner_id
LEFT JOIN customers cu ON cu.tenant_id = w.tenant_id AND cu.id = w.customer_id
LEFT JOIN users s ON s.tenant_id = w.tenant_id AND s.id = w.supervised_by
LEFT JOIN reading_routes r ON r.tenant_id = w.tenant_id AND r.id = w.affected_route_id
LEFT JOIN supply_points p ON p.tenant_id = w.tenant_id AND p.id = w.supply_point_id;
GRANT SELECT ON work_order_rows TO gridcrm_app;

INSERT INTO workflow_edges (workflow, from_state, action, to_state) VALUES
    ('change', 'accepted', 'review', 'reviewed'),
    ('change', 'reviewed', 'complete', 'completed'),
    ('change', 'accepted', 'cancel', 'cancelled'),
    ('change', 'reviewed', 'cancel', 'cancelled');

-- What a change-of-use order asks for (the fields of its kind), and once it
-- is completed, what it changed (`outcome`, shown on the acceptance slip).
CREATE TABLE change_of_use_orders (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    work_order_id      uuid NOT NULL,
    -- Transfer of ownership: an existing customer, or the name (and phone) of a new one.
    new_holder_id      uuid,
    new_holder_name    text CHECK (char_length(new_holder_name) BETWEEN 1 AND 200),
    new_holder_phone   text,
    -- Change of name.
    new_name           text CHECK (char_length(new_name) BETWEEN 1 AND 200),
    -- Change of tariff category.
    tariff_code        text,
    -- New connection: the supply point and the meter power-on creates.
    point_address      text CHECK (char_length(point_address) <= 300),
    point_voltage_code text,
    meter_serial       text CHECK (meter_serial ~ '^[A-Za-z0-9-]{4,32}$'),
    meter_multiplier   numeric(10, 2) CHECK (meter_multiplier > 0),
    initial_reading    numeric(14, 2) CHECK (initial_reading >= 0),
    applied_at         timestamptz,
    outcome            jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, work_order_id),
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, new_holder_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, tariff_code) REFERENCES tariff_categories (tenant_id, code),
    FOREIGN KEY (tenant_id, point_voltage_code) REFERENCES voltage_levels (tenant_id, code)
);
SELECT gridcrm_tenant_rls('change_of_use_orders');

-- Money owed back to a customer when the account closes: the credit and
-- deposit left after the final bill and arrears are settled.
CREATE TABLE customer_refunds (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    customer_id   uuid NOT NULL,
    work_order_id uuid,
    amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
    from_credit   numeric(14, 2) NOT NULL CHECK (from_credit >= 0),
    from_deposit  numeric(14, 2) NOT NULL CHECK (from_deposit >= 0),
    status        text NOT NULL DEFAULT 'owed' CHECK (status IN ('owed', 'paid')),
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK (amount = from_credit + from_deposit),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id)
);
CREATE INDEX customer_refunds_customer ON customer_refunds (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('customer_refunds');

-- Per tenant: whether a transfer of ownership waits until the old holder has
-- paid what they owe (settle), or leaves it on the old holder's account (carry).
CREATE TABLE change_of_use_settings (
    tenant_id        uuid PRIMARY KEY REFERENCES tenants (id),
    transfer_arrears text NOT NULL DEFAULT 'settle' CHECK (transfer_arrears IN ('settle', 'carry')),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
SELECT gridcrm_tenant_rls('change_of_use_settings');

GRANT SELECT, INSERT, UPDATE ON change_of_use_orders, customer_refunds, change_of_use_settings TO gridcrm_app;

CREATE OR REPLACE FUNCTION gridcrm_install_service_defaults(tenant uuid) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO service_calendars (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
    INSERT INTO sla_limits (tenant_id, item, clock, variant, minutes, working_time)
    SELECT tenant, item, clock, variant, minutes, working_time FROM (VALUES
        -- Complaints: acknowledge in 1 working day, resolve in 5 (DOMAIN.md).
        ('complaint', 'acknowledge', '', 450, true),
        ('complaint', 'resolve', '', 2250, true),
        -- Inquiries answered within 1 working day.
        ('inquiry', 'acknowledge', '', 450, true),
        ('inquiry', 'resolve', '', 450, true),
        ('suggestion', 'acknowledge', '', 450, true),
        ('suggestion', 'resolve', '', 2250, true),
        ('praise', 'acknowledge', '', 450, true),
        ('praise', 'resolve', '', 2250, true),
        ('report', 'acknowledge', '', 450, true),
        ('report', 'resolve', '', 2250, true),
        -- Repair arrival, round the clock: urban 45 min, rural 90, remote 2 h.
        ('repair', 'arrival', 'urban', 45, false),
        ('repair', 'arrival', 'rural', 90, false),
        ('repair', 'arrival', 'remote', 120, false),
        -- Business expansion, per stage and customer type. The supply plan limits
        -- (3/7/15/30 working days) are DOMAIN.md's; the other stages are gridcrm's
        -- defaults for the tenant to adjust.
        ('expansion', 'accepted', '', 900, true),
        ('expansion', 'reviewed', 'residential', 1350, true),
        ('expansion', 'reviewed', 'low_voltage', 3150, true),
        ('expansion', 'reviewed', 'hv_single', 6750, true),
        ('expansion', 'reviewed', 'hv_double', 13500, true),
        ('expansion', 'plan_drafted', '', 4500, true),
        ('expansion', 'plan_agreed', '', 27000, true),
        ('expansion', 'constructed', '', 2250, true),
        ('expansion', 'inspected', '', 2250, true),
        ('expansion', 'metered', '', 2250, true),
        ('meter_check', 'resolve', '', 2250, true),
        ('periodic_visit', 'resolve', '', 4500, true),
        ('outage_negotiation', 'resolve', '', 2250, true),
        ('paid_maintenance', 'resolve', '', 4500, true),
        -- Change-of-use orders (0042): a new connection has the expansion's
        -- stages; every other change is accepted, then reviewed, then completed.
        ('new_connection', 'accepted', '', 900, true),
        ('new_connection', 'reviewed', 'residential', 1350, true),
        ('new_connection', 'reviewed', 'low_voltage', 3150, true),
        ('new_connection', 'reviewed', 'hv_single', 6750, true),
        ('new_connection', 'reviewed', 'hv_double', 13500, true),
        ('new_connection', 'plan_drafted', '', 4500, true),
        ('new_connection', 'plan_agreed', '', 27000, true),
        ('new_connection', 'constructed', '', 2250, true),
        ('new_connection', 'inspected', '', 2250, true),
        ('new_connection', 'metered', '', 2250, true),
        ('capacity_increase', 'accepted', '', 900, true),
        ('capacity_increase', 'reviewed', '', 4500, true),
        ('capacity_reduction', 'accepted', '', 450, true),
        ('capacity_reduction', 'reviewed', '', 2250, true),
        ('suspension', 'accepted', '', 450, true),
        ('suspension', 'reviewed', '', 2250, true),
        ('restoration', 'accepted', '', 450, true),
        ('restoration', 'reviewed', '', 450, true),
        ('transfer_of_ownership', 'accepted', '', 450, true),
        ('transfer_of_ownership', 'reviewed', '', 2250, true),
        ('change_of_name', 'accepted', '', 450, true),
        ('change_of_name', 'reviewed', '', 2250, true),
        ('change_of_tariff', 'accepted', '', 450, true),
        ('change_of_tariff', 'reviewed', '', 2250, true),
        ('account_closing', 'accepted', '', 450, true),
        ('account_closing', 'reviewed', '', 2250, true)
    ) AS d (item, clock, variant, minutes, working_time)
    ON CONFLICT DO NOTHING;
$$;
SELECT gridcrm_install_service_defaults(id) FROM tenants;
