-- Demand response (需求响应, src/demand_response): a tenant asks customers to
-- cut load in a window of one day, records who accepts, and afterwards pays
-- each participant for the reduction their interval data verifies, as a
-- credit on their next bill.
--
-- An event moves draft → invited → closed → settled (settled again: a
-- second settlement computes only what the first could not, and credits
-- nothing twice). The trigger below refuses any other move.
CREATE TABLE dr_events (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    ref_no        text NOT NULL,
    title         text NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    -- The day and window, in the tenant's local time; the window is whole
    -- half hours so that 15- and 30-minute data both cover it exactly.
    day           date NOT NULL,
    window_start  time NOT NULL CHECK (extract(minute FROM window_start) IN (0, 30) AND extract(second FROM window_start) = 0),
    window_end    time NOT NULL CHECK (extract(minute FROM window_end) IN (0, 30) AND extract(second FROM window_end) = 0),
    requested_kw  numeric(12, 2) NOT NULL CHECK (requested_kw > 0),
    -- The reward per verified kWh, yuan.
    price_per_kwh numeric(10, 4) NOT NULL CHECK (price_per_kwh >= 0),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'invited', 'closed', 'settled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    invited_at    timestamptz,
    closed_at     timestamptz,
    settled_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref_no),
    CHECK (window_end > window_start)
);
CREATE INDEX dr_events_day ON dr_events (tenant_id, day DESC);
SELECT gridcrm_tenant_rls('dr_events');

CREATE FUNCTION gridcrm_dr_event_status() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
        ('draft', 'invited'), ('invited', 'closed'), ('closed', 'settled')) THEN
        RAISE EXCEPTION 'demand response event % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER dr_events_status BEFORE UPDATE OF status ON dr_events
    FOR EACH ROW EXECUTE FUNCTION gridcrm_dr_event_status();

-- Who is asked, and how they came in (a list of accounts, a route, a segment).
CREATE TABLE dr_invitations (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    event_id    uuid NOT NULL,
    customer_id uuid NOT NULL,
    invited_via text NOT NULL CHECK (invited_via IN ('list', 'route', 'segment')),
    -- The route code or segment name they came in by ('' for a list).
    via_name    text NOT NULL DEFAULT '',
    invited_at  timestamptz NOT NULL DEFAULT now(),
    invited_by  text NOT NULL,
    PRIMARY KEY (tenant_id, event_id, customer_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES dr_events (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX dr_invitations_customer ON dr_invitations (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('dr_invitations');

-- An invited customer's answer; recorded again, it replaces the last (the
-- audit log keeps each).
CREATE TABLE dr_responses (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    event_id     uuid NOT NULL,
    customer_id  uuid NOT NULL,
    decision     text NOT NULL CHECK (decision IN ('accepted', 'declined')),
    committed_kw numeric(12, 2) CHECK (committed_kw > 0),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    channel      text NOT NULL CHECK (channel IN ('page', 'api')),
    PRIMARY KEY (tenant_id, event_id, customer_id),
    FOREIGN KEY (tenant_id, event_id, customer_id) REFERENCES dr_invitations (tenant_id, event_id, customer_id),
    CHECK ((decision = 'accepted') = (committed_kw IS NOT NULL))
);
SELECT gridcrm_tenant_rls('dr_responses');

-- What settlement found for a participant (one who accepted).
CREATE TABLE dr_results (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    event_id     uuid NOT NULL,
    customer_id  uuid NOT NULL,
    -- verified; no_baseline (fewer than 5 similar days with data);
    -- missing_data (the event day's data does not cover the window).
    status       text NOT NULL CHECK (status IN ('verified', 'no_baseline', 'missing_data')),
    similar_days date[] NOT NULL DEFAULT '{}',
    -- The same-day adjustment factor applied to the baseline.
    adjustment   numeric(8, 4),
    baseline_kwh numeric(14, 3),
    actual_kwh   numeric(14, 3),
    verified_kwh numeric(14, 3) NOT NULL DEFAULT 0 CHECK (verified_kwh >= 0),
    reward       numeric(14, 2) NOT NULL DEFAULT 0 CHECK (reward >= 0),
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id, customer_id),
    FOREIGN KEY (tenant_id, event_id, customer_id) REFERENCES dr_responses (tenant_id, event_id, customer_id),
    CHECK (status = 'verified' OR (verified_kwh = 0 AND reward = 0))
);
SELECT gridcrm_tenant_rls('dr_results');

-- Credits waiting for a customer's next bill (billing, src/billing/credits.rs):
-- the bill run turns each into a line of the bill and marks it used; a
-- cancelled bill gives its credits back for the re-issue. `source_ref`
-- names what caused the credit, once: `dr:<event>:<customer>`.
CREATE TABLE bill_credits (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    customer_id uuid NOT NULL,
    -- The bill line's kind.
    kind        text NOT NULL CHECK (kind IN ('demand_response')),
    -- The line's quantity and unit price (kWh and yuan per kWh for a
    -- reward); `amount` is what the bill is reduced by.
    quantity    numeric(16, 4) NOT NULL,
    unit_price  numeric(12, 6) NOT NULL,
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    source_ref  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    bill_id     uuid,
    applied_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, source_ref),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, bill_id) REFERENCES bills (tenant_id, id),
    CHECK ((bill_id IS NULL) = (applied_at IS NULL))
);
CREATE INDEX bill_credits_pending ON bill_credits (tenant_id, customer_id) WHERE bill_id IS NULL;
CREATE INDEX bill_credits_bill ON bill_credits (tenant_id, bill_id) WHERE bill_id IS NOT NULL;
SELECT gridcrm_tenant_rls('bill_credits');

GRANT SELECT, INSERT, UPDATE ON dr_events, dr_invitations, dr_responses, dr_results, bill_credits TO gridcrm_app;

-- Requests and results are events on the invited customers' timelines
-- (the outbox trigger of 0027 carries them to the planner): every company
-- gets a rule for each, as for the other event kinds.
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
        ('demand_response_request', 0, true),
        ('demand_response_result', 0, true),
        -- 0037: installed disabled (a drop may be theft).
        ('load_anomaly', 0, false)
    ) AS d (kind, offset_minutes, enabled)
    WHERE NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = tenant);
$$;

INSERT INTO notice_rules (tenant_id, id, kind, offset_minutes, updated_by)
SELECT t.id, gen_random_uuid(), k.kind, 0, 'defaults'
FROM tenants t CROSS JOIN (VALUES ('demand_response_request'), ('demand_response_result')) AS k (kind)
WHERE NOT t.is_platform
  AND EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id)
  AND NOT EXISTS (SELECT 1 FROM notice_rules r WHERE r.tenant_id = t.id AND r.kind = k.kind);
