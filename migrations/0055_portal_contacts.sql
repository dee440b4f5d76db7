-- Complaints, inquiries, suggestions and praise sent from the customer
-- portal (channel 'web') are followed there: the portal role reads the
-- contacts of the accounts linked to the signed-in customer.
GRANT SELECT ON contacts TO gridcrm_portal;
CREATE POLICY portal_linked ON contacts AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = contacts.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = contacts.customer_id));
