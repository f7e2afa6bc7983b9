-- ferry:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_due_date_idx ON tasks (due_date);
