-- The customer archive: reference lists, routes, tags, customers, contacts,
-- supply points, meters and their installation history.

-- Reference lists are per tenant, because provinces classify differently.
CREATE TABLE customer_classes (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    code      text NOT NULL CHECK (code ~ '^[A-Za-z0-9_.-]{1,20}$'),
    name_zh   text NOT NULL,
    name_en   text NOT NULL,
    sort      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, code)
);
CREATE TABLE industries (LIKE customer_classes INCLUDING ALL);
ALTER TABLE industries ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
CREATE TABLE voltage_levels (LIKE customer_classes INCLUDING ALL);
ALTER TABLE voltage_levels ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
CREATE TABLE tariff_categories (LIKE customer_classes INCLUDING ALL);
ALTER TABLE tariff_categories ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
CREATE TABLE tags (LIKE customer_classes INCLUDING ALL);
ALTER TABLE tags ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);

SELECT gridcrm_tenant_rls('customer_classes');
SELECT gridcrm_tenant_rls('industries');
SELECT gridcrm_tenant_rls('voltage_levels');
SELECT gridcrm_tenant_rls('tariff_categories');
SELECT gridcrm_tenant_rls('tags');

-- 抄表段: the batch a meter reader walks, and the unit of a billing run.
CREATE TABLE reading_routes (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    id         uuid NOT NULL,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,20}$'),
    name       text NOT NULL,
    reader_day smallint CHECK (reader_day BETWEEN 1 AND 28),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code)
);
SELECT gridcrm_tenant_rls('reading_routes');

-- Account numbers are the tenant's prefix and a running number; the row lock
-- on this counter hands out each number once.
CREATE TABLE account_number_sequences (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    prefix     text NOT NULL CHECK (prefix ~ '^[0-9]{2,6}$'),
    next_value bigint NOT NULL DEFAULT 1
);
SELECT gridcrm_tenant_rls('account_number_sequences');

CREATE TABLE customers (
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    id                  uuid NOT NULL,
    -- Codes compare bytewise (COLLATE "C"): prefix searches become index ranges.
    account_no          text COLLATE "C" NOT NULL CHECK (account_no ~ '^[0-9]{6,16}$'),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    class_code          text NOT NULL,
    industry_code       text NOT NULL,
    voltage_code        text NOT NULL,
    tariff_code         text NOT NULL,
    route_id            uuid,
    address             text NOT NULL DEFAULT '',
    phone               text COLLATE "C",
    capacity_kva        numeric(12, 2) CHECK (capacity_kva >= 0),
    importance          text CHECK (importance IN ('special', 'first', 'second', 'temporary')),
    account_manager_id  uuid,
    preferred_channels  text[] NOT NULL DEFAULT '{}'
                        CHECK (preferred_channels <@ ARRAY['sms', 'email', 'letter', 'phone', 'wechat']),
    quiet_from          time,
    quiet_to            time,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    -- Bumped on every change; an edit based on an older version is refused.
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, account_no),
    FOREIGN KEY (tenant_id, class_code) REFERENCES customer_classes (tenant_id, code),
    FOREIGN KEY (tenant_id, industry_code) REFERENCES industries (tenant_id, code),
    FOREIGN KEY (tenant_id, voltage_code) REFERENCES voltage_levels (tenant_id, code),
    FOREIGN KEY (tenant_id, tariff_code) REFERENCES tariff_categories (tenant_id, code),
    FOREIGN KEY (tenant_id, route_id) REFERENCES reading_routes (tenant_id, id),
    FOREIGN KEY (tenant_id, account_manager_id) REFERENCES users (tenant_id, id)
);
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
CREATE INDEX customers_phone ON customers (tenant_id, phone);
-- Row-level security lets an index evaluate only leakproof conditions before
-- the tenant policy. Comparisons are leakproof; LIKE and array containment
-- are not. So searches are built from comparisons: ranges on these indexes,
-- and equality on customer_name_grams.
CREATE INDEX customers_name_prefix ON customers (tenant_id, name text_pattern_ops);
CREATE INDEX customers_route ON customers (tenant_id, route_id);
CREATE INDEX customers_manager ON customers (tenant_id, account_manager_id);
SELECT gridcrm_tenant_rls('customers');

-- The character pairs of each customer's name, for infix search by equality.
-- Carrying the account number (fixed once issued) lets a search walk one
-- pair's entries in account-number order and stop after a page.
CREATE TABLE customer_name_grams (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    gram        text COLLATE "C" NOT NULL,
    account_no  text COLLATE "C" NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, gram, account_no),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_name_grams_customer ON customer_name_grams (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('customer_name_grams');

-- Kept by statement-level triggers, so a bulk load indexes its names in one statement.
CREATE FUNCTION gridcrm_index_customer_names() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM customer_name_grams g
        USING old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id
        WHERE g.tenant_id = o.tenant_id AND g.customer_id = o.id AND o.name IS DISTINCT FROM n.name;
        INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
        SELECT n.tenant_id, gram, n.account_no, n.id
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        CROSS JOIN LATERAL unnest(gridcrm_name_grams(n.name)) AS gram
        WHERE o.name IS DISTINCT FROM n.name;
    ELSE
        INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
        SELECT n.tenant_id, gram, n.account_no, n.id
        FROM new_rows n CROSS JOIN LATERAL unnest(gridcrm_name_grams(n.name)) AS gram;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER customers_name_grams_insert AFTER INSERT ON customers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_customer_names();
CREATE TRIGGER customers_name_grams_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_customer_names();

CREATE TABLE customer_tags (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    customer_id uuid NOT NULL,
    tag_code    text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, tag_code),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, tag_code) REFERENCES tags (tenant_id, code)
);
SELECT gridcrm_tenant_rls('customer_tags');

CREATE TABLE customer_contacts (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    customer_id uuid NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    role        text NOT NULL DEFAULT '',
    phone       text COLLATE "C",
    email       text,
    is_primary  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_contacts_customer ON customer_contacts (tenant_id, customer_id);
CREATE INDEX customer_contacts_phone ON customer_contacts (tenant_id, phone);
SELECT gridcrm_tenant_rls('customer_contacts');

CREATE TABLE supply_points (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    customer_id   uuid NOT NULL,
    code          text NOT NULL,
    address       text NOT NULL DEFAULT '',
    voltage_code  text NOT NULL,
    capacity_kva  numeric(12, 2) CHECK (capacity_kva >= 0),
    transformer   text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'in_service' CHECK (status IN ('in_service', 'suspended', 'removed')),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, voltage_code) REFERENCES voltage_levels (tenant_id, code)
);
CREATE INDEX supply_points_customer ON supply_points (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('supply_points');

CREATE TABLE meters (
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    id                 uuid NOT NULL,
    serial             text COLLATE "C" NOT NULL CHECK (serial ~ '^[A-Za-z0-9-]{4,32}$'),
    kind               text NOT NULL CHECK (kind IN ('mechanical', 'smart', 'prepaid')),
    time_of_use        boolean NOT NULL DEFAULT false,
    multiplier         numeric(10, 2) NOT NULL DEFAULT 1 CHECK (multiplier > 0),
    next_verification  date,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, serial)
);
SELECT gridcrm_tenant_rls('meters');

-- Which meter served which supply point when. A meter is installed in one place
-- at a time.
CREATE TABLE meter_installations (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    meter_id         uuid NOT NULL,
    supply_point_id  uuid NOT NULL,
    installed_on     date NOT NULL,
    removed_on       date CHECK (removed_on >= installed_on),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, meter_id) REFERENCES meters (tenant_id, id),
    FOREIGN KEY (tenant_id, supply_point_id) REFERENCES supply_points (tenant_id, id)
);
CREATE UNIQUE INDEX meter_installations_one_open ON meter_installations (tenant_id, meter_id) WHERE removed_on IS NULL;
CREATE INDEX meter_installations_point ON meter_installations (tenant_id, supply_point_id, installed_on DESC);
CREATE INDEX meter_installations_meter ON meter_installations (tenant_id, meter_id);
SELECT gridcrm_tenant_rls('meter_installations');

GRANT SELECT, INSERT, UPDATE, DELETE ON
    account_number_sequences, customer_classes, industries, voltage_levels, tariff_categories, tags,
    reading_routes, customers, customer_name_grams, customer_tags, customer_contacts,
    supply_points, meters, meter_installations
TO gridcrm_app;
