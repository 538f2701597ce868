-- 003_preprocess.sql — what preprocessing needs kept (core/prep.h).
--
-- A dataset that is a table (CSV) keeps the description of its feature
-- columns (which hold text, which categories, where values are missing) and
-- its label column's name; every dataset keeps the spread of its features'
-- scales.  A job keeps for itself what its answers depend on, so that
-- deleting its dataset later changes none of them: the class names, whether
-- it reads the label as classes or numbers, the fitted preprocessing, and
-- the warnings it was created with.

ALTER TABLE datasets ADD COLUMN columns TEXT;        -- JSON array (server/columns_json.h), NULL: not a table
ALTER TABLE datasets ADD COLUMN label_name TEXT;     -- the table's label column, NULL: not a table
ALTER TABLE datasets ADD COLUMN feature_scale TEXT;  -- JSON object (server/columns_json.h), NULL: none

ALTER TABLE jobs ADD COLUMN classes TEXT NOT NULL DEFAULT '[]';   -- JSON array of class names
ALTER TABLE jobs ADD COLUMN label_as TEXT
    CHECK (label_as IS NULL OR label_as IN ('class', 'numeric'));  -- NULL: as the dataset stores it
ALTER TABLE jobs ADD COLUMN preprocessing TEXT;      -- fitted (server/prep_json.h) at the first start;
                                                     -- 'null' when there is none; NULL before
ALTER TABLE jobs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';  -- JSON array of strings

-- Jobs made before this migration answer with their dataset's class names
-- for as long as that dataset exists: copy them while it does.
UPDATE jobs SET classes = (SELECT d.classes FROM datasets d WHERE d.id = jobs.dataset_id)
 WHERE EXISTS (SELECT 1 FROM datasets d WHERE d.id = jobs.dataset_id);
