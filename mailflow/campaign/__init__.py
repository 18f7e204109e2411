"""The campaign: calendars, reminder rules, Teams slots, reminders and upcoming mail, the staff digest, exports."""
