DROP INDEX "tasks_finished_at";--> statement-breakpoint
DROP INDEX "tasks_tenant_type";