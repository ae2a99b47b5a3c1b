"""The local stack: stand-ins for every managed service, every function as its own process, the gateway
and the scheduler. Development and tests only; production code never imports this package."""
