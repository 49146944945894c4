"""Completion webhooks: an event for every photo that completes or fails, signed and POSTed.

The events are written by a trigger in the same transaction as the photo's status change
(schema/0009_webhook_events.sql); `dispatcher.WebhookDispatcher`, a thread of each worker process,
sends them (`sender`) with the signature of `signing`, and records the outcome (`outbox`).
"""
