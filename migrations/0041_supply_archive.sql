-- Supply points and meters become part of the archive the counter edits:
-- a point is read on a route, is edited against a version, and is retired
-- (never deleted: its readings and bills keep pointing at it); a meter records
-- when it was last verified besides when it is next due.
ALTER TABLE supply_points
    ADD COLUMN route_id   uuid,
    ADD COLUMN version    integer NOT NULL DEFAULT 1,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN retired_on date,
    ADD FOREIGN KEY (tenant_id, route_id) REFERENCES reading_routes (tenant_id, id);
CREATE INDEX supply_points_route ON supply_points (tenant_id, route_id);

ALTER TABLE meters
    ADD COLUMN verified_on date,
    ADD COLUMN created_at  timestamptz NOT NULL DEFAULT now();
-- The verification-due list reads meters by due date.
CREATE INDEX meters_next_verification ON meters (tenant_id, next_verification) WHERE next_verification IS NOT NULL;
