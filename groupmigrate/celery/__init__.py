"""Running migrations on many workers (Celery), with limits shared through Redis."""
