"""The pure core: events, the state machine and the book that applies it, capabilities, the
approval rules (policy), usage sums, the notification rules, the spool's order, the guard, and
the error family.

No IO: nothing here opens a file or a socket, starts a process or a thread, or reads the clock
or the environment. It may import the standard library, bashlex (policy) and itself only.
"""
