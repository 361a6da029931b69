"""Forms of the My devices pages; every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # 3.3; stubs: 3.2
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..services.devices.changes import TRUST_LEVELS


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token, and where to go afterwards."""

    next = HiddenField()


TRUST_CHOICES = tuple(SelectChoice(level, level.title()) for level in TRUST_LEVELS)
TRUST_DEFAULT = "MEDIUM"
# The levels a card offers as (value, label, selected): the cards render this constant rather
# than build a form per page (``TrustForm`` checks what comes back).
TRUST_OPTIONS = tuple((c.value, c.label, c.value == TRUST_DEFAULT) for c in TRUST_CHOICES)


class TrustForm(ActionForm):
    """Trust a device at a chosen level."""

    level = SelectField("Trust level", choices=list(TRUST_CHOICES), default=TRUST_DEFAULT)


class RenameForm(ActionForm):
    """Rename a device: 1-64 printable characters, trimmed."""

    name = StringField(
        "Device name",
        filters=[_strip],
        validators=[
            DataRequired("A device name must be 1 to 64 printable characters."),
            Length(max=64, message="A device name must be 1 to 64 printable characters."),
        ],
    )

    def validate_name(self, field) -> None:
        if not field.data.isprintable():
            raise ValidationError("A device name must be 1 to 64 printable characters.")


class PersonalTokenForm(FlaskForm):
    """A new personal API token: a name, its scopes, and how many days it lives."""

    name = StringField(
        "Name",
        filters=[_strip],
        validators=[
            DataRequired("A token name must be 1 to 64 printable characters."),
            Length(max=64, message="A token name must be 1 to 64 printable characters."),
        ],
    )
    scopes = SelectMultipleField("Scopes", choices=[], validate_choice=False)
    # How long it lives: a preset, or a day of its own (``expires_on``); ``days`` as a number
    # still works for a form a script posts.
    expires = RadioField(
        "Expires",
        choices=[("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("date", "On")],
        default="30",
        validate_choice=False,
    )
    expires_on = DateField("Expiry date", validators=[Optional()])
    days = IntegerField(
        "Expires after (days)",
        validators=[
            Optional(),
            NumberRange(min=1, max=365, message="A token lives 1 to 365 days."),
        ],
    )

    def lifetime(self, today: date) -> int | None:
        """The days the token lives, from whichever of the fields says it (None: none does,
        and the errors say why)."""
        if self.days.raw_data and self.days.raw_data[0] not in ("", None):
            return self.days.data
        choice = self.expires.data
        if choice in ("7", "30", "90"):
            return int(choice)
        if choice == "date" and self.expires_on.data:
            return (self.expires_on.data - today).days
        self.expires.errors = ["Choose when the token expires: in 7, 30 or 90 days, or a date."]
        return None


class AlertModeForm(ActionForm):
    """Which sign-ins are mailed to the user; the view fills the choices the instance allows."""

    mode = RadioField("Mail me about", choices=[], validators=[InputRequired()])
