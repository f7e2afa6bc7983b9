CREATE TABLE tasks (
  id         bigserial PRIMARY KEY,
  title      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tasks (title) VALUES ('write the release notes'), ('promote to staging; then production');
