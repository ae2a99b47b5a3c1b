-- Who planned a cycle's options: the deterministic planner, or Claude choosing the tools (groups.assistant), with
-- the reason when the LLM path was wanted but fell back.
ALTER TABLE group_cycles ADD COLUMN IF NOT EXISTS served_by text NOT NULL DEFAULT 'group_planner:deterministic';
