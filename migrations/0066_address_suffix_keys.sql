-- Address search by suffix keys instead of character pairs.
--
-- 0045 kept an address's character pairs: a fragment was walked by its rarest
-- pair and each hit checked against the whole address. Addresses share their
-- pairs (district, street, "号", the digits of house numbers), so at a
-- million customers every pair of `解放路136号` had tens of thousands of
-- entries and one search read that many customers (0.4-1 s; BENCHMARKS.md).
--
-- Now an address keeps, for each of its characters, the text that starts
-- there, up to 12 characters: a fragment of up to 12 characters is the start
-- of one of them, so "contains" becomes the range `q <= key < next(q)` on the
-- key alone, as for codes, and reads only matching customers. A longer
-- fragment is looked up by its last 12 characters and checked against the
-- whole address. The text is compared without white space, lower-cased, with
-- full-width letters, digits and signs as ASCII (as the search box reads them).

-- The address as its keys and searches compare it.
CREATE FUNCTION gridcrm_address_text(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT regexp_replace(lower(translate(t, '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～　', '!"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~ ')), '\s', '', 'g')
$$;

-- An address's keys: from each of its characters but the last, the next 12.
CREATE FUNCTION gridcrm_address_suffixes(t text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
    SELECT DISTINCT substr(a, i, 12)
    FROM (SELECT gridcrm_address_text(t) AS a) n
    CROSS JOIN LATERAL generate_series(1, char_length(a) - 1) AS i
$$;

CREATE OR REPLACE FUNCTION gridcrm_customer_own_keys(account_no text, phone text, id_number text, address text)
    RETURNS TABLE (kind "char", key text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT 'c'::"char", k FROM gridcrm_code_suffixes(account_no) AS k
    UNION SELECT 'c'::"char", k FROM gridcrm_code_suffixes(phone) AS k
    UNION SELECT 'c'::"char", k FROM gridcrm_code_suffixes(id_number) AS k
    UNION SELECT 'a'::"char", k FROM gridcrm_address_suffixes(address) AS k
$$;

-- The addresses already there, keyed anew (customers whose keys an import
-- deferred get theirs now; the backlog's writer skips keys already there).
DELETE FROM customer_search_keys WHERE kind = 'a';
INSERT INTO customer_search_keys (tenant_id, kind, key, customer_id, source_id)
SELECT c.tenant_id, 'a', k, c.id, c.id
FROM customers c CROSS JOIN LATERAL gridcrm_address_suffixes(c.address) AS k
ORDER BY 1, 3;
