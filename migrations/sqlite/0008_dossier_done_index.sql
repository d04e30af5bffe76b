-- Dossier KPIs look for dossiers still open or completed in a period: index the completion
-- time (returned, else processing finished) so they need not scan the whole history.
-- Expression indexes exist in PostgreSQL too.
CREATE INDEX dossier_by_done ON dossier (hall_id, (COALESCE(returned_us, finished_us)));
