DROP FUNCTION priority_name(smallint);
ALTER TABLE tasks DROP COLUMN priority_id;
DROP TABLE priorities;
