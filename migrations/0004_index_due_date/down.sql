DROP INDEX IF EXISTS tasks_due_date_idx;
