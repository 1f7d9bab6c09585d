COMMENT ON TABLE requests IS NULL;
DROP INDEX requests_created;
