"""A Flask-Migrate app: the factory sets up Flask-SQLAlchemy and Flask-Migrate (env.py reads them).

Its own database comes from QUOTES_DATABASE_URL; the doctor must never touch it.
"""

import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (db.UniqueConstraint("email", name="uq_users_email"),)
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(320), nullable=False)


class Quote(db.Model):
    __tablename__ = "quotes"
    id = db.Column(db.Integer, primary_key=True)
    symbol = db.Column(db.String(8), nullable=False)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("QUOTES_DATABASE_URL", "sqlite://")
    db.init_app(app)
    migrate.init_app(app, db)
    return app


def create_app_without_migrate():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db.init_app(app)
    return app


def create_broken_app():
    raise RuntimeError("QUOTES_SECRET_KEY is not set")


def create_exiting_app():
    raise SystemExit(0)


def create_chatty_app():
    print("quotes app starting")
    return create_app()


app = create_app()
