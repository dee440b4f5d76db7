-- A refund owed on an account closing is paid out at the counter: in cash or
-- by bank transfer (with the transfer's reference), by whom and when.
ALTER TABLE customer_refunds
    ADD COLUMN paid_at   timestamptz,
    ADD COLUMN paid_by   text,
    ADD COLUMN channel   text CHECK (channel IN ('cash', 'bank_transfer')),
    ADD COLUMN reference text NOT NULL DEFAULT '',
    ADD CHECK ((status = 'owed') = (paid_at IS NULL)),
    ADD CHECK (status = 'owed' OR (channel IS NOT NULL AND paid_by IS NOT NULL)),
    ADD CHECK (channel IS DISTINCT FROM 'bank_transfer' OR reference <> '');
CREATE INDEX customer_refunds_status ON customer_refunds (tenant_id, status, recorded_at DESC);
