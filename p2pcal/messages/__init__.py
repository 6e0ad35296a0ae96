"""The texts people read: one function per message, each returning subject and body."""
