-- A customer's identity document number (居民身份证 or 统一社会信用代码), as
-- the archive a company moves in carries it. Optional: the counter forms do
-- not ask for it yet.
ALTER TABLE customers ADD COLUMN id_number text COLLATE "C" CHECK (id_number ~ '^[0-9A-Z]{15,18}$');
