"""Pictures for the README, made by the project's own code (``python -m server comic-demo``)."""
