-- The full consolidation pass reads the state tables in physical order (by
-- ctid, in ranges of blocks) rather than in key order: the keys are random
-- UUIDs, so a walk of the primary key visits a random heap page for every
-- row, each page many times over a pass, which once a table outgrows
-- shared_buffers costs a read per row. Its cursor is therefore a tuple id.
alter table memory_consolidation add column if not exists cursor_tid tid;
-- A full retention phase skips the row versions written since it began, by
-- transactions from cursor_xmax on (see memory.retentionSQL).
alter table memory_consolidation add column if not exists cursor_xmax xid;
-- The retention model of the last full pass, and the one under which the pass
-- in progress began its full retention phases: at start the worker reads only
-- the memories that are due when the model has not changed since
-- (memory.PassOptions.SkipUnchanged).
alter table memory_consolidation add column if not exists full_config text;
alter table memory_consolidation add column if not exists pass_config text;
