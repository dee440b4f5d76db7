-- Personal information (PIPL): the retention period before a closed account
-- may be anonymised, the moment an account was closed, and the redaction of
-- personal fields in earlier audit entries about an anonymised customer.

CREATE TABLE privacy_settings (
    tenant_id       uuid PRIMARY KEY REFERENCES tenants (id),
    -- Years after closing before a closed account may be anonymised.
    retention_years integer NOT NULL DEFAULT 3 CHECK (retention_years BETWEEN 1 AND 30),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT gridcrm_tenant_rls('privacy_settings');
GRANT SELECT, INSERT, UPDATE ON privacy_settings TO gridcrm_app;

-- When the account was closed (NULL while active); kept by the database on
-- every status change, whichever path closes or reopens it.
ALTER TABLE customers ADD COLUMN closed_at timestamptz,
                      ADD COLUMN anonymised_at timestamptz;
-- Accounts closed before now: their last change is taken as the closing
-- (without touching updated_at or re-indexing the unchanged names).
ALTER TABLE customers DISABLE TRIGGER USER;
UPDATE customers SET closed_at = updated_at WHERE status = 'closed';
ALTER TABLE customers ENABLE TRIGGER USER;

CREATE FUNCTION gridcrm_customer_closed_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'closed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'closed') THEN
        NEW.closed_at := now();
    ELSIF NEW.status <> 'closed' THEN
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customers_closed_at BEFORE INSERT OR UPDATE OF status ON customers
    FOR EACH ROW EXECUTE FUNCTION gridcrm_customer_closed_at();

-- The closed accounts, by closing time, for the anonymisation command.
CREATE INDEX customers_closed ON customers (tenant_id, closed_at) WHERE status = 'closed' AND anonymised_at IS NULL;

-- A JSON object with its personal fields (names, phones, ID numbers,
-- addresses, e-mail and messaging ids, contact persons) replaced by a mark.
CREATE FUNCTION gridcrm_redact_personal(j jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'object' THEN
        (SELECT coalesce(jsonb_object_agg(key,
                    CASE WHEN key IN ('name', 'phone', 'id_number', 'address', 'email', 'sms_phone', 'wechat_openid',
                                      'caller_name', 'caller_phone', 'contacts', 'description', 'resolution')
                              AND value <> 'null'::jsonb
                         THEN '"[redacted]"'::jsonb ELSE value END), '{}'::jsonb)
           FROM jsonb_each(j))
    ELSE j END
$$;

-- The audit log stays append-only for the application role: the one change
-- it may make to earlier entries is this redaction, for one customer of the
-- current tenant, of the entries about the customer, its supply points,
-- contacts, work orders, bills and payments: the personal fields of before
-- and after are replaced, and the customer's (and its contact persons' and
-- callers') current names, phones, ID number, e-mail and addresses are cut
-- out of the summaries and of any other text. Call it before the personal
-- data itself is replaced (it reads the values to cut out).
CREATE FUNCTION gridcrm_redact_customer_audit(customer uuid) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tenant   uuid := app_tenant_id();
    personal text[];
    p        text;
    ids      uuid[];
    n        bigint;
BEGIN
    SELECT coalesce(array_agg(DISTINCT v), '{}') INTO personal FROM (
        SELECT unnest(ARRAY[c.name, c.phone, c.id_number, nullif(c.address, '')]) AS v
          FROM customers c WHERE c.tenant_id = tenant AND c.id = customer
        UNION ALL
        SELECT unnest(ARRAY[x.name, x.phone, x.email]) FROM customer_contacts x
         WHERE x.tenant_id = tenant AND x.customer_id = customer
        UNION ALL
        SELECT unnest(ARRAY[nullif(k.caller_name, ''), k.caller_phone]) FROM contacts k
         WHERE k.tenant_id = tenant AND k.customer_id = customer
        UNION ALL
        SELECT nullif(s.address, '') FROM supply_points s WHERE s.tenant_id = tenant AND s.customer_id = customer
    ) found
    WHERE v IS NOT NULL AND char_length(v) >= 2 AND v !~ '["\\]';
    SELECT array_agg(i) INTO ids FROM (
        SELECT customer AS i
        UNION ALL SELECT s.id FROM supply_points s WHERE s.tenant_id = tenant AND s.customer_id = customer
        UNION ALL SELECT k.id FROM contacts k WHERE k.tenant_id = tenant AND k.customer_id = customer
        UNION ALL SELECT w.id FROM work_orders w WHERE w.tenant_id = tenant AND w.customer_id = customer
        UNION ALL SELECT b.id FROM bills b WHERE b.tenant_id = tenant AND b.customer_id = customer
        UNION ALL SELECT y.id FROM payments y WHERE y.tenant_id = tenant AND y.customer_id = customer
    ) about;
    UPDATE audit_log a
       SET before = gridcrm_redact_personal(a.before), after = gridcrm_redact_personal(a.after)
     WHERE a.tenant_id = tenant AND a.entity_id = ANY (ids) AND (a.before IS NOT NULL OR a.after IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    FOREACH p IN ARRAY personal LOOP
        UPDATE audit_log a
           SET summary = replace(a.summary, p, '[redacted]'),
               before = replace(a.before::text, p, '[redacted]')::jsonb,
               after = replace(a.after::text, p, '[redacted]')::jsonb
         WHERE a.tenant_id = tenant AND a.entity_id = ANY (ids)
           AND (strpos(a.summary, p) > 0 OR strpos(a.before::text, p) > 0 OR strpos(a.after::text, p) > 0);
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION gridcrm_redact_customer_audit(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridcrm_redact_customer_audit(uuid) TO gridcrm_app;
