-- Value tiers: every customer's tier (vip, high, medium, low, negative), the
-- score and the factors that produced it, from a per-tenant weighting
-- (src/value). A manual VIP designation overrides the computed tier and
-- needs a reason.
CREATE TABLE value_settings (
    tenant_id            uuid PRIMARY KEY REFERENCES tenants (id),
    -- Weights of the five factors, in points out of 100 (they sum to 100).
    weight_consumption   smallint NOT NULL DEFAULT 30 CHECK (weight_consumption BETWEEN 0 AND 100),
    weight_revenue       smallint NOT NULL DEFAULT 25 CHECK (weight_revenue BETWEEN 0 AND 100),
    weight_payment       smallint NOT NULL DEFAULT 20 CHECK (weight_payment BETWEEN 0 AND 100),
    weight_importance    smallint NOT NULL DEFAULT 15 CHECK (weight_importance BETWEEN 0 AND 100),
    weight_growth        smallint NOT NULL DEFAULT 10 CHECK (weight_growth BETWEEN 0 AND 100),
    -- Score thresholds of the tiers.
    vip_min              smallint NOT NULL DEFAULT 85,
    high_min             smallint NOT NULL DEFAULT 65,
    medium_min           smallint NOT NULL DEFAULT 40,
    -- Persistent arrears that make a customer negative-value: overdue this many days.
    negative_arrears_days integer NOT NULL DEFAULT 90 CHECK (negative_arrears_days > 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           text NOT NULL DEFAULT '',
    CHECK (weight_consumption + weight_revenue + weight_payment + weight_importance + weight_growth = 100),
    CHECK (0 < medium_min AND medium_min < high_min AND high_min < vip_min AND vip_min <= 100)
);
SELECT gridcrm_tenant_rls('value_settings');

CREATE TABLE customer_values (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    customer_id     uuid NOT NULL,
    tier            text NOT NULL CHECK (tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    -- The tier the score gives (tier differs only by a manual VIP designation).
    computed_tier   text NOT NULL CHECK (computed_tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    score           numeric(5, 2) NOT NULL,
    -- Each factor's input and points, for the explanation.
    factors         jsonb NOT NULL DEFAULT '{}',
    -- The twelve months' figures the VIP list shows and sorts by.
    energy_12m      numeric(16, 2) NOT NULL DEFAULT 0,
    revenue_12m     numeric(14, 2) NOT NULL DEFAULT 0,
    arrears         numeric(14, 2) NOT NULL DEFAULT 0,
    previous_tier   text CHECK (previous_tier IN ('vip', 'high', 'medium', 'low', 'negative')),
    tier_changed_at timestamptz,
    manual_vip      boolean NOT NULL DEFAULT false,
    manual_reason   text,
    manual_by       text,
    manual_at       timestamptz,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK (manual_vip = (manual_reason IS NOT NULL))
);
CREATE INDEX customer_values_tier ON customer_values (tenant_id, tier, energy_12m DESC, customer_id);
SELECT gridcrm_tenant_rls('customer_values');

GRANT SELECT, INSERT, UPDATE ON value_settings, customer_values TO gridcrm_app;
