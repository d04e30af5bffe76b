-- KPI reports read a period's tickets by issue time and only these columns: a covering index
-- answers them from the index alone, without a lookup into the table per ticket. It replaces
-- the plain time index, whose prefix it shares. (Queue stays keep their separate indexes by
-- queue time and by end time: one covering index there made SQLite's planner pick it for
-- end-time filters too, scanning a hall's whole history.)
DROP INDEX ticket_by_issue;
CREATE INDEX ticket_by_issue ON ticket (hall_id, issued_us, field, counter, officer_id, first_called_us, outcome);
