-- 0006: which file a tracked label path named when the tool wrote it (device, inode, size),
-- so `purge` destroys only the files the tool wrote: a row added by hand, or a path whose
-- file was replaced since, is refused and reported instead of shredded. NULL: written before
-- this migration (accepted only inside spool/, the tool's own folder).

ALTER TABLE label_files ADD COLUMN file_dev INTEGER;
ALTER TABLE label_files ADD COLUMN file_ino INTEGER;
ALTER TABLE label_files ADD COLUMN file_size INTEGER;
