-- Resend, recover and test (POST /v1/webhook-endpoints/{id}/resend | recover | test). A resend
-- reopens the event's delivery to the endpoint (or makes one) rather than adding a second row, so
-- an event has one delivery per endpoint and its attempts keep counting; the retry schedule starts
-- again from the attempt it reopened at.
ALTER TABLE webhook_deliveries ADD COLUMN schedule_from INTEGER NOT NULL DEFAULT 0 CHECK (schedule_from >= 0); -- attempts made before the schedule (re)started
