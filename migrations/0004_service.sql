-- The service side: contacts (complaints, inquiries, suggestions, praise,
-- reports), work orders, their SLA clocks, return visits, the customer
-- timeline and the monthly roll-ups the statistics page reads.

-- Staff belong to a team (a business hall, a repair base); the board filters
-- by it and the statistics count by it.
ALTER TABLE users ADD COLUMN team text NOT NULL DEFAULT '' CHECK (char_length(team) <= 60);

-- The edges of every state machine, the same table the rules code holds
-- (tests/it/service.rs compares them). Triggers refuse any other change of state.
CREATE TABLE workflow_edges (
    workflow   text NOT NULL,
    from_state text NOT NULL,
    action     text NOT NULL,
    to_state   text NOT NULL,
    PRIMARY KEY (workflow, from_state, action)
);
INSERT INTO workflow_edges (workflow, from_state, action, to_state) VALUES
    ('contact', 'received', 'acknowledge', 'acknowledged'),
    ('contact', 'acknowledged', 'start', 'in_progress'),
    ('contact', 'in_progress', 'resolve', 'resolved'),
    ('contact', 'resolved', 'close', 'closed'),
    ('contact', 'resolved', 'reopen', 'in_progress'),
    ('contact', 'closed', 'reopen', 'in_progress'),
    ('repair', 'reported', 'dispatch', 'dispatched'),
    ('repair', 'dispatched', 'arrive', 'on_site'),
    ('repair', 'on_site', 'restore', 'restored'),
    ('repair', 'restored', 'close', 'closed'),
    ('repair', 'reported', 'cancel', 'cancelled'),
    ('repair', 'dispatched', 'cancel', 'cancelled'),
    ('expansion', 'accepted', 'review', 'reviewed'),
    ('expansion', 'reviewed', 'draft_plan', 'plan_drafted'),
    ('expansion', 'plan_drafted', 'agree_plan', 'plan_agreed'),
    ('expansion', 'plan_agreed', 'complete_construction', 'constructed'),
    ('expansion', 'constructed', 'pass_inspection', 'inspected'),
    ('expansion', 'inspected', 'install_meter', 'metered'),
    ('expansion', 'metered', 'power_on', 'powered_on'),
    ('expansion', 'accepted', 'cancel', 'cancelled'),
    ('expansion', 'reviewed', 'cancel', 'cancelled'),
    ('expansion', 'plan_drafted', 'cancel', 'cancelled'),
    ('expansion', 'plan_agreed', 'cancel', 'cancelled'),
    ('task', 'open', 'schedule', 'scheduled'),
    ('task', 'open', 'start', 'in_progress'),
    ('task', 'scheduled', 'start', 'in_progress'),
    ('task', 'in_progress', 'complete', 'done'),
    ('task', 'open', 'cancel', 'cancelled'),
    ('task', 'scheduled', 'cancel', 'cancelled');
GRANT SELECT ON workflow_edges TO gridcrm_app;

-- Refuses a change of state that is not an edge of the row's workflow. The
-- workflow is the trigger's argument, or the row's `workflow` column.
CREATE FUNCTION gridcrm_check_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    wf text;
BEGIN
    IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
        RETURN NEW;
    END IF;
    IF TG_NARGS > 0 THEN
        wf := TG_ARGV[0];
    ELSE
        wf := NEW.workflow;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM workflow_edges e
                   WHERE e.workflow = wf AND e.from_state = OLD.state AND e.to_state = NEW.state) THEN
        RAISE EXCEPTION 'a % cannot go from % to %', wf, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', CONSTRAINT = TG_TABLE_NAME || '_state_edge';
    END IF;
    RETURN NEW;
END
$$;

-- The tenant's working calendar: working periods of a day, weekend days, the
-- share of a limit that counts as near due, and dated exceptions.
CREATE TABLE service_calendars (
    tenant_id        uuid PRIMARY KEY REFERENCES tenants (id),
    -- 'HH:MM-HH:MM' periods, comma-separated, in the tenant's time zone.
    periods          text NOT NULL DEFAULT '08:30-12:00,13:30-17:30',
    -- ISO weekday numbers (6 = Saturday, 7 = Sunday).
    weekend          smallint[] NOT NULL DEFAULT '{6,7}',
    near_due_percent smallint NOT NULL DEFAULT 20 CHECK (near_due_percent BETWEEN 0 AND 100)
);
SELECT gridcrm_tenant_rls('service_calendars');

CREATE TABLE calendar_days (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    day       date NOT NULL,
    -- holiday: no work on a weekday; working: a make-up working day (调休) on a weekend.
    kind      text NOT NULL CHECK (kind IN ('holiday', 'working')),
    name      text NOT NULL DEFAULT '' CHECK (char_length(name) <= 60),
    PRIMARY KEY (tenant_id, day)
);
SELECT gridcrm_tenant_rls('calendar_days');

-- Time limits. `item` is a contact kind or a work-order kind, `clock` what is
-- timed (acknowledge, resolve, arrival, or an expansion stage), `variant` the
-- subject, area type or customer type it applies to ('' = any).
CREATE TABLE sla_limits (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    item         text NOT NULL,
    clock        text NOT NULL,
    variant      text NOT NULL DEFAULT '',
    minutes      integer NOT NULL CHECK (minutes > 0),
    working_time boolean NOT NULL,
    PRIMARY KEY (tenant_id, item, clock, variant)
);
SELECT gridcrm_tenant_rls('sla_limits');

-- Per-tenant counters for human reference numbers (C00000001, W00000001).
CREATE TABLE reference_counters (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    series     text NOT NULL,
    next_value bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, series)
);
SELECT gridcrm_tenant_rls('reference_counters');

CREATE TABLE contacts (
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    id                  uuid NOT NULL,
    ref_no              text COLLATE "C" NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('complaint', 'inquiry', 'suggestion', 'praise', 'report')),
    channel             text NOT NULL CHECK (channel IN ('hall', 'hotline', 'web', 'wechat', 'letter')),
    subject             text NOT NULL CHECK (subject IN ('service_attitude', 'outage', 'billing', 'metering',
                                                         'power_quality', 'business_expansion', 'other')),
    customer_id         uuid,
    caller_name         text NOT NULL DEFAULT '' CHECK (char_length(caller_name) <= 100),
    caller_phone        text COLLATE "C",
    description         text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 4000),
    state               text NOT NULL DEFAULT 'received'
                        CHECK (state IN ('received', 'acknowledged', 'in_progress', 'resolved', 'closed')),
    -- The first-inquiry owner. NULL only for contacts from the API that named no
    -- owner: the first person to acknowledge one takes it.
    owner_id            uuid,
    team                text NOT NULL DEFAULT '',
    received_at         timestamptz NOT NULL,
    -- The month of received_at in the tenant's time zone, for the roll-up.
    received_month      date NOT NULL,
    resolution          text NOT NULL DEFAULT '',
    resolved_at         timestamptz,
    closed_at           timestamptz,
    satisfaction        smallint CHECK (satisfaction BETWEEN 1 AND 5),
    -- The running SLA clock: what it times, from when, how long, and its deadline.
    clock               text,
    clock_started_at    timestamptz,
    clock_limit_minutes integer,
    clock_working_time  boolean NOT NULL DEFAULT true,
    due_at              timestamptz,
    -- Set when any deadline of this contact was missed; never cleared.
    sla_breached        boolean NOT NULL DEFAULT false,
    escalated_at        timestamptz,
    escalated_to        uuid,
    created_by          uuid,
    version             integer NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref_no),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, escalated_to) REFERENCES users (tenant_id, id)
);
CREATE TRIGGER contacts_touch BEFORE UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
CREATE TRIGGER contacts_state_edge BEFORE UPDATE OF state ON contacts
    FOR EACH ROW EXECUTE FUNCTION gridcrm_check_transition('contact');
CREATE INDEX contacts_customer ON contacts (tenant_id, customer_id, received_at DESC);
-- The board: open contacts by deadline. The escalation job: open, overdue, not escalated.
CREATE INDEX contacts_open_due ON contacts (tenant_id, due_at, id) WHERE state NOT IN ('resolved', 'closed');
CREATE INDEX contacts_to_escalate ON contacts (tenant_id, due_at)
    WHERE escalated_at IS NULL AND state NOT IN ('resolved', 'closed');
CREATE INDEX contacts_state ON contacts (tenant_id, state, received_at DESC);
CREATE INDEX contacts_owner_open ON contacts (tenant_id, owner_id, due_at) WHERE state NOT IN ('resolved', 'closed');
SELECT gridcrm_tenant_rls('contacts');

CREATE TABLE work_orders (
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    id                     uuid NOT NULL,
    ref_no                 text COLLATE "C" NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('repair', 'expansion', 'meter_check', 'periodic_visit',
                                                         'outage_negotiation', 'paid_maintenance')),
    workflow               text NOT NULL GENERATED ALWAYS AS
                           (CASE WHEN kind IN ('repair', 'expansion') THEN kind ELSE 'task' END) STORED,
    state                  text NOT NULL,
    customer_id            uuid,
    supply_point_id        uuid,
    title                  text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description            text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
    -- 1 urgent, 2 high, 3 normal, 4 low.
    priority               smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 4),
    -- VIP and important customers' orders (绿色通道): sorted first and supervised.
    green_channel          boolean NOT NULL DEFAULT false,
    supervised_by          uuid,
    supervised_at          timestamptz,
    supervision_note       text NOT NULL DEFAULT '',
    address                text NOT NULL DEFAULT '' CHECK (char_length(address) <= 300),
    latitude               numeric(9, 6) CHECK (latitude BETWEEN -90 AND 90),
    longitude              numeric(9, 6) CHECK (longitude BETWEEN -180 AND 180),
    area_type              text CHECK (area_type IN ('urban', 'rural', 'remote')),
    affected_route_id      uuid,
    affected_transformer   text NOT NULL DEFAULT '' CHECK (char_length(affected_transformer) <= 100),
    affected_area          text NOT NULL DEFAULT '' CHECK (char_length(affected_area) <= 200),
    crew                   text NOT NULL DEFAULT '' CHECK (char_length(crew) <= 100),
    customer_type          text CHECK (customer_type IN ('residential', 'low_voltage', 'hv_single', 'hv_double')),
    requested_capacity_kva numeric(12, 2) CHECK (requested_capacity_kva > 0),
    documents              text[] NOT NULL DEFAULT '{}',
    supply_plan            text NOT NULL DEFAULT '' CHECK (char_length(supply_plan) <= 4000),
    plan_confirmed_by      text NOT NULL DEFAULT '',
    plan_confirmed_at      timestamptz,
    owner_id               uuid,
    team                   text NOT NULL DEFAULT '',
    created_at             timestamptz NOT NULL,
    created_month          date NOT NULL,
    arrived_at             timestamptz,
    restored_at            timestamptz,
    completed_at           timestamptz,
    clock                  text,
    clock_started_at       timestamptz,
    clock_limit_minutes    integer,
    clock_working_time     boolean NOT NULL DEFAULT true,
    due_at                 timestamptz,
    sla_breached           boolean NOT NULL DEFAULT false,
    escalated_at           timestamptz,
    escalated_to           uuid,
    created_by             uuid,
    version                integer NOT NULL DEFAULT 1,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref_no),
    CHECK (kind <> 'repair' OR area_type IS NOT NULL),
    CHECK (kind <> 'expansion' OR (customer_type IS NOT NULL AND requested_capacity_kva IS NOT NULL)),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, supply_point_id) REFERENCES supply_points (tenant_id, id),
    FOREIGN KEY (tenant_id, affected_route_id) REFERENCES reading_routes (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, supervised_by) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, escalated_to) REFERENCES users (tenant_id, id)
);
CREATE TRIGGER work_orders_touch BEFORE UPDATE ON work_orders FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
CREATE TRIGGER work_orders_state_edge BEFORE UPDATE OF state ON work_orders
    FOR EACH ROW EXECUTE FUNCTION gridcrm_check_transition();
CREATE INDEX work_orders_customer ON work_orders (tenant_id, customer_id, created_at DESC);
-- The board's order: green channel first, then priority, then deadline.
CREATE INDEX work_orders_open_queue ON work_orders (tenant_id, green_channel DESC, priority, due_at, id)
    WHERE completed_at IS NULL;
CREATE INDEX work_orders_to_escalate ON work_orders (tenant_id, due_at)
    WHERE escalated_at IS NULL AND completed_at IS NULL;
SELECT gridcrm_tenant_rls('work_orders');

-- Every state change, handover, escalation and supervision of a contact or a
-- work order: who, when, what, and a comment.
CREATE TABLE service_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    item_type   text NOT NULL CHECK (item_type IN ('contact', 'work_order')),
    item_id     uuid NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_label text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text,
    comment     text NOT NULL DEFAULT '' CHECK (char_length(comment) <= 2000),
    detail      jsonb,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX service_events_item ON service_events (tenant_id, item_type, item_id, at);
SELECT gridcrm_tenant_rls('service_events');

-- Return visits (回访) after a complaint is resolved.
CREATE TABLE return_visits (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    contact_id   uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    assigned_to  uuid NOT NULL,
    done_at      timestamptz,
    done_by      uuid,
    -- 5 very satisfied, 4 satisfied, 3 neutral, 2 dissatisfied, 1 very dissatisfied.
    satisfaction smallint CHECK (satisfaction BETWEEN 1 AND 5),
    remarks      text NOT NULL DEFAULT '' CHECK (char_length(remarks) <= 2000),
    reopened     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_to) REFERENCES users (tenant_id, id),
    CHECK ((done_at IS NULL) = (satisfaction IS NULL))
);
CREATE UNIQUE INDEX return_visits_one_pending ON return_visits (tenant_id, contact_id) WHERE done_at IS NULL;
CREATE INDEX return_visits_pending ON return_visits (tenant_id, assigned_to) WHERE done_at IS NULL;
SELECT gridcrm_tenant_rls('return_visits');

-- What happened with a customer, newest first: contacts, orders, and the
-- events the notices issue will deliver (fault_reported, repair_progress,
-- power_restored, expansion_stage_changed). Bills and payments add theirs.
CREATE TABLE customer_timeline (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    customer_id uuid NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    -- A notice event waiting for delivery by the notices issue (NULL: not a notice).
    notice      text,
    title       text NOT NULL,
    -- A code shown translated beside the title (a contact kind, a new state).
    status      text NOT NULL DEFAULT '',
    link        text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_timeline_customer ON customer_timeline (tenant_id, customer_id, at DESC, id DESC);
SELECT gridcrm_tenant_rls('customer_timeline');

-- Monthly roll-ups the statistics page reads instead of scanning a million
-- contacts. Kept by statement-level triggers, so bulk loads stay fast.
CREATE TABLE contact_monthly_stats (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    month       date NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    channel     text NOT NULL,
    team        text NOT NULL,
    received    integer NOT NULL DEFAULT 0,
    resolved    integer NOT NULL DEFAULT 0,
    in_time     integer NOT NULL DEFAULT 0,
    visited     integer NOT NULL DEFAULT 0,
    satisfied   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month, kind, subject, channel, team)
);
SELECT gridcrm_tenant_rls('contact_monthly_stats');

CREATE FUNCTION gridcrm_roll_up_contacts() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Take the old rows' counts out and put the new rows' in; groups where
        -- nothing changed are skipped.
        INSERT INTO contact_monthly_stats AS s
            (tenant_id, month, kind, subject, channel, team, received, resolved, in_time, visited, satisfied)
        SELECT tenant_id, received_month, kind, subject, channel, team,
               sum(sign), sum(sign * (resolved_at IS NOT NULL)::int),
               sum(sign * (resolved_at IS NOT NULL AND NOT sla_breached)::int),
               sum(sign * (satisfaction IS NOT NULL)::int), sum(sign * coalesce(satisfaction >= 4, false)::int)
        FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) d
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(sign) <> 0 OR sum(sign * (resolved_at IS NOT NULL)::int) <> 0
            OR sum(sign * (resolved_at IS NOT NULL AND NOT sla_breached)::int) <> 0
            OR sum(sign * (satisfaction IS NOT NULL)::int) <> 0
            OR sum(sign * coalesce(satisfaction >= 4, false)::int) <> 0
        ON CONFLICT (tenant_id, month, kind, subject, channel, team) DO UPDATE SET
            received = s.received + excluded.received,
            resolved = s.resolved + excluded.resolved,
            in_time = s.in_time + excluded.in_time,
            visited = s.visited + excluded.visited,
            satisfied = s.satisfied + excluded.satisfied;
    ELSE
        INSERT INTO contact_monthly_stats AS s
            (tenant_id, month, kind, subject, channel, team, received, resolved, in_time, visited, satisfied)
        SELECT tenant_id, received_month, kind, subject, channel, team,
               count(*), count(resolved_at), count(*) FILTER (WHERE resolved_at IS NOT NULL AND NOT sla_breached),
               count(satisfaction), count(*) FILTER (WHERE satisfaction >= 4)
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (tenant_id, month, kind, subject, channel, team) DO UPDATE SET
            received = s.received + excluded.received,
            resolved = s.resolved + excluded.resolved,
            in_time = s.in_time + excluded.in_time,
            visited = s.visited + excluded.visited,
            satisfied = s.satisfied + excluded.satisfied;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER contacts_roll_up_insert AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_roll_up_contacts();
CREATE TRIGGER contacts_roll_up_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_roll_up_contacts();

-- Work orders: completed and completed within every deadline, by month of creation.
CREATE TABLE work_order_monthly_stats (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    month     date NOT NULL,
    kind      text NOT NULL,
    team      text NOT NULL,
    created   integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    in_time   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month, kind, team)
);
SELECT gridcrm_tenant_rls('work_order_monthly_stats');

CREATE FUNCTION gridcrm_roll_up_work_orders() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO work_order_monthly_stats AS s (tenant_id, month, kind, team, created, completed, in_time)
        SELECT tenant_id, created_month, kind, team, sum(sign),
               sum(sign * (completed_at IS NOT NULL)::int),
               sum(sign * (completed_at IS NOT NULL AND NOT sla_breached)::int)
        FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) d
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0 OR sum(sign * (completed_at IS NOT NULL)::int) <> 0
            OR sum(sign * (completed_at IS NOT NULL AND NOT sla_breached)::int) <> 0
        ON CONFLICT (tenant_id, month, kind, team) DO UPDATE SET
            created = s.created + excluded.created,
            completed = s.completed + excluded.completed,
            in_time = s.in_time + excluded.in_time;
    ELSE
        INSERT INTO work_order_monthly_stats AS s (tenant_id, month, kind, team, created, completed, in_time)
        SELECT tenant_id, created_month, kind, team, count(*), count(completed_at),
               count(*) FILTER (WHERE completed_at IS NOT NULL AND NOT sla_breached)
        FROM new_rows
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (tenant_id, month, kind, team) DO UPDATE SET
            created = s.created + excluded.created,
            completed = s.completed + excluded.completed,
            in_time = s.in_time + excluded.in_time;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER work_orders_roll_up_insert AFTER INSERT ON work_orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_roll_up_work_orders();
CREATE TRIGGER work_orders_roll_up_update AFTER UPDATE ON work_orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_roll_up_work_orders();

-- Time spent in each business-expansion stage, summed when the stage ends.
CREATE TABLE expansion_stage_stats (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    month           date NOT NULL,
    customer_type   text NOT NULL,
    stage           text NOT NULL,
    finished        integer NOT NULL DEFAULT 0,
    working_minutes bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, month, customer_type, stage)
);
SELECT gridcrm_tenant_rls('expansion_stage_stats');

-- The national defaults every tenant starts with; tenant admins change them.
CREATE FUNCTION gridcrm_install_service_defaults(tenant uuid) RETURNS void
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
        ('paid_maintenance', 'resolve', '', 4500, true)
    ) AS d (item, clock, variant, minutes, working_time)
    ON CONFLICT DO NOTHING;
$$;
SELECT gridcrm_install_service_defaults(id) FROM tenants;

GRANT SELECT, INSERT, UPDATE, DELETE ON
    service_calendars, calendar_days, sla_limits, reference_counters, contacts, work_orders,
    return_visits, customer_timeline, contact_monthly_stats, work_order_monthly_stats, expansion_stage_stats
TO gridcrm_app;
GRANT SELECT, INSERT ON service_events TO gridcrm_app;
GRANT EXECUTE ON FUNCTION gridcrm_install_service_defaults(uuid) TO gridcrm_app;

-- What lists and pages show of a contact or order, with the names people
-- read. security_invoker: the caller's row-level security applies.
CREATE VIEW contact_rows WITH (security_invoker = true) AS
SELECT c.*, o.display_name AS owner_name, cu.name AS customer_name, cu.account_no AS customer_account_no,
       e.display_name AS escalated_to_name
FROM contacts c
LEFT JOIN users o ON o.tenant_id = c.tenant_id AND o.id = c.owner_id
LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id
LEFT JOIN users e ON e.tenant_id = c.tenant_id AND e.id = c.escalated_to;

CREATE VIEW work_order_rows WITH (security_invoker = true) AS
SELECT w.*, o.display_name AS owner_name, cu.name AS customer_name, cu.account_no AS customer_account_no,
       s.display_name AS supervised_by_name, r.code AS affected_route_code, p.code AS supply_point_code
FROM work_orders w
LEFT JOIN users o ON o.tenant_id = w.tenant_id AND o.id = w.owner_id
LEFT JOIN customers cu ON cu.tenant_id = w.tenant_id AND cu.id = w.customer_id
LEFT JOIN users s ON s.tenant_id = w.tenant_id AND s.id = w.supervised_by
LEFT JOIN reading_routes r ON r.tenant_id = w.tenant_id AND r.id = w.affected_route_id
LEFT JOIN supply_points p ON p.tenant_id = w.tenant_id AND p.id = w.supply_point_id;

GRANT SELECT ON contact_rows, work_order_rows TO gridcrm_app;

-- The VIP list puts a customer's orders in the green channel; new tenants get
-- the tag with the other defaults.
INSERT INTO tags (tenant_id, code, name_zh, name_en, sort)
SELECT id, 'vip', 'VIP客户', 'VIP', 0 FROM tenants ON CONFLICT DO NOTHING;
