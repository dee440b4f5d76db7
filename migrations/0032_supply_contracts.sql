-- The supply contract (供用电合同) each customer signs, with its term. A
-- renewal is recorded as a new contract; the one in force is the latest to
-- start. Its expiry comes due as a notice (src/notices/plan.rs) by the
-- tenant's `contract_expiry` rule.
CREATE TABLE supply_contracts (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    contract_no  text NOT NULL CHECK (char_length(btrim(contract_no)) BETWEEN 1 AND 40),
    starts_on    date NOT NULL,
    expires_on   date NOT NULL CHECK (expires_on > starts_on),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, contract_no),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX supply_contracts_customer ON supply_contracts (tenant_id, customer_id, starts_on DESC);
CREATE INDEX supply_contracts_expiry ON supply_contracts (tenant_id, expires_on);
SELECT gridcrm_tenant_rls('supply_contracts');
GRANT SELECT, INSERT ON supply_contracts TO gridcrm_app;

-- Companies are told of contracts coming to an end 30 days ahead, from now on.
CREATE OR REPLACE FUNCTION gridcrm_install_notice_defaults(tenant uuid) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO notice_settings (tenant_id, updated_by) VALUES (tenant, 'defaults') ON CONFLICT DO NOTHING;
    INSERT INTO notice_rules (tenant_id, id, kind, offset_minutes, updated_by)
    SELECT tenant, gen_random_uuid(), d.kind, d.offset_minutes, 'defaults'
    FROM (VALUES
        ('bill_issued', 0),
        ('payment_due', -3 * 24 * 60),
        ('overdue', 24 * 60),
        ('low_balance', 0),
        ('disconnection_ordered', 0),
        ('reconnection_ordered', 0),
        ('fault_reported', 0),
        ('repair_progress', 0),
        ('power_restored', 0),
        ('expansion_stage_changed', 0),
        ('meter_verification_due', -30 * 24 * 60),
        ('contract_expiry', -30 * 24 * 60),
        ('safe_use_advice', 0),
        ('energy_saving_advice', 0)
    ) AS d (kind, offset_minutes)
    WHERE NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = tenant);
$$;

INSERT INTO notice_rules (tenant_id, id, kind, offset_minutes, updated_by)
SELECT t.id, gen_random_uuid(), 'contract_expiry', -30 * 24 * 60, 'defaults'
FROM tenants t
WHERE NOT t.is_platform
  AND EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id)
  AND NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id AND r.kind = 'contract_expiry');
