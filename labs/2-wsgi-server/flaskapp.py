# The article's Flask application (Part 2), unchanged: it runs on Python 3.
# Serve it with: python3 webserver2.py flaskapp:app (or webserver3h.py, stage 3h)
from flask import Flask
from flask import Response
flask_app = Flask('flaskapp')


@flask_app.route('/hello')
def hello_world():
    return Response(
        'Hello world from Flask!\n',
        mimetype='text/plain'
    )

app = flask_app.wsgi_app
