-- Credit rating (信用评价): a points scorecard per tenant over the customer
-- metrics of the last 24 months, breaches and thefts, tenure, consumption
-- stability and the industry's risk class (src/credit). Ratings are kept as a
-- monthly history; the grade decides the payment method and the poor-credit
-- list (失信名单).

CREATE TABLE credit_settings (
    tenant_id          uuid PRIMARY KEY REFERENCES tenants (id),
    -- The scorecard in use (credit::card::Scorecard as JSON); NULL: the built-in default.
    scorecard          jsonb,
    -- Lowest score of each grade.
    aaa_min            numeric(7, 2) NOT NULL DEFAULT 630,
    aa_min             numeric(7, 2) NOT NULL DEFAULT 605,
    a_min              numeric(7, 2) NOT NULL DEFAULT 575,
    b_min              numeric(7, 2) NOT NULL DEFAULT 540,
    -- A secured post-pay customer's deposit or guarantee: this many months of
    -- the average monthly bill.
    deposit_months     numeric(4, 1) NOT NULL DEFAULT 2 CHECK (deposit_months > 0 AND deposit_months <= 12),
    -- A manual removal from the poor-credit list holds this long against the rule.
    list_override_months integer NOT NULL DEFAULT 12 CHECK (list_override_months BETWEEN 1 AND 120),
    adopted_at         timestamptz,
    adopted_by         text,
    CHECK (b_min < a_min AND a_min < aa_min AND aa_min < aaa_min)
);
SELECT gridcrm_tenant_rls('credit_settings');

-- An industry's risk class where the tenant differs from the built-in one.
CREATE TABLE credit_industry_risk (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    industry_code text NOT NULL,
    risk_class    text NOT NULL CHECK (risk_class IN ('low', 'medium', 'high')),
    PRIMARY KEY (tenant_id, industry_code),
    FOREIGN KEY (tenant_id, industry_code) REFERENCES industries (tenant_id, code)
);
SELECT gridcrm_tenant_rls('credit_industry_risk');

-- Breaches of the supply contract and electricity theft, with the evidence.
CREATE TABLE credit_events (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('breach', 'theft')),
    occurred_on  date NOT NULL,
    evidence     text NOT NULL CHECK (char_length(btrim(evidence)) BETWEEN 1 AND 2000),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX credit_events_customer ON credit_events (tenant_id, customer_id, occurred_on);
SELECT gridcrm_tenant_rls('credit_events');

-- Every rating, one per customer and month (a rating again in the same month
-- replaces it). `inputs` holds each factor's input, `points` each factor's
-- bin and points, in the card's order.
CREATE TABLE credit_ratings (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    customer_id  uuid NOT NULL,
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    score        numeric(7, 2) NOT NULL,
    grade        text NOT NULL CHECK (grade IN ('AAA', 'AA', 'A', 'B', 'C')),
    inputs       jsonb NOT NULL,
    points       jsonb NOT NULL,
    rated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id, month),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
SELECT gridcrm_tenant_rls('credit_ratings');

-- The latest rating of each customer with the payment-method decision, for
-- lists and search results.
CREATE TABLE customer_credit (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    customer_id      uuid NOT NULL,
    month            date NOT NULL,
    score            numeric(7, 2) NOT NULL,
    grade            text NOT NULL CHECK (grade IN ('AAA', 'AA', 'A', 'B', 'C')),
    previous_grade   text CHECK (previous_grade IN ('AAA', 'AA', 'A', 'B', 'C')),
    previous_score   numeric(7, 2),
    method           text NOT NULL CHECK (method IN ('post_pay', 'post_pay_secured', 'cost_control')),
    -- The deposit or guarantee a secured post-pay needs.
    security_required numeric(14, 2) NOT NULL DEFAULT 0 CHECK (security_required >= 0),
    rated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_credit_grade ON customer_credit (tenant_id, grade, score, customer_id);
SELECT gridcrm_tenant_rls('customer_credit');

-- Deposits and guarantees held against a secured post-pay.
CREATE TABLE credit_securities (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('deposit', 'guarantee')),
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    -- The guarantor or the bank's letter number; the receipt for a deposit.
    reference    text NOT NULL CHECK (char_length(btrim(reference)) BETWEEN 1 AND 200),
    received_on  date NOT NULL,
    released_on  date,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK (released_on IS NULL OR released_on >= received_on)
);
CREATE INDEX credit_securities_customer ON credit_securities (tenant_id, customer_id) WHERE released_on IS NULL;
SELECT gridcrm_tenant_rls('credit_securities');

-- The poor-credit list: one row per stay on it. A stay is entered by the
-- rule (at a rating) or by hand, and left by the rule or by hand; a manual
-- removal holds against the rule until `override_until`.
CREATE TABLE poor_credit_list (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    customer_id    uuid NOT NULL,
    entered_on     date NOT NULL,
    entry_reason   text NOT NULL CHECK (char_length(btrim(entry_reason)) BETWEEN 1 AND 500),
    entered_by     text NOT NULL,
    manual_entry   boolean NOT NULL,
    exited_on      date,
    exit_reason    text,
    exited_by      text,
    manual_exit    boolean,
    override_until date,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK ((exited_on IS NULL) = (exit_reason IS NULL) AND (exited_on IS NULL) = (manual_exit IS NULL))
);
CREATE UNIQUE INDEX poor_credit_list_open ON poor_credit_list (tenant_id, customer_id) WHERE exited_on IS NULL;
CREATE INDEX poor_credit_list_entered ON poor_credit_list (tenant_id, entered_on DESC, id);
SELECT gridcrm_tenant_rls('poor_credit_list');

-- Each calibration: the candidate card fitted from the tenant's history and
-- how it and the card in use ranked the held-out customers. Adopting one
-- makes its card the tenant's.
CREATE TABLE credit_calibrations (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    run_at       timestamptz NOT NULL DEFAULT now(),
    run_by       text NOT NULL,
    report       jsonb NOT NULL,
    card         jsonb NOT NULL,
    adopted_at   timestamptz,
    adopted_by   text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX credit_calibrations_run ON credit_calibrations (tenant_id, run_at DESC);
SELECT gridcrm_tenant_rls('credit_calibrations');

GRANT SELECT, INSERT, UPDATE ON credit_calibrations TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE ON credit_settings, credit_securities, poor_credit_list, customer_credit TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON credit_industry_risk, credit_ratings TO gridcrm_app;
GRANT SELECT, INSERT ON credit_events TO gridcrm_app;
