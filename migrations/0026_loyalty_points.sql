-- Loyalty points (客户积分, src/points): an append-only ledger per customer.
-- Points are earned by a booked payment (on time, by amount, through an
-- online channel) at the tenant's rates, taken back when the payment is
-- reversed, redeemed for items of the tenant's catalogue, and expire after
-- the tenant's term, oldest first. The balance is the sum of the ledger.

-- The tenant's rates and term; without a row, the defaults of
-- points::Settings::default (the same as the column defaults).
CREATE TABLE points_settings (
    tenant_id      uuid PRIMARY KEY REFERENCES tenants (id),
    -- For a payment that settles bills, none of them after its due date.
    on_time_points integer NOT NULL DEFAULT 10 CHECK (on_time_points BETWEEN 0 AND 100000),
    -- Per 100 yuan paid, pro rata, rounded down.
    per_100_yuan   integer NOT NULL DEFAULT 1 CHECK (per_100_yuan BETWEEN 0 AND 100000),
    -- The most one payment earns for its amount (0: no limit), so that a
    -- large industrial bill does not earn a catalogue's worth at once.
    amount_cap     integer NOT NULL DEFAULT 200 CHECK (amount_cap BETWEEN 0 AND 100000),
    -- For a payment through an online channel (points::ONLINE_CHANNELS).
    online_bonus   integer NOT NULL DEFAULT 5 CHECK (online_bonus BETWEEN 0 AND 100000),
    -- Points expire this many months after they were earned.
    expiry_months  integer NOT NULL DEFAULT 24 CHECK (expiry_months BETWEEN 1 AND 120),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     text NOT NULL
);
SELECT gridcrm_tenant_rls('points_settings');

-- What customers may redeem points for.
CREATE TABLE points_catalogue (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    code       text COLLATE "C" NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name_zh    text NOT NULL CHECK (char_length(btrim(name_zh)) BETWEEN 1 AND 100),
    name_en    text NOT NULL CHECK (char_length(btrim(name_en)) BETWEEN 1 AND 100),
    cost       integer NOT NULL CHECK (cost BETWEEN 1 AND 10000000),
    -- Never below zero: a redemption takes stock only where there is enough.
    stock      integer NOT NULL CHECK (stock BETWEEN 0 AND 10000000),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);
SELECT gridcrm_tenant_rls('points_catalogue');

-- Each redemption, at the counter or over the API.
CREATE TABLE points_redemptions (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    customer_id uuid NOT NULL,
    item_id     uuid NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    points      bigint NOT NULL CHECK (points > 0),
    redeemed_by text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES points_catalogue (tenant_id, id)
);
CREATE INDEX points_redemptions_customer ON points_redemptions (tenant_id, customer_id, at DESC);
SELECT gridcrm_tenant_rls('points_redemptions');

-- The ledger: earned points are positive, every other kind negative. A
-- payment earns once and is reversed once (the unique index); a reversal
-- is the negative of what its payment earned. Expiry is recorded at most
-- once per customer and day (`expired_on`, the tenant's day it was computed
-- for), so an expiry run and a redemption racing for the same customer do not
-- both take the same points.
CREATE TABLE points_ledger (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    customer_id   uuid NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    kind          text NOT NULL CHECK (kind IN ('earn', 'reverse', 'redeem', 'expire')),
    points        bigint NOT NULL CHECK (points <> 0),
    payment_id    uuid,
    redemption_id uuid,
    expired_on    date,
    note          text NOT NULL DEFAULT '' CHECK (char_length(note) <= 200),
    recorded_by   text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    FOREIGN KEY (tenant_id, redemption_id) REFERENCES points_redemptions (tenant_id, id),
    CHECK ((kind = 'earn') = (points > 0)),
    CHECK ((kind IN ('earn', 'reverse')) = (payment_id IS NOT NULL)),
    CHECK ((kind = 'redeem') = (redemption_id IS NOT NULL)),
    CHECK ((kind = 'expire') = (expired_on IS NOT NULL))
);
CREATE UNIQUE INDEX points_ledger_payment ON points_ledger (tenant_id, payment_id, kind) WHERE payment_id IS NOT NULL;
CREATE UNIQUE INDEX points_ledger_expiry ON points_ledger (tenant_id, customer_id, expired_on) WHERE kind = 'expire';
CREATE INDEX points_ledger_customer ON points_ledger (tenant_id, customer_id, at DESC, id DESC);
SELECT gridcrm_tenant_rls('points_ledger');

GRANT SELECT, INSERT, UPDATE ON points_settings, points_catalogue TO gridcrm_app;
-- Append-only for the application: no UPDATE or DELETE.
GRANT SELECT, INSERT ON points_ledger, points_redemptions TO gridcrm_app;
