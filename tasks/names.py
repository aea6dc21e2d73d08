"""The tasks' names: what the receiver sends and the worker runs, agreed on in one place."""

PROCESS_EVENT = "tasks.process_event"
SWEEP = "tasks.sweep"
RECONCILE = "tasks.reconcile"
