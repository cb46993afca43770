-- Ordering keys: the deliveries of a target with one key go one at a time, in message id
-- order (of acceptance). A delivery's key is set when its message is accepted; '' is none.
-- A failed delivery that holds its key keeps a due time no clock reaches (i64::MAX) until
-- an operator retries or skips it.
ALTER TABLE hookgate_deliveries ADD COLUMN ordering_key text NOT NULL DEFAULT '';

DROP INDEX hookgate_queue;
-- Lanes, and unordered claims in due order.
CREATE INDEX hookgate_queue ON hookgate_deliveries (event_id, target, ordering_key, due_ms, message_id) WHERE due_ms IS NOT NULL;
-- The head of an ordered lane: its oldest queued message.
CREATE INDEX hookgate_queue_ordered ON hookgate_deliveries (event_id, target, ordering_key, message_id)
    WHERE due_ms IS NOT NULL AND ordering_key <> '';
