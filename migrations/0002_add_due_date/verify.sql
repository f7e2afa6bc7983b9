SELECT count(*) = 0 FROM tasks WHERE due_date IS NOT NULL;
