-- recall --project (and every session-start hook) looks up the messages of one
-- project directory. Without this index a project with few messages, or none
-- yet, costs a walk of the 5,000 strongest memories, one lookup each.
create index if not exists conversations_project_dir_idx
    on conversations (project_dir) where project_dir is not null;
