-- Counter search by any part of a number, an address fragment, one character
-- anywhere in a name, and the pinyin initials of a name.
--
-- Row-level security lets an index evaluate only leakproof conditions before
-- the tenant policy (see 0003): LIKE, regular expressions and functions of a
-- column are not leakproof, so every lookup below is a comparison on a plain
-- column of a key table that triggers keep, as customer_name_grams is kept.

-- Every suffix of at least four characters of a code (account, phone, ID-card
-- or credit code, meter serial), upper-cased, without spaces and hyphens. Any
-- part of a code of four or more characters is the start of one of its
-- suffixes, so "contains" becomes the range `q <= key < next(q)`.
CREATE FUNCTION gridcrm_code_suffixes(t text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT substr(c, i)
    FROM (SELECT upper(translate(t, ' -', '')) AS c) n
    CROSS JOIN LATERAL generate_series(1, char_length(c) - 3) AS i
$$;

-- The distinct lower-cased characters of a name (not spaces): one character
-- finds every name containing it, not only names starting with it.
CREATE FUNCTION gridcrm_name_chars(t text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT DISTINCT ch
    FROM regexp_split_to_table(lower(t), '') AS ch
    WHERE ch !~ '\s'
$$;

-- A name's search keys: its character pairs and its characters.
CREATE FUNCTION gridcrm_name_keys(t text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT unnest(gridcrm_name_grams(t)) UNION SELECT gridcrm_name_chars(t)
$$;

-- Search keys of a customer's own fields and of its contacts' phones.
-- kind 'c': a code suffix (account number, phone, ID number, contact phone);
-- kind 'a': a character pair of the address (a fragment of two or more
-- characters is walked by one pair and checked against the whole address).
-- source_id is the row the key comes from (the customer or the contact), so
-- that a contact's removal takes only its own keys. Keys are removed by their
-- whole primary key, computed from the old values, so the table needs no
-- second index (customers and meters are closed, never deleted; the cascades
-- are for tests and tenant removal).
CREATE TABLE customer_search_keys (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    kind        "char" NOT NULL CHECK (kind IN ('c', 'a')),
    key         text COLLATE "C" NOT NULL,
    customer_id uuid NOT NULL,
    source_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, kind, key, customer_id, source_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
SELECT gridcrm_tenant_rls('customer_search_keys');

-- Suffixes of meter serials; a search goes from the meter through its
-- installations to the supply point's customer, as the serial prefix did.
CREATE TABLE meter_search_keys (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    key       text COLLATE "C" NOT NULL,
    meter_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, key, meter_id),
    FOREIGN KEY (tenant_id, meter_id) REFERENCES meters (tenant_id, id) ON DELETE CASCADE
);
SELECT gridcrm_tenant_rls('meter_search_keys');

-- Pinyin initials of the name (杭州瑞丰… -> hzrf…), written by the application
-- with every name (the pinyin table is a Rust crate's); NULL until then.
ALTER TABLE customers ADD COLUMN name_initials text COLLATE "C";
CREATE INDEX customers_name_initials ON customers (tenant_id, name_initials);

-- The keys of a set of customer rows (a transition table's contents).
CREATE FUNCTION gridcrm_customer_own_keys(account_no text, phone text, id_number text, address text)
    RETURNS TABLE (kind "char", key text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT 'c'::"char", k FROM gridcrm_code_suffixes(account_no) AS k
    UNION SELECT 'c'::"char", k FROM gridcrm_code_suffixes(phone) AS k
    UNION SELECT 'c'::"char", k FROM gridcrm_code_suffixes(id_number) AS k
    UNION SELECT 'a'::"char", g FROM unnest(gridcrm_name_grams(nullif(address, ''))) AS g
$$;

-- Replaces 0003's trigger function: names now also index their characters,
-- and the searched codes and the address keep their keys.
CREATE OR REPLACE FUNCTION gridcrm_index_customer_names() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM customer_name_grams g
        USING old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id
        WHERE g.tenant_id = o.tenant_id AND g.customer_id = o.id AND o.name IS DISTINCT FROM n.name;
        INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
        SELECT n.tenant_id, gram, n.account_no, n.id
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        CROSS JOIN LATERAL gridcrm_name_keys(n.name) AS gram
        WHERE o.name IS DISTINCT FROM n.name;
        DELETE FROM customer_search_keys k
        USING old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id
        CROSS JOIN LATERAL gridcrm_customer_own_keys(o.account_no, o.phone, o.id_number, o.address) AS ok
        WHERE k.tenant_id = o.tenant_id AND k.kind = ok.kind AND k.key = ok.key AND k.customer_id = o.id
          AND k.source_id = o.id
          AND (o.phone, o.id_number, o.address) IS DISTINCT FROM (n.phone, n.id_number, n.address);
        INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
        SELECT n.tenant_id, k.kind, k.key, n.id, n.id
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        CROSS JOIN LATERAL gridcrm_customer_own_keys(n.account_no, n.phone, n.id_number, n.address) AS k
        WHERE (o.phone, o.id_number, o.address) IS DISTINCT FROM (n.phone, n.id_number, n.address);
    ELSE
        INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
        SELECT n.tenant_id, gram, n.account_no, n.id
        FROM new_rows n CROSS JOIN LATERAL gridcrm_name_keys(n.name) AS gram;
        INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
        SELECT n.tenant_id, k.kind, k.key, n.id, n.id
        FROM new_rows n
        CROSS JOIN LATERAL gridcrm_customer_own_keys(n.account_no, n.phone, n.id_number, n.address) AS k;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION gridcrm_index_contact_phones() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM customer_search_keys k
        USING old_rows o CROSS JOIN LATERAL gridcrm_code_suffixes(o.phone) AS ok
        WHERE k.tenant_id = o.tenant_id AND k.kind = 'c' AND k.key = ok AND k.customer_id = o.customer_id
          AND k.source_id = o.id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
        SELECT n.tenant_id, 'c', k, n.customer_id, n.id
        FROM new_rows n CROSS JOIN LATERAL gridcrm_code_suffixes(n.phone) AS k;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER customer_contacts_keys_insert AFTER INSERT ON customer_contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_contact_phones();
CREATE TRIGGER customer_contacts_keys_update AFTER UPDATE ON customer_contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_contact_phones();
CREATE TRIGGER customer_contacts_keys_delete AFTER DELETE ON customer_contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_contact_phones();

CREATE FUNCTION gridcrm_index_meter_serials() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM meter_search_keys k
        USING old_rows o JOIN new_rows n ON n.tenant_id = o.tenant_id AND n.id = o.id
        CROSS JOIN LATERAL gridcrm_code_suffixes(o.serial) AS ok
        WHERE k.tenant_id = o.tenant_id AND k.key = ok AND k.meter_id = o.id AND o.serial IS DISTINCT FROM n.serial;
        INSERT INTO meter_search_keys (tenant_id, key, meter_id)
        SELECT DISTINCT n.tenant_id, k, n.id
        FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
        CROSS JOIN LATERAL gridcrm_code_suffixes(n.serial) AS k
        WHERE o.serial IS DISTINCT FROM n.serial;
    ELSE
        INSERT INTO meter_search_keys (tenant_id, key, meter_id)
        SELECT DISTINCT n.tenant_id, k, n.id FROM new_rows n CROSS JOIN LATERAL gridcrm_code_suffixes(n.serial) AS k;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER meters_keys_insert AFTER INSERT ON meters
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_meter_serials();
CREATE TRIGGER meters_keys_update AFTER UPDATE ON meters
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gridcrm_index_meter_serials();

-- The keys of what is already there.
INSERT INTO customer_name_grams (tenant_id, gram, account_no, customer_id)
SELECT c.tenant_id, ch, c.account_no, c.id FROM customers c CROSS JOIN LATERAL gridcrm_name_chars(c.name) AS ch
ON CONFLICT DO NOTHING;
INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
SELECT c.tenant_id, k.kind, k.key, c.id, c.id FROM customers c
CROSS JOIN LATERAL gridcrm_customer_own_keys(c.account_no, c.phone, c.id_number, c.address) AS k;
INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
SELECT n.tenant_id, 'c', k, n.customer_id, n.id FROM customer_contacts n CROSS JOIN LATERAL gridcrm_code_suffixes(n.phone) AS k;
INSERT INTO meter_search_keys (tenant_id, key, meter_id)
SELECT DISTINCT m.tenant_id, k, m.id FROM meters m CROSS JOIN LATERAL gridcrm_code_suffixes(m.serial) AS k;

GRANT SELECT, INSERT, UPDATE, DELETE ON customer_search_keys, meter_search_keys TO gridcrm_app;

-- The clerk's home: the payments a clerk booked today.
CREATE INDEX payments_booked_by ON payments (tenant_id, booked_by, booked_at);
