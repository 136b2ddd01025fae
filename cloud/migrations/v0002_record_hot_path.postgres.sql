ALTER TABLE "log" DROP CONSTRAINT "log_org_id_fkey", DROP CONSTRAINT "log_device_id_fkey";
DROP INDEX "log_org_id_occurred_at_id";
ALTER TABLE "detection_event" DROP CONSTRAINT "detection_event_org_id_fkey", DROP CONSTRAINT "detection_event_device_id_fkey";
DROP INDEX "detection_event_org_id_occurred_at_id";
