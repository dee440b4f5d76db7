-- Faults reported from the customer portal are followed there, and a
-- complaint's return-visit question is answered there: the portal role
-- reads the work orders of the accounts linked to the signed-in customer,
-- and the return visits of their contacts.
GRANT SELECT ON work_orders, return_visits TO gridcrm_portal;
CREATE POLICY portal_linked ON work_orders AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM portal_links l
                   WHERE l.tenant_id = work_orders.tenant_id AND l.portal_user_id = app_portal_user_id()
                     AND l.customer_id = work_orders.customer_id));
CREATE POLICY portal_linked ON return_visits AS RESTRICTIVE TO gridcrm_portal
    USING (EXISTS (SELECT 1 FROM contacts k JOIN portal_links l
                        ON l.tenant_id = k.tenant_id AND l.customer_id = k.customer_id
                   WHERE k.tenant_id = return_visits.tenant_id AND k.id = return_visits.contact_id
                     AND l.portal_user_id = app_portal_user_id()));
