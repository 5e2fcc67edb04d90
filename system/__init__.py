"""What training, inference and preprocessing all stand on: memory hand-back, atomic writes, one writer per folder.
Imports nothing from the repository."""
