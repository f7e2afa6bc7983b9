ALTER TABLE tasks ADD COLUMN due_date timestamptz;
COMMENT ON COLUMN tasks.due_date IS 'when the task is due; a ; inside a string is fine';
