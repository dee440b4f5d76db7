-- Cost control (费控): the customer pays in advance. A daily estimate keeps
-- the balance and the days it lasts; the warning, the disconnection and the
-- reconnection each happen once per episode.
CREATE TABLE cost_control_agreements (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    customer_id  uuid NOT NULL,
    started_on   date NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    -- The latest estimate: balance after debts and unbilled usage, the recent daily cost, days left.
    balance      numeric(14, 2) NOT NULL DEFAULT 0,
    daily_cost   numeric(14, 2) NOT NULL DEFAULT 0,
    days_left    numeric(10, 1),
    standing     text NOT NULL DEFAULT 'fine' CHECK (standing IN ('fine', 'low', 'exhausted')),
    estimated_on date,
    -- Whether the supply is on, as far as ordered: a disconnection order turns it off.
    connected    boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
SELECT gridcrm_tenant_rls('cost_control_agreements');

-- Orders to the meter system: it polls for pending ones (they become sent)
-- and acknowledges each with its result.
CREATE TABLE meter_commands (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    customer_id     uuid NOT NULL,
    meter_id        uuid,
    command         text NOT NULL CHECK (command IN ('disconnect', 'reconnect')),
    reason          text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'done', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    acknowledged_at timestamptz,
    result          text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, meter_id) REFERENCES meters (tenant_id, id)
);
CREATE INDEX meter_commands_pending ON meter_commands (tenant_id, created_at) WHERE status = 'pending';
CREATE INDEX meter_commands_customer ON meter_commands (tenant_id, customer_id, created_at DESC);
SELECT gridcrm_tenant_rls('meter_commands');

GRANT SELECT, INSERT, UPDATE ON cost_control_agreements, meter_commands TO gridcrm_app;
