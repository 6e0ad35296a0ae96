"""The contracts every backend's connector meets, run against each backend's real
server (or, for Microsoft's, the simulator the real client library talks to)."""
