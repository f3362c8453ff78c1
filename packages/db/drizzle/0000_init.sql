CREATE TABLE "nodes" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"version" text NOT NULL,
	"types" text[] NOT NULL,
	"concurrency" jsonb NOT NULL,
	"active" integer DEFAULT 0 NOT NULL,
	"rss_bytes" real DEFAULT 0 NOT NULL,
	"event_loop_lag_ms" real DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_attempts" (
	"task_id" uuid NOT NULL,
	"n" integer NOT NULL,
	"tenant" text NOT NULL,
	"type" text NOT NULL,
	"node" text NOT NULL,
	"outcome" text NOT NULL,
	"error" jsonb,
	"wait_ms" integer,
	"duration_ms" integer,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "task_attempts_task_id_n_pk" PRIMARY KEY("task_id","n"),
	CONSTRAINT "task_attempts_outcome_check" CHECK ("task_attempts"."outcome" in ('running','completed','failed','timed_out','cancelled','stalled','interrupted'))
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"priority" text DEFAULT 'normal' NOT NULL,
	"payload" jsonb NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"progress" real,
	"attempts" integer DEFAULT 0 NOT NULL,
	"max_attempts" integer NOT NULL,
	"timeout_ms" integer NOT NULL,
	"backoff" jsonb NOT NULL,
	"stalls" integer DEFAULT 0 NOT NULL,
	"idempotency_key" text,
	"request_hash" text,
	"schedule_id" uuid,
	"run_at" timestamp with time zone,
	"due_at" timestamp with time zone DEFAULT now() NOT NULL,
	"job_id" text NOT NULL,
	"node" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "tasks_status_check" CHECK ("tasks"."status" in ('queued','delayed','running','completed','failed','cancelled')),
	CONSTRAINT "tasks_priority_check" CHECK ("tasks"."priority" in ('critical','high','normal','low'))
);
--> statement-breakpoint
CREATE TABLE "queue_settings" (
	"type" text PRIMARY KEY NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"rate_limit" jsonb,
	"concurrency" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "task_attempts" ADD CONSTRAINT "task_attempts_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "task_attempts_running_node" ON "task_attempts" USING btree ("node") WHERE "task_attempts"."outcome" = 'running';--> statement-breakpoint
CREATE INDEX "task_attempts_finished_at" ON "task_attempts" USING btree ("finished_at");--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_tenant_idempotency_key" ON "tasks" USING btree ("tenant","idempotency_key");--> statement-breakpoint
CREATE INDEX "tasks_tenant_created" ON "tasks" USING btree ("tenant","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "tasks_status_type" ON "tasks" USING btree ("status","type");--> statement-breakpoint
CREATE INDEX "tasks_finished_at" ON "tasks" USING btree ("finished_at");--> statement-breakpoint
CREATE INDEX "tasks_pending_due" ON "tasks" USING btree ("due_at") WHERE "tasks"."status" in ('queued', 'delayed');--> statement-breakpoint
CREATE INDEX "tasks_tenant_status" ON "tasks" USING btree ("tenant","status","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "tasks_tenant_type" ON "tasks" USING btree ("tenant","type","id" DESC NULLS LAST);