"""The tasks' names: what the receiver sends and the worker runs, agreed on in one place."""

PROCESS_EVENT = "tasks.process_event"
PROCESS_EVENTS = "tasks.process_events"  # the doorbell of deliveries committed together
SWEEP = "tasks.sweep"
RECONCILE = "tasks.reconcile"
