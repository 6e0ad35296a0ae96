"""Performance benchmarks (issue 4, point 1): ``python -m bench.perf [--size small|full]``.

Four figures, each beside a baseline measured in the same run, in one table:

- **poll**: reading coaches' calendars with nothing new, then with one change, against a
  real Radicale (:mod:`bench.perf.poll`);
- **latency**: from a REPLY landing in the organizer's mailbox to the confirmation the
  SMTP server accepted, with IMAP IDLE and with polling, for the real ``p2pcal run``
  process (:mod:`bench.perf.latency`);
- **throughput**: the engine with in-memory ports at the full programme size, and the real
  IMAP+SMTP path at a smaller count with every server's CPU (:mod:`bench.perf.throughput`,
  :mod:`bench.perf.mailpath`);
- **memory**: the peak RSS of the engine's process at that size (a process of its own,
  the benchmark's driver outside it).
"""
