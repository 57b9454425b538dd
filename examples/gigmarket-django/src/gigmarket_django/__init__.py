"""A minimal Django project on gigmarket (see ``docs/how-to/django.md``)."""
