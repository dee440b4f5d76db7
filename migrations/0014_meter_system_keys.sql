-- The meter system's API key gets a role of its own: it polls and
-- acknowledges connection orders and may do nothing else. People never have
-- it (users keep their own list of roles).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('counter_staff', 'account_manager', 'supervisor', 'tenant_admin', 'meter_system'));
