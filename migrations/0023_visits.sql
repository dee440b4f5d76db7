-- Account managers' visits to their customers: planned, then recorded with
-- an outcome; follow-ups become tasks with an owner and a due date.
CREATE TABLE visits (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    manager_id   uuid NOT NULL,
    planned_on   date NOT NULL,
    purpose      text NOT NULL CHECK (char_length(purpose) BETWEEN 1 AND 500),
    status       text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'done', 'cancelled')),
    outcome      text NOT NULL DEFAULT '',
    done_on      date,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, manager_id) REFERENCES users (tenant_id, id),
    CHECK ((status = 'done') = (done_on IS NOT NULL))
);
CREATE TRIGGER visits_touch BEFORE UPDATE ON visits FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
CREATE INDEX visits_manager ON visits (tenant_id, manager_id, planned_on);
CREATE INDEX visits_customer ON visits (tenant_id, customer_id, planned_on DESC);
SELECT gridcrm_tenant_rls('visits');

CREATE TABLE visit_follow_ups (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    visit_id     uuid NOT NULL,
    customer_id  uuid NOT NULL,
    assignee_id  uuid NOT NULL,
    task         text NOT NULL CHECK (char_length(task) BETWEEN 1 AND 500),
    due_on       date NOT NULL,
    done_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, visit_id) REFERENCES visits (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX visit_follow_ups_open ON visit_follow_ups (tenant_id, assignee_id, due_on) WHERE done_at IS NULL;
SELECT gridcrm_tenant_rls('visit_follow_ups');

GRANT SELECT, INSERT, UPDATE ON visits, visit_follow_ups TO gridcrm_app;

-- A visit's follow-ups, on its page.
CREATE INDEX visit_follow_ups_visit ON visit_follow_ups (tenant_id, visit_id);
-- A portfolio's customer list, in account-number order (keyset paging).
CREATE INDEX customers_manager_account_no ON customers (tenant_id, account_manager_id, account_no);
