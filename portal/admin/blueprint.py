"""The blueprint of the admin pages, apart from the package so that its view modules import it
downward (the package imports them to register their routes)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
