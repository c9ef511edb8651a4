"""The control loop: gather -> snapshot -> decide -> write -> record, per target."""
