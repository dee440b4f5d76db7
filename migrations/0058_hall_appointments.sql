-- Appointments at the business halls (营业厅预约): each hall's opening
-- hours cut into slots, each slot taking so many customers; booked by
-- customers in the portal, seen and marked by the hall's staff, and a
-- reminder sent the day before.
CREATE TABLE business_halls (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    code         text COLLATE "C" NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name         text NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    address      text NOT NULL DEFAULT '' CHECK (char_length(address) <= 300),
    opens        time NOT NULL,
    closes       time NOT NULL,
    slot_minutes integer NOT NULL CHECK (slot_minutes BETWEEN 10 AND 240),
    -- Customers a slot takes (counters open at once).
    capacity     integer NOT NULL CHECK (capacity BETWEEN 1 AND 50),
    active       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, code),
    CHECK (opens < closes)
);
SELECT gridcrm_tenant_rls('business_halls');

CREATE TABLE hall_appointments (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    ref_no         text COLLATE "C" NOT NULL,
    hall_id        uuid NOT NULL,
    customer_id    uuid NOT NULL,
    -- The portal login that booked it.
    portal_user_id uuid,
    day            date NOT NULL,
    starts         time NOT NULL,
    purpose        text NOT NULL CHECK (purpose IN ('payment', 'new_connection', 'capacity_change',
                                                    'transfer', 'complaint', 'other')),
    status         text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled', 'attended', 'no_show')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    cancelled_at   timestamptz,
    reminded_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref_no),
    FOREIGN KEY (tenant_id, hall_id) REFERENCES business_halls (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
    FOREIGN KEY (tenant_id, portal_user_id) REFERENCES portal_users (tenant_id, id),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- A slot's bookings are counted under the hall's row lock.
CREATE INDEX hall_appointments_slot ON hall_appointments (tenant_id, hall_id, day, starts) WHERE status <> 'cancelled';
CREATE INDEX hall_appointments_customer ON hall_appointments (tenant_id, customer_id, day);
CREATE INDEX hall_appointments_reminders ON hall_appointments (tenant_id, day) WHERE status = 'booked' AND reminded_at IS NULL;
SELECT gridcrm_tenant_rls('hall_appointments');

GRANT SELECT, INSERT, UPDATE ON business_halls, hall_appointments TO gridcrm_app;

-- The portal role reads the halls and the appointments of the linked accounts.
GRANT SELECT ON business_halls, hall_appointments TO gridcrm_portal;
CREATE POLICY portal_linked ON hall_appointments AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = hall_appointments.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = hall_appointments.customer_id));
