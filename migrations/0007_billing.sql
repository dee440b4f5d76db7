-- The money side, part one: the tenant's billing settings, tariff versions,
-- register readings with their review queue, bill runs, bills and bill lines.
-- (Interval data, payments and cost control come in their own migrations.)

-- Per-tenant billing rules; the *defaults* are DOMAIN.md's.
CREATE TABLE billing_settings (
    tenant_id                  uuid PRIMARY KEY REFERENCES tenants (id),
    -- A bill is due this many days after it is issued.
    due_days                   smallint NOT NULL DEFAULT 15 CHECK (due_days BETWEEN 0 AND 90),
    -- Late fee per day: households, others, others for the days in a later year.
    late_fee_residential       numeric(7, 6) NOT NULL DEFAULT 0.001 CHECK (late_fee_residential BETWEEN 0 AND 0.01),
    late_fee_other             numeric(7, 6) NOT NULL DEFAULT 0.002 CHECK (late_fee_other BETWEEN 0 AND 0.01),
    late_fee_other_across_year numeric(7, 6) NOT NULL DEFAULT 0.003 CHECK (late_fee_other_across_year BETWEEN 0 AND 0.01),
    -- A reading whose usage is more than this many times the customer's recent
    -- monthly average is flagged as an implausible jump.
    jump_factor                numeric(6, 2) NOT NULL DEFAULT 3 CHECK (jump_factor > 1),
    -- Prepaid customers are warned when the balance lasts this many days or fewer.
    low_balance_days           smallint NOT NULL DEFAULT 7 CHECK (low_balance_days BETWEEN 0 AND 60)
);
SELECT gridcrm_tenant_rls('billing_settings');

-- Meter registers roll over past 10^digits − 1.
ALTER TABLE meters ADD COLUMN register_digits smallint NOT NULL DEFAULT 6 CHECK (register_digits BETWEEN 4 AND 10);

-- A tariff's prices from a date. A new version never changes an issued bill:
-- bills keep their own lines.
CREATE TABLE tariff_versions (
    tenant_id             uuid NOT NULL REFERENCES tenants (id),
    id                    uuid NOT NULL,
    tariff_code           text NOT NULL,
    effective_from        date NOT NULL,
    -- flat: one price; time_of_use: peak / flat / valley.
    energy_kind           text NOT NULL CHECK (energy_kind IN ('flat', 'time_of_use')),
    flat_price            numeric(10, 5) NOT NULL CHECK (flat_price >= 0),
    peak_price            numeric(10, 5) CHECK (peak_price >= 0),
    valley_price          numeric(10, 5) CHECK (valley_price >= 0),
    -- Yearly tiers (spread monthly) and their surcharges per kWh.
    tier1_yearly_kwh      numeric(12, 2) CHECK (tier1_yearly_kwh > 0),
    tier2_yearly_kwh      numeric(12, 2),
    tier2_surcharge       numeric(10, 5),
    tier3_surcharge       numeric(10, 5),
    -- Two-part tariffs: basic charge per kVA of capacity or per kW of maximum demand, per month.
    basic_kind            text CHECK (basic_kind IN ('per_kva', 'per_kw_demand')),
    basic_price           numeric(10, 4) CHECK (basic_price >= 0),
    power_factor_standard numeric(3, 2) CHECK (power_factor_standard IN (0.90, 0.85, 0.80)),
    created_at            timestamptz NOT NULL DEFAULT now(),
    created_by            uuid,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, tariff_code, effective_from),
    FOREIGN KEY (tenant_id, tariff_code) REFERENCES tariff_categories (tenant_id, code),
    CHECK (energy_kind = 'flat' OR (peak_price IS NOT NULL AND valley_price IS NOT NULL)),
    CHECK ((tier1_yearly_kwh IS NULL) = (tier2_yearly_kwh IS NULL)
           AND (tier1_yearly_kwh IS NULL) = (tier2_surcharge IS NULL)
           AND (tier1_yearly_kwh IS NULL) = (tier3_surcharge IS NULL)),
    CHECK (tier2_yearly_kwh IS NULL OR tier2_yearly_kwh > tier1_yearly_kwh),
    CHECK ((basic_kind IS NULL) = (basic_price IS NULL))
);
SELECT gridcrm_tenant_rls('tariff_versions');

-- Register readings (抄表示数): one per meter, period and kind. `kind` is a
-- regular reading, or the final reading of a meter taken out / the first
-- reading of a meter put in inside the period (a meter replacement).
CREATE TABLE meter_readings (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    meter_id        uuid NOT NULL,
    supply_point_id uuid NOT NULL,
    customer_id     uuid NOT NULL,
    -- The billing period (first day of the month) the reading closes.
    period          date NOT NULL CHECK (extract(day FROM period) = 1),
    kind            text NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular', 'removal', 'installation')),
    read_on         date NOT NULL,
    total           numeric(14, 2) NOT NULL CHECK (total >= 0),
    peak            numeric(14, 2) CHECK (peak >= 0),
    flat            numeric(14, 2) CHECK (flat >= 0),
    valley          numeric(14, 2) CHECK (valley >= 0),
    reactive        numeric(14, 2) CHECK (reactive >= 0),
    max_demand_kw   numeric(12, 2) CHECK (max_demand_kw >= 0),
    -- The reader declared that the register rolled over since the last reading.
    rollover        boolean NOT NULL DEFAULT false,
    source          text NOT NULL CHECK (source IN ('form', 'api', 'import')),
    -- ok: billable; flagged: waits in the review queue; accepted: flagged but
    -- confirmed by a reviewer; superseded: replaced by a re-reading.
    status          text NOT NULL CHECK (status IN ('ok', 'flagged', 'accepted', 'superseded')),
    -- Why it was flagged: lower_than_last, jump, zero.
    flags           text[] NOT NULL DEFAULT '{}',
    -- Usage since the previous reading (× multiplier), as the checks saw it.
    usage_kwh       numeric(14, 2),
    reviewed_by     uuid,
    reviewed_at     timestamptz,
    review_note     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, meter_id) REFERENCES meters (tenant_id, id),
    FOREIGN KEY (tenant_id, supply_point_id) REFERENCES supply_points (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    CHECK (status <> 'flagged' OR cardinality(flags) > 0)
);
-- One live reading per meter, period and kind; a re-reading supersedes the old one.
CREATE UNIQUE INDEX meter_readings_live ON meter_readings (tenant_id, meter_id, period, kind) WHERE status <> 'superseded';
CREATE INDEX meter_readings_meter ON meter_readings (tenant_id, meter_id, read_on DESC);
CREATE INDEX meter_readings_customer ON meter_readings (tenant_id, customer_id, period);
CREATE INDEX meter_readings_review ON meter_readings (tenant_id, created_at) WHERE status = 'flagged';
SELECT gridcrm_tenant_rls('meter_readings');

-- A bill run: a period, for one route or all, with its summary.
CREATE TABLE bill_runs (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    period       date NOT NULL CHECK (extract(day FROM period) = 1),
    route_id     uuid,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    started_by   text NOT NULL,
    bills        integer NOT NULL DEFAULT 0,
    total_kwh    numeric(16, 2) NOT NULL DEFAULT 0,
    total_amount numeric(16, 2) NOT NULL DEFAULT 0,
    skipped      integer NOT NULL DEFAULT 0,
    -- Already billed for the period (a repeated run): counted, not billed again.
    already      integer NOT NULL DEFAULT 0,
    error        text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, route_id) REFERENCES reading_routes (tenant_id, id)
);
CREATE INDEX bill_runs_recent ON bill_runs (tenant_id, started_at DESC);
SELECT gridcrm_tenant_rls('bill_runs');

-- Customers a run did not bill, and why (flagged readings, no reading, no tariff…).
CREATE TABLE bill_run_skips (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    run_id      uuid NOT NULL,
    customer_id uuid NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, run_id, customer_id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES bill_runs (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
SELECT gridcrm_tenant_rls('bill_run_skips');

CREATE TABLE bills (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    id                uuid NOT NULL,
    bill_no           text COLLATE "C" NOT NULL,
    customer_id       uuid NOT NULL,
    period            date NOT NULL CHECK (extract(day FROM period) = 1),
    run_id            uuid,
    tariff_code       text NOT NULL,
    issued_on         date NOT NULL,
    due_on            date NOT NULL CHECK (due_on >= issued_on),
    energy_kwh        numeric(14, 2) NOT NULL,
    amount            numeric(14, 2) NOT NULL,
    -- Paid towards the amount, and late fees accrued and paid.
    paid              numeric(14, 2) NOT NULL DEFAULT 0 CHECK (paid >= 0),
    late_fee          numeric(14, 2) NOT NULL DEFAULT 0 CHECK (late_fee >= 0),
    late_fee_paid     numeric(14, 2) NOT NULL DEFAULT 0 CHECK (late_fee_paid >= 0),
    -- Late fees are accrued up to and including this day.
    late_fee_through  date,
    power_factor      numeric(3, 2),
    -- What the counter needs to answer "why is my bill so high": the readings and tiers used.
    detail            jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'cancelled')),
    cancelled_at      timestamptz,
    cancelled_by      text,
    cancel_reason     text,
    -- A re-issued bill names the bill it replaces.
    replaces          uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, bill_no),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES bill_runs (tenant_id, id),
    FOREIGN KEY (tenant_id, replaces) REFERENCES bills (tenant_id, id),
    CHECK (paid <= amount OR amount < 0),
    CHECK (late_fee_paid <= late_fee),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- Running a period twice creates no second bill: one live bill per customer and period.
CREATE UNIQUE INDEX bills_one_per_period ON bills (tenant_id, customer_id, period) WHERE status = 'issued';
CREATE INDEX bills_customer ON bills (tenant_id, customer_id, period DESC);
-- Unpaid bills, for late fees, arrears and allocation.
CREATE INDEX bills_unpaid ON bills (tenant_id, due_on) WHERE status = 'issued' AND (paid < amount OR late_fee_paid < late_fee);
SELECT gridcrm_tenant_rls('bills');

CREATE TABLE bill_lines (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    bill_id     uuid NOT NULL,
    line_no     smallint NOT NULL,
    -- energy, energy_peak, energy_flat, energy_valley, tier2_surcharge,
    -- tier3_surcharge, basic_capacity, basic_demand, power_factor.
    kind        text NOT NULL,
    tariff_code text NOT NULL,
    quantity    numeric(16, 4) NOT NULL,
    unit_price  numeric(12, 6) NOT NULL,
    amount      numeric(14, 2) NOT NULL,
    PRIMARY KEY (tenant_id, bill_id, line_no),
    FOREIGN KEY (tenant_id, bill_id) REFERENCES bills (tenant_id, id)
);
SELECT gridcrm_tenant_rls('bill_lines');

-- Default settings and tariff versions for a tenant: prices are gridcrm's
-- examples for the tenant admin to replace; the tiers, time-of-use ratios
-- (1.5 : 1 : 0.5) and power-factor standards are DOMAIN.md's.
CREATE FUNCTION gridcrm_install_billing_defaults(tenant uuid) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO billing_settings (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
    INSERT INTO tariff_versions (tenant_id, id, tariff_code, effective_from, energy_kind, flat_price, peak_price,
                                 valley_price, tier1_yearly_kwh, tier2_yearly_kwh, tier2_surcharge, tier3_surcharge,
                                 basic_kind, basic_price, power_factor_standard)
    SELECT tenant, gen_random_uuid(), v.code, DATE '2020-01-01', v.energy_kind, v.flat, v.peak, v.valley,
           v.t1, v.t2, v.s2, v.s3, v.basic_kind, v.basic_price, v.pf
    FROM (VALUES
        ('res_tiered', 'flat', 0.538, NULL::numeric, NULL::numeric, 2760, 4800, 0.05, 0.30, NULL, NULL::numeric, NULL::numeric),
        ('res_tou', 'time_of_use', 0.538, 0.807, 0.269, 2760, 4800, 0.05, 0.30, NULL, NULL, NULL),
        ('commercial_single', 'flat', 0.6644, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.85),
        ('commercial_tou', 'time_of_use', 0.6644, 0.9966, 0.3322, NULL, NULL, NULL, NULL, NULL, NULL, 0.85),
        ('large_two_part', 'time_of_use', 0.6106, 0.9159, 0.3053, NULL, NULL, NULL, NULL, 'per_kva', 30, 0.90),
        ('agri', 'flat', 0.4761, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.80)
    ) AS v (code, energy_kind, flat, peak, valley, t1, t2, s2, s3, basic_kind, basic_price, pf)
    WHERE EXISTS (SELECT 1 FROM tariff_categories c WHERE c.tenant_id = tenant AND c.code = v.code)
    ON CONFLICT DO NOTHING;
$$;
SELECT gridcrm_install_billing_defaults(id) FROM tenants;

GRANT SELECT, INSERT, UPDATE, DELETE ON
    billing_settings, tariff_versions, meter_readings, bill_runs, bill_run_skips, bills, bill_lines
TO gridcrm_app;
GRANT EXECUTE ON FUNCTION gridcrm_install_billing_defaults(uuid) TO gridcrm_app;
