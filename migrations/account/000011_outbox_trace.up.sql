-- The trace context of the step that wrote an event (docs/adr/0039): the relay publishes the
-- event with it, so that the event's publication and its insert into the history join the
-- transfer's trace. NULL for an event written with no trace (tracing off, a deposit).
ALTER TABLE outbox ADD COLUMN trace jsonb;
COMMENT ON COLUMN outbox.trace IS 'W3C trace context (traceparent, tracestate) of the step that wrote the event, carried in the published message''s headers; NULL if none.';
