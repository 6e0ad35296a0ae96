"""iCalendar in and out: blocks read from coaches' calendars, iTIP, time zones."""
