"""The datasets moved to the torch-free `tasks` package (`tasks.generate`, `tasks.Example`,
...); this package keeps the documented command `python -m training.data` working."""
