-- Transcript capture. The project a message was said in (the transcript line's
-- cwd) and the transcript file it was read from are kept on the row; both are
-- NULL for messages saved by hand and for legacy rows. Adding a column without
-- a default rewrites nothing, so this is safe on a large adopted table.
alter table conversations add column if not exists project_dir text;
alter table conversations add column if not exists source_file text;

-- How far each transcript file has been read. It is written in the same
-- transaction as the rows read from the file, so after a crash at any point
-- the next reader resumes exactly after the last line whose rows are stored.
--   device, inode  the file's identity: a new inode means a new file
--   size           the file's size when it was last read
--   read_offset    the byte just after the last complete line consumed
--   lines          complete lines before read_offset (for file:line reports)
--   fingerprint    the bytes just before read_offset, to notice a file
--                  rewritten in place
--   generation     counts the re-reads from the start, so that a slower
--                  reader of an older pass never moves the offset back
create table if not exists transcript_offsets (
    path        text primary key,
    device      bigint not null,
    inode       bigint not null,
    size        bigint not null,
    read_offset bigint not null,
    lines       bigint not null,
    fingerprint bytea not null,
    generation  integer not null default 0,
    updated_at  timestamptz not null default now()
);
