# The article's Django application (Part 2), in one file. The article's
# djangoapp.py imports the WSGI application of a project made with
# `django-admin startproject helloworld` (settings.py, urls.py, views.py,
# wsgi.py); here the same settings, URL and view are in this file, so that it
# can be copied beside the server alone. Serve it with:
#     python3 webserver2.py djangoapp:app
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=['*'],
    ROOT_URLCONF=__name__,
    SECRET_KEY='lab-only-not-secret',
    MIDDLEWARE=[],
)


def index(request):
    return HttpResponse(
        'Hello world from Django!\n',
        content_type='text/plain',
    )

urlpatterns = [path('hello', index)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings)

app = get_wsgi_application()
