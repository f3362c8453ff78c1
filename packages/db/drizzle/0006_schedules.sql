CREATE TABLE "schedules" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text NOT NULL,
	"name" text NOT NULL,
	"cron" text,
	"every_ms" bigint,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"task" jsonb NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"anchor_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_run_at" timestamp with time zone,
	"last_task_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "schedules_cron_xor_every" CHECK (("schedules"."cron" is null) <> ("schedules"."every_ms" is null)),
	CONSTRAINT "schedules_every_min" CHECK ("schedules"."every_ms" is null or "schedules"."every_ms" >= 1000)
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "scheduled_for" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "schedules_tenant_id" ON "schedules" USING btree ("tenant","id");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_schedule_tick" ON "tasks" USING btree ("schedule_id","scheduled_for") WHERE "tasks"."schedule_id" is not null and "tasks"."scheduled_for" is not null;--> statement-breakpoint
CREATE INDEX "tasks_schedule_created" ON "tasks" USING btree ("schedule_id","id" DESC NULLS LAST) WHERE "tasks"."schedule_id" is not null;