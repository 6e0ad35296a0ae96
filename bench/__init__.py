"""Benchmarks of p2pcal: workload generators and simulations that drive the real engine
and store in-process (see ``bench/README.md``)."""
