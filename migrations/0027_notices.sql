-- Proactive notices (主动服务, src/notices): the system tells customers about
-- bills, balances, outages and repairs before they call.
--
-- The path of a notice:
--   1. An event is written with the business change that causes it: a
--      timeline row with a `notice` code (a trigger copies it into
--      notice_outbox in the same transaction), a planned outage, or a date
--      coming due (bills, meter verification) that the daily scan finds.
--   2. The planner turns outbox events into notices by the tenant's rules:
--      one row per customer and channel, keyed by kind + customer + event +
--      channel, so planning twice creates nothing twice.
--   3. The dispatcher claims due notices (FOR UPDATE SKIP LOCKED), sends
--      them through the channel's adapter and records the outcome; a failed
--      channel falls back to the customer's next one.

-- The tenant's delivery settings; without a row, the defaults below.
CREATE TABLE notice_settings (
    tenant_id            uuid PRIMARY KEY REFERENCES tenants (id),
    -- No notice is delivered in these hours (tenant local time; the window
    -- may cross midnight) except urgent kinds. Equal times: no quiet hours.
    quiet_from           time NOT NULL DEFAULT '21:00',
    quiet_to             time NOT NULL DEFAULT '08:00',
    -- A planned outage is announced this many days ahead ...
    outage_lead_days     integer NOT NULL DEFAULT 7 CHECK (outage_lead_days BETWEEN 1 AND 60),
    -- ... and this many to important and outage-sensitive customers.
    outage_priority_days integer NOT NULL DEFAULT 10 CHECK (outage_priority_days BETWEEN 1 AND 60),
    -- The language of customers who have not chosen one.
    default_lang         text NOT NULL DEFAULT 'zh-CN' CHECK (default_lang IN ('zh-CN', 'en')),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           text NOT NULL DEFAULT ''
);
SELECT gridcrm_tenant_rls('notice_settings');

-- A tenant's own wording; without a row, the built-in template of
-- notices::template::builtin. Placeholders are checked on save.
CREATE TABLE notice_templates (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    kind       text NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('sms', 'email', 'letter', 'phone', 'wechat')),
    lang       text NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    subject    text NOT NULL DEFAULT '' CHECK (char_length(subject) <= 200),
    body       text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    PRIMARY KEY (tenant_id, kind, channel, lang)
);
SELECT gridcrm_tenant_rls('notice_templates');

-- Which kind goes to whom, when and how.
CREATE TABLE notice_rules (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    kind           text NOT NULL,
    -- Who: the customers the event concerns (or, for advice and demand
    -- response, every customer), narrowed to one segment, route,
    -- transformer or area (an address prefix) when `audience` says so.
    audience       text NOT NULL DEFAULT 'concerned'
                   CHECK (audience IN ('concerned', 'segment', 'route', 'transformer', 'area')),
    segment_id     uuid,
    route_id       uuid,
    audience_text  text NOT NULL DEFAULT '' CHECK (char_length(audience_text) <= 100),
    -- When: minutes after the event (negative: before a date coming due).
    offset_minutes integer NOT NULL DEFAULT 0 CHECK (offset_minutes BETWEEN -86400 AND 86400),
    -- How: these channels in order; empty, the customer's preferred ones.
    channels       text[] NOT NULL DEFAULT '{}'
                   CHECK (channels <@ ARRAY['sms', 'email', 'letter', 'phone', 'wechat']),
    enabled        boolean NOT NULL DEFAULT true,
    -- Events from this moment on are planned; set it back to pick up older ones.
    since          timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id),
    FOREIGN KEY (tenant_id, route_id) REFERENCES reading_routes (tenant_id, id),
    CHECK ((audience = 'segment') = (segment_id IS NOT NULL)),
    CHECK ((audience = 'route') = (route_id IS NOT NULL)),
    CHECK ((audience IN ('transformer', 'area')) = (audience_text <> ''))
);
CREATE INDEX notice_rules_kind ON notice_rules (tenant_id, kind) WHERE enabled;
SELECT gridcrm_tenant_rls('notice_rules');

-- Per customer: language, addresses the archive lacks, the personalised bill.
CREATE TABLE notice_preferences (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    customer_id   uuid NOT NULL,
    lang          text CHECK (lang IN ('zh-CN', 'en')),
    -- Overrides the primary contact's email and the customer's phone.
    email         text CHECK (email IS NULL OR char_length(email) BETWEEN 3 AND 254),
    sms_phone     text CHECK (sms_phone IS NULL OR sms_phone ~ '^\+?[0-9]{5,20}$'),
    wechat_openid text CHECK (wechat_openid IS NULL OR char_length(wechat_openid) BETWEEN 1 AND 128),
    -- The personalised bill: off, a summary or every line, on a day of the month.
    bill_content  text NOT NULL DEFAULT 'off' CHECK (bill_content IN ('off', 'summary', 'itemised')),
    bill_day      smallint CHECK (bill_day BETWEEN 1 AND 28),
    bill_channel  text CHECK (bill_channel IN ('sms', 'email', 'letter', 'wechat')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK (bill_content = 'off' OR (bill_day IS NOT NULL AND bill_channel IS NOT NULL))
);
SELECT gridcrm_tenant_rls('notice_preferences');

-- Kinds a customer does not want (service-critical kinds are refused by the
-- application and by this check).
CREATE TABLE notice_opt_outs (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    customer_id uuid NOT NULL,
    kind        text NOT NULL CHECK (kind NOT IN ('planned_outage', 'disconnection_ordered', 'low_balance')),
    at          timestamptz NOT NULL DEFAULT now(),
    by_label    text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, kind),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
SELECT gridcrm_tenant_rls('notice_opt_outs');

-- Planned outages, announced to every affected customer.
CREATE TABLE outages (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    ref_no         text NOT NULL,
    reason         text NOT NULL CHECK (char_length(btrim(reason)) BETWEEN 1 AND 500),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL CHECK (ends_at > starts_at),
    route_ids      uuid[] NOT NULL DEFAULT '{}',
    transformers   text[] NOT NULL DEFAULT '{}',
    -- Address prefixes.
    areas          text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    -- Bumped by every change; each version announces itself again.
    version        integer NOT NULL DEFAULT 1,
    affected       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref_no),
    CHECK (cardinality(route_ids) + cardinality(transformers) + cardinality(areas) > 0)
);
CREATE INDEX outages_start ON outages (tenant_id, starts_at DESC);
SELECT gridcrm_tenant_rls('outages');

-- The outbox: notice events, written by a trigger in the transaction that
-- records them on the timeline, and deleted once planned.
CREATE TABLE notice_outbox (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    event_id    uuid NOT NULL,
    customer_id uuid NOT NULL,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    title       text NOT NULL,
    link        text NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX notice_outbox_at ON notice_outbox (tenant_id, at);
SELECT gridcrm_tenant_rls('notice_outbox');

CREATE FUNCTION gridcrm_notice_outbox() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_outbox (tenant_id, event_id, customer_id, kind, at, title, link)
    SELECT tenant_id, id, customer_id, notice, at, title, link FROM new_rows WHERE notice IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_timeline_notice_outbox AFTER INSERT ON customer_timeline
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_notice_outbox();

-- Events recorded before notices existed are kept: a rule whose `since` lies
-- before them picks them up.
INSERT INTO notice_outbox (tenant_id, event_id, customer_id, kind, at, title, link)
SELECT tenant_id, id, customer_id, notice, at, title, link FROM customer_timeline WHERE notice IS NOT NULL;

-- One message to one customer on one channel.
CREATE TABLE notices (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    customer_id     uuid NOT NULL,
    kind            text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('sms', 'email', 'letter', 'phone', 'wechat')),
    -- What caused it: 'timeline:<id>', 'outage:<id>:<version>', 'bill:<id>:due', ...
    event_ref       text NOT NULL,
    -- kind + customer + event + channel: one notice, ever, per key; passed to
    -- gateways that accept one (and as the mail's Message-ID).
    idempotency_key text NOT NULL,
    lang            text NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    -- The placeholders' values, fixed when the notice is created; the
    -- template is rendered when it is sent.
    data            jsonb NOT NULL DEFAULT '{}',
    -- The channels still to try, in order, should this one fail.
    fallback        text[] NOT NULL DEFAULT '{}',
    urgent          boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    -- Not before: the event's offset, then quiet hours, then retries.
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    claimed_by      text,
    last_error      text NOT NULL DEFAULT '',
    -- The address used and what the gateway called the message.
    address         text NOT NULL DEFAULT '',
    gateway_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    -- Phone tasks and letters: who did it and what came of it.
    outcome         text NOT NULL DEFAULT '' CHECK (char_length(outcome) <= 500),
    handled_by      text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, idempotency_key),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX notices_due ON notices (tenant_id, next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX notices_customer ON notices (tenant_id, customer_id, created_at DESC);
CREATE INDEX notices_event ON notices (tenant_id, event_ref);
CREATE INDEX notices_recent ON notices (tenant_id, created_at DESC);
SELECT gridcrm_tenant_rls('notices');

GRANT SELECT, INSERT, UPDATE ON notice_settings, notice_templates, notice_preferences, outages, notices TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON notice_rules, notice_opt_outs, notice_outbox TO gridcrm_app;

-- Where a channel reaches a customer, or NULL when it cannot: the planner
-- skips such channels and the dispatcher sends to what this returns.
CREATE FUNCTION gridcrm_notice_address(customer uuid, channel text) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT NULLIF(btrim(CASE channel
        WHEN 'sms' THEN coalesce((SELECT p.sms_phone FROM notice_preferences p WHERE p.customer_id = customer),
                                 (SELECT c.phone FROM customers c WHERE c.id = customer))
        WHEN 'phone' THEN coalesce((SELECT c.phone FROM customers c WHERE c.id = customer),
                                   (SELECT k.phone FROM customer_contacts k WHERE k.customer_id = customer
                                    AND k.phone IS NOT NULL ORDER BY k.is_primary DESC, k.id LIMIT 1))
        WHEN 'email' THEN coalesce((SELECT p.email FROM notice_preferences p WHERE p.customer_id = customer),
                                   (SELECT k.email FROM customer_contacts k WHERE k.customer_id = customer
                                    AND k.email IS NOT NULL ORDER BY k.is_primary DESC, k.id LIMIT 1))
        WHEN 'wechat' THEN (SELECT p.wechat_openid FROM notice_preferences p WHERE p.customer_id = customer)
        WHEN 'letter' THEN (SELECT c.address FROM customers c WHERE c.id = customer)
    END), '')
$$;
