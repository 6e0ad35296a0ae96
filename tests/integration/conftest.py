"""Server fixtures come from the root conftest (``tests.servers.fixtures``)."""
