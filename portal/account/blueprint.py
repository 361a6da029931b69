"""The blueprint of the signed-in user's own pages, apart from the package so that its view
modules import it downward (the package imports them to register their routes)."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")
