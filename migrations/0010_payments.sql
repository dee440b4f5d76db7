-- Payments: at the counter, or notified by a channel over the API. The
-- channel's reference books once: the unique key makes a concurrent retry
-- find the first booking instead of making a second.
CREATE TABLE payments (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    customer_id    uuid NOT NULL,
    amount         numeric(14, 2) NOT NULL CHECK (amount > 0),
    channel        text NOT NULL CHECK (channel IN ('counter_cash', 'counter_card', 'bank', 'wechat', 'alipay', 'agent')),
    channel_ref    text COLLATE "C" NOT NULL CHECK (char_length(channel_ref) BETWEEN 1 AND 64),
    received_at    timestamptz NOT NULL,
    booked_at      timestamptz NOT NULL DEFAULT now(),
    booked_by      text NOT NULL,
    -- What was left after settling debts, added to the account's credit.
    credit         numeric(14, 2) NOT NULL DEFAULT 0 CHECK (credit >= 0),
    status         text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'reversed')),
    reversed_at    timestamptz,
    reversed_by    text,
    reverse_reason text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, channel, channel_ref),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK ((status = 'reversed') = (reversed_at IS NOT NULL))
);
CREATE INDEX payments_customer ON payments (tenant_id, customer_id, received_at DESC);
SELECT gridcrm_tenant_rls('payments');

-- How each payment was spread over bills: the bill itself or its late fee.
CREATE TABLE payment_allocations (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    payment_id uuid NOT NULL,
    bill_id    uuid NOT NULL,
    part       text NOT NULL CHECK (part IN ('bill', 'late_fee')),
    amount     numeric(14, 2) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (tenant_id, payment_id, bill_id, part),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    FOREIGN KEY (tenant_id, bill_id) REFERENCES bills (tenant_id, id)
);
CREATE INDEX payment_allocations_bill ON payment_allocations (tenant_id, bill_id);
SELECT gridcrm_tenant_rls('payment_allocations');

-- Money paid beyond what was owed, settled against the next bills.
ALTER TABLE customers ADD COLUMN credit_balance numeric(14, 2) NOT NULL DEFAULT 0;

GRANT SELECT, INSERT, UPDATE ON payments, payment_allocations TO gridcrm_app;
