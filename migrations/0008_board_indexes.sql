-- The supervisor board filters open work orders by type, team or owner and
-- shows them in the queue's order (green channel, priority, deadline). With
-- 300,000 open orders a filter over the queue index alone scans too far:
-- each filter gets the queue order behind its own column.
CREATE INDEX work_orders_open_by_kind ON work_orders (tenant_id, kind, green_channel DESC, priority, due_at, id)
    WHERE completed_at IS NULL;
CREATE INDEX work_orders_open_by_team ON work_orders (tenant_id, team, green_channel DESC, priority, due_at, id)
    WHERE completed_at IS NULL;
CREATE INDEX work_orders_open_by_owner ON work_orders (tenant_id, owner_id, green_channel DESC, priority, due_at, id)
    WHERE completed_at IS NULL;
-- Open contacts by team, in deadline order (owner has its own index already).
CREATE INDEX contacts_open_by_team ON contacts (tenant_id, team, due_at, id) WHERE state NOT IN ('resolved', 'closed');
