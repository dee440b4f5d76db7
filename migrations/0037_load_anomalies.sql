-- Abrupt-change warnings on large customers' load (src/anomalies): a sudden
-- lasting change in a meter's daily energy, found by the scan job in
-- load_days (method: src/anomalies/detect.rs), shown to the customer's
-- account manager and acknowledged with a note.
--
-- State machine: open -> acknowledged, once; an acknowledged anomaly does not
-- change again (the trigger below refuses it, as the application does).
-- A change is recorded once per meter and change day (the unique key); the
-- scan also starts each meter's series after the last change it recorded,
-- so a re-scan finds nothing new.
CREATE TABLE load_anomalies (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    meter_id         uuid NOT NULL,
    customer_id      uuid NOT NULL,
    -- The first local day at the new level.
    change_day       date NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('drop', 'rise')),
    -- after / before − 1, in percent (−35.0: a drop of 35 %).
    size_pct         numeric(8, 1) NOT NULL,
    -- An average day's energy (weekly cycle removed) before and after, kWh.
    before_kwh       numeric(14, 3) NOT NULL CHECK (before_kwh > 0),
    after_kwh        numeric(14, 3) NOT NULL CHECK (after_kwh >= 0),
    -- The robust score of the change (how many noise widths it stands out).
    score            float8 NOT NULL,
    detected_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
    acknowledged_by  uuid,
    acknowledged_by_label text,
    acknowledged_at  timestamptz,
    note             text NOT NULL DEFAULT '' CHECK (char_length(note) <= 2000),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, meter_id, change_day),
    FOREIGN KEY (tenant_id, meter_id) REFERENCES meters (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK ((direction = 'drop') = (size_pct < 0)),
    CHECK ((status = 'acknowledged') = (acknowledged_at IS NOT NULL AND acknowledged_by_label IS NOT NULL))
);
-- A customer's anomalies (the portfolio, the customer's timeline link).
CREATE INDEX load_anomalies_customer ON load_anomalies (tenant_id, customer_id, change_day DESC);
-- The tenant's list, newest first.
CREATE INDEX load_anomalies_detected ON load_anomalies (tenant_id, detected_at DESC, id DESC);
SELECT gridcrm_tenant_rls('load_anomalies');
GRANT SELECT, INSERT, UPDATE ON load_anomalies TO gridcrm_app;

CREATE FUNCTION gridcrm_load_anomaly_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'acknowledged' THEN
        RAISE EXCEPTION 'load anomaly % is acknowledged already', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.meter_id, NEW.customer_id, NEW.change_day, NEW.direction, NEW.size_pct, NEW.before_kwh, NEW.after_kwh)
       IS DISTINCT FROM (OLD.meter_id, OLD.customer_id, OLD.change_day, OLD.direction, OLD.size_pct, OLD.before_kwh, OLD.after_kwh) THEN
        RAISE EXCEPTION 'a load anomaly''s figures do not change' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER load_anomalies_transition BEFORE UPDATE ON load_anomalies
    FOR EACH ROW EXECUTE FUNCTION gridcrm_load_anomaly_transition();

-- The `load_anomaly` notice (an outbox event, src/notices/plan.rs): a
-- company may tell the customer, by their own channels, that their load
-- changed. The default rule is installed DISABLED: a drop may be theft,
-- which a notice would announce to the thief, and the account manager is
-- told on their portfolio anyway. A tenant admin enables it on
-- /notices/rules (from then on; events stay in the outbox for 90 days).
CREATE OR REPLACE FUNCTION gridcrm_install_notice_defaults(tenant uuid) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO notice_settings (tenant_id, updated_by) VALUES (tenant, 'defaults') ON CONFLICT DO NOTHING;
    INSERT INTO notice_rules (tenant_id, id, kind, offset_minutes, enabled, updated_by)
    SELECT tenant, gen_random_uuid(), d.kind, d.offset_minutes, d.enabled, 'defaults'
    FROM (VALUES
        ('bill_issued', 0, true),
        ('payment_due', -3 * 24 * 60, true),
        ('overdue', 24 * 60, true),
        ('low_balance', 0, true),
        ('disconnection_ordered', 0, true),
        ('reconnection_ordered', 0, true),
        ('fault_reported', 0, true),
        ('repair_progress', 0, true),
        ('power_restored', 0, true),
        ('expansion_stage_changed', 0, true),
        ('meter_verification_due', -30 * 24 * 60, true),
        ('contract_expiry', -30 * 24 * 60, true),
        ('safe_use_advice', 0, true),
        ('energy_saving_advice', 0, true),
        ('load_anomaly', 0, false)
    ) AS d (kind, offset_minutes, enabled)
    WHERE NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = tenant);
$$;

INSERT INTO notice_rules (tenant_id, id, kind, offset_minutes, enabled, updated_by)
SELECT t.id, gen_random_uuid(), 'load_anomaly', 0, false, 'defaults'
FROM tenants t
WHERE NOT t.is_platform
  AND EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id)
  AND NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id AND r.kind = 'load_anomaly');

-- The scan runs on the hourly job machinery but once a tenant-local day:
-- the day each tenant was last scanned, and what it found.
CREATE TABLE load_anomaly_scans (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (id),
    scanned_on  date NOT NULL,
    meters      integer NOT NULL,
    found       integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
SELECT gridcrm_tenant_rls('load_anomaly_scans');
GRANT SELECT, INSERT, UPDATE ON load_anomaly_scans TO gridcrm_app;
