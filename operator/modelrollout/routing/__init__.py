"""Traffic routers: one protocol, one file per mesh or gateway."""
