"""The control loop: gather -> snapshot -> decide -> patch -> record, per target."""
