-- Late writes: a write that touched records of a day before the writer's today (a late ticket
-- event, an imported CSV, a re-sent camera minute) leaves a mark here in the same transaction.
-- Readers that keep past days in memory (store::day_cache) drop the days from `from_us` on
-- when they see a mark newer than the last they applied. Marks are rare and tiny.
CREATE TABLE late_write (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The earliest record time the write touched.
    from_us INTEGER NOT NULL,
    -- When it was written (system clock of the writer).
    written_us INTEGER NOT NULL
);
