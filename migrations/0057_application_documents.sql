-- Documents attached to an application (业扩报装, a capacity change, a
-- transfer of ownership): uploaded by the customer in the portal, checked for
-- type and size, and kept in the database, where row-level security keeps
-- them to the tenant's staff and, in the portal, to the customer who
-- uploaded them.
CREATE TABLE application_documents (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    id             uuid NOT NULL,
    work_order_id  uuid NOT NULL,
    -- Which document it is (work_orders::model::DOCUMENTS, change::CHANGE_DOCUMENTS).
    document       text NOT NULL CHECK (document ~ '^[a-z_]{1,40}$'),
    file_name      text NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 120),
    content_type   text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes     integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 5242880),
    sha256         bytea NOT NULL CHECK (length(sha256) = 32),
    content        bytea NOT NULL CHECK (length(content) = size_bytes),
    -- The portal login that uploaded it (NULL: staff).
    portal_user_id uuid,
    uploaded_by    text NOT NULL,
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id),
    FOREIGN KEY (tenant_id, portal_user_id) REFERENCES portal_users (tenant_id, id)
);
CREATE INDEX application_documents_order ON application_documents (tenant_id, work_order_id, uploaded_at);
-- The content is already compressed (PDF, JPEG, PNG): not worth compressing again.
ALTER TABLE application_documents ALTER COLUMN content SET STORAGE EXTERNAL;
SELECT gridcrm_tenant_rls('application_documents');
-- Deleted only when the account is anonymised (privacy::db::anonymise).
GRANT SELECT, INSERT, DELETE ON application_documents TO gridcrm_app;

GRANT SELECT ON application_documents TO gridcrm_portal;
CREATE POLICY portal_own ON application_documents AS RESTRICTIVE TO gridcrm_portal
    USING (portal_user_id = app_portal_user_id());
