-- PostgreSQL only, run right after ../0002_checklist_template.sql (same version):
-- the template rows were inserted with explicit ids, which identity columns do
-- not count, so move each sequence past the highest id before anyone adds rows.

SELECT setval(pg_get_serial_sequence('checklist_template', 'id'), (SELECT MAX(id) FROM checklist_template));
SELECT setval(pg_get_serial_sequence('checklist_template_section', 'id'), (SELECT MAX(id) FROM checklist_template_section));
SELECT setval(pg_get_serial_sequence('checklist_template_item', 'id'), (SELECT MAX(id) FROM checklist_template_item));
