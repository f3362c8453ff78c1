DROP INDEX "tasks_status_type";--> statement-breakpoint
DROP INDEX "tasks_tenant_idempotency_key";--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_tenant_idempotency_key" ON "tasks" USING btree ("tenant","idempotency_key") WHERE "tasks"."idempotency_key" is not null;