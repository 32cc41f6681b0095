-- Which n8n process ran a job (main, or a queue-mode worker and its host): shown with the job, and what
-- lets the stack fail exactly the jobs of a worker that died while the others go on.
ALTER TABLE jobs ADD COLUMN runner text;
