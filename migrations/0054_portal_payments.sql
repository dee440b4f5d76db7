-- Paying online from the customer portal: an order per attempt, sent to the
-- payment gateway's hosted page; the gateway's signed callback books the
-- payment through the counter's idempotent path (channel 'portal', the
-- gateway's transaction as its reference) and marks the order paid.
ALTER TABLE payments DROP CONSTRAINT payments_channel_check;
ALTER TABLE payments ADD CONSTRAINT payments_channel_check CHECK (channel IN
    ('counter_cash', 'counter_card', 'counter_wechat', 'counter_alipay', 'bank', 'wechat', 'alipay', 'agent',
     'portal'));

CREATE TABLE portal_payment_orders (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    customer_id    uuid NOT NULL,
    portal_user_id uuid NOT NULL,
    amount         numeric(14, 2) NOT NULL CHECK (amount > 0),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    paid_at        timestamptz,
    payment_id     uuid,
    gateway_txn    text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, portal_user_id) REFERENCES portal_users (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    CHECK ((status = 'paid') = (payment_id IS NOT NULL))
);
CREATE INDEX portal_payment_orders_user ON portal_payment_orders (tenant_id, portal_user_id, created_at DESC);
SELECT gridcrm_tenant_rls('portal_payment_orders');
GRANT SELECT, INSERT, UPDATE ON portal_payment_orders TO gridcrm_app;
GRANT SELECT ON portal_payment_orders TO gridcrm_portal;
CREATE POLICY portal_own ON portal_payment_orders AS RESTRICTIVE TO gridcrm_portal
    USING (portal_user_id = app_portal_user_id());
