DROP TABLE forged_events;
