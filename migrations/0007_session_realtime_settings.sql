-- What each session's room enforces: how long an abruptly disconnected participant stays present
-- before it is announced as `left`, the largest frame a socket may send and how many a second, and how much message
-- history the room keeps (copied from the organisation's plan when the session is opened, so a
-- later plan change does not rewrite what an open session promised).
ALTER TABLE sessions ADD COLUMN presence_grace_seconds INTEGER NOT NULL DEFAULT 15 CHECK (presence_grace_seconds BETWEEN 0 AND 300);
ALTER TABLE sessions ADD COLUMN max_frame_bytes INTEGER NOT NULL DEFAULT 65536 CHECK (max_frame_bytes BETWEEN 1024 AND 1048576);
ALTER TABLE sessions ADD COLUMN frames_per_second INTEGER NOT NULL DEFAULT 50 CHECK (frames_per_second BETWEEN 1 AND 1000);
ALTER TABLE sessions ADD COLUMN history_max_messages INTEGER NOT NULL DEFAULT 10000 CHECK (history_max_messages > 0);
ALTER TABLE sessions ADD COLUMN history_max_age_seconds INTEGER NOT NULL DEFAULT 86400 CHECK (history_max_age_seconds > 0);
