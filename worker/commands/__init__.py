"""Commands an operator gives (refund requests, subscription changes), shared by the CLI, the ops
API and the console; each returns a typed result the edges turn into JSON or text."""
