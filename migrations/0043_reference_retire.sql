-- Reference lists and reading routes become editable by tenant admins. A code
-- that customers, points or bills use is never removed, only retired: it
-- stays on the records that have it and is refused for new ones.
ALTER TABLE customer_classes ADD COLUMN retired_at timestamptz;
ALTER TABLE industries ADD COLUMN retired_at timestamptz;
ALTER TABLE voltage_levels ADD COLUMN retired_at timestamptz;
ALTER TABLE tariff_categories ADD COLUMN retired_at timestamptz;
ALTER TABLE tags ADD COLUMN retired_at timestamptz;
-- A route's schedule is its reading day of the month (reader_day, 0003).
ALTER TABLE reading_routes ADD COLUMN retired_at timestamptz;

-- The staff who read a route's meters.
CREATE TABLE reading_route_readers (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    route_id  uuid NOT NULL,
    user_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, route_id, user_id),
    FOREIGN KEY (tenant_id, route_id) REFERENCES reading_routes (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX reading_route_readers_user ON reading_route_readers (tenant_id, user_id);
SELECT gridcrm_tenant_rls('reading_route_readers');
GRANT SELECT, INSERT, DELETE ON reading_route_readers TO gridcrm_app;
