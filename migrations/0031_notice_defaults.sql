-- The notice rules a company starts with (src/notices/plan.rs reads them):
-- every event and due kind to the customers it concerns, on their own
-- channels, from the moment the rule is installed; safe-use and
-- energy-saving advice to be sent by hand. Tenant admins change or remove
-- them on /notices/rules. Without rules nothing would ever be sent.
CREATE FUNCTION gridcrm_install_notice_defaults(tenant uuid) RETURNS void
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
        ('safe_use_advice', 0),
        ('energy_saving_advice', 0)
    ) AS d (kind, offset_minutes)
    WHERE NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = tenant);
$$;

SELECT gridcrm_install_notice_defaults(id) FROM tenants WHERE NOT is_platform;

GRANT EXECUTE ON FUNCTION gridcrm_install_notice_defaults(uuid) TO gridcrm_app;
