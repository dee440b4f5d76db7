-- The cash drawer: counter QR-code payments (the clerk scans the customer's
-- WeChat or Alipay code), cash received and change given, who took each
-- payment and who reversed it (the cashier of the end-of-day reconciliation),
-- the account's balance after the payment for the receipt, the cashiers'
-- closed and signed-off days (日结/解款), and the company's letterhead.

ALTER TABLE payments DROP CONSTRAINT payments_channel_check;
ALTER TABLE payments ADD CONSTRAINT payments_channel_check CHECK (channel IN
    ('counter_cash', 'counter_card', 'counter_wechat', 'counter_alipay', 'bank', 'wechat', 'alipay', 'agent'));
ALTER TABLE payments
    -- The staff user who took the payment (NULL: an API key, a channel's notification).
    ADD COLUMN cashier_id     uuid,
    ADD COLUMN reversed_by_id uuid,
    -- Cash at the counter: what the customer handed over, and the change.
    ADD COLUMN cash_received  numeric(14, 2),
    ADD COLUMN change_given   numeric(14, 2),
    -- The account after the payment: still owed on live bills, and credit.
    ADD COLUMN owed_after     numeric(14, 2),
    ADD COLUMN credit_after   numeric(14, 2),
    ADD FOREIGN KEY (tenant_id, cashier_id) REFERENCES users (tenant_id, id),
    ADD FOREIGN KEY (tenant_id, reversed_by_id) REFERENCES users (tenant_id, id),
    ADD CHECK ((cash_received IS NULL) = (change_given IS NULL)),
    ADD CHECK (cash_received IS NULL OR (channel = 'counter_cash' AND change_given = cash_received - amount AND change_given >= 0));
-- The reconciliation reads a cashier's day: what they took and what they reversed.
CREATE INDEX payments_cashier ON payments (tenant_id, cashier_id, received_at) WHERE cashier_id IS NOT NULL;
CREATE INDEX payments_reverser ON payments (tenant_id, reversed_by_id, reversed_at) WHERE reversed_by_id IS NOT NULL;

-- A cashier's day, closed by the cashier (its figures frozen in `totals`)
-- and signed off by a supervisor. A day without a row is open. Nothing dated
-- in a closed day is booked or reversed any more: corrections are reversals
-- on a later day.
CREATE TABLE cash_days (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    cashier_id     uuid NOT NULL,
    day            date NOT NULL,
    status         text NOT NULL DEFAULT 'closed' CHECK (status IN ('closed', 'signed')),
    -- The day's lines per channel as they stood at closing.
    totals         jsonb NOT NULL,
    closed_at      timestamptz NOT NULL DEFAULT now(),
    closed_by      text NOT NULL,
    signed_at      timestamptz,
    signed_by_id   uuid,
    signed_by      text,
    sign_note      text NOT NULL DEFAULT '' CHECK (char_length(sign_note) <= 500),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, cashier_id, day),
    FOREIGN KEY (tenant_id, cashier_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, signed_by_id) REFERENCES users (tenant_id, id),
    CHECK ((status = 'signed') = (signed_at IS NOT NULL)),
    CHECK (signed_by_id IS DISTINCT FROM cashier_id)
);
CREATE INDEX cash_days_day ON cash_days (tenant_id, day DESC);
SELECT gridcrm_tenant_rls('cash_days');
GRANT SELECT, INSERT, UPDATE ON cash_days TO gridcrm_app;

-- The letterhead of receipts and bills, and how to pay (printed on bills).
CREATE TABLE print_settings (
    tenant_id            uuid PRIMARY KEY REFERENCES tenants (id),
    address              text NOT NULL DEFAULT '' CHECK (char_length(address) <= 200),
    hotline              text NOT NULL DEFAULT '95598' CHECK (char_length(hotline) <= 40),
    payment_instructions text NOT NULL DEFAULT '' CHECK (char_length(payment_instructions) <= 1000)
);
SELECT gridcrm_tenant_rls('print_settings');
GRANT SELECT, INSERT, UPDATE ON print_settings TO gridcrm_app;
