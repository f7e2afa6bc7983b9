CREATE TABLE priorities (
  id   smallint PRIMARY KEY,
  name text NOT NULL UNIQUE
);
INSERT INTO priorities VALUES (1, 'low'), (2, 'normal'), (3, 'high');
ALTER TABLE tasks ADD COLUMN priority_id smallint REFERENCES priorities (id) DEFAULT 2;

-- keep updated_at style triggers honest: a dollar-quoted body with semicolons
CREATE FUNCTION priority_name(p smallint) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT name FROM priorities WHERE id = p);
END;
$$;
