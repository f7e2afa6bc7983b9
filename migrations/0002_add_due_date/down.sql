ALTER TABLE tasks DROP COLUMN due_date;
