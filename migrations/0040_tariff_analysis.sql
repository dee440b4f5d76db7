-- Tariff analysis: which tariffs the customers of a class are on, answered
-- by an index probe per tariff (the recommendation's candidates), not by a
-- scan of the tenant's customers.
CREATE INDEX customers_class_tariff ON customers (tenant_id, class_code, tariff_code);
