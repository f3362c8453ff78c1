CREATE TABLE "metric_rollups" (
	"minute" timestamp with time zone NOT NULL,
	"tenant" text NOT NULL,
	"type" text NOT NULL,
	"node" text NOT NULL,
	"ended" integer DEFAULT 0 NOT NULL,
	"completed" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"timed_out" integer DEFAULT 0 NOT NULL,
	"run_sum" double precision DEFAULT 0 NOT NULL,
	"run_min" double precision,
	"run_max" double precision,
	"run_sketch" "bytea",
	"started" integer DEFAULT 0 NOT NULL,
	"wait_sum" double precision DEFAULT 0 NOT NULL,
	"wait_min" double precision,
	"wait_max" double precision,
	"wait_sketch" "bytea",
	CONSTRAINT "metric_rollups_minute_tenant_type_node_pk" PRIMARY KEY("minute","tenant","type","node")
);
--> statement-breakpoint
CREATE INDEX "metric_rollups_tenant_minute" ON "metric_rollups" USING btree ("tenant","minute");