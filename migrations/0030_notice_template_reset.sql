-- "Reset to built-in" on the notice templates page deletes the tenant's own
-- wording (src/notices/templates_pages.rs); 0027 granted no DELETE on it.
GRANT DELETE ON notice_templates TO gridcrm_app;
