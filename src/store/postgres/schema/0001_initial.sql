-- popbox schema 1: users, mailboxes, messages and single-instance bodies.
-- Applied by `popbox db migrate` in one transaction; see docs/postgres.md.

CREATE TABLE schema_version (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- [auth] source = "postgres": the passwd-file's fields, in its hash formats.
CREATE TABLE users (
  id             bigserial PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  password       text NOT NULL,          -- "{SCHEME}data" as in a passwd-file
  home           text NOT NULL DEFAULT '',
  extra          text NOT NULL DEFAULT '', -- field 8: key=value ...
  quota_storage  bigint NOT NULL DEFAULT 0 CHECK (quota_storage >= 0),   -- 0: [quota] default
  quota_messages bigint NOT NULL DEFAULT 0 CHECK (quota_messages >= 0),
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- One maildrop per user name (not a foreign key: users may live in a
-- passwd-file while the mail lives here). The counters are kept by the
-- delivery and expunge transactions, so quota never scans.
CREATE TABLE mailboxes (
  id          bigserial PRIMARY KEY,
  user_name   text NOT NULL UNIQUE,
  uidvalidity bigint NOT NULL DEFAULT extract(epoch FROM now())::bigint,
  next_uid    bigint NOT NULL DEFAULT 1,
  messages    bigint NOT NULL DEFAULT 0 CHECK (messages >= 0),
  bytes       bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);

-- A message body as RETR sends it before dot-stuffing (CRLF line ends,
-- final CRLF), stored once per delivery and shared by its recipients.
CREATE TABLE bodies (
  id         bigserial PRIMARY KEY,
  size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
  refs       integer NOT NULL CHECK (refs >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A commit removes the bodies its DELEs left unreferenced with one
-- "refs = 0" delete; committed bodies always have refs >= 1.
CREATE INDEX bodies_unreferenced ON bodies (id) WHERE refs = 0;

CREATE TABLE body_chunks (
  body_id bigint NOT NULL REFERENCES bodies (id) ON DELETE CASCADE,
  seq     integer NOT NULL,
  data    bytea NOT NULL,
  PRIMARY KEY (body_id, seq)
);
-- Mail is mostly compressed or base64 already: keep chunks out of line and
-- uncompressed, so reading one costs no decompression.
ALTER TABLE body_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE messages (
  id          bigserial PRIMARY KEY,
  mailbox_id  bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
  uidl        text NOT NULL,
  size        bigint NOT NULL CHECK (size >= 0),  -- octets of prefix + body
  received_at timestamptz NOT NULL DEFAULT now(),
  seen        boolean NOT NULL DEFAULT false,
  body_id     bigint NOT NULL REFERENCES bodies (id),
  prefix      bytea NOT NULL DEFAULT '',         -- per-recipient header lines (Delivered-To)
  UNIQUE (mailbox_id, uidl)
);
CREATE INDEX messages_mailbox ON messages (mailbox_id, id);
CREATE INDEX messages_body ON messages (body_id);
