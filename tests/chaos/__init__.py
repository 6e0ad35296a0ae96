"""Crash safety: the ``p2pcal`` process killed with SIGKILL at random moments and at named
crash points, restarted each time, then checked against the store and the mailboxes."""
